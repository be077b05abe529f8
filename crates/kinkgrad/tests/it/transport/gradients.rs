//! Gradients of `J = sum (u(T) - target)^2 dx`: against finite differences, the tape, the
//! checkpoint schedules and the piece tape (bitwise), safe and lex at kinks.

use super::*;

struct Problem {
    t: Transport,
    u0: Vec<f64>,
    a: Vec<f64>,
    s: Vec<f64>,
    target: Vec<f64>,
    steps: usize,
}

fn problem(scheme: &str, n: usize, steps: usize, per_face: bool, seed: u64) -> Problem {
    let g = Grid::unit(n).unwrap();
    let mut rng = Rng::new(seed);
    let c = g.centers();
    let u0: Vec<f64> = c.iter().map(|&x| 0.6 * (2.0 * PI * x).sin() + 0.3 + 0.05 * rng.normal()).collect();
    let target: Vec<f64> = c.iter().map(|&x| 0.5 * (2.0 * PI * (x - 0.1)).sin()).collect();
    let s: Vec<f64> = c.iter().map(|&x| 0.3 * (4.0 * PI * x).cos()).collect();
    let scheme: Scheme = scheme.parse().unwrap();
    let a = if !scheme.is_linear() {
        vec![]
    } else if per_face {
        // changes sign: 0.8 sin(2 pi x) + 0.1 at the faces, never exactly 0 there
        g.faces().iter().map(|&x| 0.8 * (2.0 * PI * x + 0.05).sin() + 0.1).collect()
    } else {
        vec![0.9]
    };
    let speed = if scheme.is_linear() { 1.0 } else { 1.2 };
    let t = Transport::from_courant(g, scheme, speed, 0.6, false).unwrap();
    Problem { t, u0, a, s, target, steps }
}

impl Problem {
    fn loss(&self, u0: &[f64], a: &[f64], s: &[f64]) -> f64 {
        let u = self.t.simulate(u0, a, Some(s), self.steps).unwrap();
        u.iter().zip(&self.target).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() * self.t.grid.dx()
    }
    /// Tape gradient (dJ/du0, dJ/da, dJ/ds) in `mode`, and the certificate kind.
    fn tape_grad(&self, mode: &Mode, rep: Representation) -> (Vec<f64>, Vec<f64>, Vec<f64>, CertificateKind, usize) {
        let tape = Tape::<f64>::with_representation(rep);
        let u0 = tape.var(Tensor::vector(self.u0.clone()));
        let a = if self.a.len() == 1 {
            tape.var(Tensor::scalar(self.a[0]))
        } else {
            tape.var(Tensor::vector(self.a.clone()))
        };
        let s = tape.var(Tensor::vector(self.s.clone()));
        let av = if self.a.is_empty() { None } else { Some(a) };
        let mut u = u0;
        for _ in 0..self.steps {
            u = self.t.step_var(u, av, Some(s)).unwrap();
        }
        let target = tape.constant(Tensor::vector(self.target.clone()));
        let j = u.sub(target).unwrap().square().sum().scale(self.t.grid.dx());
        let wrt: Vec<Var<f64>> = if av.is_some() { vec![u0, a, s] } else { vec![u0, s] };
        let g = tape.gradient(j, &wrt, mode).unwrap();
        let v: Vec<Vec<f64>> = g.values.iter().map(|t| t.to_f64_vec()).collect();
        let kinks = g.certificate.kinks.total();
        if av.is_some() {
            (v[0].clone(), v[1].clone(), v[2].clone(), g.certificate.kind, kinks)
        } else {
            (v[0].clone(), vec![], v[1].clone(), g.certificate.kind, kinks)
        }
    }
}

/// Gradients of J = sum (u(T) - target)^2 dx through the fused step op against central finite
/// differences along random directions, for every scheme, constant and sign-changing velocity.
#[test]
fn gradients_match_finite_differences() {
    let cases = [
        ("upwind", false),
        ("upwind", true),
        ("lw", false),
        ("lw", true),
        ("lw-minmod", false),
        ("lw-minmod", true),
        ("lw-superbee", false),
        ("lw-mc", true),
        ("lw-vanleer", false),
        ("lw-vanleer", true),
        ("burgers-godunov", false),
    ];
    for (k, (name, per_face)) in cases.into_iter().enumerate() {
        let p = problem(name, 40, 25, per_face, k as u64);
        let (gu, ga, gs, kind, kinks) = p.tape_grad(&Mode::Assoc, Representation::default());
        assert_eq!(kinks, 0, "{name}: random data should not sit on a kink");
        assert_eq!(kind, CertificateKind::Exact);
        let h = 1e-6;
        let r = finite_differences(&mut |x| Ok(p.loss(x, &p.a, &p.s)), &p.u0, &gu, 4, h, 7).unwrap();
        assert!(r.max_rel_error < 1e-6, "{name} u0: {}", r.max_rel_error);
        let r = finite_differences(&mut |x| Ok(p.loss(&p.u0, &p.a, x)), &p.s, &gs, 4, h, 8).unwrap();
        assert!(r.max_rel_error < 1e-6, "{name} s: {}", r.max_rel_error);
        if !p.a.is_empty() {
            let r = finite_differences(&mut |x| Ok(p.loss(&p.u0, x, &p.s)), &p.a, &ga, 4, h, 9).unwrap();
            assert!(r.max_rel_error < 1e-6, "{name} a: {}", r.max_rel_error);
        }
    }
}

/// The stepper's hand-written adjoint gives exactly the tape VJP's numbers, and checkpointed gradients
/// (sqrt, revolve) are bitwise equal to store-all.
#[test]
fn stepper_adjoint_equals_tape_vjp_and_checkpoints_are_bitwise() {
    let cases = [
        ("lw-minmod", false, 1.0),
        ("lw-minmod", false, -1.0),
        ("lw-mc", false, -1.0),
        ("lw", false, 1.0),
        ("lw-vanleer", false, 1.0),
        ("lw-superbee", true, 1.0),
        ("burgers-godunov", false, 1.0),
        ("upwind", true, 1.0),
        ("upwind", false, -1.0),
    ];
    for (name, per_face, sign) in cases {
        let mut p = problem(name, 60, 120, per_face, 3);
        p.a.iter_mut().for_each(|a| *a *= sign);
        let (gu, ga, gs, _, _) = p.tape_grad(&Mode::Assoc, Representation::default());
        let rep = Representation::default();
        let wanted = Wanted { velocity: !p.a.is_empty(), ..ALL };
        let run = |sched: Schedule| {
            entry(&p.t, &p.u0, &p.target, &p.a, Some(&p.s), p.steps, &Mode::Assoc, &rep, sched, wanted)
        };
        let all = run(Schedule::StoreAll);
        assert_eq!(all.path.name(), "checkpointed");
        let (j, g_all, stats_all) = (all.loss, all.u0.clone(), all.stats);
        assert!((j - p.loss(&p.u0, &p.a, &p.s)).abs() <= 1e-14 * j.abs());
        let close = |x: &[f64], y: &[f64]| {
            let scale = y.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
            x.iter().zip(y).all(|(a, b)| (a - b).abs() <= 1e-13 * scale)
        };
        // the same products in the same order on both paths: equal numbers (== treats -0 as 0; the
        // stepper's kernel leaves out the structurally zero terms, which can only flip a zero's sign)
        assert_eq!(g_all, gu, "{name} {sign}: stepper vs tape dJ/du0");
        assert_eq!(all.velocity, ga, "{name} {sign}: stepper vs tape dJ/da");
        assert_eq!(all.source, gs, "{name} {sign}: stepper vs tape dJ/ds");
        assert!(close(&g_all, &gu), "{name} {sign}: stepper vs tape dJ/du0");
        assert!(close(&all.velocity, &ga), "{name}: stepper vs tape dJ/da");
        assert!(close(&all.source, &gs), "{name}: stepper vs tape dJ/ds");
        for sched in [Schedule::Sqrt, Schedule::Revolve { snapshots: 4 }, Schedule::Revolve { snapshots: 10 }] {
            let r = run(sched);
            let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&r.u0), bits(&g_all), "{name} {sched}");
            assert_eq!(bits(&r.velocity), bits(&all.velocity), "{name} {sched}");
            assert_eq!(bits(&r.source), bits(&all.source), "{name} {sched}");
            if let Schedule::Revolve { snapshots } = sched {
                assert_eq!(r.stats.recomputed_steps, revolve_recomputations(p.steps, snapshots));
            }
            assert!(r.stats.peak_bytes < stats_all.peak_bytes);
            assert_eq!(r.schedule, sched);
        }
    }
}

/// The piece tape (store-all without the velocity gradient: one byte per face and step naming the
/// limiter's selected pieces instead of the state) gives the state-based store-all gradient bit for
/// bit, kinks included: square pulses make both slopes exactly 0 on the plateaus, so ties are
/// resolved by the tie rule at many faces of every step; checked for three rules and both signs.
#[test]
fn piece_tape_equals_state_store_all_bitwise() {
    let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let reps = [
        Representation::default(),
        "minnorm[limiter=mean]".parse::<Representation>().unwrap(),
        "minnorm[limiter=first]".parse::<Representation>().unwrap(),
    ];
    for name in ["lw-minmod", "lw-superbee", "lw-mc", "lw", "upwind"] {
        for sign in [1.0, -1.0] {
            for (ri, rep) in reps.iter().enumerate() {
                let p = problem(name, 80, 150, false, 11);
                let u0: Vec<f64> = p.t.grid.centers().iter().map(|&x| square(x) + 0.5 * square(x + 0.37)).collect();
                let a = vec![0.9 * sign];
                // a zero source keeps the plateaus flat (and still exercises the source gradient)
                let src = vec![0.0; u0.len()];
                let run = |w: Wanted| {
                    entry(&p.t, &u0, &p.target, &a, Some(&src), p.steps, &Mode::Assoc, rep, Schedule::StoreAll, w)
                };
                let states = run(ALL);
                let (j, g, stats, gs, kinks) = (
                    states.loss,
                    states.u0.clone(),
                    states.stats,
                    states.source.clone(),
                    states.certificate.kinks.total(),
                );
                let taped = run(U0_S);
                assert_eq!((states.path.name(), taped.path.name()), ("checkpointed", "piece-tape"));
                let (jt, gt, stats_t) = (taped.loss, taped.u0.clone(), taped.stats);
                let what = format!("{name} a={} rule {ri}", a[0]);
                assert_eq!(j.to_bits(), jt.to_bits(), "{what}: loss");
                assert_eq!(bits(&gt), bits(&g), "{what}: dJ/du0");
                assert_eq!(bits(&taped.source), bits(&gs), "{what}: dJ/ds");
                assert_eq!(taped.certificate.kinks.total(), kinks, "{what}: kinks");
                if name.starts_with("lw-") {
                    assert!(kinks > 500, "{what}: the plateaus should put many faces on kinks ({kinks})");
                    // one byte per face and step against eight per cell and step
                    assert_eq!(stats_t.peak_bytes * 8, stats.peak_bytes, "{what}");
                } else {
                    assert_eq!(stats_t.peak_bytes, 0, "{what}: a linear scheme needs no tape");
                }
            }
        }
    }
}

/// Safe mode through the entry point (the locked piece tape for store-all, the locked checkpointed
/// stepper for sqrt and revolve: lexicographic locking along probe directions):
/// - off the kinks it is assoc, bit for bit;
/// - on a square pulse (both slopes exactly 0 on the plateaus at many faces of every step) it does
///   not depend on the tie rule nor on the schedule (bit for bit), and its dot product with the first
///   probe direction is the one-sided directional derivative, checked against a forward difference
///   (J(u0 + h d) - J(u0)) / h.
#[test]
fn stepper_safe_mode_locks_pieces_along_the_probe() {
    let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    // off the kinks
    let p = problem("lw-minmod", 60, 80, false, 5);
    let rep = Representation::default();
    let safe = Mode::Safe { seed: 3, max_directions: 2 };
    let assoc =
        entry(&p.t, &p.u0, &p.target, &p.a, Some(&p.s), p.steps, &Mode::Assoc, &rep, Schedule::StoreAll, Wanted::U0);
    assert_eq!(assoc.certificate.kinks.total(), 0);
    let locked = entry(&p.t, &p.u0, &p.target, &p.a, Some(&p.s), p.steps, &safe, &rep, Schedule::StoreAll, Wanted::U0);
    assert_eq!(locked.path.name(), "locked-piece-tape");
    assert_eq!(bits(&locked.u0), bits(&assoc.u0), "safe is assoc off the kinks");
    assert_eq!(locked.certificate.kind, CertificateKind::Exact);
    // on the kinks
    let reps = [
        Representation::default(),
        "minnorm[limiter=mean]".parse::<Representation>().unwrap(),
        "minnorm[limiter=first]".parse::<Representation>().unwrap(),
    ];
    for name in ["lw-minmod", "lw-superbee", "lw-mc"] {
        for sign in [1.0, -1.0] {
            // |a| = 1 at Courant number 1/2 on dyadic data: every state value is a dyadic rational
            // computed exactly for these few steps, so no switching function is a rounding-level
            // non-zero. (Otherwise the computed function has kinks at the scale of rounding, e.g.
            // 3y - x = 1e-17 where it is 0 in exact arithmetic: lex follows the computed function's
            // pieces there, while a forward difference with h = 1e-7 steps across them.)
            let mut p = problem(name, 40, 8, false, 6);
            p.t = Transport::from_courant(p.t.grid, p.t.scheme, 1.0, 0.5, false).unwrap();
            let n = p.u0.len();
            let u0: Vec<f64> = p.t.grid.centers().iter().map(|&x| square(x) + 0.5 * square(x + 0.37)).collect();
            let a = vec![sign];
            let seed = 9;
            let mut results = Vec::new();
            let safe = Mode::Safe { seed, max_directions: 2 };
            for rep in &reps {
                for sched in [Schedule::StoreAll, Schedule::Sqrt, Schedule::Revolve { snapshots: 3 }] {
                    let r = entry(&p.t, &u0, &p.target, &a, None, p.steps, &safe, rep, sched, Wanted::U0);
                    let c = &r.certificate;
                    assert!(c.kinks.total() > 50, "{name}: the plateaus should give many kinks ({})", c.kinks.total());
                    assert_eq!(c.unresolved, 0, "{name}: a random direction resolves every tie");
                    assert_eq!(c.kind, CertificateKind::Generalized);
                    results.push((r.loss, r.u0));
                }
            }
            // every rule and every schedule (the piece tape, the locked checkpointed stepper): the same bits
            for r in &results[1..] {
                assert_eq!(bits(&r.1), bits(&results[0].1), "{name} a={}: safe depends on the rule or schedule", a[0]);
            }
            // the first probe direction, drawn as documented (uniform on [-1, 1), as the tape's safe mode)
            let mut rng = Rng::new(seed);
            let d: Vec<f64> = (0..n).map(|_| rng.range(-1.0, 1.0)).collect();
            let loss = |u: &[f64]| {
                let uf = p.t.simulate(u, &a, None, p.steps).unwrap();
                uf.iter().zip(&p.target).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() * p.t.grid.dx()
            };
            let h = 1e-7;
            let shifted: Vec<f64> = u0.iter().zip(&d).map(|(u, d)| u + h * d).collect();
            let fd = (loss(&shifted) - loss(&u0)) / h;
            let dd: f64 = results[0].1.iter().zip(&d).map(|(g, d)| g * d).sum();
            assert!((dd - fd).abs() <= 1e-5 * fd.abs().max(1.0), "{name} a={}: {dd} vs forward difference {fd}", a[0]);
        }
    }
}

/// Revolve with 10 snapshots over 1000 steps holds at most 1/20 of store-all's states, and re-runs
/// exactly t - (l - 1) steps with t = r l - C(s + r, s + 1): for l = 1000, s = 10,
/// C(13, 10) = 286 < 1000 <= C(14, 10) = 1001 so r = 4, t = 4000 - C(14, 11) = 4000 - 364 = 3636,
/// recomputed = 3636 - 999 = 2637 (by hand).
#[test]
fn revolve_memory_and_recomputations_on_1000_steps() {
    let g = Grid::unit(50).unwrap();
    let t = Transport::from_courant(g, Scheme::Limited(Limiter::Minmod), 1.0, 0.5, false).unwrap();
    let u0: Vec<f64> = g.centers().iter().map(|&x| square(x)).collect();
    let target = vec![0.5; 50];
    let rep = Representation::default();
    // the velocity gradient is asked for, so store-all keeps the states (no piece tape)
    let w = Wanted { u0: true, velocity: true, source: false };
    let run = |sched: Schedule| entry(&t, &u0, &target, &[1.0], None, 1000, &Mode::Assoc, &rep, sched, w);
    let (ra, rr) = (run(Schedule::StoreAll), run("revolve:10".parse().unwrap()));
    let (g_all, all, g_rev, rev) = (ra.u0, ra.stats, rr.u0, rr.stats);
    assert_eq!(rev.recomputed_steps, 2637);
    assert_eq!(revolve_recomputations(1000, 10), 2637);
    assert!(rev.peak_bytes * 20 <= all.peak_bytes, "{} vs {}", rev.peak_bytes, all.peak_bytes);
    assert_eq!(g_all, g_rev);
}

/// At a constant state with zero velocity every flux sits on its `a = 0` kink, yet the update
/// `u_j - lambda c (a_j - a_{j-1})` (both upwind pieces agree: dF_j/da_j = c) is differentiable:
/// d u_j^{1} / d a_j = -lambda c, d u_{j+1}^{1} / d a_j = +lambda c. `safe` returns that derivative
/// (certificate `generalized`), and so does every admissible rule; the talk's composite
/// R(a) u_l - R(-a) u_r with relu'(0) = z gives z (u_l + u_r) = 2 z c instead: wrong for every z != 1/2.
#[test]
fn safe_gives_the_true_derivative_of_upwind_at_zero_velocity() {
    let n = 8;
    let c = 0.7;
    let g = Grid::unit(n).unwrap();
    let t = Transport::new(g, Scheme::Upwind, 0.05).unwrap();
    let lambda = t.lambda();
    let w: Vec<f64> = (0..n).map(|j| (j * j) as f64 * 0.1 - 0.3).collect();
    // expected dJ/da_j for J = sum_j w_j u_j^1: -lambda c (w_j - w_{j+1})
    let expected: Vec<f64> = (0..n).map(|j| -lambda * c * (w[j] - w[(j + 1) % n])).collect();
    for (mode, rep) in [
        (Mode::safe(), Representation::default()),
        (Mode::Assoc, Representation::default()),
        (Mode::Assoc, Representation::default().with_all_ties(TieRule::First)),
        (Mode::Lex(None), Representation::default()),
    ] {
        let tape = Tape::<f64>::with_representation(rep);
        let u = tape.var(Tensor::vector(vec![c; n]));
        let a = tape.var(Tensor::vector(vec![0.0; n]));
        let u1 = t.step_var(u, Some(a), None).unwrap();
        let j = u1.mul(tape.constant(Tensor::vector(w.clone()))).unwrap().sum();
        let gr = tape.gradient(j, &[a], &mode).unwrap();
        let got = gr.values[0].to_f64_vec();
        for k in 0..n {
            assert!((got[k] - expected[k]).abs() < 1e-14, "{mode:?}: {got:?} vs {expected:?}");
        }
        assert_eq!(gr.certificate.kinks.count_op("transport-upwind"), n);
    }
    // the composite with relu'(0) = 1: dF/da = (u_l + u_r) = 2c on every face
    let tape = Tape::<f64>::with_representation(Representation::default().with_relu_at_zero(1.0));
    let a = tape.var(Tensor::vector(vec![0.0; n]));
    let ul = tape.constant(Tensor::vector(vec![c; n]));
    let f = a.relu().mul(ul).unwrap().sub(a.neg().relu().mul(ul).unwrap()).unwrap().sum();
    let gr = tape.gradient(f, &[a], &Mode::Assoc).unwrap();
    assert!(gr.values[0].to_f64_vec().iter().all(|&v| (v - 2.0 * c).abs() < 1e-15));
}

/// The inadmissible composite (documented counter-example): the talk's formula
/// `minmod(x, y) = R(-max(-x, -y)) - R(-max(x, y))` differentiated with relu'(0) = 1 and the first
/// tied argument of each max gets the full weight gives d minmod(0, 0) = (2, 0): with first-tie
/// max, d max(-x,-y) = (-1, 0), d max(x, y) = (1, 0), so d = 1*(1, 0) - 1*(-1, 0) = (2, 0). With the
/// even split at max ties it gives (1/2,1/2) + (1/2,1/2) = (1, 1). Both lie outside Clarke's
/// generalized gradient conv{(1, 0), (0, 1), (0, 0)} (coordinates sum to 2 > 1). The fused limiter
/// offers only convex weights over its tied pieces, so every rule stays inside.
#[test]
fn inadmissible_composite_minmod_counter_example() {
    let composite = |rep: Representation| {
        let tape = Tape::<f64>::with_representation(rep);
        let x = tape.var(Tensor::scalar(0.0));
        let y = tape.var(Tensor::scalar(0.0));
        let m1 = x.neg().maximum(y.neg()).unwrap().neg().relu();
        let m2 = x.maximum(y).unwrap().neg().relu();
        let f = m1.sub(m2).unwrap();
        assert_eq!(f.item().unwrap(), 0.0);
        let g = tape.gradient(f, &[x, y], &Mode::Assoc).unwrap();
        (g.values[0].item().unwrap(), g.values[1].item().unwrap())
    };
    let first = Representation::default().with_all_ties(TieRule::First).with_relu_at_zero(1.0);
    assert_eq!(composite(first), (2.0, 0.0));
    assert_eq!(composite(Representation::default().with_relu_at_zero(1.0)), (1.0, 1.0));
    let in_clarke = |g: (f64, f64)| g.0 >= 0.0 && g.1 >= 0.0 && g.0 + g.1 <= 1.0 + 1e-15;
    assert!(!in_clarke((2.0, 0.0)) && !in_clarke((1.0, 1.0)));
    // every tie rule the fused limiter offers stays in Clarke's set at (0, 0)
    for rule in [TieRule::First, TieRule::Last, TieRule::Mean, TieRule::MinNorm, TieRule::Weighted(vec![3.0, 1.0, 2.0])]
    {
        for l in [Limiter::Minmod, Limiter::Superbee, Limiter::Mc, Limiter::VanLeer] {
            let e = l.eval(0.0, 0.0, &rule);
            assert!(e.kink);
            // Clarke's set of each limiter at the origin is the hull of its pieces' gradients
            let hull_sum = match l {
                Limiter::Minmod => 1.0,
                Limiter::VanLeer => 2.0,
                _ => 2.0,
            };
            assert!(
                e.gx >= 0.0 && e.gy >= 0.0 && e.gx + e.gy <= hull_sum + 1e-15,
                "{l:?} {rule:?}: ({}, {})",
                e.gx,
                e.gy
            );
        }
        let e = Limiter::Minmod.eval(0.0, 0.0, &rule);
        assert!(in_clarke((e.gx, e.gy)));
    }
}

/// Kinks on a set of positive measure: a square pulse makes both slopes exactly 0 in every flat
/// cell, so minmod Lax-Wendroff hits many kinks at every step; they are counted, `assoc` says
/// representation-dependent, `safe` says generalized, and every offered representation gives a
/// bounded gradient close to finite differences in norm.
#[test]
fn flat_plateaus_are_kinks_on_positive_measure() {
    let n = 60;
    let g = Grid::unit(n).unwrap();
    let t = Transport::from_courant(g, Scheme::Limited(Limiter::Minmod), 1.0, 0.5, false).unwrap();
    let u0: Vec<f64> = g.centers().iter().map(|&x| square(x)).collect();
    let target: Vec<f64> = g.centers().iter().map(|&x| square((x + 0.9) % 1.0)).collect();
    let steps = 30;
    let run = |mode: &Mode, rep: Representation| {
        let tape = Tape::<f64>::with_representation(rep);
        let u = tape.var(Tensor::vector(u0.clone()));
        let mut v = u;
        for _ in 0..steps {
            v = t.step_var(v, Some(tape.scalar(1.0)), None).unwrap();
        }
        let j = v.sub(tape.constant(Tensor::vector(target.clone()))).unwrap().square().sum();
        let gr = tape.gradient(j, &[u], mode).unwrap();
        (gr.values[0].to_f64_vec(), gr.certificate)
    };
    let (ga, ca) = run(&Mode::Assoc, Representation::default());
    assert!(ca.kinks.count_op("transport-lw-minmod") > steps * n / 4, "{}", ca.kinks.total());
    assert_eq!(ca.kind, CertificateKind::RepresentationDependent);
    let (gs, cs) = run(&Mode::safe(), Representation::default());
    assert_eq!(cs.kind, CertificateKind::Generalized);
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    // finite differences of the full gradient, one coordinate at a time (h small: piecewise linear)
    let loss = |u: &[f64]| {
        let v = t.simulate(u, &[1.0], None, steps).unwrap();
        v.iter().zip(&target).map(|(a, b)| (a - b) * (a - b)).sum::<f64>()
    };
    let h = 1e-7;
    let fd: Vec<f64> = (0..n)
        .map(|i| {
            let mut p = u0.clone();
            let mut m = u0.clone();
            p[i] += h;
            m[i] -= h;
            (loss(&p) - loss(&m)) / (2.0 * h)
        })
        .collect();
    let (na, ns, nf) = (norm(&ga), norm(&gs), norm(&fd));
    eprintln!("flat plateaus: gradient norms assoc(minnorm) {na:.4}, safe {ns:.4}, fd {nf:.4}");
    for rule in [TieRule::First, TieRule::Last, TieRule::Mean] {
        let (gr, _) = run(&Mode::Assoc, Representation::default().with_all_ties(rule.clone()));
        // admissible weights keep the associated gradient of this nonexpansive-in-l2? scheme bounded
        assert!(norm(&gr) < 10.0 * nf.max(1.0), "{rule:?}: {}", norm(&gr));
    }
    assert!(ns < 10.0 * nf.max(1.0));
}

/// `lex` mode through the fused op equals `assoc` where no kink is hit (small problem, identity
/// directions).
#[test]
fn lex_equals_assoc_off_kinks() {
    let p = problem("lw-superbee", 12, 6, true, 11);
    let (gu, ga, gs, _, _) = p.tape_grad(&Mode::Assoc, Representation::default());
    let (lu, la, ls, _, _) = p.tape_grad(&Mode::Lex(None), Representation::default());
    for (x, y) in gu.iter().chain(&ga).chain(&gs).zip(lu.iter().chain(&la).chain(&ls)) {
        assert!((x - y).abs() < 1e-12, "{x} vs {y}");
    }
}

/// Gradients of gradients: d/du0 of (dJ/du0 . v) through the recorded adjoint ops equals the
/// finite difference of the first-order tape gradient (minmod pieces are linear in u, so the
/// Hessian-vector product is exact piecewise).
#[test]
fn hessian_vector_product_through_recorded_adjoint() {
    let p = problem("lw-minmod", 20, 5, false, 4);
    let grad_at = |u0: &[f64]| {
        let q = Problem {
            u0: u0.to_vec(),
            t: p.t.clone(),
            a: p.a.clone(),
            s: p.s.clone(),
            target: p.target.clone(),
            steps: p.steps,
        };
        q.tape_grad(&Mode::Assoc, Representation::default()).0
    };
    let mut rng = Rng::new(2);
    let v: Vec<f64> = (0..20).map(|_| rng.normal()).collect();
    let tape = Tape::<f64>::new();
    let u0 = tape.var(Tensor::vector(p.u0.clone()));
    let a = tape.scalar(p.a[0]);
    let s = tape.constant(Tensor::vector(p.s.clone()));
    let mut u = u0;
    for _ in 0..p.steps {
        u = p.t.step_var(u, Some(a), Some(s)).unwrap();
    }
    let j = u.sub(tape.constant(Tensor::vector(p.target.clone()))).unwrap().square().sum().scale(p.t.grid.dx());
    let gv = tape.grad_vars(j, &[u0], &Mode::Assoc).unwrap().vars;
    let gdotv = gv[0].mul(tape.constant(Tensor::vector(v.clone()))).unwrap().sum();
    let hv = tape.gradient(gdotv, &[u0], &Mode::Assoc).unwrap().values[0].to_f64_vec();
    let h = 1e-6;
    let up: Vec<f64> = p.u0.iter().zip(&v).map(|(x, d)| x + h * d).collect();
    let um: Vec<f64> = p.u0.iter().zip(&v).map(|(x, d)| x - h * d).collect();
    let (gp, gm) = (grad_at(&up), grad_at(&um));
    for i in 0..20 {
        let fd = (gp[i] - gm[i]) / (2.0 * h);
        assert!((fd - hv[i]).abs() < 1e-6 * (1.0 + fd.abs()), "{i}: {fd} vs {}", hv[i]);
    }
}

/// At kinks the fused op's lexicographic JVP is the directional derivative: with one direction d,
/// `lex` returns f'(u0; d), which must equal the one-sided difference (J(u0 + h d) - J(u0)) / h for
/// small h (the pieces are polynomial in u, so the difference converges linearly in h). Checked on
/// minmod Lax-Wendroff over a square pulse (flat plateaus: kinks at every step), Burgers with a
/// stationary shock (u_l = -u_r: the Godunov flux's L and R pieces tie), and upwind with a = 0 faces.
#[test]
fn lex_is_the_one_sided_directional_derivative_at_kinks() {
    use kinkgrad::Directions;
    let n = 24;
    let g = Grid::unit(n).unwrap();
    let c = g.centers();
    let cases: Vec<(Transport, Vec<f64>, Vec<f64>)> = vec![
        (
            Transport::from_courant(g, Scheme::Limited(Limiter::Minmod), 1.0, 0.5, false).unwrap(),
            c.iter().map(|&x| square(x)).collect(),
            vec![1.0],
        ),
        (
            Transport::from_courant(g, Scheme::Limited(Limiter::Superbee), 1.0, 0.5, false).unwrap(),
            c.iter().map(|&x| square(x)).collect(),
            vec![-1.0],
        ),
        (
            Transport::from_courant(g, Scheme::BurgersGodunov, 1.0, 0.5, false).unwrap(),
            c.iter().map(|&x| if (0.25..0.75).contains(&x) { 1.0 } else { -1.0 }).collect(),
            vec![],
        ),
        (
            Transport::from_courant(g, Scheme::Upwind, 1.0, 0.5, false).unwrap(),
            c.iter().map(|&x| 0.3 + x).collect(),
            g.faces().iter().map(|&x| if x < 0.5 { 0.0 } else { 0.7 }).collect(),
        ),
    ];
    let steps = 6;
    let mut rng = Rng::new(21);
    for (t, u0, a) in cases {
        let w: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let loss = |u: &[f64]| t.simulate(u, &a, None, steps).unwrap().iter().zip(&w).map(|(x, y)| x * y).sum::<f64>();
        for _ in 0..3 {
            let d: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
            let tape = Tape::<f64>::new();
            let u = tape.var(Tensor::vector(u0.clone()));
            let av = if a.is_empty() {
                None
            } else if a.len() == 1 {
                Some(tape.scalar(a[0]))
            } else {
                Some(tape.constant(Tensor::vector(a.clone())))
            };
            let mut v = u;
            for _ in 0..steps {
                v = t.step_var(v, av, None).unwrap();
            }
            let j = v.mul(tape.constant(Tensor::vector(w.clone()))).unwrap().sum();
            let m = Directions { rows: n, cols: 1, data: d.clone() };
            let gr = tape.gradient(j, &[u], &Mode::Lex(Some(m))).unwrap();
            assert!(gr.certificate.kinks.total() > 0, "{:?}: expected kinks", t.scheme);
            let ld = gr.ld_derivative.unwrap()[0];
            let h = 1e-7;
            let up: Vec<f64> = u0.iter().zip(&d).map(|(x, e)| x + h * e).collect();
            let one_sided = (loss(&up) - loss(&u0)) / h;
            assert!(
                (ld - one_sided).abs() < 1e-5 * (1.0 + one_sided.abs()),
                "{:?}: lex {ld} vs one-sided {one_sided}",
                t.scheme
            );
        }
    }
}

/// The fused step runs in f32 too (values rounded each step) and its gradient is finite and close
/// to the f64 one.
#[test]
fn f32_step_runs_and_matches_f64() {
    let p = problem("lw-minmod", 32, 10, false, 5);
    let (g64, _, _, _, _) = p.tape_grad(&Mode::Assoc, Representation::default());
    let tape = Tape::<f32>::new();
    let u0 = tape.var(Tensor::<f32>::from_f64(vec![32], &p.u0).unwrap());
    let a = tape.scalar(p.a[0]);
    let s = tape.constant(Tensor::<f32>::from_f64(vec![32], &p.s).unwrap());
    let mut u = u0;
    for _ in 0..p.steps {
        u = p.t.step_var(u, Some(a), Some(s)).unwrap();
    }
    let j = u
        .sub(tape.constant(Tensor::<f32>::from_f64(vec![32], &p.target).unwrap()))
        .unwrap()
        .square()
        .sum()
        .scale(p.t.grid.dx());
    let g32 = tape.gradient(j, &[u0], &Mode::Assoc).unwrap().values[0].to_f64_vec();
    let scale = g64.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (x, y) in g32.iter().zip(&g64) {
        assert!((x - y).abs() < 1e-4 * scale, "{x} vs {y}");
    }
}
