//! Layout changes: reshape, transpose, slice, concatenation, stacking, periodic shift (roll).
//! Each returns a new contiguous tensor (reshape shares the data).

use super::reduce::{check_axis, split_axis};
use super::Tensor;
use crate::error::{Error, Result};
use crate::scalar::Real;

impl<T: Real> Tensor<T> {
    /// Same data, new shape with the same element count.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor<T>> {
        let n: usize = shape.iter().product();
        if n != self.len() {
            return Err(Error::shape(
                "reshape",
                format!("cannot reshape {:?} ({} elements) to {shape:?} ({n} elements)", self.shape(), self.len()),
            ));
        }
        // the data shared, the shape in a pool buffer of its own length (growing the copied old
        // shape would reallocate it)
        Ok(Tensor { data: self.data.clone(), shape: super::pool::copied(shape) })
    }

    /// Permute the axes: output axis `i` is input axis `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor<T>> {
        let nd = self.ndim();
        let mut seen = super::pool::filled(nd, false);
        let bad = perm.len() != nd || perm.iter().any(|&p| p >= nd || std::mem::replace(&mut seen[p], true));
        super::pool::give(seen);
        if bad {
            return Err(Error::shape("permute", format!("{perm:?} is not a permutation of {nd} axes")));
        }
        let in_strides = super::shape::strides(self.shape());
        let mut shape: Vec<usize> = super::pool::take(nd);
        shape.extend(perm.iter().map(|&p| self.shape()[p]));
        let mut st: Vec<usize> = super::pool::take(nd);
        st.extend(perm.iter().map(|&p| in_strides[p]));
        super::pool::give(in_strides);
        let mut out = super::pool::take(self.len());
        let d = self.data();
        if self.is_empty() || nd == 0 {
            return Ok(Tensor::from_parts(shape, d.to_vec()));
        }
        // a strided inner loop over the last output axis, an odometer over the others
        let (inner, ist) = (shape[nd - 1], st[nd - 1]);
        let mut idx = super::pool::filled(nd - 1, 0usize);
        let mut off = 0usize;
        for _ in 0..self.len() / inner {
            if ist == 1 {
                // the last axis stays last: a contiguous run, copied as one
                out.extend_from_slice(&d[off..off + inner]);
            } else {
                out.extend((0..inner).map(|j| d[off + j * ist]));
            }
            for a in (0..nd - 1).rev() {
                idx[a] += 1;
                off += st[a];
                if idx[a] < shape[a] {
                    break;
                }
                off -= st[a] * idx[a];
                idx[a] = 0;
            }
        }
        super::pool::give(idx);
        super::pool::give(st);
        Ok(Tensor::from_parts(shape, out))
    }

    /// Transpose of a 2-d tensor (swap the last two axes of an n-d tensor).
    pub fn t(&self) -> Result<Tensor<T>> {
        let nd = self.ndim();
        if nd < 2 {
            return Err(Error::shape("transpose", format!("needs at least 2 dimensions, shape is {:?}", self.shape())));
        }
        let mut perm: Vec<usize> = (0..nd).collect();
        perm.swap(nd - 2, nd - 1);
        self.permute(&perm)
    }

    /// Elements `start..end` along `axis`.
    pub fn slice(&self, axis: usize, start: usize, end: usize) -> Result<Tensor<T>> {
        check_axis("slice", axis, self.ndim())?;
        let (outer, len, inner) = split_axis(self.shape(), axis);
        if start > end || end > len {
            return Err(Error::shape(
                "slice",
                format!("range {start}..{end} out of bounds for axis {axis} of length {len}"),
            ));
        }
        let mut out = Vec::with_capacity(outer * (end - start) * inner);
        for o in 0..outer {
            out.extend_from_slice(&self.data()[(o * len + start) * inner..(o * len + end) * inner]);
        }
        let mut shape = self.shape().to_vec();
        shape[axis] = end - start;
        Ok(Tensor::from_parts(shape, out))
    }

    /// Concatenate along an existing axis; all other extents must agree.
    pub fn concat(parts: &[Tensor<T>], axis: usize) -> Result<Tensor<T>> {
        let first = parts.first().ok_or_else(|| Error::shape("concat", "no tensors given"))?;
        check_axis("concat", axis, first.ndim())?;
        for p in parts {
            let ok =
                p.ndim() == first.ndim() && (0..first.ndim()).all(|a| a == axis || p.shape()[a] == first.shape()[a]);
            if !ok {
                return Err(Error::shape(
                    "concat",
                    format!("shapes {:?} and {:?} differ outside axis {axis}", first.shape(), p.shape()),
                ));
            }
        }
        let (outer, _, inner) = split_axis(first.shape(), axis);
        let total: usize = parts.iter().map(|p| p.shape()[axis]).sum();
        let mut out = Vec::with_capacity(outer * total * inner);
        for o in 0..outer {
            for p in parts {
                let l = p.shape()[axis];
                out.extend_from_slice(&p.data()[o * l * inner..(o + 1) * l * inner]);
            }
        }
        let mut shape = first.shape().to_vec();
        shape[axis] = total;
        Ok(Tensor::from_parts(shape, out))
    }

    /// Stack equal-shaped tensors along a new axis.
    pub fn stack(parts: &[Tensor<T>], axis: usize) -> Result<Tensor<T>> {
        let first = parts.first().ok_or_else(|| Error::shape("stack", "no tensors given"))?;
        if axis > first.ndim() {
            return Err(Error::shape("stack", format!("axis {axis} out of range")));
        }
        let mut shape1 = first.shape().to_vec();
        shape1.insert(axis, 1);
        let expanded = parts
            .iter()
            .map(|p| {
                if p.shape() != first.shape() {
                    Err(Error::shape("stack", format!("shapes {:?} and {:?} differ", first.shape(), p.shape())))
                } else {
                    p.reshape(&shape1)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Self::concat(&expanded, axis)
    }

    /// Periodic shift along `axis`: `out[i] = in[(i - shift) mod n]` (NumPy's `roll`).
    pub fn roll(&self, axis: usize, shift: isize) -> Result<Tensor<T>> {
        check_axis("roll", axis, self.ndim())?;
        let (outer, len, inner) = split_axis(self.shape(), axis);
        if len == 0 {
            return Ok(self.clone());
        }
        let s = shift.rem_euclid(len as isize) as usize;
        let mut out = Vec::with_capacity(self.len());
        let d = self.data();
        for o in 0..outer {
            let base = o * len * inner;
            // out rows [0, s) come from input rows [len - s, len), the rest from [0, len - s)
            out.extend_from_slice(&d[base + (len - s) * inner..base + len * inner]);
            out.extend_from_slice(&d[base..base + (len - s) * inner]);
        }
        Ok(Tensor::from_parts(self.shape().to_vec(), out))
    }
}
