//! Layout ops: reshape, permute, slice (adjoint: zero padding), concatenation (adjoint: slices) and
//! periodic shift (adjoint: the opposite shift). All are linear; their JVPs apply the same map to each
//! direction.

use super::tangent;
use crate::error::{Error, Result};
use crate::reverse::var::ok;
use crate::reverse::{ElementClasses, InputClasses, JvpCx, Op, OpCx, Var};
use crate::scalar::Real;
use crate::tensor::pool::Buf;
use crate::tensor::Tensor;

enum Kind {
    Reshape { from: Buf<usize> },
    Permute { perm: Buf<usize> },
    Slice { axis: usize, start: usize, end: usize, len: usize },
    Pad { axis: usize, before: usize, after: usize },
    Concat { axis: usize, sizes: Vec<usize> },
    Roll { axis: usize, shift: isize },
}

struct Layout(Kind);

fn pad<T: Real>(t: &Tensor<T>, axis: usize, before: usize, after: usize) -> Tensor<T> {
    let mut zb = t.shape().to_vec();
    zb[axis] = before;
    let mut za = t.shape().to_vec();
    za[axis] = after;
    ok(Tensor::concat(&[Tensor::zeros(&zb), t.clone(), Tensor::zeros(&za)], axis))
}

impl<T: Real> Op<T> for Layout {
    fn name(&self) -> &'static str {
        match self.0 {
            Kind::Reshape { .. } => "reshape",
            Kind::Permute { .. } => "permute",
            Kind::Slice { .. } => "slice",
            Kind::Pad { .. } => "pad",
            Kind::Concat { .. } => "concat",
            Kind::Roll { .. } => "roll",
        }
    }
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        match &self.0 {
            Kind::Reshape { from } => crate::reverse::cotangents([Some(ok(g.reshape(from)))]),
            Kind::Permute { perm } => {
                let mut inv = vec![0; perm.len()];
                for (i, &p) in perm.iter().enumerate() {
                    inv[p] = i;
                }
                crate::reverse::cotangents([Some(ok(g.permute(&inv)))])
            }
            Kind::Slice { axis, start, end, len } => {
                crate::reverse::cotangents([Some(ok(g.pad(*axis, *start, len - end)))])
            }
            Kind::Pad { axis, before, after } => {
                let n = g.shape()[*axis];
                crate::reverse::cotangents([Some(ok(g.slice(*axis, *before, n - after)))])
            }
            Kind::Concat { axis, sizes } => {
                let mut off = 0;
                sizes
                    .iter()
                    .enumerate()
                    .map(|(i, &s)| {
                        let r = cx.wanted[i].then(|| ok(g.slice(*axis, off, off + s)));
                        off += s;
                        r
                    })
                    .collect()
            }
            Kind::Roll { axis, shift } => crate::reverse::cotangents([Some(ok(g.roll(*axis, -shift)))]),
        }
    }
    fn classes_in_any_order(&self) -> bool {
        // reshapes and permutes map each element to its own source
        matches!(self.0, Kind::Reshape { .. } | Kind::Permute { .. })
    }
    fn element_classes(
        &self,
        inputs: &[&Tensor<T>],
        at: &[usize],
        input: &mut dyn InputClasses,
    ) -> Option<ElementClasses> {
        // the same elements, moved: each keeps its class
        match &self.0 {
            Kind::Reshape { .. } => input.classes(0, at),
            Kind::Permute { perm } => input.classes(0, &permuted_sources(inputs[0].shape(), perm, at)?),
            _ => None,
        }
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let k = cx.k;
        let out = cx.out.shape();
        match &self.0 {
            Kind::Reshape { .. } => ok(cx.tangents[0].expect("tangent").reshape(&tangent::tshape(k, out))),
            Kind::Permute { perm } => {
                let mut p = vec![0];
                p.extend(perm.iter().map(|a| a + 1));
                ok(cx.tangents[0].expect("tangent").permute(&p))
            }
            Kind::Slice { axis, start, end, .. } => ok(cx.tangents[0].expect("tangent").slice(axis + 1, *start, *end)),
            Kind::Pad { axis, before, after } => pad(cx.tangents[0].expect("tangent"), axis + 1, *before, *after),
            Kind::Concat { axis, .. } => {
                let parts: Vec<Tensor<T>> = cx
                    .tangents
                    .iter()
                    .zip(&cx.inputs)
                    .map(|(t, v)| t.cloned().unwrap_or_else(|| tangent::zeros(k, v.shape())))
                    .collect();
                ok(Tensor::concat(&parts, axis + 1))
            }
            Kind::Roll { axis, shift } => ok(cx.tangents[0].expect("tangent").roll(axis + 1, *shift)),
        }
    }
}

/// The input positions of the output elements `at` of a permute of an input shaped `shape` (output
/// axis `a` is input axis `perm[a]`, as in [`Tensor::permute`]); `None` when `perm` does not fit.
fn permuted_sources(shape: &[usize], perm: &[usize], at: &[usize]) -> Option<Vec<usize>> {
    let nd = shape.len();
    if perm.len() != nd || perm.iter().any(|&p| p >= nd) {
        return None;
    }
    let in_strides = crate::tensor::shape::strides(shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let st: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let n: usize = shape.iter().product();
    at.iter()
        .map(|&e| {
            // unravel `e` over the output shape, last axis first, summing the input strides
            let (mut rest, mut src) = (e, 0);
            for a in (0..nd).rev() {
                src += (rest % out_shape[a]) * st[a];
                rest /= out_shape[a];
            }
            (e < n).then_some(src)
        })
        .collect()
}

impl<'t, T: Real> Var<'t, T> {
    fn layout(self, kind: Kind, value: Tensor<T>) -> Var<'t, T> {
        self.tape.push(Layout(kind), &[self], value)
    }
    /// Same values, new shape.
    pub fn reshape(self, shape: &[usize]) -> Result<Var<'t, T>> {
        let v = self.value();
        if v.shape() == shape {
            return Ok(self);
        }
        let value = v.reshape(shape)?;
        Ok(self.layout(Kind::Reshape { from: Buf::copied(v.shape()) }, value))
    }
    /// Permute axes (output axis `i` is input axis `perm[i]`).
    pub fn permute(self, perm: &[usize]) -> Result<Var<'t, T>> {
        let value = self.value().permute(perm)?;
        Ok(self.layout(Kind::Permute { perm: Buf::copied(perm) }, value))
    }
    /// Transpose a 2-d variable.
    pub fn t(self) -> Result<Var<'t, T>> {
        if self.shape().len() != 2 {
            return Err(Error::shape("transpose", format!("expects a 2-d variable, shape is {:?}", self.shape())));
        }
        self.permute(&[1, 0])
    }
    /// Elements `start..end` along `axis`.
    pub fn slice(self, axis: usize, start: usize, end: usize) -> Result<Var<'t, T>> {
        let v = self.value();
        let value = v.slice(axis, start, end)?;
        let len = v.shape()[axis];
        Ok(self.layout(Kind::Slice { axis, start, end, len }, value))
    }
    /// Zero padding along `axis`.
    pub fn pad(self, axis: usize, before: usize, after: usize) -> Result<Var<'t, T>> {
        let v = self.value();
        crate::tensor::reduce::check_axis("pad", axis, v.ndim())?;
        let value = pad(&v, axis, before, after);
        Ok(self.layout(Kind::Pad { axis, before, after }, value))
    }
    /// Periodic shift along `axis`: `out[i] = in[(i - shift) mod n]`.
    pub fn roll(self, axis: usize, shift: isize) -> Result<Var<'t, T>> {
        let value = self.value().roll(axis, shift)?;
        Ok(self.layout(Kind::Roll { axis, shift }, value))
    }
    /// Concatenate variables of one tape along an existing axis.
    pub fn concat(parts: &[Var<'t, T>], axis: usize) -> Result<Var<'t, T>> {
        let first = parts.first().ok_or_else(|| Error::shape("concat", "no variables given"))?;
        let values: Vec<Tensor<T>> = parts.iter().map(|p| p.value()).collect();
        let value = Tensor::concat(&values, axis)?;
        let sizes = values.iter().map(|v| v.shape()[axis]).collect();
        Ok(first.tape.push(Layout(Kind::Concat { axis, sizes }), parts, value))
    }
    /// Stack equal-shaped variables along a new axis.
    pub fn stack(parts: &[Var<'t, T>], axis: usize) -> Result<Var<'t, T>> {
        let first = parts.first().ok_or_else(|| Error::shape("stack", "no variables given"))?;
        let mut s = first.shape();
        if axis > s.len() {
            return Err(Error::shape("stack", format!("axis {axis} out of range for shape {s:?}")));
        }
        s.insert(axis, 1);
        let r = parts.iter().map(|p| {
            if p.shape() != first.shape() {
                Err(Error::shape("stack", format!("shapes {:?} and {:?} differ", first.shape(), p.shape())))
            } else {
                p.reshape(&s)
            }
        });
        Var::concat(&r.collect::<Result<Vec<_>>>()?, axis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permuted_sources_are_where_the_permute_reads() {
        // values 0..24 over [2, 3, 4] are their own positions, so the tensor permute (the reference)
        // lists the source of every output; by hand, perm [2, 0, 1]: output [1][0][2] (flat 1*6 + 2
        // in the output shape [4, 2, 3]) reads input [0][2][1] = 0*12 + 2*4 + 1 = 9
        let shape = [2, 3, 4];
        let t = Tensor::from_parts(shape.to_vec(), (0..24).map(f64::from).collect());
        let all: Vec<usize> = (0..24).collect();
        for perm in [[2, 0, 1], [0, 2, 1], [1, 0, 2], [0, 1, 2], [2, 1, 0]] {
            let want: Vec<usize> = t.permute(&perm).unwrap().data().iter().map(|&v| v as usize).collect();
            assert_eq!(permuted_sources(&shape, &perm, &all).unwrap(), want);
        }
        assert_eq!(permuted_sources(&shape, &[2, 0, 1], &[8]).unwrap(), vec![9]);
        assert_eq!(permuted_sources(&shape, &[0, 1], &[0]), None);
        assert_eq!(permuted_sources(&shape, &[0, 1, 2], &[24]), None);
    }
}
