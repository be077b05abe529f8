//! The product of a 2-d convolution, written in the `[batch, out, oh, ow]` (NCHW) layout directly.
//!
//! A convolution is im2col followed by one matrix product with the weight `W: [out, kk]`
//! (`kk = c * kh * kw`). Here im2col is transposed ([`Var::unfold2d_t`]: `colsT [kk, batch * P]`,
//! `P = oh * ow` positions per image, PyTorch's layout) and the product is `W colsT`, `[out, batch * P]`:
//! its long dimension (positions) is the contiguous one of both the result and `colsT`, so `gemm`'s
//! micro-kernel fills its vector registers and packs `colsT` without transposing it (the untransposed
//! `cols W^T` gave the micro-kernel 6 or 16 rows, or a transposing pack of `cols`). Each image's rows
//! are then copied out with the bias added. Every output is the same dot product as
//! `cols.linear(W, b)` permuted to NCHW, accumulated in the same order (`gemm` accumulates each
//! output along `k` in order, and `k = kk` is one depth block), so the forward values are those bits;
//! test: `conv2d_equals_unfold_linear_permute`. In `f16`/`bf16` the bias joins the `f32` sum before
//! the one rounding (as `nn.Linear`), so those types take the product with the bias along its rows
//! ([`Real::gemm_row_bias_uninit`]), in the same orientation (until session 27 they took the
//! `[rows, out]` orientation with the bias along its columns, where `gemm` ran its narrow 1 x 6
//! micro-kernel; the values are the same).
//!
//! VJP: the cotangent permuted to `[out, batch * P]` (`G`, a copy of runs of `P`), then
//! `dcolsT = W^T G`, `dW = G colsT^T` (as `(colsT G^T)^T`: the same sums, but `gemm` packs `G` rather
//! than all of `colsT` transposed), `db = G` summed over its columns, all recorded. `dW` and `db`
//! sum over the `batch * P` positions in another blocking than the linear layer's `G^T cols`, so
//! their last bits may differ from the untransposed composition's.
//! JVP: the product applied to each tangent term (`W dcolsT`, `dW colsT`, `db` broadcast).

use super::equal::{column_breaks, equal_vectors};
use super::tangent;
use crate::error::{Error, Result};
use crate::reverse::distinct::Distinct;
use crate::reverse::var::ok;
use crate::reverse::{ElementClasses, InputClasses, JvpCx, Op, OpCx, Var, CONSTANT_CLASS};
use crate::scalar::Real;
use crate::tensor::pool;
use crate::tensor::Tensor;

/// The convolution product op: inputs `colsT [kk, batch * positions]`, `W [out, kk]`, `b [out]`;
/// output `[batch, out, oh, ow]`.
struct ConvProduct {
    batch: usize,
    /// `(oh, ow)`.
    spatial: (usize, usize),
}

impl ConvProduct {
    fn positions(&self) -> usize {
        self.spatial.0 * self.spatial.1
    }
}

/// `y[n, o, p] = sum_q W[o, q] colsT[q, n P + p] (+ bias[o])` for `colsT [kk, batch * P]`,
/// `W [out, kk]` and `bias` empty or `[out]`, as a flat NCHW buffer (the module docs say which
/// orientation of the product each type takes).
fn product<T: Real>(cols_t: &[T], w: &[T], bias: &[T], batch: usize, positions: usize, kk: usize) -> Vec<T> {
    let out = w.len() / kk.max(1);
    let rows = batch * positions;
    let mut y = crate::tensor::pool::take(rows * out);
    // the product's own layout, written in full by `gemm_bias_uninit` (no zero fill)
    let mut scratch: Vec<T> = crate::tensor::pool::take(rows * out);
    let spare = &mut scratch.spare_capacity_mut()[..rows * out];
    // [out, rows] = W colsT, then each image's rows of it with the bias added; 16-bit types add the
    // bias inside the product, to the f32 sums before their one rounding (as `nn.Linear`)
    let sixteen = std::mem::size_of::<T>() == 2;
    if sixteen {
        T::gemm_row_bias_uninit(out, rows, kk, w, kk as isize, 1, cols_t, rows as isize, 1, bias, spare);
    } else {
        T::gemm_bias_uninit(out, rows, kk, w, kk as isize, 1, cols_t, rows as isize, 1, &[], spare);
    }
    let bias = if sixteen { &[][..] } else { bias };
    // SAFETY: the product wrote all `rows * out` values
    unsafe { scratch.set_len(rows * out) };
    let dst = &mut y.spare_capacity_mut()[..rows * out];
    crate::simd::wide(|| {
        for (n, img) in dst.chunks_exact_mut(out * positions).enumerate() {
            for (o, d) in img.chunks_exact_mut(positions).enumerate() {
                let row = &scratch[o * rows + n * positions..o * rows + (n + 1) * positions];
                match bias.get(o) {
                    Some(&b) => d.iter_mut().zip(row).for_each(|(d, &v)| {
                        d.write(v + b);
                    }),
                    None => d.iter_mut().zip(row).for_each(|(d, &v)| {
                        d.write(v);
                    }),
                }
            }
        }
    });
    // SAFETY: the chunks above cover all `rows * out` values of `dst`, each written once
    unsafe { y.set_len(rows * out) };
    crate::tensor::pool::give(scratch);
    y
}

/// Division of values below `2^32` by a fixed divisor below `2^32` as one multiplication: with
/// `M = floor((2^64 - 1) / d) + 1`, `floor(n / d)` is the high 64 bits of `M n` for every such `n`
/// and `d > 1` (Lemire, Kaser and Kurz, "Faster remainder by direct computation", Software:
/// Practice and Experience 49, 2019, Theorem 1 with N = 32, F = 64); `d = 1` is `n` itself.
#[derive(Clone, Copy)]
struct Div32 {
    d: usize,
    m: u64,
}

impl Div32 {
    /// The divisor `d` (`1 <= d < 2^32`).
    fn new(d: usize) -> Self {
        debug_assert!(d >= 1 && (d as u64) < 1 << 32);
        Div32 { d, m: if d > 1 { u64::MAX / d as u64 + 1 } else { 0 } }
    }
    /// `(n / d, n % d)` for `n < 2^32`.
    #[inline]
    fn div_rem(self, n: usize) -> (usize, usize) {
        debug_assert!((n as u64) < 1 << 32);
        let q = if self.d > 1 { ((u128::from(self.m) * n as u128) >> 64) as usize } else { n };
        (q, n - q * self.d)
    }
}

impl<T: Real> Op<T> for ConvProduct {
    fn name(&self) -> &'static str {
        "conv_product"
    }
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let (cols_t, w) = (cx.inputs[0], cx.inputs[1]);
        let out = w.shape()[0];
        let p = self.positions();
        // the cotangent in the product's [out, rows] layout
        let g = ok(ok(ok(g.reshape(&[self.batch, out, p])).permute(&[1, 0, 2])).reshape(&[out, self.batch * p]));
        crate::reverse::cotangents([
            cx.wanted[0].then(|| ok(w.matmul_t(g, true, false))),
            // `(colsT G^T)^T`: the same sums as `G colsT^T` (each along the positions in order), but `gemm`
            // then packs the small `G` instead of transposing all of `colsT` into its panels
            cx.wanted[1].then(|| ok(ok(cols_t.matmul_t(g, false, true)).t())),
            cx.wanted[2].then(|| ok(g.sum_to(&[out, 1]).reshape(&[out]))),
        ])
    }
    fn classes_in_any_order(&self) -> bool {
        // `element_classes` orders the patches it reads itself (a position map or a sorted list)
        true
    }
    fn element_classes(
        &self,
        inputs: &[&Tensor<T>],
        at: &[usize],
        input: &mut dyn InputClasses,
    ) -> Option<ElementClasses> {
        // as the linear layer: patches (columns of `colsT`) that are the same functions element by
        // element give, in each output channel, the same function: class (patch class, channel).
        // Only the patches of the listed outputs (`at`, NCHW) are read
        let (kk, rows, out) = (inputs[0].shape()[0], inputs[0].shape()[1], inputs[1].shape()[0]);
        let p = self.positions();
        if rows.checked_mul(out)? >= CONSTANT_CLASS as usize || out == 0 || p == 0 {
            return None;
        }
        // output `e = (n out + o) P + q` reads patch (column) `n P + q` in channel `o` (the divisions
        // as multiplications: every listed output is split twice, tens of thousands per step)
        let (by_p, by_out) = (Div32::new(p), Div32::new(out));
        let split = |e: usize| {
            let (no, q) = by_p.div_rem(e);
            let (n, o) = by_out.div_rem(no);
            (n * p + q, o)
        };
        // each listed output's patch and channel, split once (lists from the installed pool)
        let (mut js, mut os): (Vec<u32>, Vec<u32>) =
            (pool::take_bounded(at.len(), rows * out), pool::take_bounded(at.len(), rows * out));
        for &e in at {
            let (j, o) = split(e);
            js.push(j as u32);
            os.push(o as u32);
        }
        // the distinct patches, ascending, and where each listed output's patch is among them (the
        // lists and scratches from the installed pool, given back; a `None` frees them)
        let d = Distinct::new(js.iter().map(|&j| j as usize), at.len(), rows);
        let patches = &d.uniq;
        let m = patches.len();
        // element `i` of listed patch `q`: `colsT[i, patches[q]]` (read along the rows of `colsT`)
        let x = inputs[0].data();
        let bits = |q: usize, i: usize| x[i * rows + patches[q]].to_f64().to_bits();
        let rep = if input.constant(0) {
            // patches of constants (an image): the same function when their values are equal. Many
            // patches (blank backgrounds, every tied relu of an image's empty margin): the runs of
            // identical columns and the blank columns first, so that a listed patch equal to the
            // one listed before it (no differing column between), or blank after a blank one, is
            // neither hashed nor compared
            let columns = (m * 8 >= rows).then(|| column_breaks(x, rows, kk));
            let follows = |q: usize| columns.as_ref().is_some_and(|c| c.breaks[patches[q]] == c.breaks[patches[q - 1]]);
            let blank = |q: usize| columns.as_ref().is_some_and(|c| c.blank[patches[q]]);
            let rep = equal_vectors(m, rows, kk, |_, _| CONSTANT_CLASS, bits, follows, blank);
            if let Some(c) = columns {
                c.give();
            }
            rep
        } else {
            let mut list: Vec<usize> = crate::tensor::pool::take_bounded(kk * m, kk * rows);
            for i in 0..kk {
                list.extend(patches.iter().map(|&j| i * rows + j));
            }
            let c = input.classes(0, &list).filter(|c| c.len() == list.len())?;
            crate::tensor::pool::give(list);
            let rep = equal_vectors(m, rows, kk, |q, i| c[i * m + q], bits, |_| false, |_| false);
            crate::tensor::pool::give(c);
            rep
        };
        let mut classes = crate::tensor::pool::take_bounded(at.len(), rows * out);
        for (&j, &o) in js.iter().zip(&os) {
            let i = d.index(j as usize)?;
            classes.push((patches[rep[i]] * out + o as usize) as u32);
        }
        pool::give(rep);
        pool::give(js);
        pool::give(os);
        d.give();
        Some(classes)
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let (cols_t, w) = (cx.inputs[0], cx.inputs[1]);
        let (k, kk, out, p) = (cx.k, cols_t.shape()[0], w.shape()[0], self.positions());
        let shape = cx.out.shape();
        let tshape = tangent::tshape(k, shape);
        let per_direction = |t: &[T], chunk: usize, f: &dyn Fn(&[T]) -> Vec<T>| {
            let mut data = Vec::with_capacity(k * cx.out.len());
            for d in t.chunks(chunk) {
                data.extend(f(d));
            }
            Tensor::from_parts(tshape.clone(), data)
        };
        let (b, len) = (self.batch, cols_t.len());
        let dx = cx.tangents[0].map(|t| per_direction(t.data(), len, &|d| product(d, w.data(), &[], b, p, kk)));
        let dw =
            cx.tangents[1].map(|t| per_direction(t.data(), out * kk, &|d| product(cols_t.data(), d, &[], b, p, kk)));
        let db =
            cx.tangents[2].map(|t| ok(ok(ok(t.reshape(&[k, 1, out, 1])).expand(&[k, b, out, p])).reshape(&tshape)));
        let d = tangent::add_opt(dx, dw);
        tangent::add_opt(d, db).unwrap_or_else(|| tangent::zeros(k, shape))
    }
}

impl<'t, T: Real> Var<'t, T> {
    /// 2-d convolution (cross-correlation, as PyTorch's `conv2d`) of `self: [batch, c, h, w]` with
    /// `w: [out, c, kh, kw]` and bias `b: [out]`, stride and zero padding per axis; output
    /// `[batch, out, oh, ow]`. Recorded as transposed im2col ([`Var::unfold2d_t`]) and one product op
    /// that writes NCHW directly (module docs).
    pub fn conv2d(
        self,
        w: Var<'t, T>,
        b: Var<'t, T>,
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Result<Var<'t, T>> {
        let (xs, ws, bs) = (self.shape(), w.shape(), b.shape());
        if xs.len() != 4 || ws.len() != 4 || ws[1] != xs[1] || bs.len() != 1 || bs[0] != ws[0] {
            return Err(Error::shape(
                "conv2d",
                format!("expects x [batch, c, h, w], W [out, c, kh, kw], b [out]; got {xs:?}, {ws:?}, {bs:?}"),
            ));
        }
        let (out, kk) = (ws[0], ws[1] * ws[2] * ws[3]);
        let (cols_t, spatial) = self.unfold2d_t((ws[2], ws[3]), stride, padding)?;
        let w = w.reshape(&[out, kk])?;
        let op = ConvProduct { batch: xs[0], spatial };
        let value = product(cols_t.value().data(), w.value().data(), b.value().data(), xs[0], op.positions(), kk);
        let value = Tensor::from_parts(pool::copied(&[xs[0], out, spatial.0, spatial.1]), value);
        Ok(self.tape().push(op, &[cols_t, w, b], value))
    }
}

#[cfg(test)]
mod div_tests {
    use super::Div32;

    /// The quotient and remainder of `/` and `%` for divisors 1 to 40, every `n` below 10^5, and
    /// the ends of the range (`n`, `d` up to `2^32 - 1`).
    #[test]
    fn div32_is_exact_division() {
        for d in 1..=40usize {
            let f = Div32::new(d);
            for n in 0..100_000usize {
                assert_eq!(f.div_rem(n), (n / d, n % d), "{n} / {d}");
            }
        }
        let top = (1usize << 32) - 1;
        for d in [1, 2, 3, 7, 576, 3456, 65_537, top - 1, top] {
            let f = Div32::new(d);
            for n in [0, 1, d - 1, d, d + 1, top / 2, top - 1, top].into_iter().filter(|&n| n <= top) {
                assert_eq!(f.div_rem(n), (n / d, n % d), "{n} / {d}");
            }
        }
    }
}
