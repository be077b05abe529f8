//! Gather and its adjoint, scatter-add: the linear index maps behind im2col (`unfold2d`, used by
//! convolutions) and any other fixed re-indexing with zero padding.
//!
//! `gather`: `y[i] = x[idx[i]]`, or `0` where `idx[i] == PAD` (zero padding). Linear, so its JVP
//! applies the same map to each tangent direction, and its VJP is the scatter-add
//! `x̄[j] = sum_{i : idx[i] = j} ȳ[i]`, itself recorded as an op whose VJP is the gather again
//! (so gradients of gradients flow through). No kinks.

use super::tangent;
use crate::error::{Error, Result};
use crate::reverse::{ElementClasses, InputClasses, JvpCx, Op, OpCx, Var, CONSTANT_CLASS};
use crate::scalar::Real;
use crate::tensor::pool::{self, Buf};
use crate::tensor::Tensor;
use std::mem::MaybeUninit;
use std::sync::Arc;

type UnfoldKey = (Vec<usize>, (usize, usize), (usize, usize), (usize, usize), bool);
type UnfoldEntry = (UnfoldKey, Arc<[u32]>, Arc<Unfold>);

thread_local! {
    /// The last few im2col index sets, by (input shape, kernel, stride, padding).
    static UNFOLD_CACHE: std::cell::RefCell<Vec<UnfoldEntry>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The index that reads a zero (padding) in [`Var::gather`].
pub const PAD: u32 = u32::MAX;

/// The geometry of an im2col gather ([`unfold2d_indices`]): with it, the gather and its
/// scatter-add run as direct loops over the windows (contiguous runs of `kw` input elements)
/// instead of reading one index per element. Same values and, for the scatter, the same order of
/// accumulation (row-major over the output), so the same bits as the index loops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Unfold {
    /// Input `[b, c, h, w]`.
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    /// Output positions `(oh, ow)`.
    out: (usize, usize),
    /// The transposed layout `[c * kh * kw, b * oh * ow]` (rows: kernel taps, columns: output
    /// positions) instead of `[b * oh * ow, c * kh * kw]`.
    transposed: bool,
}

impl Unfold {
    /// Visit every run of `kw` output elements (one output row, input channel and kernel row) in
    /// row-major output order: `f(out, row, x0)` with the run's first output position `out`, the
    /// start `row` of the input row it reads (`None` in a padding row) and its first input column
    /// `x0` (negative, or a run past the right edge, in the padding).
    #[inline(always)]
    fn runs(&self, mut f: impl FnMut(usize, Option<usize>, isize)) {
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        let (ph, pw) = self.padding;
        let (oh, ow) = self.out;
        let mut out = 0;
        for n in 0..self.b {
            for oy in 0..oh {
                for ox in 0..ow {
                    let x0 = (ox * sw) as isize - pw as isize;
                    for ci in 0..self.c {
                        let base = (n * self.c + ci) * self.h * self.w;
                        for ky in 0..kh {
                            let y = (oy * sh + ky) as isize - ph as isize;
                            let row = (y >= 0 && y < self.h as isize).then(|| base + y as usize * self.w);
                            f(out, row, x0);
                            out += kw;
                        }
                    }
                }
            }
        }
    }

    /// True when a run starting at input column `x0` lies inside the row (no padding in it).
    #[inline(always)]
    fn inside(&self, x0: isize) -> bool {
        x0 >= 0 && x0 as usize + self.kernel.1 <= self.w
    }

    /// The transposed layout's runs: every run of `ow` output elements (one kernel tap, image and
    /// output row) in row-major output order, `f(out, row, x0)` as in [`Unfold::runs`]; output
    /// `ox` of the run reads input column `x0 + ox * sw`.
    #[inline(always)]
    fn runs_t(&self, mut f: impl FnMut(usize, Option<usize>, isize)) {
        let (kh, kw) = self.kernel;
        let sh = self.stride.0;
        let (ph, pw) = self.padding;
        let (oh, ow) = self.out;
        let mut out = 0;
        for ci in 0..self.c {
            for ky in 0..kh {
                for kx in 0..kw {
                    let x0 = kx as isize - pw as isize;
                    for n in 0..self.b {
                        let base = (n * self.c + ci) * self.h * self.w;
                        for oy in 0..oh {
                            let y = (oy * sh + ky) as isize - ph as isize;
                            let row = (y >= 0 && y < self.h as isize).then(|| base + y as usize * self.w);
                            f(out, row, x0);
                            out += ow;
                        }
                    }
                }
            }
        }
    }

    /// Input column of output `ox` of a transposed run starting at `x0`, if inside the row.
    #[inline(always)]
    fn column_t(&self, x0: isize, ox: usize) -> Option<usize> {
        let c = x0 + (ox * self.stride.1) as isize;
        (c >= 0 && c < self.w as isize).then_some(c as usize)
    }

    /// True when a transposed run starting at `x0` is one contiguous stretch of its input row.
    #[inline(always)]
    fn contiguous_t(&self, x0: isize) -> bool {
        self.stride.1 == 1 && x0 >= 0 && x0 as usize + self.out.1 <= self.w
    }
}

/// im2col by runs into `out`, every element written (the padding as zeros, so `out` needs no
/// zeroing first: a zeroed buffer cost as much as the copy), the run length a constant `KW` (0:
/// `kw` at run time) so that a run is copied without a `memcpy` call (measured: a call per run of 5
/// cost more than the copy).
fn unfold_into<T: Real, const KW: usize>(u: &Unfold, x: &[T], out: &mut [MaybeUninit<T>]) {
    let kw = if KW == 0 { u.kernel.1 } else { KW };
    u.runs(|o, row, x0| {
        let dst = &mut out[o..o + kw];
        let Some(row) = row else {
            dst.iter_mut().for_each(|d| {
                d.write(T::ZERO);
            });
            return;
        };
        if u.inside(x0) {
            let s = row + x0 as usize;
            if KW > 0 {
                let d: &mut [MaybeUninit<T>; KW] = dst.try_into().expect("run");
                let v: &[T; KW] = x[s..s + KW].try_into().expect("run");
                *d = v.map(MaybeUninit::new);
            } else {
                for (d, &v) in dst.iter_mut().zip(&x[s..s + kw]) {
                    d.write(v);
                }
            }
        } else {
            for (kx, d) in dst.iter_mut().enumerate() {
                let c = x0 + kx as isize;
                d.write(if c >= 0 && c < u.w as isize { x[row + c as usize] } else { T::ZERO });
            }
        }
    });
}

/// im2col in the transposed layout ([`Unfold::runs_t`]) into `out`, every element written.
fn unfold_t_into<T: Real>(u: &Unfold, x: &[T], out: &mut [MaybeUninit<T>]) {
    let ow = u.out.1;
    u.runs_t(|o, row, x0| {
        let dst = &mut out[o..o + ow];
        match row {
            Some(row) if u.contiguous_t(x0) => {
                let s = row + x0 as usize;
                for (d, &v) in dst.iter_mut().zip(&x[s..s + ow]) {
                    d.write(v);
                }
            }
            Some(row) => {
                for (ox, d) in dst.iter_mut().enumerate() {
                    d.write(u.column_t(x0, ox).map_or(T::ZERO, |c| x[row + c]));
                }
            }
            None => dst.iter_mut().for_each(|d| {
                d.write(T::ZERO);
            }),
        }
    });
}

/// col2im from the transposed layout: `acc[j] += g[i]` in row-major order of `g`.
fn fold_t_into<T: Real>(u: &Unfold, g: &[T], acc: &mut [f64]) {
    let ow = u.out.1;
    u.runs_t(|o, row, x0| {
        let Some(row) = row else { return };
        let src = &g[o..o + ow];
        if u.contiguous_t(x0) {
            let s = row + x0 as usize;
            for (a, &v) in acc[s..s + ow].iter_mut().zip(src) {
                *a += v.to_f64();
            }
        } else {
            for (ox, &v) in src.iter().enumerate() {
                if let Some(c) = u.column_t(x0, ox) {
                    acc[row + c] += v.to_f64();
                }
            }
        }
    });
}

/// col2im: `acc[j] += g[i]` for every output `i` reading input `j`, in row-major order of `g` (the
/// order of the index loop, so the same sums bit for bit); `KW` as in [`unfold_into`].
fn fold_into<T: Real, const KW: usize>(u: &Unfold, g: &[T], acc: &mut [f64]) {
    let kw = if KW == 0 { u.kernel.1 } else { KW };
    u.runs(|o, row, x0| {
        let Some(row) = row else { return };
        let src = &g[o..o + kw];
        if u.inside(x0) {
            let s = row + x0 as usize;
            for (a, &v) in acc[s..s + kw].iter_mut().zip(src) {
                *a += v.to_f64();
            }
        } else {
            for (kx, &v) in src.iter().enumerate() {
                let c = x0 + kx as isize;
                if c >= 0 && c < u.w as isize {
                    acc[row + c as usize] += v.to_f64();
                }
            }
        }
    });
}

fn gather_data<T: Real>(x: &[T], idx: &[u32], geom: Option<&Unfold>) -> Vec<T> {
    let Some(u) = geom else {
        return idx.iter().map(|&j| if j == PAD { T::ZERO } else { x[j as usize] }).collect();
    };
    let n = idx.len();
    // the soundness of `set_len` below rests on this: the runs cover exactly `n` elements
    assert_eq!(n, u.b * u.out.0 * u.out.1 * u.c * u.kernel.0 * u.kernel.1, "im2col geometry");
    let mut out = crate::tensor::pool::take(n);
    let spare = &mut out.spare_capacity_mut()[..n];
    match u.kernel.1 {
        _ if u.transposed => unfold_t_into(u, x, spare),
        5 => unfold_into::<T, 5>(u, x, spare),
        3 => unfold_into::<T, 3>(u, x, spare),
        2 => unfold_into::<T, 2>(u, x, spare),
        _ => unfold_into::<T, 0>(u, x, spare),
    }
    // SAFETY: the runs of `u` tile the output (`idx.len()` elements, one run of `kw` per output
    // row, input channel and kernel row, in order) and `unfold_into` writes every element of each
    // run, padding included
    unsafe { out.set_len(n) };
    out
}

fn scatter_data<T: Real>(g: &[T], idx: &[u32], n: usize, geom: Option<&Unfold>) -> Vec<T> {
    // accumulate in f32 for 16-bit types would change rounding per precision; accumulate in f64
    // and round once, like the reductions.
    let mut acc = crate::tensor::pool::filled(n, 0f64);
    match geom {
        None => {
            for (&j, &v) in idx.iter().zip(g) {
                if j != PAD {
                    acc[j as usize] += v.to_f64();
                }
            }
        }
        Some(u) => match u.kernel.1 {
            _ if u.transposed => fold_t_into(u, g, &mut acc),
            5 => fold_into::<T, 5>(u, g, &mut acc),
            3 => fold_into::<T, 3>(u, g, &mut acc),
            _ => fold_into::<T, 0>(u, g, &mut acc),
        },
    }
    let mut out = crate::tensor::pool::take(n);
    out.extend(acc.iter().map(|&v| T::from_f64(v)));
    crate::tensor::pool::give(acc);
    out
}

struct Gather {
    idx: Arc<[u32]>,
    /// Set for an im2col gather (`idx` then holds its indices, for [`Op::element_classes`]).
    geom: Option<Arc<Unfold>>,
    in_shape: Buf<usize>,
    out_shape: Buf<usize>,
}

struct Scatter {
    idx: Arc<[u32]>,
    geom: Option<Arc<Unfold>>,
    /// The gather's input shape (the scatter's output).
    in_shape: Buf<usize>,
    /// The gather's output shape (the scatter's input).
    out_shape: Buf<usize>,
}

impl<T: Real> Op<T> for Gather {
    fn name(&self) -> &'static str {
        "gather"
    }
    fn vjp<'t>(&self, _cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let n: usize = self.in_shape.iter().product();
        let value = Tensor::from_parts(
            pool::copied(&self.in_shape),
            scatter_data(g.value().data(), &self.idx, n, self.geom.as_deref()),
        );
        let op = Scatter {
            idx: self.idx.clone(),
            geom: self.geom.clone(),
            in_shape: self.in_shape.clone(),
            out_shape: self.out_shape.clone(),
        };
        crate::reverse::cotangents([Some(g.tape().push(op, &[g], value))])
    }
    fn classes_in_any_order(&self) -> bool {
        true
    }
    fn element_classes(
        &self,
        _inputs: &[&Tensor<T>],
        at: &[usize],
        input: &mut dyn InputClasses,
    ) -> Option<ElementClasses> {
        // each output is an input element (its class) or a padding zero (constant)
        let src: Vec<usize> = at.iter().map(|&e| self.idx[e]).filter(|&j| j != PAD).map(|j| j as usize).collect();
        let c = input.classes(0, &src).filter(|c| c.len() == src.len())?;
        let mut next = c.iter();
        at.iter().map(|&e| if self.idx[e] == PAD { Some(CONSTANT_CLASS) } else { next.next().copied() }).collect()
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let t = cx.tangents[0].expect("tangent");
        let n: usize = self.in_shape.iter().product();
        let data = tangent::map_directions(cx.k, n, t.data(), |x| gather_data(x, &self.idx, self.geom.as_deref()));
        Tensor::from_parts(tangent::tshape(cx.k, &self.out_shape), data)
    }
}

impl<T: Real> Op<T> for Scatter {
    fn name(&self) -> &'static str {
        "scatter_add"
    }
    fn vjp<'t>(&self, _cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let value = Tensor::from_parts(
            pool::copied(&self.out_shape),
            gather_data(g.value().data(), &self.idx, self.geom.as_deref()),
        );
        let op = Gather {
            idx: self.idx.clone(),
            geom: self.geom.clone(),
            in_shape: self.in_shape.clone(),
            out_shape: self.out_shape.clone(),
        };
        crate::reverse::cotangents([Some(g.tape().push(op, &[g], value))])
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let t = cx.tangents[0].expect("tangent");
        let m: usize = self.out_shape.iter().product();
        let n: usize = self.in_shape.iter().product();
        let data = tangent::map_directions(cx.k, m, t.data(), |x| scatter_data(x, &self.idx, n, self.geom.as_deref()));
        Tensor::from_parts(tangent::tshape(cx.k, &self.in_shape), data)
    }
}

/// The im2col indices of a 2-d convolution: for input `[b, c, h, w]`, kernel `(kh, kw)`, stride `s`
/// and zero padding `p` on every side, row `(n, oy, ox)` and column `(ci, ky, kx)` of the
/// `[b * oh * ow, c * kh * kw]` result read `x[n, ci, oy*s + ky - p, ox*s + kx - p]` (or [`PAD`]).
/// Returns the indices and `(oh, ow)`.
pub fn unfold2d_indices(
    shape: &[usize],
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
) -> Result<(Vec<u32>, (usize, usize))> {
    if shape.len() != 4 {
        return Err(Error::shape("unfold2d", format!("expects an input [batch, channels, h, w], got {shape:?}")));
    }
    let (b, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
    let (kh, kw) = kernel;
    let (sh, sw) = stride;
    let (ph, pw) = padding;
    if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
        return Err(Error::invalid("unfold2d", "kernel and stride must be positive"));
    }
    if h + 2 * ph < kh || w + 2 * pw < kw {
        return Err(Error::shape("unfold2d", format!("kernel {kernel:?} larger than the padded input {shape:?}")));
    }
    if b * c * h * w >= PAD as usize {
        return Err(Error::shape("unfold2d", "input too large for 32-bit indices"));
    }
    let oh = (h + 2 * ph - kh) / sh + 1;
    let ow = (w + 2 * pw - kw) / sw + 1;
    let cols = c * kh * kw;
    let mut idx = Vec::with_capacity(b * oh * ow * cols);
    for n in 0..b {
        for oy in 0..oh {
            for ox in 0..ow {
                for ci in 0..c {
                    let base = (n * c + ci) * h * w;
                    for ky in 0..kh {
                        let y = (oy * sh + ky) as isize - ph as isize;
                        for kx in 0..kw {
                            let x = (ox * sw + kx) as isize - pw as isize;
                            if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
                                idx.push(PAD);
                            } else {
                                idx.push((base + y as usize * w + x as usize) as u32);
                            }
                        }
                    }
                }
            }
        }
    }
    Ok((idx, (oh, ow)))
}

impl<'t, T: Real> Var<'t, T> {
    /// `y[i] = x[idx[i]]` (flat row-major positions; [`PAD`] reads a zero), shaped `out_shape`.
    /// Linear; VJP: scatter-add.
    pub fn gather(self, idx: Arc<[u32]>, out_shape: &[usize]) -> Result<Var<'t, T>> {
        let v = self.value();
        let n = v.len();
        if idx.len() != out_shape.iter().product::<usize>() {
            return Err(Error::shape("gather", format!("{} indices for an output of shape {out_shape:?}", idx.len())));
        }
        if let Some(&bad) = idx.iter().find(|&&j| j != PAD && j as usize >= n) {
            return Err(Error::shape("gather", format!("index {bad} out of range for {n} elements")));
        }
        Ok(self.gather_checked(idx, None, out_shape))
    }

    /// [`Var::gather`] with indices known to be in range (built here, or checked by the caller).
    fn gather_checked(self, idx: Arc<[u32]>, geom: Option<Arc<Unfold>>, out_shape: &[usize]) -> Var<'t, T> {
        let v = self.value();
        let value = Tensor::from_parts(pool::copied(out_shape), gather_data(v.data(), &idx, geom.as_deref()));
        let op = Gather { idx, geom, in_shape: Buf::copied(v.shape()), out_shape: Buf::copied(out_shape) };
        self.tape().push(op, &[self], value)
    }

    /// im2col: `[b, c, h, w]` to `[b * oh * ow, c * kh * kw]` (see [`unfold2d_indices`]), so that a
    /// convolution is one matrix product with the `[out_channels, c * kh * kw]` weight.
    pub fn unfold2d(
        self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Result<(Var<'t, T>, (usize, usize))> {
        self.unfold(kernel, stride, padding, false)
    }

    /// [`Var::unfold2d`] transposed: `[c * kh * kw, b * oh * ow]`, one row per kernel tap (the layout
    /// of PyTorch's im2col, batch folded into the columns). A row is read from runs of `ow`
    /// contiguous input elements at stride 1.
    pub fn unfold2d_t(
        self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Result<(Var<'t, T>, (usize, usize))> {
        self.unfold(kernel, stride, padding, true)
    }

    fn unfold(
        self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        transposed: bool,
    ) -> Result<(Var<'t, T>, (usize, usize))> {
        let s = self.shape();
        // the indices depend only on the shapes: reuse them across the steps of a training loop (the
        // key is built only on a miss)
        let found = |k: &UnfoldKey| k.0 == **s && (k.1, k.2, k.3, k.4) == (kernel, stride, padding, transposed);
        let cached =
            UNFOLD_CACHE.with(|c| c.borrow().iter().find(|(k, _, _)| found(k)).map(|(_, i, g)| (i.clone(), g.clone())));
        let (idx, geom) = match cached {
            Some(hit) => hit,
            None => {
                // the indices are in range by construction (checked once here)
                let (mut idx, out) = unfold2d_indices(&s, kernel, stride, padding)?;
                if transposed {
                    let cols = s[1] * kernel.0 * kernel.1;
                    let rows = idx.len() / cols.max(1);
                    idx = (0..cols)
                        .flat_map(|q| (0..rows).map(move |r| (r, q)))
                        .map(|(r, q)| idx[r * cols + q])
                        .collect();
                }
                let idx: Arc<[u32]> = Arc::from(idx);
                let (b, c, h, w) = (s[0], s[1], s[2], s[3]);
                let geom = Arc::new(Unfold { b, c, h, w, kernel, stride, padding, out, transposed });
                UNFOLD_CACHE.with(|c| {
                    let mut c = c.borrow_mut();
                    if c.len() >= 8 {
                        c.remove(0);
                    }
                    c.push(((s.to_vec(), kernel, stride, padding, transposed), idx.clone(), geom.clone()));
                });
                (idx, geom)
            }
        };
        let (oh, ow) = geom.out;
        let rows = s[0] * oh * ow;
        let cols = s[1] * kernel.0 * kernel.1;
        let shape = if transposed { [cols, rows] } else { [rows, cols] };
        Ok((self.gather_checked(idx, Some(geom), &shape), (oh, ow)))
    }
}
