//! The time loop recorded as one tape op (`Transport::time_loop_var`), differentiated in the source.

use kinkgrad::check::finite_differences;
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::pde::gradient::{GradientRequest, Wanted};
use kinkgrad::pde::grid::Grid;
use kinkgrad::pde::scheme::Transport;
use kinkgrad::{CertificateKind, Directions, Mode, Representation, Rng, Tape, Tensor};
use std::f64::consts::PI;

const N: usize = 40;

fn square(x: f64) -> f64 {
    if (0.25..0.75).contains(&x) {
        1.0
    } else {
        0.0
    }
}

/// `m` smooth samples (no kink) or square pulses (flat plateaus: kinks at many faces of every step).
fn batch(m: usize, smooth: bool, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let c = Grid::unit(N).unwrap().centers();
    let mut rng = Rng::new(seed);
    let (mut u0, mut s, mut target) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..m {
        let shift = 0.1 * i as f64;
        for &x in &c {
            if smooth {
                u0.push(0.6 * (2.0 * PI * (x + shift)).sin() + 0.05 * rng.normal());
                s.push(0.3 * (4.0 * PI * x).cos() + 0.01 * rng.normal());
            } else {
                u0.push(square(x + shift) + 0.5 * square(x + shift + 0.37));
                s.push(0.0);
            }
            target.push(0.5 * (2.0 * PI * (x - 0.1)).sin());
        }
    }
    (u0, s, target)
}

fn transport(scheme: &str, courant: f64) -> Transport {
    Transport::from_courant(Grid::unit(N).unwrap(), scheme.parse().unwrap(), 1.0, courant, false).unwrap()
}

/// `J(s) = Σ (u(T) - target)^2 dx` through the loop op; returns (J, dJ/ds, certificate kind, unresolved).
#[allow(clippy::too_many_arguments)]
fn loop_grad(
    t: &Transport,
    a: f64,
    steps: usize,
    u0: &[f64],
    s: &[f64],
    target: &[f64],
    mode: &Mode,
    rep: Representation,
) -> (f64, Vec<f64>, CertificateKind, usize, Option<Vec<f64>>) {
    let tape = Tape::<f64>::with_representation(rep);
    let sv = tape.var(Tensor::vector(s.to_vec()));
    let u = t.time_loop_var(sv, u0, a, steps).unwrap();
    let j = u.sub(tape.constant(Tensor::vector(target.to_vec()))).unwrap().square().sum().scale(t.grid.dx());
    let g = tape.gradient(j, &[sv], mode).unwrap();
    let jv = j.value().to_f64_vec()[0];
    let gv = g.values.first().map(|v| v.to_f64_vec()).unwrap_or_default();
    (jv, gv, g.certificate.kind, g.certificate.unresolved, g.ld_derivative)
}

fn loss(t: &Transport, a: f64, steps: usize, u0: &[f64], s: &[f64], target: &[f64]) -> f64 {
    u0.chunks(N)
        .zip(s.chunks(N))
        .flat_map(|(u, s)| t.simulate(u, &[a], Some(s), steps).unwrap())
        .zip(target)
        .map(|(u, g)| (u - g) * (u - g))
        .sum::<f64>()
        * t.grid.dx()
}

/// Off the kinks: the loop op's value is `simulate`'s, bit for bit; its gradient matches central finite
/// differences along random directions and the stepper's source gradient.
#[test]
fn loop_op_gradient_matches_finite_differences_and_the_stepper() {
    let (u0, s, target) = batch(3, true, 1);
    for (scheme, a) in [("lw-minmod", 0.9), ("lw-minmod", -0.9), ("lw-superbee", 0.9), ("upwind", -0.9), ("lw", 0.9)] {
        let t = transport(scheme, 0.6);
        let steps = 30;
        let (j, g, kind, _, _) = loop_grad(&t, a, steps, &u0, &s, &target, &Mode::Assoc, Representation::default());
        assert_eq!(kind, CertificateKind::Exact, "{scheme}: random data should not sit on a kink");
        assert_eq!(j.to_bits(), loss(&t, a, steps, &u0, &s, &target).to_bits(), "{scheme}: value");
        let r = finite_differences(&mut |x| Ok(loss(&t, a, steps, &u0, x, &target)), &s, &g, 5, 1e-6, 3).unwrap();
        assert!(r.max_rel_error < 1e-6, "{scheme} a={a}: {}", r.max_rel_error);
        // the stepper's source gradient, sample by sample (the same adjoint; the seed 2 (u - target) dx
        // is formed by different operations, so compare to rounding)
        for i in 0..3 {
            let sl = &s[i * N..(i + 1) * N];
            let (mode, rep) = (Mode::Assoc, Representation::default());
            let req = GradientRequest {
                u0: &u0[i * N..(i + 1) * N],
                target: &target[i * N..(i + 1) * N],
                velocity: &[a],
                source: Some(sl),
                steps,
                mode: &mode,
                representation: &rep,
                schedule: Schedule::StoreAll,
                wanted: Wanted { u0: false, velocity: false, source: true },
            };
            let r = t.loss_gradient(&req).unwrap();
            let gi = &g[i * N..(i + 1) * N];
            let scale = gi.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (x, y) in r.source.iter().zip(gi) {
                assert!((x - y).abs() <= 1e-13 * scale, "{scheme}: stepper {x} vs loop op {y}");
            }
        }
    }
}

/// On square pulses the pieces are locked by the tape's modes through the loop: `safe` does not depend
/// on the tie rule (assoc does), and `lex` along one direction gives the one-sided directional
/// derivative of `J` in `s`, checked against a forward difference. Dyadic data with `|a| = 1` and
/// Courant number 1/2 keep the arithmetic exact, so no switching function is a rounding-level non-zero.
#[test]
fn loop_op_locks_scheme_kinks_in_safe_and_lex_modes() {
    let (u0, s, target) = batch(2, false, 2);
    let reps = [
        Representation::default(),
        "minnorm[limiter=mean]".parse::<Representation>().unwrap(),
        "minnorm[limiter=first]".parse::<Representation>().unwrap(),
    ];
    for (scheme, a) in [("lw-minmod", 1.0), ("lw-minmod", -1.0), ("lw-mc", 1.0), ("lw-superbee", -1.0)] {
        let t = transport(scheme, 0.5);
        let steps = 8;
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut safe = Vec::new();
        let mut assoc = Vec::new();
        for rep in &reps {
            let (_, g, kind, unresolved, _) = loop_grad(&t, a, steps, &u0, &s, &target, &Mode::safe(), rep.clone());
            assert_eq!(kind, CertificateKind::Generalized, "{scheme}");
            assert_eq!(unresolved, 0, "{scheme}: the probes resolve every tie after step 0");
            safe.push(g);
            assoc.push(loop_grad(&t, a, steps, &u0, &s, &target, &Mode::Assoc, rep.clone()).1);
        }
        assert_eq!(bits(&safe[1]), bits(&safe[0]), "{scheme} a={a}: safe depends on the rule");
        assert_eq!(bits(&safe[2]), bits(&safe[0]), "{scheme} a={a}: safe depends on the rule");
        assert!(assoc.iter().any(|g| bits(g) != bits(&assoc[0])), "{scheme}: assoc should depend on the rule here");
        // lex along one direction d: the one-sided directional derivative
        let mut rng = Rng::new(7);
        let d: Vec<f64> = (0..s.len()).map(|_| rng.normal()).collect();
        let m = Directions { rows: s.len(), cols: 1, data: d.clone() };
        let (_, _, _, _, ld) =
            loop_grad(&t, a, steps, &u0, &s, &target, &Mode::Lex(Some(m)), Representation::default());
        let ld = ld.expect("lex reports the LD-derivative")[0];
        let h = 1e-7;
        let sh: Vec<f64> = s.iter().zip(&d).map(|(s, d)| s + h * d).collect();
        let fd = (loss(&t, a, steps, &u0, &sh, &target) - loss(&t, a, steps, &u0, &s, &target)) / h;
        assert!((ld - fd).abs() <= 1e-5 * fd.abs().max(1.0), "{scheme} a={a}: lex {ld} vs forward difference {fd}");
    }
}

/// Gradients of gradients through the loop: the Hessian-vector product of `J` in `s` (recorded
/// backward pass) against central differences of the gradient (off the kinks `u(T)` is affine in `s`,
/// so this is `2 dx A^T A v`).
#[test]
fn loop_op_hessian_vector_product() {
    let (u0, s, target) = batch(2, true, 3);
    let t = transport("lw-minmod", 0.6);
    let (a, steps) = (0.9, 20);
    let mut rng = Rng::new(4);
    let v: Vec<f64> = (0..s.len()).map(|_| rng.normal()).collect();
    let tape = Tape::<f64>::new();
    let sv = tape.var(Tensor::vector(s.clone()));
    let u = t.time_loop_var(sv, &u0, a, steps).unwrap();
    let j = u.sub(tape.constant(Tensor::vector(target.clone()))).unwrap().square().sum().scale(t.grid.dx());
    let g = tape.grad_vars(j, &[sv], &Mode::Assoc).unwrap().vars[0];
    let gv = g.mul(tape.constant(Tensor::vector(v.clone()))).unwrap().sum();
    let hv = tape.gradient(gv, &[sv], &Mode::Assoc).unwrap().values[0].to_f64_vec();
    let grad = |x: &[f64]| loop_grad(&t, a, steps, &u0, x, &target, &Mode::Assoc, Representation::default()).1;
    let h = 1e-4;
    let p: Vec<f64> = s.iter().zip(&v).map(|(s, v)| s + h * v).collect();
    let q: Vec<f64> = s.iter().zip(&v).map(|(s, v)| s - h * v).collect();
    let (gp, gq) = (grad(&p), grad(&q));
    let scale = hv.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    for i in 0..s.len() {
        let fd = (gp[i] - gq[i]) / (2.0 * h);
        assert!((hv[i] - fd).abs() <= 1e-6 * scale, "component {i}: {} vs {fd}", hv[i]);
    }
}

/// Bad input is a typed error, not a panic.
#[test]
fn loop_op_rejects_bad_input() {
    let t = transport("lw-minmod", 0.5);
    let tape = Tape::<f64>::new();
    let s = tape.var(Tensor::vector(vec![0.0; N]));
    assert!(t.time_loop_var(s, &[0.0; N + 1], 1.0, 3).is_err(), "shape");
    assert!(t.time_loop_var(s, &[0.0; N], 0.0, 3).is_err(), "zero velocity");
    assert!(t.time_loop_var(s, &[0.0; N], 5.0, 3).is_err(), "CFL");
    let vl = transport("lw-vanleer", 0.5);
    assert!(vl.time_loop_var(s, &[0.0; N], 1.0, 3).is_err(), "van Leer");
}
