//! The piece-locked replay and the square-wave discrepancy of `lex` (docs/transport.md,
//! "Rounding-separated ties"): lex's one-sided derivative is the derivative of the piece sequence it
//! selects on the f64 trajectory, which the replay reproduces; where rounding separated exact ties,
//! that sequence differs from the exact-arithmetic function's, and so does the derivative.
//!
//! Setup of `examples/python/square_wave_directional.py`: lw-minmod, 64 cells, a = 1, Courant 1/2,
//! square wave on [0.25, 0.75), target the initial state shifted by 6 cells, one direction `d` from
//! a 64-bit LCG (dyadic entries, so both the Rust and the Python side hold it exactly).

use kinkgrad::check::transport::check_transport;
use kinkgrad::check::CheckKind;
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::pde::gradient::{GradientRequest, TransportGradient, Wanted};
use kinkgrad::pde::grid::Grid;
use kinkgrad::pde::scheme::Transport;
use kinkgrad::{Directions, Mode, Representation};

const N: usize = 64;

fn setup() -> (Transport, Vec<f64>, Vec<f64>) {
    let g = Grid::unit(N).unwrap();
    let t = Transport::new(g, "lw-minmod".parse().unwrap(), 0.5 / N as f64).unwrap();
    let u0: Vec<f64> = g.centers().iter().map(|&x| if (0.25..0.75).contains(&x) { 1.0 } else { 0.0 }).collect();
    let target: Vec<f64> = (0..N).map(|i| u0[(i + N - 6) % N]).collect();
    (t, u0, target)
}

/// `d_j = ((s_j >> 40) mod 2001 - 1000) / 1024` with `s_j = 6364136223846793005 s_{j-1} +
/// 1442695040888963407 mod 2^64`, `s_0 = 1` (`direction` in the example script).
fn direction() -> Vec<f64> {
    let mut s: u64 = 1;
    (0..N)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) % 2001) as f64 / 1024.0 - 1000.0 / 1024.0
        })
        .collect()
}

fn lex_run(t: &Transport, u0: &[f64], target: &[f64], steps: usize, d: &[f64]) -> TransportGradient {
    let mode = Mode::Lex(Some(Directions { rows: N, cols: 1, data: d.to_vec() }));
    let rep = Representation::default();
    let req = GradientRequest {
        u0,
        target,
        velocity: &[1.0],
        source: None,
        steps,
        mode: &mode,
        representation: &rep,
        schedule: Schedule::StoreAll,
        wanted: Wanted::U0,
    };
    t.loss_gradient(&req).unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs())
}

/// At 128 steps lex's LD-derivative equals the derivative of the replayed piece sequence (its loss
/// is quadratic along the ray, so the central quotient at h = 0.01 is exact up to rounding) and the
/// replay reproduces the run's loss bit for bit. Independent figures, from
/// `python examples/python/square_wave_directional.py` (section "direction from the LCG"), whose pure
/// Python lex replica runs the same face formula once in f64 and once in exact rationals
/// (`fractions.Fraction`): f64 J'(u0; d) = -0.017544618166887356 with 1234 kinks (kinkgrad's), exact
/// J'(u0; d) = -0.01817921613888164 with 1374 kinks: 140 ties of the exact trajectory that f64
/// rounding separated by an ulp, where the two select different pieces (46 faces differ). So lex is
/// right for the f64 trajectory; the exact function differs by 3.6%.
#[test]
fn lex_is_the_derivative_of_its_replayed_pieces_and_differs_from_exact_arithmetic_by_rounding() {
    let (t, u0, target) = setup();
    let d = direction();
    let r = lex_run(&t, &u0, &target, 128, &d);
    let ld = r.ld_derivative.as_ref().unwrap()[0];
    assert_eq!(r.certificate.kinks.total(), 1234);
    let m = Directions { rows: N, cols: 1, data: d.clone() };
    let seq = t.locked_pieces(&u0, &[1.0], None, 128, &m).unwrap();
    assert_eq!((seq.steps(), seq.kinks, seq.unresolved), (128, 1234, 0));
    let dx = 1.0 / N as f64;
    let p = |u: &[f64]| -> f64 {
        let u = t.replay(&seq, u, &[1.0], None).unwrap();
        u.iter().zip(&target).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() * dx
    };
    assert_eq!(p(&u0).to_bits(), r.loss.to_bits(), "the replay reproduces the run");
    let h = 1e-2;
    let along = |s: f64| -> Vec<f64> { u0.iter().zip(&d).map(|(a, b)| a + s * b).collect() };
    let q = (p(&along(h)) - p(&along(-h))) / (2.0 * h);
    assert!(rel(q, ld) < 1e-10, "replay quotient {q} vs lex {ld}");
    // the Python f64 replica of lex (independent code, same arithmetic)
    assert!(rel(ld, -0.017544618166887356) < 1e-12, "{ld}");
    // exact arithmetic (the same replica on fractions) differs: rounding-separated ties
    let exact = -0.01817921613888164;
    assert!(rel(ld, exact) > 0.03, "{ld} vs exact {exact}");
}

/// For 16 steps every state of the f64 trajectory is exact (the dyadic denominators stay below 2^53
/// until step 19), so f64 and exact arithmetic tie at the same faces and lex equals the exact
/// one-sided derivative: 1426125820085134036621020655315 / 649037107316853453566312041152512 (the
/// example script's exact rational replica, "direction from the LCG", 16 steps; 800 kinks).
#[test]
fn on_an_exactly_computed_trajectory_lex_equals_exact_arithmetic() {
    let (t, u0, target) = setup();
    let r = lex_run(&t, &u0, &target, 16, &direction());
    assert_eq!(r.certificate.kinks.total(), 800);
    let ld = r.ld_derivative.as_ref().unwrap()[0];
    let exact = 1426125820085134036621020655315.0 / 649037107316853453566312041152512.0;
    assert!(rel(ld, exact) < 1e-14, "{ld} vs {exact}");
}

/// `check_transport` at the square wave: `piece-locked` for safe and lex (the replay reproduces
/// J(u0) and its quotients the gradient to rounding), where the one-sided quotients of J itself
/// were off by up to 24% (session 18).
#[test]
fn the_check_at_kinks_is_piece_locked_and_passes() {
    let (t, u0, target) = setup();
    let rep = Representation::default();
    for mode in [Mode::safe(), Mode::Lex(None), Mode::Lex(Some(Directions { rows: N, cols: 1, data: direction() }))] {
        let req = GradientRequest {
            u0: &u0,
            target: &target,
            velocity: &[1.0],
            source: None,
            steps: 128,
            mode: &mode,
            representation: &rep,
            schedule: Schedule::StoreAll,
            wanted: Wanted::U0,
        };
        let r = t.loss_gradient(&req).unwrap();
        let c = check_transport(&t, &req, &r, 3).unwrap();
        assert_eq!(c.kind, CheckKind::PieceLocked, "{c:?}");
        assert_eq!(c.kinks, 1234);
        assert!(c.passes(1e-10), "{} {c:?}", mode.name());
    }
}
