//! Variables: handles to tape nodes. The op methods live next to their ops in [`super::ops`] and
//! [`crate::primitive`].

use super::Tape;
use crate::scalar::Real;
use crate::tensor::Tensor;

/// A handle to a value recorded on a [`Tape`]. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Var<'t, T: Real> {
    pub(crate) tape: &'t Tape<T>,
    pub(crate) id: usize,
}

impl<'t, T: Real> std::fmt::Debug for Var<'t, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Var#{}", self.id)
    }
}

impl<'t, T: Real> Var<'t, T> {
    /// The tape this variable lives on.
    pub fn tape(&self) -> &'t Tape<T> {
        self.tape
    }
    /// Position on the tape.
    pub fn id(&self) -> usize {
        self.id
    }
    /// The value.
    pub fn value(&self) -> Tensor<T> {
        self.tape.value(*self)
    }
    /// The shape of the value (a copy in a buffer of the installed pool, which it returns to when
    /// dropped).
    pub fn shape(&self) -> crate::tensor::pool::Buf<usize> {
        crate::tensor::pool::Buf::copied(self.tape.nodes.borrow()[self.id].value.shape())
    }
    /// The single value of a one-element variable, widened to `f64`.
    pub fn item(&self) -> crate::Result<f64> {
        Ok(self.value().item()?.to_f64())
    }
}

/// Unwrap a result that cannot fail by construction inside a VJP/JVP (shapes were checked in the
/// forward pass). A failure here is a bug in kinkgrad, not a user error.
pub(crate) fn ok<X>(r: crate::Result<X>) -> X {
    match r {
        Ok(x) => x,
        Err(e) => panic!("kinkgrad internal invariant violated: {e}"),
    }
}
