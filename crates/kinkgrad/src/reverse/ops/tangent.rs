//! Helpers for tangents: tensors with a leading axis of `k` directions.

use crate::reverse::var::ok;
use crate::scalar::Real;
use crate::tensor::Tensor;

/// `[k] ++ shape`.
pub(crate) fn tshape(k: usize, shape: &[usize]) -> Vec<usize> {
    let mut s = Vec::with_capacity(shape.len() + 1);
    s.push(k);
    s.extend_from_slice(shape);
    s
}

/// Broadcast a tangent of a value of shape `from` to a value of shape `to`.
pub(crate) fn expand<T: Real>(t: &Tensor<T>, k: usize, from: &[usize], to: &[usize]) -> Tensor<T> {
    let mut padded = vec![k];
    padded.extend(std::iter::repeat_n(1, to.len() - from.len()));
    padded.extend_from_slice(from);
    ok(ok(t.reshape(&padded)).expand(&tshape(k, to)))
}

/// Sum a tangent of a value of shape `from` down to shape `to` (adjoint of broadcasting `to` to `from`).
pub(crate) fn sum_to<T: Real>(t: &Tensor<T>, k: usize, to: &[usize], from: &[usize]) -> Tensor<T> {
    let mut padded = vec![k];
    padded.extend(std::iter::repeat_n(1, from.len() - to.len()));
    padded.extend_from_slice(to);
    ok(ok(t.sum_to_shape(&padded)).reshape(&tshape(k, to)))
}

/// Zero tangent.
pub(crate) fn zeros<T: Real>(k: usize, shape: &[usize]) -> Tensor<T> {
    Tensor::zeros(&tshape(k, shape))
}

/// `a + b` where either may be absent.
pub(crate) fn add_opt<T: Real>(a: Option<Tensor<T>>, b: Option<Tensor<T>>) -> Option<Tensor<T>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(ok(a.zip(&b, "add", |x, y| x + y))),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Apply a per-direction map: split the tangent into its `k` slices of shape `shape`, map each, stack.
pub(crate) fn per_direction<T: Real>(
    t: &Tensor<T>,
    k: usize,
    shape: &[usize],
    f: impl Fn(&Tensor<T>) -> Tensor<T>,
) -> Tensor<T> {
    let n: usize = shape.iter().product();
    let outs: Vec<Tensor<T>> =
        (0..k).map(|c| f(&ok(Tensor::new(shape.to_vec(), t.data()[c * n..(c + 1) * n].to_vec())))).collect();
    ok(Tensor::stack(&outs, 0))
}

/// `f` applied to each of the `k` directions of a tangent block (`n` elements each), the results
/// concatenated (a plain loop of appends: a `flat_map` over the directions costs a check per element).
pub(crate) fn map_directions<T: Real>(k: usize, n: usize, t: &[T], f: impl Fn(&[T]) -> Vec<T>) -> Vec<T> {
    let mut out = Vec::new();
    for c in 0..k {
        let part = f(&t[c * n..(c + 1) * n]);
        if c == 0 {
            out.reserve_exact(part.len() * k);
        }
        out.extend_from_slice(&part);
    }
    out
}
