//! `safe` and `lex` for the hybrid model in both source forms and for Burgers (issue 10 item 3, issue
//! 15 item 5): the network's and the scheme's kinks locked together on one tape.
//!
//! Shapes are tiny (16 cells, 6 steps, 2 samples, width 4) and the plateau data dyadic, with the
//! velocity 1 at Courant number 1/2 (Burgers at the same `dt/dx`, `|u| <= 1`), so every step is
//! computed exactly and every switching function that is 0 in exact arithmetic is 0 here.

use kinkgrad::hybrid::{Dataset, HybridModel, LossReport, SourceForm};
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::pde::grid::Grid;
use kinkgrad::{CertificateKind, ErrorKind, Mode, Representation, Tensor};

const N: usize = 16;

fn square(x: f64) -> f64 {
    if (0.25..0.75).contains(&x.rem_euclid(1.0)) {
        1.0
    } else {
        0.0
    }
}

fn on_grid(f: impl Fn(f64) -> f64) -> Vec<f64> {
    Grid::unit(N).unwrap().centers().iter().map(|&x| f(x)).collect()
}

fn dataset(scheme: &str, form: SourceForm, beta: Vec<Vec<f64>>, gamma: Vec<Vec<f64>>) -> Dataset {
    Dataset {
        scheme: scheme.parse().unwrap(),
        courant: 0.5,
        steps: 6,
        velocity: vec![1.0],
        source: form,
        cells: N,
        alpha: vec![vec![0.5, 0.25], vec![0.75, 0.5]],
        beta,
        gamma,
        n_train: 2,
        truth: kinkgrad::hybrid::TrueSource::Unknown,
    }
}

/// Dyadic plateaus: limiter slopes exactly 0 on whole regions (linear schemes), or stationary shocks
/// `1 | -1` (Burgers: Godunov's flux ties `f(1) = f(-1)` with different partials).
fn plateau_data(scheme: &str, form: SourceForm) -> Dataset {
    let beta = if scheme.starts_with("burgers") {
        vec![on_grid(|x| 2.0 * square(x) - 1.0), on_grid(|x| square(x + 0.125) - 0.5)]
    } else {
        vec![on_grid(|x| square(x) + 0.5 * square(x + 0.375)), on_grid(|x| 0.75 * square(x + 0.125))]
    };
    let gamma = vec![on_grid(|x| 0.5 * square(x + 0.125)), on_grid(|x| 0.25 * square(x))];
    dataset(scheme, form, beta, gamma)
}

/// Smooth data with irrational phases: no limiter argument, flux switch or relu input is exactly 0
/// (the certificates below check it); Burgers' state stays positive.
fn smooth_data(scheme: &str, form: SourceForm) -> Dataset {
    let base = if scheme.starts_with("burgers") { 1.0 } else { 0.5 };
    let tau = 2.0 * std::f64::consts::PI;
    let beta = vec![
        on_grid(|x| base + 0.25 * (tau * x + 0.3).sin() + 0.1 * (2.0 * tau * x + 1.1).cos()),
        on_grid(|x| base + 0.2 * (tau * x + 2.3).cos()),
    ];
    let gamma = vec![on_grid(|x| base + 0.3 * (tau * x + 0.7).sin()), on_grid(|x| base + 0.1 * (tau * x).cos())];
    dataset(scheme, form, beta, gamma)
}

/// A model whose output layer is zero: the source is exactly 0 (the plateaus stay flat at every
/// step), while the weights' tangents move it (`ds = dW3 h2 + db3`).
fn zero_output(form: SourceForm) -> HybridModel {
    let mut m = HybridModel::new(form, 4, 3).unwrap();
    let last = m.net.params.len();
    for p in &mut m.net.params[last - 2..] {
        *p = Tensor::new(p.shape().to_vec(), vec![0.0; p.len()]).unwrap();
    }
    m
}

fn with_param(m: &HybridModel, layer: usize, k: usize, v: f64) -> HybridModel {
    let mut m = m.clone();
    let p = &mut m.net.params[layer];
    let mut data = p.data().to_vec();
    data[k] = v;
    *p = Tensor::new(p.shape().to_vec(), data).unwrap();
    m
}

fn bits(v: &[Vec<f64>]) -> Vec<u64> {
    v.concat().iter().map(|x| x.to_bits()).collect()
}

/// Every offered named tie rule, for the limiters and the fluxes alike.
fn reps() -> Vec<Representation> {
    ["first", "last", "mean", "minnorm"]
        .iter()
        .map(|r| format!("minnorm[limiter={r},flux={r}]").parse().unwrap())
        .collect()
}

fn grad(m: &HybridModel, d: &Dataset, mode: &Mode, rep: &Representation) -> LossReport {
    m.loss_and_gradient(d, &d.train_indices(), mode, rep, &Schedule::StoreAll).unwrap()
}

const CASES: [(&str, SourceForm); 4] = [
    ("lw-minmod", SourceForm::Alpha),
    ("lw-minmod", SourceForm::State),
    ("burgers-godunov", SourceForm::Alpha),
    ("burgers-godunov", SourceForm::State),
];

/// Issue 15's acceptance: hybrid model, both forms, `lw-minmod` and Burgers, plateau data, zero
/// output layer. Expected values: `safe` and `lex` are the same bits under every tie rule (the
/// probes lock every kink the weights move); `assoc` differs across the rules (so the data hit kinks
/// whose pieces matter); the hidden layers' gradients are exactly 0 (they reach the source only
/// through the zero output layer); the loss is the source-free simulation's. The certificates: safe
/// and lex `generalized` with the scheme's kinks counted under the scope `scheme`, assoc
/// `representation-dependent`.
#[test]
fn safe_and_lex_are_bitwise_independent_of_the_tie_rules_on_plateaus() {
    for (scheme, form) in CASES {
        let (d, m) = (plateau_data(scheme, form), zero_output(form));
        let t = d.transport().unwrap();
        let free: f64 = (0..2)
            .map(|i| {
                let u = t.simulate(&d.beta[i], &d.velocity_arg(&t), None, d.steps).unwrap();
                u.iter().zip(&d.gamma[i]).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() * t.grid.dx()
            })
            .sum::<f64>()
            / 2.0;
        let (mut safe, mut lex, mut assoc) = (Vec::new(), Vec::new(), Vec::new());
        for rep in reps() {
            let what = format!("{scheme} {form:?} {}", rep.name);
            for (mode, out) in [(Mode::safe(), &mut safe), (Mode::Lex(None), &mut lex), (Mode::Assoc, &mut assoc)] {
                let r = grad(&m, &d, &mode, &rep);
                let c = &r.certificate;
                assert!(r.scheme_kinks() > 0, "{what} {}: {c}", mode.name());
                assert_eq!(r.scheme_kinks() + r.net_kinks(), c.kinks_total(), "{what}: only the two scopes");
                let kind =
                    if mode.locks() { CertificateKind::Generalized } else { CertificateKind::RepresentationDependent };
                assert_eq!(c.kind, kind, "{what} {}: {c}", mode.name());
                assert_eq!(*c.representation, *rep.name);
                assert!((r.loss - free).abs() <= 1e-14 * free, "{what}: loss {} vs {free}", r.loss);
                for g in &r.grads[..4] {
                    assert!(g.iter().all(|&v| v == 0.0), "{what} {}: hidden layers", mode.name());
                }
                out.push(r.grads);
            }
        }
        let what = format!("{scheme} {form:?}");
        assert!(safe.iter().all(|g| bits(g) == bits(&safe[0])), "{what}: safe depends on the tie rule");
        assert!(lex.iter().all(|g| bits(g) == bits(&lex[0])), "{what}: lex depends on the tie rule");
        assert!(assoc.iter().any(|g| bits(g) != bits(&assoc[0])), "{what}: assoc should depend on the rule");
    }
}

/// `lex` with the identity directions: the columns before the output layer's first weight `W3[0]`
/// move nothing (the output layer is zero), so that column is the one-sided directional derivative
/// along `W3[0]`, and `dJ/dW3[0] = J'(W; e)`. Expected value: the one-sided second-order quotient
/// `(-3 J(0) + 4 J(h) - J(2h)) / (2h)`, exact on one quadratic piece (the alpha form with lw-minmod:
/// `u(T)` is piecewise linear in the source) and `O(h^2)` otherwise (the network of the state or
/// Burgers' flux are not polynomial of degree 1 along the ray).
#[test]
fn lex_gives_the_one_sided_derivative_along_the_first_moving_direction() {
    for (scheme, form) in CASES {
        let (d, m) = (plateau_data(scheme, form), zero_output(form));
        let idx = d.train_indices();
        let r = grad(&m, &d, &Mode::Lex(None), &Representation::default());
        let w3 = m.net.params.len() - 2;
        let h = 2f64.powi(-16);
        let j = |v: f64| with_param(&m, w3, 0, v).loss(&d, &idx).unwrap();
        let fd = (-3.0 * j(0.0) + 4.0 * j(h) - j(2.0 * h)) / (2.0 * h);
        let tol = if scheme == "lw-minmod" && form == SourceForm::Alpha { 1e-9 } else { 1e-6 };
        let g = r.grads[w3][0];
        assert!((g - fd).abs() <= tol * fd.abs().max(1e-3), "{scheme} {form:?}: lex {g} vs one-sided {fd}");
    }
}

/// Off kinks the locked paths compute the same derivative as `assoc`'s adjoints: smooth data, no
/// kink anywhere (every certificate `exact`), gradients equal to 1e-12 relative in assoc, safe and
/// lex, on both locked recordings (the loop op: alpha form with upwind or lw-minmod; the step ops:
/// the state form, Burgers, van Leer).
#[test]
fn locked_paths_agree_with_assoc_off_kinks() {
    let cases = [
        ("upwind", SourceForm::Alpha),
        ("lw-minmod", SourceForm::Alpha),
        ("lw-vanleer", SourceForm::Alpha),
        ("upwind", SourceForm::State),
        ("lw-minmod", SourceForm::State),
        ("burgers-godunov", SourceForm::Alpha),
        ("burgers-godunov", SourceForm::State),
    ];
    for (scheme, form) in cases {
        let d = smooth_data(scheme, form);
        // biases away from 0 (He's are 0): a cell where every unit of the first layer is off would
        // otherwise feed exactly 0 into the second layer's relus
        let mut m = HybridModel::new(form, 4, 5).unwrap();
        for b in [1, 3] {
            m = (0..m.net.params[b].len()).fold(m, |m, k| with_param(&m, b, k, 0.1 + 0.01 * k as f64));
        }
        let rep = Representation::default();
        let a = grad(&m, &d, &Mode::Assoc, &rep);
        let scale = a.grads.concat().iter().fold(0.0f64, |s, v| s.max(v.abs()));
        assert!(scale > 0.0);
        for mode in [Mode::Assoc, Mode::safe(), Mode::Lex(None)] {
            let r = grad(&m, &d, &mode, &rep);
            let what = format!("{scheme} {form:?} {}", mode.name());
            assert_eq!(r.certificate.kinks_total(), 0, "{what}: {}", r.certificate);
            assert_eq!(r.certificate.kind, CertificateKind::Exact, "{what}");
            assert!((r.loss - a.loss).abs() <= 1e-14 * a.loss, "{what}: loss");
            for (x, y) in r.grads.concat().iter().zip(a.grads.concat()) {
                assert!((x - y).abs() <= 1e-12 * scale, "{what}: {x} vs {y}");
            }
        }
    }
}

/// The locked recordings store every step: a recompute schedule is refused in `safe`/`lex` with a
/// typed error naming it, in both forms and for Burgers, never accepted and ignored; `assoc` follows
/// it.
#[test]
fn recompute_schedules_are_refused_in_locked_modes() {
    for (scheme, form) in CASES {
        let (d, m) = (plateau_data(scheme, form), zero_output(form));
        for s in [Schedule::Sqrt, Schedule::Revolve { snapshots: 2 }] {
            for mode in [Mode::safe(), Mode::Lex(None)] {
                let e = m.loss_and_gradient(&d, &d.train_indices(), &mode, &Representation::default(), &s).unwrap_err();
                assert!(matches!(e, kinkgrad::Error::Unsupported { .. }), "{scheme} {form:?} {s}: {e}");
                assert_eq!(e.kind(), ErrorKind::Input);
                assert!(e.to_string().contains(&s.to_string()), "{e}");
            }
            assert!(m.loss_and_gradient(&d, &d.train_indices(), &Mode::Assoc, &Representation::default(), &s).is_ok());
        }
    }
}

/// `peak_bytes` of the step ops is what the tape holds: at least every step op's output and
/// linearisation (`m steps` ops of `n` values and at least four partials per face in `u`,
/// `8 (1 + 4) n` bytes each, plus a locked copy where a kink was locked), and it grows with the
/// steps by at least as much.
#[test]
fn step_ops_report_the_tape_they_hold() {
    let (d, m) = (plateau_data("lw-minmod", SourceForm::State), zero_output(SourceForm::State));
    let r = grad(&m, &d, &Mode::safe(), &Representation::default());
    let floor = 2 * d.steps * 8 * 5 * N;
    assert!(r.peak_bytes >= floor, "{} < {floor}", r.peak_bytes);
    let mut longer = d.clone();
    longer.steps = 12;
    let r2 = grad(&m, &longer, &Mode::safe(), &Representation::default());
    assert!(r2.peak_bytes > r.peak_bytes + 2 * 6 * 8 * 5 * N - 1, "{} vs {}", r2.peak_bytes, r.peak_bytes);
}
