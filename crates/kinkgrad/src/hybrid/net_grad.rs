//! The hybrid network's `assoc` value and gradient without a tape, for one chunk of the alpha form
//! (`HybridModel::loss_and_gradient`): the network `linear (relu) ... linear` on the chunk's cells,
//! and `dJ/dW` of the surrogate `sum_i s_i ds_i` given the time loops' `ds = dJ/ds`.
//!
//! It computes what the tape computes, operation for operation, so the bits are the tape's:
//! - each product is the same `gemm` call as the tape's linear op and its VJP (`f64::gemm_bias`
//!   with the shapes and strides of `Tensor::matmul_bias` / `Tensor::matmul_t`: `x W^T + b`,
//!   `G^T x`, `G W`);
//! - relu's value is `z` where `z > 0`, else `+0` (its two pieces);
//! - relu's VJP away from kinks is `g * 1` where `z > 0`, else `g * 0` (piece 1's and piece 0's
//!   partials, as the tape's scaling, which keeps the sign of a zero);
//! - each bias gradient is the column sum of its cotangent, row after row from `0` in `f64`
//!   (`Tensor::sum_axis`'s order), here formed in the same pass as the relu VJP that produces the
//!   cotangent.
//!
//! What it does not do is decide a kink: a chunk where some relu input is exactly zero (a kink,
//! where the representation picks `relu'(0)`) or NaN, or whose surrogate or gradient is not finite,
//! returns `None`, and the caller runs that chunk on the tape (kink rules, kink counts, errors
//! naming the op: one implementation of each). Off kinks the certificate has no network kink,
//! which is what the tape's says there. Buffers live in a [`Scratch`] reused from chunk to chunk.

use crate::nn::{Layer, Sequential};
use crate::scalar::Real;

/// One linear layer of the network: its weight's parameter index (the bias follows it), its sizes
/// and whether a relu follows it.
#[derive(Clone, Copy, Debug)]
struct Dense {
    param: usize,
    inputs: usize,
    outputs: usize,
    relu: bool,
}

/// The network as linear layers, each followed by at most one relu: the shapes this path serves.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    layers: Vec<Dense>,
}

/// Buffers of one thread, reused from chunk to chunk: each layer's output (after its relu), the
/// cotangent and the next one.
#[derive(Default)]
pub(super) struct Scratch {
    acts: Vec<Vec<f64>>,
    g: Vec<f64>,
    next: Vec<f64>,
}

/// `c = op(a) op(b) + bias` (`m x n`) into `c` (its length becomes `m * n`; nothing is filled
/// first): the call of [`Real::gemm_bias_uninit`] the tape's products make for these strides
/// (`Tensor::matmul_t`, `Tensor::matmul_bias`).
#[allow(clippy::too_many_arguments)]
fn product(
    m: usize,
    n: usize,
    k: usize,
    a: &[f64],
    a_s: (usize, usize),
    b: &[f64],
    b_s: (usize, usize),
    bias: &[f64],
    c: &mut Vec<f64>,
) {
    c.clear();
    c.reserve(m * n);
    let (a_rs, a_cs, b_rs, b_cs) = (a_s.0 as isize, a_s.1 as isize, b_s.0 as isize, b_s.1 as isize);
    f64::gemm_bias_uninit(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, bias, &mut c.spare_capacity_mut()[..m * n]);
    // SAFETY: `gemm_bias_uninit` wrote every one of the `m * n` values
    unsafe { c.set_len(m * n) };
}

wide_fn! {
    /// Relu in place (`z` where `z > 0`, else `+0`); true when some `z` is zero (a kink) or NaN.
    fn relu_checked(z: &mut [f64]) -> bool = relu_checked_body;
}

#[inline(always)]
fn relu_checked_body(z: &mut [f64]) -> bool {
    // (`==` with a non-short-circuit `|`: the loop vectorises to one unordered-or-equal compare;
    // written as `!(x > 0 || x < 0)` it ran one element at a time, 10x slower)
    let mut off = false;
    for v in z.iter_mut() {
        let x = *v;
        off |= (x == 0.0) | x.is_nan();
        *v = if x > 0.0 { x } else { 0.0 };
    }
    off
}

wide_fn! {
    /// `g *= (h > 0 ? 1 : 0)` element by element (rows of `acc.len()` values; `h` relu's output,
    /// positive exactly where its input is), and the column sums of the result into `acc` (zeros),
    /// each column row after row.
    fn relu_back_sums(g: &mut [f64], h: &[f64], acc: &mut [f64]) = relu_back_sums_body;
}

/// The column sums of `g` after relu's VJP with `h` in blocks of columns whose sums stay in
/// registers down the rows (one row's `acc` stored and reloaded before the next row's add was the
/// loop's bottleneck); each column still sums row after row, so the block width changes no bit.
/// (Without a relu, the column sums are `tensor::reduce::sums_into`'s, blocked the same way.)
#[inline(always)]
fn relu_back_sums_body(g: &mut [f64], h: &[f64], acc: &mut [f64]) {
    let w = acc.len();
    let mut c = 0;
    while c < w {
        c += match w - c {
            32.. => block::<32>(g, h, w, c, acc),
            16.. => block::<16>(g, h, w, c, acc),
            8.. => block::<8>(g, h, w, c, acc),
            _ => block::<1>(g, h, w, c, acc),
        };
    }
}

/// [`relu_back_sums_body`] for the `B` columns `c..c + B`; returns `B`.
#[inline(always)]
fn block<const B: usize>(g: &mut [f64], h: &[f64], w: usize, c: usize, acc: &mut [f64]) -> usize {
    let mut a = [0.0f64; B];
    a.copy_from_slice(&acc[c..c + B]);
    let rows = g.len() / w;
    for r in 0..rows {
        let gr: &mut [f64; B] = (&mut g[r * w + c..r * w + c + B]).try_into().expect("B values");
        let hr: &[f64; B] = (&h[r * w + c..r * w + c + B]).try_into().expect("B values");
        for k in 0..B {
            let v = gr[k] * if hr[k] > 0.0 { 1.0 } else { 0.0 };
            gr[k] = v;
            a[k] += v;
        }
    }
    acc[c..c + B].copy_from_slice(&a);
    B
}

impl Plan {
    /// The plan of `net` when it is linear layers each followed by at most one relu (an MLP, as
    /// [`Sequential::mlp`] builds), the first a linear layer; `None` for any other network.
    pub(super) fn of(net: &Sequential<f64>) -> Option<Self> {
        let mut layers: Vec<Dense> = Vec::new();
        let mut param = 0;
        for (_, layer) in &net.layers {
            match *layer {
                Layer::Linear { inputs, outputs } => {
                    let fits = net.params.get(param).is_some_and(|w| w.shape() == [outputs, inputs])
                        && net.params.get(param + 1).is_some_and(|b| b.shape() == [outputs]);
                    if !fits || layers.last().is_some_and(|l| l.outputs != inputs) {
                        return None;
                    }
                    layers.push(Dense { param, inputs, outputs, relu: false });
                    param += 2;
                }
                Layer::Relu => match layers.last_mut() {
                    Some(l) if !l.relu => l.relu = true,
                    _ => return None,
                },
                _ => return None,
            }
        }
        (!layers.is_empty() && param == net.params.len()).then_some(Self { layers })
    }

    /// Outputs per row.
    pub(super) fn outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].outputs
    }

    /// The network's output for the `rows` rows of `x` (`[rows, inputs]`), or `None` when a relu
    /// input is zero or NaN (the tape decides those). The layers' outputs stay in `scr` for
    /// [`Plan::gradient`].
    pub(super) fn forward<'s>(
        &self,
        net: &Sequential<f64>,
        x: &[f64],
        rows: usize,
        scr: &'s mut Scratch,
    ) -> Option<&'s [f64]> {
        scr.acts.resize_with(self.layers.len(), Vec::new);
        for (l, d) in self.layers.iter().enumerate() {
            let (done, rest) = scr.acts.split_at_mut(l);
            let input = if l == 0 { x } else { &done[l - 1][..] };
            let (w, b) = (net.params[d.param].data(), net.params[d.param + 1].data());
            // x W^T + b: `Tensor::matmul_bias(W, tb = true, b)`
            product(rows, d.outputs, d.inputs, input, (d.inputs, 1), w, (1, d.inputs), b, &mut rest[0]);
            if d.relu && relu_checked(&mut rest[0]) {
                return None;
            }
        }
        scr.acts.last().map(|v| &v[..])
    }

    /// `dJ/dW` (one vector per parameter tensor, in the network's order) of `sum(s * ds)` after
    /// [`Plan::forward`] on the same `x` and `scr`, `ds` shaped like the output; `None` when the
    /// surrogate or a derivative is not finite (the tape names where).
    pub(super) fn gradient(
        &self,
        net: &Sequential<f64>,
        x: &[f64],
        ds: &[f64],
        scr: &mut Scratch,
    ) -> Option<Vec<Vec<f64>>> {
        let rows = ds.len() / self.outputs();
        let s = scr.acts.last()?;
        // the tape's `check_finite` of the surrogate: the products, summed in order
        let sur = s.iter().zip(ds).fold(0.0, |acc, (a, b)| acc + a * b);
        if !sur.is_finite() {
            return None;
        }
        let mut grads: Vec<Vec<f64>> = net.params.iter().map(|_| Vec::new()).collect();
        // the output's cotangent: the sum's ones times `ds`, which is `ds`
        scr.g.clear();
        scr.g.extend_from_slice(ds);
        let mut bias: Option<Vec<f64>> = None;
        for (l, d) in self.layers.iter().enumerate().rev() {
            let input = if l == 0 { x } else { &scr.acts[l - 1][..] };
            let db = bias.take().unwrap_or_else(|| {
                let mut acc = vec![0.0; d.outputs];
                crate::tensor::reduce::sums_into(&scr.g[..rows * d.outputs], 1, rows, d.outputs, &mut acc);
                acc
            });
            let g = &scr.g[..rows * d.outputs];
            // G^T x: `G.matmul_t(x, ta = true, tb = false)`
            let mut dw = Vec::new();
            product(d.outputs, d.inputs, rows, g, (1, d.outputs), input, (d.inputs, 1), &[], &mut dw);
            if l > 0 {
                // G W: `G.matmul_t(W, false, false)`, then the previous layer's relu VJP
                let w = net.params[d.param].data();
                product(rows, d.inputs, d.outputs, g, (d.outputs, 1), w, (d.inputs, 1), &[], &mut scr.next);
                if self.layers[l - 1].relu {
                    let mut acc = vec![0.0; d.inputs];
                    relu_back_sums(&mut scr.next, &scr.acts[l - 1], &mut acc);
                    bias = Some(acc);
                }
                std::mem::swap(&mut scr.g, &mut scr.next);
            }
            if dw.iter().chain(&db).any(|v| !v.is_finite()) {
                return None;
            }
            grads[d.param] = dw;
            grads[d.param + 1] = db;
        }
        Some(grads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Mode;
    use crate::nn::Init;
    use crate::reverse::Tape;
    use crate::rng::Rng;
    use crate::tensor::Tensor;

    fn same_bits(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    // expected values: the tape (`Sequential::forward`, `Tape::gradient` in assoc), an independent
    // evaluation path through the recorded ops
    #[test]
    fn equals_the_tape_bit_for_bit_off_kinks() {
        for (sizes, rows) in
            [(&[4, 32, 32, 1][..], 512), (&[4, 32, 32, 1][..], 384), (&[3, 5, 2][..], 7), (&[6, 8, 1][..], 1)]
        {
            let mut rng = Rng::new(rows as u64);
            let mut net = Sequential::<f64>::mlp(sizes, Init::He, &mut rng).unwrap();
            // non-zero biases, so that no relu input is an exact zero
            for p in net.params.iter_mut().filter(|p| p.ndim() == 1) {
                *p = Tensor::vector((0..p.len()).map(|_| rng.uniform() - 0.5).collect());
            }
            let x: Vec<f64> = (0..rows * sizes[0]).map(|_| rng.uniform() * 2.0 - 1.0).collect();
            let out = sizes[sizes.len() - 1];
            let ds: Vec<f64> = (0..rows * out).map(|_| rng.uniform() - 0.5).collect();
            let plan = Plan::of(&net).unwrap();
            let mut scr = Scratch::default();
            let s = plan.forward(&net, &x, rows, &mut scr).unwrap().to_vec();
            let got = plan.gradient(&net, &x, &ds, &mut scr).unwrap();

            let tape = Tape::<f64>::new();
            let params = net.param_vars(&tape);
            let y = net.forward(tape.constant(Tensor::from_parts(vec![rows, sizes[0]], x.clone())), &params).unwrap();
            assert!(same_bits(&s, y.value().data()), "{sizes:?} {rows}: forward");
            let sur = y.mul(tape.constant(Tensor::from_parts(vec![rows, out], ds.clone()))).unwrap().sum();
            let want = tape.gradient(sur, &params, &Mode::Assoc).unwrap();
            assert_eq!(want.certificate.kinks.total(), 0);
            for (k, (g, w)) in got.iter().zip(&want.values).enumerate() {
                assert!(same_bits(g, w.data()), "{sizes:?} {rows}: parameter {k}");
            }
        }
    }

    #[test]
    fn leaves_kinks_and_nan_to_the_tape() {
        let mut rng = Rng::new(3);
        let net = Sequential::<f64>::mlp(&[2, 4, 1], Init::He, &mut rng).unwrap();
        let plan = Plan::of(&net).unwrap();
        let mut scr = Scratch::default();
        // He initialisation has zero biases: a zero input row gives relu inputs exactly 0
        assert!(plan.forward(&net, &[0.0, 0.0, 0.5, 0.25], 2, &mut scr).is_none());
        assert!(plan.forward(&net, &[f64::NAN, 1.0], 1, &mut scr).is_none());
        // a network that is not linear layers and relus is not planned
        let conv = Sequential::<f64>::new(vec![("t".into(), Layer::Tanh)], Init::He, &mut rng).unwrap();
        assert!(Plan::of(&conv).is_none());
    }
}
