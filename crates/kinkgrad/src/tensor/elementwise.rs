//! Element-wise kernels with broadcasting. Loops run over contiguous inner dimensions so that they
//! vectorise; large maps are split across threads with rayon.

use super::shape::{broadcast_shapes, broadcast_strides};
use super::Tensor;
use crate::error::Result;
use crate::scalar::Real;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Element count above which element-wise kernels run on several threads.
pub(crate) const PAR_MIN: usize = 1 << 16;

impl<T: Real> Tensor<T> {
    /// Apply `f` to every element.
    pub fn map(&self, f: impl Fn(T) -> T + Sync) -> Tensor<T> {
        let d = self.data();
        let out = fill_with(d.len(), PAR_MIN / 8, |o, at| {
            for (o, &v) in o.iter_mut().zip(&d[at..]) {
                o.write(f(v));
            }
        });
        Tensor::from_parts(super::pool::copied(self.shape()), out)
    }

    /// Combine two tensors element by element after broadcasting them to a common shape.
    ///
    /// ```
    /// use kinkgrad::Tensor;
    /// let a = Tensor::new(vec![2, 2], vec![1.0f64, 2.0, 3.0, 4.0]).unwrap();
    /// let b = Tensor::vector(vec![10.0f64, 20.0]);
    /// let c = a.zip(&b, "add", |x, y| x + y).unwrap();
    /// assert_eq!(c.data(), &[11.0, 22.0, 13.0, 24.0]);
    /// ```
    pub fn zip(&self, other: &Tensor<T>, op: &'static str, f: impl Fn(T, T) -> T + Sync) -> Result<Tensor<T>> {
        if self.shape() == other.shape() {
            let (a, b) = (self.data(), other.data());
            let out = fill_with(a.len(), PAR_MIN / 8, |o, at| {
                for ((o, &x), &y) in o.iter_mut().zip(&a[at..]).zip(&b[at..]) {
                    o.write(f(x, y));
                }
            });
            return Ok(Tensor::from_parts(super::pool::copied(self.shape()), out));
        }
        let shape = broadcast_shapes(op, self.shape(), other.shape())?;
        if self.shape() == shape.as_slice() && !self.is_empty() && repeats_along_leading_axes(other.shape(), &shape) {
            return Ok(Tensor::from_parts(shape, zip_rows(self.data(), other.data(), &f)));
        }
        let out = zip_broadcast(self, other, &shape, &f);
        Ok(Tensor::from_parts(shape, out))
    }

    /// `self = f(self, other)` element by element, in place, for two tensors of one shape: the values
    /// of [`Tensor::zip`] with the same `f`, without a new buffer (the buffer is copied first only
    /// when shared, as in [`Tensor::data_mut`]), e.g. an SGD update `w - lr * g`. Large tensors are
    /// split across threads in chunks that depend on the length only (tested in
    /// `tests/it/broadcast_rows.rs`).
    pub fn zip_assign(&mut self, other: &Tensor<T>, op: &'static str, f: impl Fn(T, T) -> T + Sync) -> Result<()> {
        if self.shape() != other.shape() {
            return Err(crate::Error::shape(
                op,
                format!("cannot update {:?} in place with {:?}", self.shape(), other.shape()),
            ));
        }
        let b = other.data();
        let a = self.data_mut();
        let update = |a: &mut [T], b: &[T]| {
            for (x, &y) in a.iter_mut().zip(b) {
                *x = f(*x, y);
            }
        };
        if a.len() >= PAR_MIN {
            let block = PAR_MIN / 8;
            a.par_chunks_mut(block).zip(b.par_chunks(block)).for_each(|(a, b)| wide(|| update(a, b)));
        } else {
            wide(|| update(a, b));
        }
        Ok(())
    }

    /// Broadcast to `shape`, materialising the repeated elements.
    pub fn expand(&self, shape: &[usize]) -> Result<Tensor<T>> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let s = broadcast_shapes("expand", self.shape(), shape)?;
        if s != shape {
            return Err(crate::Error::shape(
                "expand",
                format!("shape {:?} does not broadcast to {shape:?}", self.shape()),
            ));
        }
        let zero = Tensor::zeros(&[]);
        let data = zip_broadcast(self, &zero, &s, &|x, _| x);
        Ok(Tensor::from_parts(s, data))
    }
}

pub(crate) use crate::simd::wide;

/// True when a tensor of shape `b` broadcast to `shape` repeats its data along the leading axes: its
/// shape without leading 1s is a suffix of `shape` (a bias `[c]` added to `[rows, c]`, a scalar).
fn repeats_along_leading_axes(b: &[usize], shape: &[usize]) -> bool {
    let first = b.iter().position(|&d| d != 1).unwrap_or(b.len());
    let b = &b[first..];
    b.len() <= shape.len() && shape[shape.len() - b.len()..] == *b
}

/// A vector of `n` elements written by `write(chunk, start)`, which must write every element of
/// `chunk` (the outputs `start..start + chunk.len()`): in one call compiled for the vector unit
/// ([`wide`]) below [`PAR_MIN`] elements, else in chunks of `block` elements on rayon's threads, each
/// compiled for the vector unit too. No zero fill; the chunks depend on `n` and `block` only, so a
/// `write` whose values do not depend on where a chunk starts gives the same values on any number of
/// threads.
fn fill_with<T: Send + Sync + 'static>(
    n: usize,
    block: usize,
    write: impl Fn(&mut [MaybeUninit<T>], usize) + Sync,
) -> Vec<T> {
    let mut out: Vec<T> = super::pool::take(n);
    write_chunks(&mut out.spare_capacity_mut()[..n], block, write);
    // SAFETY: `write` wrote every element of each chunk (its contract), and the chunks cover `0..n`.
    unsafe { out.set_len(n) };
    out
}

/// `write(chunk, start)` for the chunks of `out` (its elements `start..start + chunk.len()`): in one
/// call compiled for the vector unit ([`wide`]) below [`PAR_MIN`] elements, else in chunks of `block`
/// elements on rayon's threads, each compiled for the vector unit too. The chunks depend on the
/// length and `block` only ([`fill_with`] fills a new vector this way).
pub(crate) fn write_chunks<T: Send>(out: &mut [T], block: usize, write: impl Fn(&mut [T], usize) + Sync) {
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(block).enumerate().for_each(|(i, o)| wide(|| write(o, i * block)));
    } else {
        wide(|| write(out, 0));
    }
}

/// `f(a, b)` with `b` repeated along the rows of `a` (`b.len()` divides `a.len()`): every output row in
/// one straight loop, written once (no zero fill); large inputs split across threads by whole rows.
fn zip_rows<T: Real>(a: &[T], b: &[T], f: &(impl Fn(T, T) -> T + Sync)) -> Vec<T> {
    let (n, c) = (a.len(), b.len());
    // whole rows per chunk: a chunk starts at a row start, so `b` lines up with each row
    fill_with(n, c * (PAR_MIN / 8 / c).max(1), |o, at| {
        for (o, x) in o.chunks_mut(c).zip(a[at..].chunks(c)) {
            for ((o, &x), &y) in o.iter_mut().zip(x).zip(b) {
                o.write(f(x, y));
            }
        }
    })
}

/// General broadcasting loop: an odometer over the outer dimensions, a strided inner loop.
fn zip_broadcast<T: Real>(a: &Tensor<T>, b: &Tensor<T>, shape: &[usize], f: &(impl Fn(T, T) -> T + Sync)) -> Vec<T> {
    let n: usize = shape.iter().product();
    let mut out = super::pool::take(n);
    if n == 0 {
        return out;
    }
    let sa = broadcast_strides(a.shape(), shape);
    let sb = broadcast_strides(b.shape(), shape);
    let nd = shape.len();
    if nd == 0 {
        out.push(f(a.data()[0], b.data()[0]));
        return out;
    }
    let inner = shape[nd - 1];
    let (ia, ib) = (sa[nd - 1], sb[nd - 1]);
    let (da, db) = (a.data(), b.data());
    let mut idx = super::pool::filled(nd - 1, 0usize);
    let (mut oa, mut ob) = (0usize, 0usize);
    loop {
        match (ia, ib) {
            (1, 1) => out.extend(da[oa..oa + inner].iter().zip(&db[ob..ob + inner]).map(|(&x, &y)| f(x, y))),
            (1, 0) => {
                let y = db[ob];
                out.extend(da[oa..oa + inner].iter().map(|&x| f(x, y)))
            }
            (0, 1) => {
                let x = da[oa];
                out.extend(db[ob..ob + inner].iter().map(|&y| f(x, y)))
            }
            _ => out.extend((0..inner).map(|j| f(da[oa + j * ia], db[ob + j * ib]))),
        }
        // advance the odometer over the outer dimensions
        let mut d = nd - 1;
        loop {
            if d == 0 {
                // the index lists back to the installed pool
                super::pool::give(idx);
                super::pool::give(sa);
                super::pool::give(sb);
                return out;
            }
            d -= 1;
            idx[d] += 1;
            oa += sa[d];
            ob += sb[d];
            if idx[d] < shape[d] {
                break;
            }
            oa -= sa[d] * idx[d];
            ob -= sb[d] * idx[d];
            idx[d] = 0;
        }
    }
}
