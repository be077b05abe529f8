//! `safe` and `lex` at tensor scale against exact truths (issue 15), on tiny shapes with dyadic
//! entries, at points where thousands of kinks would be hit at scale and many are hit here:
//!
//! - **cancelling pairs** `p(h) = relu(h) - relu(-h)` (and the same pair written with the binary
//!   maximum, `max(h, 0) - max(-h, 0)`) equal `h` exactly, so `L(X, W) = sum C * p(H)` with
//!   `H = X W^T` (an MLP layer) or `H = conv(X, W)` is the bilinear `sum C * H`, smooth, at points
//!   where many entries of `H` are exactly 0 (every such entry is a kink of both units);
//! - **max-pooling over upsampled inputs**: `maxpool_3x3(upsample_3x3(H)) = H`, every window a tie
//!   of nine copies that no direction separates;
//! - **sort over tied blocks**: every entry of `u` repeated three times, then sorted.
//!
//! Expected numbers: the closed forms `grad_X L = C W`, `grad_W L = C^T X` and, for
//! `phi = <grad_X L, V>`, `grad_W phi = C^T V` (their convolution analogues for `conv`), evaluated
//! here with plain loops; and for sort, the sums of `c` over the output block of each entry. Every
//! entry is a small dyadic number, so every product and sum is exact in `f64` whatever the order of
//! summation: the comparisons are exact equalities. Each truth is checked in `safe` and `lex` under
//! every offered representation (the presets, every tie rule, relu'(0) in {0, 1/2, 1, -2}), and
//! `assoc` certificates must say `representation-dependent` with the kinks counted.

use crate::common;

use common::representations;
use kinkgrad::nn::Layer;
use kinkgrad::primitive::relu::RELU;
use kinkgrad::{Certificate, CertificateKind, Mode, Representation, Rng, Tape, Tensor, TieRule, Var};
use std::sync::Arc;

/// Small dyadic numbers: products and short sums of them are exact in `f64`.
fn dyadic(rng: &mut Rng, n: usize) -> Vec<f64> {
    const V: [f64; 8] = [-2.0, -1.5, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0];
    (0..n).map(|_| V[rng.below(V.len())]).collect()
}

fn modes() -> [Mode; 2] {
    [Mode::safe(), Mode::Lex(None)]
}

/// A bilinear loss `L(X, W) = sum C * H(X, W)` recorded through a non-smooth network that equals it,
/// with its exact derivatives.
struct Problem {
    name: &'static str,
    x: (Vec<usize>, Vec<f64>),
    w: (Vec<usize>, Vec<f64>),
    /// The cotangent of `grad_X L` in `phi = <grad_X L, V>`.
    v: Vec<f64>,
    /// `grad_X L`, `grad_W L`, `grad_W phi`.
    gx: Vec<f64>,
    gw: Vec<f64>,
    gw_phi: Vec<f64>,
    /// `H` at the point, and the kinks the network hits there (counted from `H`'s values).
    h: Vec<f64>,
    kinks: usize,
    /// Records `L` on the tape.
    build: for<'t> fn(&Problem, Var<'t, f64>, Var<'t, f64>) -> Var<'t, f64>,
    /// Extra data for `build` (`C` and its shape).
    c: (Vec<usize>, Vec<f64>),
    pair: Pair,
}

/// How a unit on a kink is cancelled.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pair {
    /// `relu(h) - relu(-h)` (the sign-of-argument path of the piecewise op).
    Relu,
    /// `max(h, 0) - max(-h, 0)` (the general path: coefficient constants).
    Max0,
    /// No pair: `maxpool_3x3(upsample_3x3(h))`.
    PoolUpsampled,
}

fn cancel<'t>(h: Var<'t, f64>, pair: Pair) -> Var<'t, f64> {
    let tape = h.tape();
    match pair {
        Pair::Relu => h.relu().sub(h.neg().relu()).unwrap(),
        Pair::Max0 => h.maximum(tape.scalar(0.0)).unwrap().sub(h.neg().maximum(tape.scalar(0.0)).unwrap()).unwrap(),
        Pair::PoolUpsampled => {
            // [.., r, c] -> [1, lead, 3r, 3c] by nearest-neighbour copies, then 3x3 pooling, stride 3
            let s = h.shape();
            let (r, c) = (s[s.len() - 2], s[s.len() - 1]);
            let lead: usize = s[..s.len() - 2].iter().product();
            let idx: Vec<u32> = (0..lead)
                .flat_map(|l| {
                    (0..3 * r).flat_map(move |i| (0..3 * c).map(move |j| (l * r * c + i / 3 * c + j / 3) as u32))
                })
                .collect();
            let up = h.gather(Arc::from(idx), &[1, lead, 3 * r, 3 * c]).unwrap();
            up.max_pool2d((3, 3), (3, 3)).unwrap().reshape(&s).unwrap()
        }
    }
}

/// `H = X W^T` with `X [4, 3]`, `W [5, 3]`: rows of `X` built as cross products of rows of `W`, and
/// a zero row in `W`, so that 10 of the 20 entries of `H` are exactly 0.
fn mlp(pair: Pair) -> Problem {
    let w = vec![1.0, 2.0, -1.0, 0.5, 0.0, 1.0, 2.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
    // w0 x w1, w2 x w4, a generic row, w0 x w4
    let x = vec![2.0, -1.5, -1.0, -1.0, -2.0, 3.0, 0.25, -0.5, 0.75, 3.0, -2.0, -1.0];
    let (b, d, hn) = (4, 3, 5);
    let mut rng = Rng::new(7);
    let c = dyadic(&mut rng, b * hn);
    let v = dyadic(&mut rng, b * d);
    let h: Vec<f64> = (0..b * hn).map(|e| (0..d).map(|k| x[e / hn * d + k] * w[e % hn * d + k]).sum()).collect();
    let gx = (0..b * d).map(|e| (0..hn).map(|j| c[e / d * hn + j] * w[j * d + e % d]).sum()).collect();
    let gw = (0..hn * d).map(|e| (0..b).map(|i| c[i * hn + e / d] * x[i * d + e % d]).sum()).collect();
    let gw_phi = contract("mlp", &c, &v);
    fn build<'t>(p: &Problem, x: Var<'t, f64>, w: Var<'t, f64>) -> Var<'t, f64> {
        let tape = x.tape();
        let h = x.linear(w, tape.constant(Tensor::zeros(&[5]))).unwrap();
        cancel(h, p.pair).mul(tape.constant(Tensor::from_f64(p.c.0.clone(), &p.c.1).unwrap())).unwrap().sum()
    }
    Problem {
        name: "mlp",
        kinks: kinks_of(&h, pair),
        h,
        x: (vec![b, d], x),
        w: (vec![hn, d], w),
        v,
        gx,
        gw,
        gw_phi,
        build,
        c: (vec![b, hn], c),
        pair,
    }
}

/// `H = conv(X, W)`: two 4x4 one-channel images, two 2x2 filters, stride 1, no padding (PyTorch's
/// cross-correlation). The images hold zero patches and patches orthogonal to the first filter.
fn conv(pair: Pair) -> Problem {
    let x = vec![
        1.0, 1.0, 2.0, 0.0, 1.0, 1.0, 2.0, 0.0, 0.0, 0.0, -1.0, 3.0, 0.0, 0.0, -1.0, 0.5, // image 0
        0.0, 0.0, 0.5, 0.5, 0.0, 0.0, -1.5, -1.5, 2.0, 2.0, 0.0, 1.0, -1.0, -1.0, 0.0, 1.0, // image 1
    ];
    let w = vec![1.0, -1.0, 1.0, -1.0, 0.5, 1.0, -1.0, 2.0];
    let (n, f, s, o) = (2, 2, 4, 3);
    let mut rng = Rng::new(8);
    let c = dyadic(&mut rng, n * f * o * o);
    let v = dyadic(&mut rng, n * s * s);
    let xi = |m: usize, i: usize, j: usize| m * s * s + i * s + j;
    let ci = |m: usize, g: usize, i: usize, j: usize| ((m * f + g) * o + i) * o + j;
    let wi = |g: usize, a: usize, b: usize| g * 4 + a * 2 + b;
    let mut h = vec![0.0; n * f * o * o];
    let (mut gx, mut gw) = (vec![0.0; n * s * s], vec![0.0; f * 4]);
    for m in 0..n {
        for g in 0..f {
            for i in 0..o {
                for j in 0..o {
                    for a in 0..2 {
                        for b in 0..2 {
                            let (xe, ce, we) = (xi(m, i + a, j + b), ci(m, g, i, j), wi(g, a, b));
                            h[ce] += w[we] * x[xe];
                            gx[xe] += c[ce] * w[we];
                            gw[we] += c[ce] * x[xe];
                        }
                    }
                }
            }
        }
    }
    let gw_phi = contract("conv", &c, &v);
    fn build<'t>(p: &Problem, x: Var<'t, f64>, w: Var<'t, f64>) -> Var<'t, f64> {
        let tape = x.tape();
        let layer = Layer::Conv2d { in_channels: 1, out_channels: 2, kernel: 2, stride: 1, padding: 0 };
        let h = layer.forward(x, &[w, tape.constant(Tensor::zeros(&[2]))]).unwrap();
        cancel(h, p.pair).mul(tape.constant(Tensor::from_f64(p.c.0.clone(), &p.c.1).unwrap())).unwrap().sum()
    }
    Problem {
        name: "conv",
        kinks: kinks_of(&h, pair),
        h,
        x: (vec![n, 1, s, s], x),
        w: (vec![f, 1, 2, 2], w),
        v,
        gx,
        gw,
        gw_phi,
        build,
        c: (vec![n, f, o, o], c),
        pair,
    }
}

/// Kinks the network hits at `H`: both units of a pair at every zero, or one tied window per entry.
fn kinks_of(h: &[f64], pair: Pair) -> usize {
    match pair {
        Pair::PoolUpsampled => h.len(),
        _ => 2 * h.iter().filter(|v| **v == 0.0).count(),
    }
}

struct Run {
    gx: Vec<f64>,
    gw: Vec<f64>,
    cert: Certificate,
}

/// First order: `L` and its gradient in `X` and `W` together.
fn first_order(p: &Problem, rep: &Representation, mode: &Mode) -> Run {
    let tape = Tape::<f64>::with_representation(rep.clone());
    let x = tape.var(Tensor::from_f64(p.x.0.clone(), &p.x.1).unwrap());
    let w = tape.var(Tensor::from_f64(p.w.0.clone(), &p.w.1).unwrap());
    let l = (p.build)(p, x, w);
    let g = tape.gradient(l, &[x, w], mode).unwrap();
    Run { gx: g.values[0].to_f64_vec(), gw: g.values[1].to_f64_vec(), cert: g.certificate }
}

/// Second order: `grad_X L` recorded in `inner`, then `grad_W <grad_X L, V>` in `outer`. Returns
/// the recorded gradient, the outer gradient (in `gw`) and the two certificates.
fn second_order(p: &Problem, rep: &Representation, inner: &Mode, outer: &Mode) -> (Run, Certificate) {
    let tape = Tape::<f64>::with_representation(rep.clone());
    let x = tape.var(Tensor::from_f64(p.x.0.clone(), &p.x.1).unwrap());
    let w = tape.var(Tensor::from_f64(p.w.0.clone(), &p.w.1).unwrap());
    let l = (p.build)(p, x, w);
    let r = tape.grad_vars(l, &[x], inner).unwrap();
    let phi = r.vars[0].mul(tape.constant(Tensor::from_f64(p.x.0.clone(), &p.v).unwrap())).unwrap().sum();
    let g = tape.gradient(phi, &[w], outer).unwrap();
    (Run { gx: r.vars[0].value().to_f64_vec(), gw: g.values[0].to_f64_vec(), cert: g.certificate }, r.certificate)
}

/// Every check of one problem.
fn check(p: &Problem) {
    let tag = format!("{} {:?}", p.name, p.pair);
    assert!(p.kinks >= 8, "{tag}: the point should sit on kinks ({} hit)", p.kinks);
    let ties_survive = p.pair == Pair::PoolUpsampled;
    for rep in representations() {
        let at = format!("{tag} under {} (relu'(0) = {})", rep.name, rep.value(&RELU));
        for mode in modes() {
            let r = first_order(p, &rep, &mode);
            assert_eq!((r.gx, r.gw), (p.gx.clone(), p.gw.clone()), "{at}: first order, {mode}");
            assert_eq!(r.cert.kind, CertificateKind::Generalized, "{at}: {mode}");
            assert_eq!((r.cert.kinks_total(), r.cert.locked), (p.kinks, p.kinks), "{at}: {mode}");
            assert_eq!(r.cert.unresolved, if ties_survive { p.kinks } else { 0 }, "{at}: {mode}");
            for outer in [Mode::Assoc, Mode::safe(), Mode::Lex(None)] {
                let (r, inner) = second_order(p, &rep, &mode, &outer);
                assert_eq!(r.gx, p.gx, "{at}: recorded grad_X L, {mode}");
                assert_eq!(r.gw, p.gw_phi, "{at}: grad_W <grad_X L, V>, inner {mode}, outer {outer}");
                assert_eq!(inner.kind, CertificateKind::Generalized, "{at}");
                assert_eq!(inner.kinks_total(), p.kinks, "{at}");
                // the outer pass hits no kink itself: every kink it reports is the inner pass's
                assert_eq!(r.cert.kind, CertificateKind::Generalized, "{at}: inner {mode}, outer {outer}");
                assert_eq!((r.cert.kinks_total(), r.cert.unresolved), (p.kinks, inner.unresolved), "{at}");
            }
        }
        let r = first_order(p, &rep, &Mode::Assoc);
        assert_eq!(r.cert.kind, CertificateKind::RepresentationDependent, "{at}: assoc");
        assert_eq!(r.cert.kinks_total(), p.kinks, "{at}: assoc");
        for outer in [Mode::Assoc, Mode::safe(), Mode::Lex(None)] {
            let (r, inner) = second_order(p, &rep, &Mode::Assoc, &outer);
            assert_eq!(inner.kind, CertificateKind::RepresentationDependent, "{at}");
            assert_eq!(r.cert.kind, CertificateKind::RepresentationDependent, "{at}: assoc inner, outer {outer}");
            assert_eq!(r.cert.kinks_total(), p.kinks, "{at}: the inner kinks, counted in the outer certificate");
            if p.pair == Pair::Relu {
                // assoc holds relu'(0) = z in both units: the pair's derivative at a zero of H is
                // 2z, so grad_W phi = (C * D)^T V with D = 2z there (right only for z = 1/2)
                let dc: Vec<f64> =
                    p.c.1
                        .iter()
                        .zip(&p.h)
                        .map(|(c, h)| if *h == 0.0 { 2.0 * rep.value(&RELU) * c } else { *c })
                        .collect();
                assert_eq!(r.gw, contract(p.name, &dc, &p.v), "{at}: assoc inner, outer {outer}");
            }
        }
    }
}

/// `grad_W phi = d/dW <grad_X sum C * H, V>`: `C^T V` for the MLP layer, and for the convolution
/// `sum_(n, i, j) C[n, f, i, j] V[n, 0, i + a, j + b]`, by plain loops.
fn contract(layout: &str, c: &[f64], v: &[f64]) -> Vec<f64> {
    if layout == "mlp" {
        return (0..15).map(|e| (0..4).map(|i| c[i * 5 + e / 3] * v[i * 3 + e % 3]).sum()).collect();
    }
    let mut g = vec![0.0; 8];
    for m in 0..2 {
        for f in 0..2 {
            for i in 0..3 {
                for j in 0..3 {
                    for a in 0..2 {
                        for b in 0..2 {
                            g[f * 4 + a * 2 + b] += c[((m * 2 + f) * 3 + i) * 3 + j] * v[m * 16 + (i + a) * 4 + j + b];
                        }
                    }
                }
            }
        }
    }
    g
}

/// Issue 15, acceptance 1: cancelling relu pairs in an MLP layer. Input gradient, weight gradient
/// and the weight gradient of the input gradient are exact in `safe` and `lex` under every
/// representation (10 zeros of `X W^T`, among them a zero row of `W` that no direction in `X` moves:
/// the recorded pass resolves those ties along the weights' directions).
#[test]
fn cancelling_pairs_in_an_mlp() {
    check(&mlp(Pair::Relu));
    check(&mlp(Pair::Max0));
}

/// The same through a convolution (im2col gather, linear layer, layout ops).
#[test]
fn cancelling_pairs_in_a_convolution() {
    check(&conv(Pair::Relu));
    check(&conv(Pair::Max0));
}

/// Max-pooling over upsampled inputs: every window is a tie of nine copies that no direction
/// separates. `safe` and `lex` give the whole weight to the first copy: exact, and the same bits
/// under every representation (the tie rules' `1/9` weights are not exact in binary).
#[test]
fn max_pooling_over_upsampled_inputs() {
    check(&mlp(Pair::PoolUpsampled));
    check(&conv(Pair::PoolUpsampled));
    // the test discriminates: the representation's weights miss the exact value in the last bits
    let p = conv(Pair::PoolUpsampled);
    let mean = Representation::default().with_all_ties(TieRule::Mean);
    let r = first_order(&p, &mean, &Mode::Assoc);
    assert_ne!((r.gx, r.gw), (p.gx.clone(), p.gw.clone()), "assoc with 1/9 weights happens to be exact");
}

/// `max(x, ..., x)` with 10 arguments at x = 1 (issue 15): `safe` and `lex` return exactly 1 under
/// every representation; the tie survives every direction and is counted.
#[test]
fn max_of_ten_copies_is_exactly_one() {
    for rep in representations() {
        for mode in modes() {
            let tape = Tape::<f64>::with_representation(rep.clone());
            let x = tape.var(Tensor::scalar(1.0));
            let y = Var::max_n(&[x; 10], None).unwrap();
            let g = tape.gradient(y, &[x], &mode).unwrap();
            assert_eq!(g.values[0].item().unwrap(), 1.0, "{} {mode}", rep.name);
            assert_eq!((g.certificate.kinks_total(), g.certificate.unresolved), (1, 1), "{} {mode}", rep.name);
        }
    }
}

/// `sum c * sort(R u)` where `R` repeats every entry of `u` three times: the sorted vector is made
/// of tied blocks of copies, which no direction separates. Off ties among distinct entries of `u`,
/// the function is linear near `u` and `d/du_i` is the sum of `c` over the block of `u_i` (its rank
/// among the entries of `u`, computed here by sorting the values). With two equal entries of `u`,
/// `c` is constant over their common block of six, so the function is still differentiable there.
#[test]
fn sort_over_tied_blocks() {
    let mut rng = Rng::new(9);
    for (u, c) in [
        (vec![0.5, -1.0, 2.0, 0.25], dyadic(&mut rng, 12)),
        (vec![0.5, -1.0, 2.0, 0.5], {
            let mut c = dyadic(&mut rng, 12);
            c[3..9].iter_mut().for_each(|v| *v = 1.5);
            c
        }),
    ] {
        let n = u.len();
        // by hand: entry i occupies the outputs 3 r .. 3 r + 2, r = number of entries below it (ties
        // among distinct entries share the block; c is constant over it)
        let truth: Vec<f64> = (0..n)
            .map(|i| {
                let r = u.iter().filter(|&&v| v < u[i]).count();
                (3 * r..3 * r + 3).map(|k| c[k]).sum()
            })
            .collect();
        let blocks = {
            let mut d = u.clone();
            d.sort_by(f64::total_cmp);
            d.dedup();
            d.len()
        };
        for rep in representations() {
            for mode in [Mode::safe(), Mode::Lex(None), Mode::Assoc] {
                let tape = Tape::<f64>::with_representation(rep.clone());
                let uv = tape.var(Tensor::vector(u.clone()));
                let idx: Vec<u32> = (0..3 * n as u32).map(|k| k / 3).collect();
                let s = uv.gather(Arc::from(idx), &[3 * n]).unwrap().sort().unwrap();
                let y = s.mul(tape.constant(Tensor::vector(c.clone()))).unwrap().sum();
                let g = tape.gradient(y, &[uv], &mode).unwrap();
                let cert = &g.certificate;
                assert_eq!(cert.kinks_total(), blocks, "{} {mode}: one kink per tied block", rep.name);
                if mode == Mode::Assoc {
                    assert_eq!(cert.kind, CertificateKind::RepresentationDependent);
                    continue;
                }
                assert_eq!(g.values[0].to_f64_vec(), truth, "{} {mode} at u = {u:?}", rep.name);
                assert_eq!((cert.kind, cert.unresolved), (CertificateKind::Generalized, blocks), "{}", rep.name);
            }
        }
    }
}
