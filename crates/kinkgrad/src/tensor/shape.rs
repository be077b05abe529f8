//! Shape arithmetic: broadcasting (NumPy rules: align on the right, a dimension of 1 stretches) and
//! row-major strides.

use crate::error::{Error, Result};

/// Row-major strides of a shape, in elements.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = super::pool::filled(shape.len(), 1);
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The broadcast shape of `a` and `b` (in a buffer from the installed pool, [`super::pool::take`]),
/// or a shape error naming `op`.
///
/// ```
/// use kinkgrad::tensor::shape::broadcast_shapes;
/// assert_eq!(broadcast_shapes("add", &[4, 1, 3], &[2, 1]).unwrap(), vec![4, 2, 3]);
/// assert!(broadcast_shapes("add", &[3], &[4]).is_err());
/// ```
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = super::pool::filled(n, 0);
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::shape(op, format!("cannot broadcast shapes {a:?} and {b:?}")));
        };
    }
    Ok(out)
}

/// Strides (in elements) with which a tensor of shape `from` is read when broadcast to `to`
/// (0 on stretched dimensions), in a buffer from the installed pool. `from` must broadcast to `to`.
pub fn broadcast_strides(from: &[usize], to: &[usize]) -> Vec<usize> {
    let s = strides(from);
    let off = to.len() - from.len();
    let mut out = super::pool::take(to.len());
    out.extend((0..to.len()).map(|i| if i < off || from[i - off] == 1 && to[i] != 1 { 0 } else { s[i - off] }));
    super::pool::give(s);
    out
}

/// The axes of `to` that were stretched (or prepended) when broadcasting `from` to `to`: summing over
/// them (and reshaping) maps a gradient of shape `to` back to shape `from`.
pub fn reduced_axes(from: &[usize], to: &[usize]) -> Vec<usize> {
    let off = to.len() - from.len();
    let mut axes = super::pool::take(to.len());
    axes.extend((0..to.len()).filter(|&i| i < off || (from[i - off] == 1 && to[i] != 1)));
    axes
}
