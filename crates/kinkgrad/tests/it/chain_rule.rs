//! The chain-rule theorem as property tests: at random points (off the kinks almost surely) the
//! associated gradient equals central finite differences, for every relu'(0) in {0, 1/2, 1, -2} and
//! every tie rule: on random compositions of the primitives and on random small ReLU/max-pool
//! networks. Then gradients of gradients (`Tape::grad_vars`) against closed forms and finite
//! differences: a scalar tanh example and the input-gradient penalty of small MLPs differentiated
//! with respect to their weights.

use crate::common;

use common::{eval, expr, gradient};
use kinkgrad::{Mode, Representation, Rng, Tape, Tensor, TieRule, Var};
use proptest::prelude::*;

/// Every relu'(0) in {0, 1/2, 1, -2} combined with every tie rule.
fn all_representations() -> Vec<Representation> {
    let rules =
        [TieRule::First, TieRule::Last, TieRule::Mean, TieRule::MinNorm, TieRule::Weighted(vec![3.0, 1.0, 2.0, 0.5])];
    let mut v = Vec::new();
    for z in [0.0, 0.5, 1.0, -2.0] {
        for r in &rules {
            v.push(Representation::default().with_all_ties(r.clone()).with_relu_at_zero(z));
        }
    }
    v
}

/// Central differences of `f` along `dirs` random unit directions at `x`, with steps `h` and `h/4`.
/// Returns None when the two disagree (a kink within the step: the point is not "off the kinks"),
/// else the pairs (directional FD, direction).
fn directional_fd(f: &dyn Fn(&[f64]) -> f64, x: &[f64], dirs: usize, seed: u64) -> Option<Vec<(f64, Vec<f64>)>> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for _ in 0..dirs {
        let mut d: Vec<f64> = x.iter().map(|_| rng.normal()).collect();
        let n = d.iter().map(|v| v * v).sum::<f64>().sqrt();
        d.iter_mut().for_each(|v| *v /= n);
        let fd = |h: f64| {
            let p: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + h * b).collect();
            let m: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a - h * b).collect();
            (f(&p) - f(&m)) / (2.0 * h)
        };
        let (a, b) = (fd(1e-5), fd(2.5e-6));
        if (a - b).abs() > 1e-5 * (1.0 + a.abs()) {
            return None;
        }
        out.push((b, d));
    }
    Some(out)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn assert_matches_fd(g: &[f64], fds: &[(f64, Vec<f64>)], what: &str) -> Result<(), TestCaseError> {
    for (fd, d) in fds {
        let ad = dot(g, d);
        prop_assert!((ad - fd).abs() <= 1e-6 * (1.0 + fd.abs()), "{}: grad.d = {} vs FD {}", what, ad, fd);
    }
    Ok(())
}

const N: usize = 3;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random compositions of smooth and piecewise primitives at random real points.
    #[test]
    fn compositions_match_finite_differences(e in expr(N, true), x in prop::collection::vec(-2.0..2.0f64, N)) {
        let f = |p: &[f64]| eval(&e, p);
        let fds = directional_fd(&f, &x, 4, 1);
        prop_assume!(fds.is_some());
        let fds = fds.unwrap();
        for rep in all_representations() {
            let (g, _) = gradient(&e, &x, &rep, &Mode::Assoc);
            assert_matches_fd(&g, &fds, &rep.name)?;
        }
    }

    /// Random ReLU networks with 1-d or 2-d max-pooling and a cross-entropy loss, gradients with
    /// respect to the input and every weight.
    #[test]
    fn relu_pool_networks_match_finite_differences(seed in 0u64..1_000_000, pool2d in any::<bool>()) {
        let mut rng = Rng::new(seed);
        // x [2, 6], w1 [6, 8], b1 [8], w2 [pooled, 3], b2 [3]
        let pooled = if pool2d { 2 } else { 4 };
        let shapes: Vec<Vec<usize>> = vec![vec![2, 6], vec![6, 8], vec![8], vec![pooled, 3], vec![3]];
        let sizes: Vec<usize> = shapes.iter().map(|s| s.iter().product()).collect();
        let x: Vec<f64> = (0..sizes.iter().sum::<usize>()).map(|_| rng.normal()).collect();
        let labels = [rng.below(3), rng.below(3)];
        let net = |rep: &Representation, p: &[f64], grad: bool| -> (f64, Vec<f64>) {
            let tape = Tape::<f64>::with_representation(rep.clone());
            let mut off = 0;
            let vars: Vec<Var<'_, f64>> = shapes
                .iter()
                .zip(&sizes)
                .map(|(s, &n)| {
                    let v = tape.var(Tensor::from_f64(s.clone(), &p[off..off + n]).unwrap());
                    off += n;
                    v
                })
                .collect();
            let h = vars[0].matmul(vars[1]).unwrap().add(vars[2]).unwrap().relu();
            let pooled = if pool2d {
                // [2, 8] -> [2, 2, 4], windows 2x2 with stride (1, 2) -> [2, 1, 2]
                h.reshape(&[2, 2, 4]).unwrap().max_pool2d((2, 2), (1, 2)).unwrap().reshape(&[2, 2]).unwrap()
            } else {
                h.max_pool1d(2, 2).unwrap()
            };
            let out = pooled.matmul(vars[3]).unwrap().add(vars[4]).unwrap();
            let mut onehot = vec![0.0; 6];
            onehot[labels[0]] = 1.0;
            onehot[3 + labels[1]] = 1.0;
            let t = tape.constant(Tensor::from_f64(vec![2, 3], &onehot).unwrap());
            let loss = out.log_softmax().unwrap().mul(t).unwrap().sum().neg();
            let g = if grad {
                tape.gradient(loss, &vars, &Mode::Assoc).unwrap().values.iter().flat_map(|v| v.to_f64_vec()).collect()
            } else {
                vec![]
            };
            (loss.item().unwrap(), g)
        };
        let f = |p: &[f64]| net(&Representation::default(), p, false).0;
        let fds = directional_fd(&f, &x, 4, 2);
        prop_assume!(fds.is_some());
        let fds = fds.unwrap();
        for rep in all_representations() {
            let (_, g) = net(&rep, &x, true);
            assert_matches_fd(&g, &fds, &rep.name)?;
        }
    }
}

/// d/dw (d/dx tanh(w x))^2. By hand: d/dx tanh(w x) = w s with s = 1 - tanh(w x)^2, and
/// ds/dw = -2 x tanh(w x) s, so d/dw (w s)^2 = 2 w s (s - 2 w x tanh(w x) s).
#[test]
fn gradient_of_gradient_tanh() {
    for (w0, x0) in [(0.7, -1.3), (-1.1, 0.4), (2.0, 0.25)] {
        let tape = Tape::<f64>::new();
        let w = tape.var(Tensor::scalar(w0));
        let x = tape.var(Tensor::scalar(x0));
        let y = w.mul(x).unwrap().tanh();
        let gx = tape.grad_vars(y, &[x], &Mode::Assoc).unwrap().vars[0];
        let (t, s) = ((w0 * x0).tanh(), 1.0 - (w0 * x0).tanh().powi(2));
        assert!((gx.item().unwrap() - w0 * s).abs() < 1e-14);
        let z = gx.square();
        let dzdw = tape.gradient(z, &[w], &Mode::Assoc).unwrap().values[0].item().unwrap();
        let expect = 2.0 * w0 * s * (s - 2.0 * w0 * x0 * t * s);
        assert!((dzdw - expect).abs() < 1e-12 * (1.0 + expect.abs()), "{dzdw} vs {expect}");
        // and by central differences of the closed form of (w s)^2
        let q = |w: f64| (w * (1.0 - (w * x0).tanh().powi(2))).powi(2);
        let fd = (q(w0 + 1e-6) - q(w0 - 1e-6)) / 2e-6;
        assert!((dzdw - fd).abs() < 1e-7 * (1.0 + fd.abs()));
    }
}

#[derive(Clone, Copy, Debug)]
enum Act {
    Relu,
    Tanh,
    /// relu, then 1-d max-pooling with kernel 2, stride 2 (second derivatives through the pooling
    /// scatter)
    ReluPool,
}

impl Act {
    /// Width of the layer that `W2` reads.
    fn out_width(self) -> usize {
        match self {
            Act::ReluPool => H / 2,
            _ => H,
        }
    }
}

const B: usize = 4;
const D: usize = 3;
const H: usize = 6;

/// The loss L(W1, b1, W2) = sum_b |du_b/dx_b|^2 + mean_b u_b with u(x) = act(x W1 + b1) W2 (a scalar),
/// in closed form with plain loops: du/dx_i = sum_j W1[i][j] act'(h_j) W2[j]; with pooling, only the
/// larger entry j of each window (2k, 2k+1) contributes, with W2[k].
fn penalty_closed_form(act: Act, x: &[f64], p: &[f64]) -> f64 {
    let (w1, rest) = p.split_at(D * H);
    let (b1, w2) = rest.split_at(H);
    let mut l = 0.0;
    for b in 0..B {
        let h: Vec<f64> = (0..H).map(|j| (0..D).map(|i| x[b * D + i] * w1[i * H + j]).sum::<f64>() + b1[j]).collect();
        let (a, da): (Vec<f64>, Vec<f64>) = match act {
            Act::Relu | Act::ReluPool => h.iter().map(|&v| if v > 0.0 { (v, 1.0) } else { (0.0, 0.0) }).unzip(),
            Act::Tanh => h.iter().map(|&v| (v.tanh(), 1.0 - v.tanh().powi(2))).unzip(),
        };
        // (unit j, weight on it): every unit, or the winner of each pooling window
        let terms: Vec<(usize, f64)> = match act {
            Act::ReluPool => {
                (0..H / 2).map(|k| (if a[2 * k + 1] > a[2 * k] { 2 * k + 1 } else { 2 * k }, w2[k])).collect()
            }
            _ => (0..H).map(|j| (j, w2[j])).collect(),
        };
        for i in 0..D {
            let g: f64 = terms.iter().map(|&(j, w)| w1[i * H + j] * da[j] * w).sum();
            l += g * g;
        }
        l += terms.iter().map(|&(j, w)| a[j] * w).sum::<f64>() / B as f64;
    }
    l
}

/// The same loss on the tape: the input gradient by `grad_vars` (recorded), then the gradient of the
/// loss with respect to the weights.
fn penalty_tape(act: Act, rep: &Representation, x: &[f64], p: &[f64]) -> (f64, Vec<f64>) {
    let tape = Tape::<f64>::with_representation(rep.clone());
    let xv = tape.var(Tensor::from_f64(vec![B, D], x).unwrap());
    let w1 = tape.var(Tensor::from_f64(vec![D, H], &p[..D * H]).unwrap());
    let b1 = tape.var(Tensor::from_f64(vec![H], &p[D * H..D * H + H]).unwrap());
    let w2 = tape.var(Tensor::from_f64(vec![act.out_width(), 1], &p[D * H + H..]).unwrap());
    let pre = xv.matmul(w1).unwrap().add(b1).unwrap();
    let a = match act {
        Act::Relu => pre.relu(),
        Act::Tanh => pre.tanh(),
        Act::ReluPool => pre.relu().max_pool1d(2, 2).unwrap(),
    };
    let u = a.matmul(w2).unwrap();
    let gx = tape.grad_vars(u.sum(), &[xv], &Mode::Assoc).unwrap().vars[0];
    let loss = gx.square().sum().add(u.mean()).unwrap();
    let g = tape.gradient(loss, &[w1, b1, w2], &Mode::Assoc).unwrap();
    (loss.item().unwrap(), g.values.iter().flat_map(|v| v.to_f64_vec()).collect())
}

/// Gradients of gradients through matmul, relu and max-pooling (and tanh): the weight gradient of an
/// input-gradient penalty (Deep Ritz / PINN style) equals central differences of the closed form,
/// for every relu'(0) (off the kinks it must not matter).
#[test]
fn gradient_of_input_gradient_in_mlps() {
    let mut checked = 0;
    for act in [Act::Relu, Act::Tanh, Act::ReluPool] {
        for seed in 0..6 {
            let mut rng = Rng::new(100 + seed);
            let x: Vec<f64> = (0..B * D).map(|_| rng.normal()).collect();
            let p: Vec<f64> = (0..D * H + H + act.out_width()).map(|_| rng.normal()).collect();
            let f = |q: &[f64]| penalty_closed_form(act, &x, q);
            let Some(fds) = directional_fd(&f, &p, 6, seed) else { continue };
            checked += 1;
            for z in [0.0, 0.5, 1.0, -2.0] {
                let rep = Representation::default().with_relu_at_zero(z);
                let (l, g) = penalty_tape(act, &rep, &x, &p);
                assert!((l - f(&p)).abs() < 1e-12 * (1.0 + l.abs()), "{act:?} loss {l} vs {}", f(&p));
                for (fd, d) in &fds {
                    let ad = dot(&g, d);
                    assert!((ad - fd).abs() < 1e-6 * (1.0 + fd.abs()), "{act:?} seed {seed} z {z}: {ad} vs FD {fd}");
                }
            }
        }
    }
    // a point is skipped only when a kink lies within the finite-difference step
    assert!(checked >= 15, "only {checked} of 18 networks checked");
}
