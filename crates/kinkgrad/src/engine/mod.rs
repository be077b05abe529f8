//! The gradient engine: the modes, and the one driver that turns a recorded program into a
//! derivative with its [`Certificate`].
//!
//! | mode | how | certificate |
//! |---|---|---|
//! | `assoc` | the reverse sweep of [`crate::reverse`] over the pieces the representation selected | `exact` without kinks, else `representation-dependent` |
//! | `lex` | the tangent pass of [`crate::lex`] along the columns of `M`, pieces chosen lexicographically; gradient `M^-T f'(x; M)` | `generalized` (or `exact`) |
//! | `safe` | branch locking ([`crate::lex`]) through the ancestors of the kinked ops along seeded probe directions, then the reverse sweep over the locked pieces | `generalized` (or `exact`) |
//!
//! This module sits above both [`crate::reverse`] (the tape and its backward sweep) and
//! [`crate::lex`] (tangent passes and lexicographic selection); neither imports the other's driver.

mod mode;

pub use mode::Mode;

use crate::certificate::{Certificate, CertificateKind};
use crate::error::{Error, Result};
use crate::lex::{self, Directions};
use crate::reverse::{check_scalar, Tape, Var};
use crate::scalar::Real;
use crate::tensor::Tensor;

/// The result of a gradient computation.
#[derive(Clone, Debug)]
pub struct Gradients<T: Real> {
    /// One tensor per variable, shaped like it. Empty in `lex` mode when `M` is not square.
    pub values: Vec<Tensor<T>>,
    /// `lex` mode: the LD-derivative `f'(x; M)` (one entry per column of `M`).
    pub ld_derivative: Option<Vec<f64>>,
    /// What the numbers are.
    pub certificate: Certificate,
}

impl<T: Real> Tape<T> {
    /// Gradients of the scalar `y` with respect to `wrt` in the given mode, with a certificate.
    ///
    /// A NaN or infinite value or derivative is an error naming the op where it first appeared, in
    /// every mode.
    pub fn gradient<'t>(&'t self, y: Var<'t, T>, wrt: &[Var<'t, T>], mode: &Mode) -> Result<Gradients<T>> {
        check_scalar(&y)?;
        self.check_finite(y)?;
        let relevant = self.relevant(y, wrt);
        let kinks = self.relevant_kinks(&relevant);
        let rep = self.representation().name.clone();
        let mut cert = Certificate::for_kinks(mode.name(), rep, kinks.clone());
        self.unlock(&relevant);
        match mode {
            Mode::Assoc => {}
            Mode::Safe { seed, max_directions } => {
                if kinks.total() > 0 {
                    let (unresolved, dirs) = lex::lock_safe(self, wrt, &relevant, *seed, (*max_directions).max(1));
                    cert.unresolved = unresolved;
                    cert.locked = kinks.total();
                    cert.directions = dirs;
                }
            }
            Mode::Lex(m) => {
                let n: usize = wrt.iter().map(|w| w.value().len()).sum();
                let m = match m {
                    Some(m) => m.clone(),
                    None => Directions::identity(n),
                };
                if m.rows != n {
                    return Err(Error::invalid(
                        "directions",
                        format!("the direction matrix has {} rows, the inputs have {n} elements", m.rows),
                    ));
                }
                let (ld, unresolved) = lex::ld_derivative(self, y, wrt, &relevant, &m);
                if ld.iter().any(|v| !v.is_finite()) {
                    return Err(Error::NonFinite { op: "lexicographic derivative".into(), stage: "gradient" });
                }
                cert.unresolved = unresolved;
                cert.locked = kinks.total();
                cert.directions = m.cols;
                let values = match m.solve_transposed(&ld) {
                    Some(g) => split_like(&g, wrt),
                    None => vec![],
                };
                if values.iter().any(|v| v.first_non_finite().is_some()) {
                    return Err(Error::NonFinite { op: "lexicographic derivative".into(), stage: "gradient" });
                }
                return Ok(Gradients { values, ld_derivative: Some(ld), certificate: cert });
            }
        }
        let len = self.len();
        let gv = self.backward(y, wrt, &relevant);
        let values: Vec<Tensor<T>> = gv.iter().map(|g| g.value()).collect();
        if values.iter().any(|v| v.first_non_finite().is_some()) {
            let op = self.first_non_finite_after(len).unwrap_or_else(|| "backward".into());
            self.truncate(len);
            return Err(Error::NonFinite { op, stage: "gradient" });
        }
        self.truncate(len);
        debug_assert!(cert.kind != CertificateKind::Exact || cert.kinks.total() == 0);
        Ok(Gradients { values, ld_derivative: None, certificate: cert })
    }
}

/// Split a flat vector into tensors shaped like `wrt`.
fn split_like<T: Real>(g: &[f64], wrt: &[Var<'_, T>]) -> Vec<Tensor<T>> {
    let mut off = 0;
    wrt.iter()
        .map(|w| {
            let s = w.shape();
            let n: usize = s.iter().product();
            let t = crate::reverse::var::ok(Tensor::from_f64(s, &g[off..off + n]));
            off += n;
            t
        })
        .collect()
}
