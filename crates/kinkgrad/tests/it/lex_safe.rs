//! Acceptance tests of the representation-independent modes (`lex`, `safe`): the Khan-Barton
//! examples, functions equal to `t` or to `relu(t)` written so that the frameworks disagree, the
//! upwind flux, and a property test on random compositions with kinks planted on purpose.

use crate::common;

use common::{eval, expr, gradient, representations, Expr};
use kinkgrad::{CertificateKind, Directions, Mode, Representation, Rng, Tape, Tensor, Var};
use proptest::prelude::*;

/// A function of scalar variables recorded on their tape.
type Build = for<'t> fn(&[Var<'t, f64>]) -> Var<'t, f64>;

/// The gradient of `build(vars)` w.r.t. scalar variables at `x`, and the certificate kind.
fn grad(rep: &Representation, x: &[f64], mode: &Mode, build: Build) -> (Vec<f64>, CertificateKind) {
    let tape = Tape::<f64>::with_representation(rep.clone());
    let vars: Vec<Var<'_, f64>> = x.iter().map(|&v| tape.var(Tensor::scalar(v))).collect();
    let y = build(&vars);
    let g = tape.gradient(y, &vars, mode).unwrap();
    (g.values.iter().map(|t| t.item().unwrap()).collect(), g.certificate.kind)
}

fn lex(m: &str) -> Mode {
    Mode::Lex(Some(Directions::parse(m).unwrap()))
}

/// Khan & Barton (2015), example with M = I: f(x) = max(min(x1, -x2), x2 - x1) at (0, 0).
/// By hand: along e1 the min keeps -x2 (tangent 0 < 1), then the max compares -x2 (tangent 0) with
/// x2 - x1 (tangent -1) and keeps -x2, whose gradient is (0, -1).
#[test]
fn khan_barton_max_min() {
    fn f<'t>(v: &[Var<'t, f64>]) -> Var<'t, f64> {
        v[0].minimum(v[1].neg()).unwrap().maximum(v[1].sub(v[0]).unwrap()).unwrap()
    }
    for rep in representations() {
        let (g, kind) = grad(&rep, &[0.0, 0.0], &Mode::Lex(None), f);
        assert_eq!(g, vec![0.0, -1.0], "{}", rep.name);
        assert_eq!(kind, CertificateKind::Generalized);
        // safe: the gradient of a piece active near (0, 0): x1, -x2 or x2 - x1
        let (s, _) = grad(&rep, &[0.0, 0.0], &Mode::safe(), f);
        assert!([vec![1.0, 0.0], vec![0.0, -1.0], vec![-1.0, 1.0]].contains(&s), "safe {s:?}");
    }
}

/// Khan & Barton (2015): f(x) = (1 + |x1 - x2|)(x1 - x2) at (0, 0) with M = I gives (1, -1) (f is
/// differentiable there: the |.| term is multiplied by x1 - x2 = 0).
#[test]
fn khan_barton_abs_product() {
    fn f<'t>(v: &[Var<'t, f64>]) -> Var<'t, f64> {
        let d = v[0].sub(v[1]).unwrap();
        d.abs().add_scalar(1.0).mul(d).unwrap()
    }
    for rep in representations() {
        for mode in [Mode::Lex(None), Mode::safe(), Mode::Assoc] {
            assert_eq!(grad(&rep, &[0.0, 0.0], &mode, f).0, vec![1.0, -1.0], "{} {mode:?}", rep.name);
        }
    }
}

/// relu(t) - relu(-t) = t and minmod(t, t) = t: derivative 1 at t = 0 in lex and safe under every
/// representation (assoc gives 2 relu'(0) for the first, see `paradoxes.rs`).
#[test]
fn identities_at_zero() {
    fn relu_diff<'t>(v: &[Var<'t, f64>]) -> Var<'t, f64> {
        v[0].relu().sub(v[0].neg().relu()).unwrap()
    }
    fn minmod_tt<'t>(v: &[Var<'t, f64>]) -> Var<'t, f64> {
        v[0].minmod(v[0]).unwrap()
    }
    for rep in representations() {
        for mode in [Mode::Lex(None), Mode::safe(), lex("1"), lex("-1")] {
            assert_eq!(grad(&rep, &[0.0], &mode, relu_diff), (vec![1.0], CertificateKind::Generalized), "{mode:?}");
            assert_eq!(grad(&rep, &[0.0], &mode, minmod_tt).0, vec![1.0], "{} {mode:?}", rep.name);
        }
    }
}

/// The probe's sign in `safe` mode for one scalar variable and a seed: `safe` on |t| at 0 gives the
/// one-sided derivative along the probe, i.e. its sign.
fn probe_sign(seed: u64) -> f64 {
    let mode = Mode::Safe { seed, max_directions: 4 };
    grad(&Representation::default(), &[0.0], &mode, |v| v[0].abs()).0[0]
}

/// relu(-t) + t and (relu(t) + relu(-t) + t)/2 both equal relu(t). The frameworks give 1 and 1/2
/// at 0 (PyTorch convention: relu'(0) = 0). lex gives the one-sided derivatives: with M = [1],
/// f'(0; 1) = 1; with M = [-1], f'(0; -1) = 0 and so the gradient M^-T f'(0; M) = 0. safe gives
/// the one-sided derivative along its probe: 1 when the probe is positive, 0 when it is negative.
#[test]
fn relu_rewritten_one_sided() {
    fn f1<'t>(v: &[Var<'t, f64>]) -> Var<'t, f64> {
        v[0].neg().relu().add(v[0]).unwrap()
    }
    fn f2<'t>(v: &[Var<'t, f64>]) -> Var<'t, f64> {
        v[0].relu().add(v[0].neg().relu()).unwrap().add(v[0]).unwrap().scale(0.5)
    }
    let pt = Representation::pytorch();
    assert_eq!(grad(&pt, &[0.0], &Mode::Assoc, f1).0, vec![1.0]);
    assert_eq!(grad(&pt, &[0.0], &Mode::Assoc, f2).0, vec![0.5]);
    let mut signs = Vec::new();
    for rep in representations() {
        for f in [f1 as Build, f2] {
            for (m, ld, g) in [("1", 1.0, 1.0), ("-1", 0.0, 0.0)] {
                let tape = Tape::<f64>::with_representation(rep.clone());
                let t = tape.var(Tensor::scalar(0.0));
                let r = tape.gradient(f(&[t]), &[t], &lex(m)).unwrap();
                assert_eq!(r.ld_derivative.unwrap(), vec![ld], "M = [{m}]");
                assert_eq!(r.values[0].item().unwrap(), g, "M = [{m}]");
            }
            for seed in 0..12 {
                let s = probe_sign(seed);
                assert!(s == 1.0 || s == -1.0);
                signs.push(s);
                let mode = Mode::Safe { seed, max_directions: 4 };
                assert_eq!(grad(&rep, &[0.0], &mode, f).0, vec![(1.0 + s) / 2.0], "seed {seed}");
            }
        }
    }
    // both signs occur among the seeds, so both one-sided derivatives were checked
    assert!(signs.contains(&1.0) && signs.contains(&-1.0));
}

/// Upwind flux F(a, u, v) = relu(a) u - relu(-a) v. At a = 0 with u = v = 2 it is differentiable
/// (F = 2a near 0): gradient (2, 0, 0) in safe and lex, while PyTorch's convention gives 0 for the
/// first entry. With u != v the a-derivative is u (probe > 0) or v (probe < 0): between u and v.
#[test]
fn upwind_flux() {
    fn flux<'t>(v: &[Var<'t, f64>]) -> Var<'t, f64> {
        v[0].relu().mul(v[1]).unwrap().sub(v[0].neg().relu().mul(v[2]).unwrap()).unwrap()
    }
    assert_eq!(grad(&Representation::pytorch(), &[0.0, 2.0, 2.0], &Mode::Assoc, flux).0, vec![0.0, 0.0, 0.0]);
    for rep in representations() {
        for seed in 0..6 {
            let mode = Mode::Safe { seed, max_directions: 4 };
            let (g, kind) = grad(&rep, &[0.0, 2.0, 2.0], &mode, flux);
            assert_eq!((g, kind), (vec![2.0, 0.0, 0.0], CertificateKind::Generalized), "{}", rep.name);
            let (g, _) = grad(&rep, &[0.0, 1.0, 3.0], &mode, flux);
            assert!((1.0..=3.0).contains(&g[0]) && g[1..] == [0.0, 0.0], "{g:?}");
        }
        assert_eq!(grad(&rep, &[0.0, 2.0, 2.0], &Mode::Lex(None), flux).0, vec![2.0, 0.0, 0.0]);
        // lex with M = I: a moves first and positively, so relu(a) is on its identity piece: u
        assert_eq!(grad(&rep, &[0.0, 1.0, 3.0], &Mode::Lex(None), flux).0, vec![1.0, 0.0, 0.0]);
    }
}

/// The first probe direction of `safe` mode with `seed` for one vector variable of `n` elements:
/// `n` draws of `Rng::new(seed).range(-1, 1)`. Checked against the signs that `safe` returns on
/// sum |x| at 0 before it is used.
fn probe(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let d: Vec<f64> = (0..n).map(|_| rng.range(-1.0, 1.0)).collect();
    let tape = Tape::<f64>::new();
    let v = tape.var(Tensor::vector(vec![0.0; n]));
    let g = tape.gradient(v.abs().sum(), &[v], &Mode::Safe { seed, max_directions: 4 }).unwrap();
    assert_eq!(g.values[0].to_f64_vec(), d.iter().map(|x| x.signum()).collect::<Vec<_>>(), "probe layout changed");
    d
}

const N: usize = 3;

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol * (1.0 + x.abs().max(y.abs())))
}

/// Checks at one point on (or near) the kinks: representation independence, and agreement with
/// one-sided finite differences along the directions each mode used.
fn check_planted(e: &Expr, x: &[f64]) -> Result<(), TestCaseError> {
    let reps = representations();
    let (lex0, _) = gradient(e, x, &reps[0], &Mode::Lex(None));
    let (safe0, cert) = gradient(e, x, &reps[0], &Mode::safe());
    // Equal up to rounding: a structural tie (e.g. max(x, max(-1, x), x) at x = -1: equal tangents
    // along every direction) survives the lexicographic selection and keeps the representation's
    // weights, which sum to 1 only up to rounding (3/6 + 1/6 + 2/6 = 0.9999999999999999).
    for rep in &reps[1..] {
        let (l, s) = (gradient(e, x, rep, &Mode::Lex(None)).0, gradient(e, x, rep, &Mode::safe()).0);
        prop_assert!(close(&l, &lex0, 1e-14), "lex under {}: {:?} vs {:?}", rep.name, l, lex0);
        prop_assert!(close(&s, &safe0, 1e-14), "safe under {}: {:?} vs {:?}", rep.name, s, safe0);
    }
    // lex with M = I: column j of f'(x; I) is the one-sided quotient along e_j after moving by
    // delta^i e_i for i < j (piecewise-linear f: exact up to rounding while delta separates orders)
    let delta: f64 = 1e-3;
    let mut base = x.to_vec();
    for j in 0..N {
        let step = delta.powi(j as i32 + 1);
        let mut next = base.clone();
        next[j] += step;
        let q = (eval(e, &next) - eval(e, &base)) / step;
        prop_assert!(close(&[lex0[j]], &[q], 1e-5), "lex {:?} column {} vs one-sided {}", lex0, j, q);
        base = next;
    }
    // safe: one-sided quotient along the probe d, and the full gradient at x + eps d (inside the
    // locked piece) by central differences
    let d = probe(0, N);
    let eps = 1e-4;
    let xd: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + eps * b).collect();
    let along = (eval(e, &xd) - eval(e, x)) / eps;
    let gd: f64 = safe0.iter().zip(&d).map(|(a, b)| a * b).sum();
    prop_assert!(close(&[gd], &[along], 1e-7), "safe {:?}: g.d = {} vs one-sided {}", safe0, gd, along);
    if cert.directions <= 1 {
        let h = 1e-7;
        let fd: Vec<f64> = (0..N)
            .map(|i| {
                let (mut p, mut m) = (xd.clone(), xd.clone());
                p[i] += h;
                m[i] -= h;
                (eval(e, &p) - eval(e, &m)) / (2.0 * h)
            })
            .collect();
        prop_assert!(close(&safe0, &fd, 1e-5), "safe {:?} vs FD at x + eps d {:?}", safe0, fd);
    }
    Ok(())
}

/// Random piecewise-linear compositions at points of {-1, 0, 1}^3, where ties are exact and frequent
/// (kinks planted on purpose). Also checks that most cases really sit on kinks.
#[test]
fn planted_kinks() {
    use proptest::test_runner::{Config, TestRunner};
    use std::cell::Cell;
    let on_kinks = Cell::new(0usize);
    let cases = 256;
    let mut runner = TestRunner::new(Config { cases, ..Config::default() });
    let points = prop::collection::vec(prop::sample::select(vec![-1.0, 0.0, 1.0]), N);
    runner
        .run(&(expr(N, false), points), |(e, x)| {
            if gradient(&e, &x, &Representation::default(), &Mode::Assoc).1.kinks.total() > 0 {
                on_kinks.set(on_kinks.get() + 1);
            }
            check_planted(&e, &x)
        })
        .unwrap();
    assert!(on_kinks.get() >= cases as usize / 4, "only {} of {cases} cases hit a kink", on_kinks.get());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Off the kinks (random real points, almost surely no tie) lex and safe equal assoc.
    #[test]
    fn off_kinks_equal_assoc(e in expr(N, true), x in prop::collection::vec(-2.0..2.0f64, N)) {
        let rep = Representation::default();
        let (a, cert) = gradient(&e, &x, &rep, &Mode::Assoc);
        // structural ties (max(e, e), relu(e - e)) are kinks at every point: not this property
        prop_assume!(cert.kinks.total() == 0);
        for mode in [Mode::Lex(None), Mode::safe()] {
            let (g, c) = gradient(&e, &x, &rep, &mode);
            prop_assert_eq!(c.kind, CertificateKind::Exact);
            prop_assert!(close(&g, &a, 1e-12), "{:?}: {:?} vs assoc {:?}", mode, g, a);
        }
    }
}

/// A tie that survives every direction drawn is reported in the certificate, never hidden: in
/// max(x, x) both entries move together along every direction, so `safe` draws up to
/// `max_directions` probes and reports the tie (the value is still 1 under every rule: the tied
/// pieces have the same gradient). A tie that the first probe resolves needs one direction.
#[test]
fn surviving_ties_are_reported() {
    for rep in representations() {
        for max_directions in [1, 3] {
            let tape = Tape::<f64>::with_representation(rep.clone());
            let x = tape.var(Tensor::vector(vec![0.7, -0.2]));
            let y = x.maximum(x).unwrap().sum();
            let g = tape.gradient(y, &[x], &Mode::Safe { seed: 3, max_directions }).unwrap();
            assert_eq!(g.values[0].to_f64_vec(), vec![1.0, 1.0]);
            assert_eq!(g.certificate.kind, CertificateKind::Generalized);
            assert_eq!((g.certificate.unresolved, g.certificate.directions), (2, max_directions), "{}", rep.name);
            let l = tape.gradient(y, &[x], &Mode::Lex(None)).unwrap();
            assert_eq!((l.values[0].to_f64_vec(), l.certificate.unresolved), (vec![1.0, 1.0], 2));
        }
        // max(x, -x) at 0 is resolved by the first probe
        let tape = Tape::<f64>::with_representation(rep.clone());
        let x = tape.var(Tensor::scalar(0.0));
        let g = tape.gradient(x.maximum(x.neg()).unwrap(), &[x], &Mode::safe()).unwrap();
        assert_eq!((g.certificate.unresolved, g.certificate.directions), (0, 1));
        assert_eq!(g.values[0].item().unwrap().abs(), 1.0);
    }
}

/// `L(w) = sum_k c_k maxpool2x2(relu(w))_k` on a 4x4 grid, with its certificate under `mode`.
fn pooled_relu(w: &[f64], rep: &Representation, mode: &Mode) -> (Vec<f64>, kinkgrad::Certificate) {
    let tape = Tape::<f64>::with_representation(rep.clone());
    let wv = tape.var(Tensor::new(vec![1, 1, 4, 4], w.to_vec()).unwrap());
    let p = wv.relu().max_pool2d((2, 2), (2, 2)).unwrap();
    let c = tape.constant(Tensor::new(vec![1, 1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap());
    let l = p.mul(c).unwrap().sum();
    let g = tape.gradient(l, &[wv], mode).unwrap();
    (g.values[0].to_f64_vec(), g.certificate)
}

/// `safe`'s skip rule (the speed issue's item 2; the rule and its proof are in docs/nn.md, "Which
/// ties `safe` skips"): a pooling tie among relu outputs of strictly negative inputs is inert — the
/// window's output is locally constant 0 and every tie weight multiplies relu's zero slope — so
/// `safe` locks it on its first position without a tangent pass, counts it as skipped, and still
/// returns the representation-independent gradient. Ties that are not inert (positive tied values,
/// or a tied entry whose relu input is exactly 0) are locked as before, tie by tie.
#[test]
fn safe_skips_inert_pooling_ties_and_locks_the_rest() {
    // windows (2x2, row-major): W00 and W10 all strictly negative (two inert ties of zeros), W01
    // with a unique maximum 3 at (0, 2), W11 with a unique maximum 4 at (2, 2); by hand, dL/dw is
    // c_01 = 2 at (0, 2), c_11 = 4 at (2, 2) and 0 elsewhere
    #[rustfmt::skip]
    let w = vec![
        -1.0, -2.0, 3.0, 1.0,
        -3.0, -0.5, 2.0, 0.5,
        -1.0, -1.0, 4.0, -2.0,
        -2.0, -1.0, 1.0, 1.0,
    ];
    let mut truth = vec![0.0; 16];
    truth[2] = 2.0;
    truth[10] = 4.0;
    let (g, c) = pooled_relu(&w, &Representation::default(), &Mode::safe());
    assert_eq!(g, truth);
    assert_eq!((c.kinks_total(), c.skipped, c.locked, c.directions), (2, 2, 0, 0), "{c}");
    assert_eq!(c.kind, CertificateKind::Generalized, "{c}");
    // every rule for the tie gives the same values (each weight multiplies relu's zero slope), and so
    // does lex, which locks every kink
    for rule in ["first", "last", "mean", "minnorm"] {
        let rep: Representation = format!("minnorm[maxpool={rule}]").parse().unwrap();
        assert_eq!(pooled_relu(&w, &rep, &Mode::Assoc).0, truth, "{rule}");
        assert_eq!(pooled_relu(&w, &rep, &Mode::safe()).0, truth, "{rule}");
    }
    assert_eq!(pooled_relu(&w, &Representation::default(), &Mode::Lex(None)).0, truth);

    // W11 tied between two positive values 4 at (2, 2) and (3, 2): not inert, locked along a probe;
    // the whole weight c_11 = 4 goes to one of the tied entries (a piece active at the point)
    let mut w2 = w.clone();
    w2[14] = 4.0;
    // (the rule is per tie: W00 and W10 stay skipped, only W11 is locked along the probes)
    let (g, c) = pooled_relu(&w2, &Representation::default(), &Mode::safe());
    assert_eq!((c.skipped, c.locked, c.unresolved), (2, 1, 0), "{c}");
    assert!(c.directions >= 1, "{c}");
    assert_eq!(g[10] + g[14], 4.0);
    assert!(g[10] == 0.0 || g[14] == 0.0, "{g:?}");

    // a tied entry of W00 whose relu input is exactly 0 (a relu kink): not inert either
    let mut w3 = w.clone();
    w3[1] = 0.0;
    // (W10 is still inert: skipped; the relu kink and the W00 tie are locked)
    let (_, c) = pooled_relu(&w3, &Representation::default(), &Mode::safe());
    assert_eq!((c.skipped, c.locked), (1, 2), "{c}");
    assert!(c.directions >= 1, "{c}");
}
