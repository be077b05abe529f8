//! Gather and its adjoint, scatter-add: the linear index maps behind im2col (`unfold2d`, used by
//! convolutions) and any other fixed re-indexing with zero padding.
//!
//! `gather`: `y[i] = x[idx[i]]`, or `0` where `idx[i] == PAD` (zero padding). Linear, so its JVP
//! applies the same map to each tangent direction, and its VJP is the scatter-add
//! `x̄[j] = sum_{i : idx[i] = j} ȳ[i]`, itself recorded as an op whose VJP is the gather again
//! (so gradients of gradients flow through). No kinks.

use super::tangent;
use crate::error::{Error, Result};
use crate::reverse::{ElementClasses, JvpCx, Op, OpCx, Var, CONSTANT_CLASS};
use crate::scalar::Real;
use crate::tensor::Tensor;
use std::sync::Arc;

type UnfoldKey = (Vec<usize>, (usize, usize), (usize, usize), (usize, usize));
type UnfoldEntry = (UnfoldKey, Arc<[u32]>, (usize, usize));

thread_local! {
    /// The last few im2col index sets, by (input shape, kernel, stride, padding).
    static UNFOLD_CACHE: std::cell::RefCell<Vec<UnfoldEntry>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The index that reads a zero (padding) in [`Var::gather`].
pub const PAD: u32 = u32::MAX;

fn gather_data<T: Real>(x: &[T], idx: &[u32]) -> Vec<T> {
    idx.iter().map(|&j| if j == PAD { T::ZERO } else { x[j as usize] }).collect()
}

fn scatter_data<T: Real>(g: &[T], idx: &[u32], n: usize) -> Vec<T> {
    // accumulate in f32 for 16-bit types would change rounding per precision; accumulate in f64
    // and round once, like the reductions.
    let mut acc = vec![0f64; n];
    for (&j, &v) in idx.iter().zip(g) {
        if j != PAD {
            acc[j as usize] += v.to_f64();
        }
    }
    acc.into_iter().map(T::from_f64).collect()
}

struct Gather {
    idx: Arc<[u32]>,
    in_shape: Vec<usize>,
    out_shape: Vec<usize>,
}

struct Scatter {
    idx: Arc<[u32]>,
    /// The gather's input shape (the scatter's output).
    in_shape: Vec<usize>,
    /// The gather's output shape (the scatter's input).
    out_shape: Vec<usize>,
}

impl<T: Real> Op<T> for Gather {
    fn name(&self) -> &'static str {
        "gather"
    }
    fn vjp<'t>(&self, _cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let n: usize = self.in_shape.iter().product();
        let value = Tensor::from_parts(self.in_shape.clone(), scatter_data(g.value().data(), &self.idx, n));
        let op = Scatter { idx: self.idx.clone(), in_shape: self.in_shape.clone(), out_shape: self.out_shape.clone() };
        vec![Some(g.tape().push(Box::new(op), &[g], value))]
    }
    fn element_classes(
        &self,
        _inputs: &[&Tensor<T>],
        input: &mut dyn FnMut(usize) -> Option<ElementClasses>,
    ) -> Option<ElementClasses> {
        // each output is an input element (its class) or a padding zero (constant)
        let c = input(0)?;
        Some(self.idx.iter().map(|&j| if j == PAD { CONSTANT_CLASS } else { c[j as usize] }).collect())
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let t = cx.tangents[0].expect("tangent");
        let n: usize = self.in_shape.iter().product();
        let data = tangent::map_directions(cx.k, n, t.data(), |x| gather_data(x, &self.idx));
        Tensor::from_parts(tangent::tshape(cx.k, &self.out_shape), data)
    }
}

impl<T: Real> Op<T> for Scatter {
    fn name(&self) -> &'static str {
        "scatter_add"
    }
    fn vjp<'t>(&self, _cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let value = Tensor::from_parts(self.out_shape.clone(), gather_data(g.value().data(), &self.idx));
        let op = Gather { idx: self.idx.clone(), in_shape: self.in_shape.clone(), out_shape: self.out_shape.clone() };
        vec![Some(g.tape().push(Box::new(op), &[g], value))]
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let t = cx.tangents[0].expect("tangent");
        let m: usize = self.out_shape.iter().product();
        let n: usize = self.in_shape.iter().product();
        let data = tangent::map_directions(cx.k, m, t.data(), |x| scatter_data(x, &self.idx, n));
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
        let value = Tensor::from_parts(out_shape.to_vec(), gather_data(v.data(), &idx));
        let op = Gather { idx, in_shape: v.shape().to_vec(), out_shape: out_shape.to_vec() };
        Ok(self.tape().push(Box::new(op), &[self], value))
    }

    /// im2col: `[b, c, h, w]` to `[b * oh * ow, c * kh * kw]` (see [`unfold2d_indices`]), so that a
    /// convolution is one matrix product with the `[out_channels, c * kh * kw]` weight.
    pub fn unfold2d(
        self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Result<(Var<'t, T>, (usize, usize))> {
        let s = self.shape();
        let key = (s.clone(), kernel, stride, padding);
        // the indices depend only on the shapes: reuse them across the steps of a training loop
        let cached =
            UNFOLD_CACHE.with(|c| c.borrow().iter().find(|(k, _, _)| *k == key).map(|(_, i, o)| (i.clone(), *o)));
        let (idx, (oh, ow)) = match cached {
            Some(hit) => hit,
            None => {
                let (idx, out) = unfold2d_indices(&s, kernel, stride, padding)?;
                let idx: Arc<[u32]> = Arc::from(idx);
                UNFOLD_CACHE.with(|c| {
                    let mut c = c.borrow_mut();
                    if c.len() >= 8 {
                        c.remove(0);
                    }
                    c.push((key, idx.clone(), out));
                });
                (idx, out)
            }
        };
        let rows = s[0] * oh * ow;
        let cols = s[1] * kernel.0 * kernel.1;
        Ok((self.gather(idx, &[rows, cols])?, (oh, ow)))
    }
}
