//! Reductions along axes. Sums accumulate in `f64` and round once, for every precision.

use super::Tensor;
use crate::error::{Error, Result};
use crate::scalar::Real;
use crate::tensor::elementwise::PAR_MIN;

/// Split `shape` around `axis` into (outer, length, inner) extents.
pub(crate) fn split_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// Check that `axis` is a valid axis for a tensor of `ndim` dimensions.
pub(crate) fn check_axis(op: &'static str, axis: usize, ndim: usize) -> Result<()> {
    if axis >= ndim {
        Err(Error::shape(op, format!("axis {axis} out of range for a tensor of {ndim} dimensions")))
    } else {
        Ok(())
    }
}

/// The sums of the `R` rows `o..o + R` of the row-major `[_, len]` matrix `d` into `acc[o..o + R]`,
/// each accumulated in `f64` in increasing column order; returns `R`.
#[inline(always)]
fn row_sums<T: Real, const R: usize>(d: &[T], len: usize, o: usize, acc: &mut [f64]) -> usize {
    let rows: [&[T]; R] = std::array::from_fn(|j| &d[(o + j) * len..(o + j + 1) * len]);
    let mut a = [0f64; R];
    for c in 0..len {
        for j in 0..R {
            a[j] += rows[j][c].to_f64();
        }
    }
    acc[o..o + R].copy_from_slice(&a);
    R
}

impl<T: Real> Tensor<T> {
    /// Sum along one axis; the axis is kept with length 1 when `keepdim`.
    pub fn sum_axis(&self, axis: usize, keepdim: bool) -> Result<Tensor<T>> {
        check_axis("sum_axis", axis, self.ndim())?;
        let (outer, len, inner) = split_axis(self.shape(), axis);
        let d = self.data();
        let mut acc = super::pool::filled(outer * inner, 0f64);
        if std::mem::size_of::<T>() == 2 {
            // 16-bit values widened to f32 first, in one vectorised pass (exact, so the same sums)
            let mut w: Vec<f32> = super::pool::take(d.len());
            crate::round16::widen_into(d, &mut w.spare_capacity_mut()[..d.len()]);
            // SAFETY: `widen_into` wrote every one of the `d.len()` values.
            unsafe { w.set_len(d.len()) };
            sums(&w, outer, len, inner, &mut acc);
            super::pool::give(w);
        } else {
            sums(d, outer, len, inner, &mut acc);
        }
        let mut shape = super::pool::take(self.ndim() - usize::from(!keepdim));
        for (a, &d) in self.shape().iter().enumerate() {
            if a != axis {
                shape.push(d);
            } else if keepdim {
                shape.push(1);
            }
        }
        let mut out = super::pool::take(acc.len());
        out.extend(acc.iter().map(|&v| T::from_f64(v)));
        super::pool::give(acc);
        Ok(Tensor::from_parts(shape, out))
    }

    /// Sum of all elements, as a 0-d tensor.
    pub fn sum_all(&self) -> Tensor<T> {
        let s: f64 = self.data().iter().fold(0.0, |a, v| a + v.to_f64());
        Tensor::scalar(T::from_f64(s))
    }

    /// Sum a broadcast result back to `shape` (the adjoint of broadcasting `shape` up to `self.shape()`).
    pub fn sum_to_shape(&self, shape: &[usize]) -> Result<Tensor<T>> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let axes = super::shape::reduced_axes(shape, self.shape());
        let mut t = self.clone();
        for &a in axes.iter().rev() {
            t = t.sum_axis(a, true)?;
        }
        super::pool::give(axes);
        t.reshape(shape)
    }
}

/// The sums of [`Tensor::sum_axis`] into `acc` ([`sums_into`]). The column sums of one large matrix
/// (`outer == 1`, at least 64 columns and [`PAR_MIN`] values: a linear layer's bias gradient, the
/// sum of a `[batch, features]` cotangent over the batch) run in two halves of the columns on
/// rayon's threads, each column summed down the rows in the same order as in one pass (the same
/// bits). The MLP 784-512-512-10's two 128 x 512 bias gradients ran on one thread while the step's
/// other thread waited (docs/benchmarks.md, session 32).
fn sums<T: Real>(d: &[T], outer: usize, len: usize, inner: usize, acc: &mut [f64]) {
    if outer == 1 && inner >= 64 && d.len() >= PAR_MIN {
        let h = inner / 2;
        let (lo, hi) = acc.split_at_mut(h);
        rayon::join(|| column_sums_into(d, inner, 0, lo), || column_sums_into(d, inner, h, hi));
    } else {
        sums_into(d, outer, len, inner, acc);
    }
}

wide_fn! {
    /// The sums of the columns `first..first + acc.len()` of `rows` (rows of `w` values) added to
    /// `acc`, compiled for the vector unit: [`sums_into`]'s column sums for part of the columns.
    fn column_sums_into<T: Real>(rows: &[T], w: usize, first: usize, acc: &mut [f64]) = column_sums;
}

wide_fn! {
    /// The sums of [`Tensor::sum_axis`] into `acc` (`outer * inner` zeros), compiled for the vector
    /// unit (the 16-bit values widen one at a time in the baseline): the same sums in the same order.
    pub(crate) fn sums_into<T: Real>(d: &[T], outer: usize, len: usize, inner: usize, acc: &mut [f64]) = sums_into_body;
}

/// The body of [`sums_into`]: row sums side by side when `inner == 1`, else rows of `inner` added.
#[inline(always)]
fn sums_into_body<T: Real>(d: &[T], outer: usize, len: usize, inner: usize, acc: &mut [f64]) {
    if inner == 1 {
        // each row's sum is one chain of dependent adds: run up to 8 rows' chains side by side
        // (each row still summed in its own order, so the same bits as one row at a time)
        let mut o = 0;
        while o < outer {
            o += match outer - o {
                8.. => row_sums::<T, 8>(d, len, o, acc),
                4..=7 => row_sums::<T, 4>(d, len, o, acc),
                2..=3 => row_sums::<T, 2>(d, len, o, acc),
                _ => row_sums::<T, 1>(d, len, o, acc),
            };
        }
    } else {
        // each column sums row after row, in blocks of columns whose sums stay in registers down the
        // rows (one row's sums stored and reloaded before the next row's add was the bottleneck of the
        // hybrid model's bias gradients); the block width changes no bit
        for o in 0..outer {
            let rows = &d[o * len * inner..(o + 1) * len * inner];
            column_sums(rows, inner, 0, &mut acc[o * inner..(o + 1) * inner]);
        }
    }
}

/// The body of [`column_sums_into`]: in blocks of columns whose sums stay in registers down the
/// rows (the block width changes no bit).
#[inline(always)]
fn column_sums<T: Real>(rows: &[T], w: usize, first: usize, acc: &mut [f64]) {
    let mut c = 0;
    while c < acc.len() {
        c += match acc.len() - c {
            32.. => column_block::<T, 32>(rows, w, first + c, &mut acc[c..]),
            16.. => column_block::<T, 16>(rows, w, first + c, &mut acc[c..]),
            8.. => column_block::<T, 8>(rows, w, first + c, &mut acc[c..]),
            _ => column_block::<T, 1>(rows, w, first + c, &mut acc[c..]),
        };
    }
}

/// The sums of the `B` columns `c..c + B` of `rows` (rows of `w` values) added to `acc[..B]`, row
/// after row; returns `B`.
#[inline(always)]
fn column_block<T: Real, const B: usize>(rows: &[T], w: usize, c: usize, acc: &mut [f64]) -> usize {
    let mut a = [0.0f64; B];
    a.copy_from_slice(&acc[..B]);
    for r in 0..rows.len() / w {
        let src: &[T; B] = (&rows[r * w + c..r * w + c + B]).try_into().expect("B values");
        for k in 0..B {
            a[k] += src[k].to_f64();
        }
    }
    acc[..B].copy_from_slice(&a);
    B
}
