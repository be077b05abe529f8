//! `safe` and `lex` on every transport path: the time-loop op, the locked piece tape and the locked
//! checkpointed stepper give the tape's LD-derivatives and locked gradients (the same directions lock
//! the same pieces), with any number of directions, for every scheme (Burgers, a velocity per face,
//! van Leer) and every checkpoint schedule, and do not depend on the representation. Data are
//! dyadic, with `|a| = 1` at Courant number 1/2 (or Burgers at the same `dt/dx`), so the few steps
//! are computed exactly and every switching function that is 0 in exact arithmetic is 0 here.

use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::pde::gradient::{GradientRequest, TransportGradient, Wanted};
use kinkgrad::pde::grid::Grid;
use kinkgrad::pde::scheme::Transport;
use kinkgrad::primitive::{flux::FLUX, minmod::LIMITER};
use kinkgrad::repr::KinkRule;
use kinkgrad::{CertificateKind, Directions, Mode, Representation, Rng, Tape, Tensor, TieRule, Var};

const N: usize = 16;

fn square(x: f64) -> f64 {
    if (0.25..0.75).contains(&x) {
        1.0
    } else {
        0.0
    }
}

/// Plateaus (slopes exactly 0: limiter kinks at most faces) on a dyadic grid.
fn plateaus() -> Vec<f64> {
    Grid::unit(N).unwrap().centers().iter().map(|&x| square(x) + 0.5 * square(x + 0.375)).collect()
}

/// Every offered limiter and flux tie rule (both families set to the same rule).
fn reps() -> Vec<Representation> {
    let mut v = Vec::new();
    for rule in [TieRule::MinNorm, TieRule::First, TieRule::Last, TieRule::Mean, TieRule::Weighted(vec![3.0, 1.0, 2.0])]
    {
        let r = Representation::default().with(&LIMITER, KinkRule::Ties(rule.clone())).unwrap();
        v.push(r.with(&FLUX, KinkRule::Ties(rule)).unwrap());
    }
    v
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// `|x - y| <= tol * max(1, max |y|)` componentwise.
fn assert_close(x: &[f64], y: &[f64], tol: f64, what: &str) {
    assert_eq!(x.len(), y.len(), "{what}");
    let scale = y.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (i, (a, b)) in x.iter().zip(y).enumerate() {
        assert!((a - b).abs() <= tol * scale, "{what} [{i}]: {a} vs {b}");
    }
}

/// Twelve directions whose first eight are zero columns (they move nothing, so no tie is resolved
/// by them) and whose last four are random.
fn twelve(rows: usize, seed: u64) -> Directions {
    let mut rng = Rng::new(seed);
    let mut data = vec![0.0; rows * 12];
    for r in 0..rows {
        for c in 8..12 {
            data[r * 12 + c] = rng.normal();
        }
    }
    Directions { rows, cols: 12, data }
}

/// Issue 15's acceptance: `lex` through the time-loop op with 12 directions, the first 8 of which do
/// not move the tied faces, equals the LD-derivative computed on the tape path (one fused op per step)
/// to 1e-12 relative, under every tie rule; the first 8 columns are 0 and the 9th is the one-sided
/// directional derivative along the 9th direction (a forward difference; exact data).
#[test]
fn lex_with_twelve_directions_through_the_loop_op_equals_the_tape() {
    for (scheme, a) in [("lw-minmod", 1.0), ("lw-superbee", -1.0), ("lw-mc", 1.0)] {
        let g = Grid::unit(N).unwrap();
        let t = Transport::from_courant(g, scheme.parse().unwrap(), 1.0, 0.5, false).unwrap();
        let (u0, steps) = (plateaus(), 8);
        let s: Vec<f64> = (0..N).map(|j| if j % 5 == 0 { 0.25 } else { 0.0 }).collect();
        let target: Vec<f64> = g.centers().iter().map(|&x| 0.5 * square(x + 0.125)).collect();
        let m = twelve(N, 3);
        let mut first: Option<Vec<f64>> = None;
        for rep in reps() {
            let run = |on_tape: bool| {
                let tape = Tape::<f64>::with_representation(rep.clone());
                let sv = tape.var(Tensor::vector(s.clone()));
                let u = if on_tape {
                    let av = tape.scalar(a);
                    let mut u = tape.constant(Tensor::vector(u0.clone()));
                    for _ in 0..steps {
                        u = t.step_var(u, Some(av), Some(sv)).unwrap();
                    }
                    u
                } else {
                    t.time_loop_var(sv, &u0, a, steps).unwrap()
                };
                let j = u.sub(tape.constant(Tensor::vector(target.clone()))).unwrap().square().sum();
                let gr = tape.gradient(j, &[sv], &Mode::Lex(Some(m.clone()))).unwrap();
                assert!(gr.certificate.kinks.total() > 0, "{scheme}: expected kinks");
                gr.ld_derivative.unwrap()
            };
            let (ld_loop, ld_tape) = (run(false), run(true));
            assert_close(&ld_loop, &ld_tape, 1e-12, &format!("{scheme} {:?}", rep.name));
            assert!(ld_loop[..8].iter().all(|&v| v == 0.0), "{scheme}: zero directions move nothing");
            match &first {
                None => first = Some(ld_loop),
                Some(f) => assert_eq!(bits(&ld_loop), bits(f), "{scheme}: lex depends on the tie rule"),
            }
        }
        // the 9th column against a forward difference along the 9th direction
        let d: Vec<f64> = (0..N).map(|r| m.data[r * 12 + 8]).collect();
        let loss = |s: &[f64]| {
            let u = t.simulate(&u0, &[a], Some(s), steps).unwrap();
            u.iter().zip(&target).map(|(x, y)| (x - y) * (x - y)).sum::<f64>()
        };
        let h = 1e-7;
        let sh: Vec<f64> = s.iter().zip(&d).map(|(s, d)| s + h * d).collect();
        let fd = (loss(&sh) - loss(&s)) / h;
        let ld9 = first.unwrap()[8];
        assert!(
            (ld9 - fd).abs() <= 1e-5 * fd.abs().max(1.0),
            "{scheme}: 9th LD column {ld9} vs forward difference {fd}"
        );
    }
}

struct Case {
    name: &'static str,
    t: Transport,
    u0: Vec<f64>,
    a: Vec<f64>,
    s: Vec<f64>,
    target: Vec<f64>,
    steps: usize,
}

/// Kinks on every path: minmod plateaus with a constant velocity (the piece tapes), van Leer
/// plateaus, a velocity per face that changes sign and is exactly 0 at some faces (the upwind side's
/// tie), and Burgers with stationary shocks and states at rest (Godunov's ties).
fn cases() -> Vec<Case> {
    let g = Grid::unit(N).unwrap();
    let c = g.centers();
    let lin = |s: &str| Transport::from_courant(g, s.parse().unwrap(), 1.0, 0.5, false).unwrap();
    let target: Vec<f64> = c.iter().map(|&x| 0.5 * square(x + 0.125)).collect();
    let src: Vec<f64> = (0..N).map(|j| if j % 3 == 0 { 0.25 } else { 0.0 }).collect();
    let per_face: Vec<f64> = g
        .faces()
        .iter()
        .map(|&x| {
            if x < 0.375 {
                1.0
            } else if x < 0.625 {
                0.0
            } else {
                -0.5
            }
        })
        .collect();
    let shocks: Vec<f64> = c.iter().map(|&x| if (0.25..0.75).contains(&x) { 1.0 } else { -1.0 }).collect();
    let burgers = Transport::from_courant(g, "burgers-godunov".parse().unwrap(), 1.0, 0.5, false).unwrap();
    vec![
        Case {
            name: "lw-minmod",
            t: lin("lw-minmod"),
            u0: plateaus(),
            a: vec![1.0],
            s: src.clone(),
            target: target.clone(),
            steps: 6,
        },
        Case {
            name: "lw-superbee a<0",
            t: lin("lw-superbee"),
            u0: plateaus(),
            a: vec![-1.0],
            s: src.clone(),
            target: target.clone(),
            steps: 6,
        },
        Case {
            name: "lw-vanleer",
            t: lin("lw-vanleer"),
            u0: plateaus(),
            a: vec![1.0],
            s: src.clone(),
            target: target.clone(),
            steps: 6,
        },
        Case {
            name: "lw-minmod per face",
            t: lin("lw-minmod"),
            u0: plateaus(),
            a: per_face.clone(),
            s: src.clone(),
            target: target.clone(),
            steps: 6,
        },
        Case {
            name: "upwind per face",
            t: lin("upwind"),
            u0: plateaus(),
            a: per_face,
            s: src.clone(),
            target: target.clone(),
            steps: 6,
        },
        Case { name: "burgers", t: burgers, u0: shocks, a: vec![], s: vec![0.0; N], target, steps: 6 },
    ]
}

impl Case {
    fn entry(&self, mode: &Mode, rep: &Representation, schedule: Schedule, wanted: Wanted) -> TransportGradient {
        let req = GradientRequest {
            u0: &self.u0,
            target: &self.target,
            velocity: &self.a,
            source: Some(&self.s),
            steps: self.steps,
            mode,
            representation: rep,
            schedule,
            wanted,
        };
        self.t.loss_gradient(&req).unwrap()
    }
    fn wanted(&self) -> Wanted {
        Wanted { u0: true, velocity: !self.a.is_empty(), source: true }
    }
    /// The tape path: one fused op per step, differentiated in `mode` with respect to the wanted
    /// inputs in the entry's order (u0, velocity, source); returns (J, gradient, LD-derivative).
    fn tape(&self, mode: &Mode, rep: &Representation) -> (f64, Vec<f64>, Option<Vec<f64>>, usize) {
        let tape = Tape::<f64>::with_representation(rep.clone());
        let u0 = tape.var(Tensor::vector(self.u0.clone()));
        let a = (!self.a.is_empty()).then(|| {
            if self.a.len() == 1 {
                tape.var(Tensor::scalar(self.a[0]))
            } else {
                tape.var(Tensor::vector(self.a.clone()))
            }
        });
        let s = tape.var(Tensor::vector(self.s.clone()));
        let mut u = u0;
        for _ in 0..self.steps {
            u = self.t.step_var(u, a, Some(s)).unwrap();
        }
        let dx = self.t.grid.dx();
        let j = u.sub(tape.constant(Tensor::vector(self.target.clone()))).unwrap().square().sum().scale(dx);
        let wrt: Vec<Var<f64>> = [Some(u0), a, Some(s)].into_iter().flatten().collect();
        let gr = tape.gradient(j, &wrt, mode).unwrap();
        let g: Vec<f64> = gr.values.iter().flat_map(|v| v.to_f64_vec()).collect();
        (j.value().to_f64_vec()[0], g, gr.ld_derivative, gr.certificate.unresolved)
    }
}

fn concat(r: &TransportGradient) -> Vec<f64> {
    [r.u0.clone(), r.velocity.clone(), r.source.clone()].concat()
}

/// `safe` through the library's entry point on every scheme and schedule: one result, bit for bit,
/// whatever the tie rules and the schedule (store-all keeps the locked piece tape where it can; sqrt
/// and revolve checkpoint the state with its tangents), equal to the tape's `safe` gradient (the same
/// probe directions lock the same pieces), certificate `generalized` with the kinks counted.
#[test]
fn safe_on_every_path_is_the_tapes_and_representation_independent() {
    for case in cases() {
        let mode = Mode::safe();
        let mut first: Option<Vec<f64>> = None;
        for rep in reps() {
            for sched in [Schedule::StoreAll, Schedule::Sqrt, Schedule::Revolve { snapshots: 2 }] {
                for wanted in [case.wanted(), Wanted::U0] {
                    let r = case.entry(&mode, &rep, sched, wanted);
                    assert_eq!(r.certificate.kind, CertificateKind::Generalized, "{}", case.name);
                    assert!(r.certificate.kinks.total() > 0, "{}", case.name);
                    assert_eq!(
                        r.schedule,
                        if r.path.name() == "locked-piece-tape" { Schedule::StoreAll } else { sched }
                    );
                    if wanted != case.wanted() {
                        continue;
                    }
                    let g = concat(&r);
                    match &first {
                        None => {
                            // the tape's safe mode with the same seed draws the same directions
                            let (j, gt, _, _) = case.tape(&mode, &rep);
                            assert_eq!(j.to_bits(), r.loss.to_bits(), "{}: loss", case.name);
                            assert_close(&g, &gt, 1e-12, &format!("{}: entry vs tape", case.name));
                            first = Some(g);
                        }
                        Some(f) => assert_eq!(bits(&g), bits(f), "{} {sched} {:?}", case.name, rep.name),
                    }
                }
            }
        }
    }
}

/// `lex` through the entry point with 12 directions (the first 8 zero) equals the tape's
/// LD-derivative, and its gradient (the locked pieces' adjoint) equals `M^-T f'(x; M)` when `M` is
/// square: here with `M` the identity over all inputs of a small case, against the tape's gradient.
#[test]
fn lex_through_the_entry_point_equals_the_tape() {
    for case in cases() {
        let rows: usize = case.u0.len() + if case.a.is_empty() { 0 } else { case.a.len() } + case.s.len();
        for (m, sched) in [(twelve(rows, 5), Schedule::StoreAll), (twelve(rows, 6), Schedule::Revolve { snapshots: 3 })]
        {
            let mode = Mode::Lex(Some(m));
            let rep = Representation::default();
            let r = case.entry(&mode, &rep, sched, case.wanted());
            let (_, _, ld, _) = case.tape(&mode, &rep);
            assert_close(r.ld_derivative.as_ref().unwrap(), &ld.unwrap(), 1e-12, case.name);
            assert_eq!(r.certificate.directions, 12);
        }
        let mode = Mode::Lex(None);
        let r = case.entry(&mode, &Representation::default(), Schedule::Sqrt, case.wanted());
        let (_, g, _, _) = case.tape(&mode, &Representation::default());
        assert_close(&concat(&r), &g, 1e-10, &format!("{}: lex gradient", case.name));
    }
}

/// A tie that survives every direction (here: every direction zero) takes its first piece on every
/// path, so the result does not depend on the representation, bit for bit, and the certificate
/// counts the surviving ties.
#[test]
fn surviving_ties_take_the_first_piece_and_are_counted() {
    for case in cases() {
        let rows: usize = case.u0.len() + if case.a.is_empty() { 0 } else { case.a.len() } + case.s.len();
        let zero = Directions { rows, cols: 2, data: vec![0.0; rows * 2] };
        let mode = Mode::Lex(Some(zero));
        let mut first: Option<Vec<f64>> = None;
        for rep in reps() {
            for sched in [Schedule::StoreAll, Schedule::Sqrt] {
                let r = case.entry(&mode, &rep, sched, case.wanted());
                assert!(r.certificate.unresolved > 0, "{}: the ties survive", case.name);
                let g = concat(&r);
                match &first {
                    None => first = Some(g),
                    Some(f) => assert_eq!(bits(&g), bits(f), "{} {sched}", case.name),
                }
            }
        }
    }
}

/// Requests a path cannot honour are typed errors naming what is wrong.
#[test]
fn bad_requests_are_typed_errors() {
    let cs = cases();
    let case = &cs[5]; // Burgers
    let rep = Representation::default();
    let zeros = [0.0; N];
    let err = |mode: &Mode, wanted: Wanted, source: Option<&[f64]>, schedule: Schedule| {
        let r = GradientRequest {
            u0: &case.u0,
            target: &case.target,
            velocity: &case.a,
            source,
            steps: 3,
            mode,
            representation: &rep,
            schedule,
            wanted,
        };
        case.t.loss_gradient(&r).map(|_| ()).unwrap_err().to_string()
    };
    let e = err(&Mode::Assoc, Wanted { u0: true, velocity: true, source: false }, None, Schedule::Sqrt);
    assert!(e.contains("velocity"), "{e}");
    let e = err(&Mode::Assoc, Wanted { u0: false, velocity: false, source: true }, None, Schedule::Sqrt);
    assert!(e.contains("source"), "{e}");
    let e = err(&Mode::Assoc, Wanted::U0, Some(&zeros), Schedule::Revolve { snapshots: 0 });
    assert!(e.contains("snapshot"), "{e}");
    let e = err(&Mode::Assoc, Wanted { u0: false, velocity: false, source: false }, None, Schedule::Sqrt);
    assert!(e.contains("no gradient"), "{e}");
    let e = err(&Mode::Lex(Some(Directions::identity(3))), Wanted::U0, None, Schedule::Sqrt);
    assert!(e.contains("rows"), "{e}");
}

/// Plateaus through the library's entry point ([`Transport::loss_gradient`]) on the linear cases
/// (constant velocity of either sign, a velocity per face with zeros): `safe` and `lex` (three
/// random directions over `u0` and the source) give the same bits under every tie rule. The first
/// LD column is the one-sided directional derivative along the first direction `m1`; expected value:
/// `J` is piecewise quadratic along the ray (`u(T)` is piecewise linear in `(u0, s)` for a fixed
/// velocity), so the one-sided quotient `(-3 J(0) + 4 J(h) - J(2h)) / (2h)` is exact on the piece
/// the ray enters, up to round-off (`h = 2^-16`; the nearest other switching surface is a plateau
/// step of 1/2 away). Van Leer's limiter is rational, not piecewise linear: its quotient is checked
/// to `O(h^2)` only.
#[test]
fn plateaus_give_tie_rule_invariant_gradients_and_the_one_sided_derivative() {
    for case in cases().into_iter().filter(|c| !c.a.is_empty()) {
        let wanted = Wanted { u0: true, velocity: false, source: true };
        let rows = 2 * N;
        let mut rng = Rng::new(11);
        let m = Directions { rows, cols: 3, data: (0..rows * 3).map(|_| rng.normal()).collect() };
        let lex = Mode::Lex(Some(m.clone()));
        let (mut first_safe, mut first_lex): (Option<Vec<f64>>, Option<Vec<f64>>) = (None, None);
        for rep in reps() {
            let what = format!("{} {:?}", case.name, rep.name);
            let s = case.entry(&Mode::safe(), &rep, Schedule::StoreAll, wanted);
            let l = case.entry(&lex, &rep, Schedule::StoreAll, wanted);
            for r in [&s, &l] {
                assert_eq!(r.certificate.kind, CertificateKind::Generalized, "{what}");
                assert!(r.certificate.kinks.total() > 0, "{what}: the plateaus are kinks");
            }
            let ld = l.ld_derivative.clone().unwrap();
            for (first, g) in [(&mut first_safe, concat(&s)), (&mut first_lex, ld)] {
                match first {
                    None => *first = Some(g),
                    Some(f) => assert_eq!(bits(&g), bits(f), "{what}"),
                }
            }
        }
        let d1: Vec<f64> = (0..rows).map(|r| m.data[r * 3]).collect();
        let loss = |h: f64| {
            let u0: Vec<f64> = case.u0.iter().zip(&d1[..N]).map(|(u, d)| u + h * d).collect();
            let s: Vec<f64> = case.s.iter().zip(&d1[N..]).map(|(s, d)| s + h * d).collect();
            let u = case.t.simulate(&u0, &case.a, Some(&s), case.steps).unwrap();
            u.iter().zip(&case.target).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() * case.t.grid.dx()
        };
        let h = 2f64.powi(-16);
        let fd = (-3.0 * loss(0.0) + 4.0 * loss(h) - loss(2.0 * h)) / (2.0 * h);
        let ld0 = first_lex.unwrap()[0];
        let tol = if case.name.contains("vanleer") { 1e-6 } else { 1e-8 };
        assert!((ld0 - fd).abs() <= tol * fd.abs().max(1e-3), "{}: LD column 1 {ld0} vs one-sided {fd}", case.name);
    }
}
