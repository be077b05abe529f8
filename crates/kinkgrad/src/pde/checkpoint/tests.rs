//! Tests of the schedules: counts against the formulas and the optimal recursion, traces, peaks,
//! bitwise equality of the gradients across schedules.

use super::revolve::{revolve_split, Repetition};
use super::*;

/// Toy nonlinear stepper on R^d:
/// `y_i = x_{(i+1) mod d} + a·c_k·sin(x_i) + 0.001·(k mod 3)`,
/// `c_k = 1 + 0.01·(k mod 7)` (the step index matters, to catch index
/// mix-ups). Accumulates `dJ/da`, counts calls and checks that the
/// adjoints come in the order `n − 1, …, 0`.
#[derive(Clone)]
struct Toy {
    a: f64,
    grad_a: f64,
    step_calls: usize,
    adjoint_calls: usize,
    next_adjoint: Option<usize>,
    trace: Option<Vec<usize>>,
}

impl Toy {
    fn new(a: f64) -> Self {
        Toy { a, grad_a: 0.0, step_calls: 0, adjoint_calls: 0, next_adjoint: None, trace: None }
    }

    fn coef(k: usize) -> f64 {
        1.0 + 0.01 * (k % 7) as f64
    }
}

impl Stepper for Toy {
    type State = Vec<f64>;
    type Adjoint = Vec<f64>;

    fn step(&mut self, k: usize, x: &Vec<f64>) -> Vec<f64> {
        self.step_calls += 1;
        if let Some(t) = &mut self.trace {
            t.push(k);
        }
        let d = x.len();
        let ac = self.a * Self::coef(k);
        (0..d).map(|i| x[(i + 1) % d] + ac * x[i].sin() + 0.001 * (k % 3) as f64).collect()
    }

    fn step_adjoint(&mut self, k: usize, x: &Vec<f64>, ybar: Vec<f64>) -> Vec<f64> {
        if let Some(expected) = self.next_adjoint {
            assert_eq!(k, expected, "adjoints out of order");
        }
        self.next_adjoint = k.checked_sub(1);
        self.adjoint_calls += 1;
        let d = x.len();
        let c = Self::coef(k);
        let ac = self.a * c;
        for i in 0..d {
            self.grad_a += ybar[i] * c * x[i].sin();
        }
        (0..d).map(|j| ybar[(j + d - 1) % d] + ybar[j] * ac * x[j].cos()).collect()
    }

    fn state_bytes(&self, x: &Vec<f64>) -> usize {
        x.len() * std::mem::size_of::<f64>()
    }
}

const D: usize = 5;

fn init() -> Vec<f64> {
    vec![0.3, -1.2, 2.0, 0.7, -0.4]
}

fn weights() -> Vec<f64> {
    (0..D).map(|i| 1.0 + 0.1 * i as f64).collect()
}

/// J = Σ w_i x_i².
fn loss(x: &[f64]) -> f64 {
    x.iter().zip(weights()).map(|(x, w)| w * x * x).sum()
}

fn seed(x: &[f64]) -> Vec<f64> {
    x.iter().zip(weights()).map(|(x, w)| 2.0 * w * x).collect()
}

struct Outcome {
    fin: Vec<f64>,
    adj: Vec<f64>,
    grad_a: f64,
    stats: RunStats,
}

fn run(schedule: Schedule, n: usize) -> Outcome {
    let mut toy = Toy::new(0.1);
    let (fin, adj, stats) = gradient(&mut toy, &init(), n, &schedule, |x| seed(x)).unwrap();
    assert_eq!(toy.step_calls, stats.total_forward_steps, "{schedule} n={n}");
    assert_eq!(toy.adjoint_calls, n);
    assert_eq!(stats.adjoint_steps, n);
    assert_eq!(stats.steps, n);
    assert_eq!(stats.forward_steps, n);
    assert_eq!(stats.total_forward_steps, n + stats.recomputed_steps);
    assert_eq!(stats.peak_bytes, stats.peak_stored_states * D * 8);
    if n > 0 {
        assert_eq!(toy.next_adjoint, None, "last adjoint must be step 0");
    }
    Outcome { fin, adj, grad_a: toy.grad_a, stats }
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn assert_bitwise_equal(a: &Outcome, b: &Outcome, what: &str) {
    assert_eq!(bits(&a.fin), bits(&b.fin), "final state, {what}");
    assert_eq!(bits(&a.adj), bits(&b.adj), "adjoint, {what}");
    assert_eq!(a.grad_a.to_bits(), b.grad_a.to_bits(), "grad_a, {what}");
}

fn sqrt_recomputations(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let k = ceil_sqrt(n);
    let segments = n.div_ceil(k);
    (segments - 1) * (k - 1)
}

/// Checks one (n, s) pair against store-all, the formula and the bounds.
fn check_case(n: usize, s: usize, reference: &Outcome) {
    let rev = run(Schedule::Revolve { snapshots: s }, n);
    let what = format!("revolve:{s} n={n}");
    assert_bitwise_equal(&rev, reference, &what);
    assert_eq!(rev.stats.recomputed_steps, revolve_recomputations(n, s), "{what}");
    if n >= 1 {
        assert_eq!(rev.stats.total_forward_steps, revolve_advances(n, s) + 1, "{what}");
    }
    assert!(rev.stats.peak_stored_states <= s + 1, "{what}");
    assert!(rev.stats.peak_stored_states <= n, "{what}");
    if n <= s + 1 {
        assert_eq!(rev.stats.recomputed_steps, 0, "{what}");
        assert_eq!(rev.stats.peak_stored_states, n, "{what}");
    }
}

fn check_reference_and_sqrt(n: usize) -> Outcome {
    let all = run(Schedule::StoreAll, n);
    assert_eq!(all.stats.recomputed_steps, 0);
    assert_eq!(all.stats.peak_stored_states, n);
    let sq = run(Schedule::Sqrt, n);
    assert_bitwise_equal(&sq, &all, &format!("sqrt n={n}"));
    assert_eq!(sq.stats.recomputed_steps, sqrt_recomputations(n), "n={n}");
    let (k, segments) = (ceil_sqrt(n), n.div_ceil(ceil_sqrt(n)));
    assert!(sq.stats.peak_stored_states <= segments - 1 + k, "n={n}");
    assert!(sq.stats.peak_stored_states < 2 * k, "n={n}");
    all
}

/// Minimal advances F(l, s) by the recursion in the module docs.
fn advances_dp(max_l: usize, max_s: usize) -> Vec<Vec<usize>> {
    const INF: usize = usize::MAX / 4;
    let mut f = vec![vec![INF; max_s + 1]; max_l + 1];
    for row in f.iter_mut().take(2) {
        row.fill(0);
    }
    for l in 2..=max_l {
        for s in 1..=max_s {
            f[l][s] = (1..l).map(|m| m + f[l - m][s - 1] + f[m][s]).min().expect("l >= 2");
        }
    }
    f
}

#[test]
fn parse_and_display() {
    assert_eq!("all".parse::<Schedule>(), Ok(Schedule::StoreAll));
    assert_eq!("sqrt".parse::<Schedule>(), Ok(Schedule::Sqrt));
    assert_eq!("revolve:7".parse::<Schedule>(), Ok(Schedule::Revolve { snapshots: 7 }));
    for s in
        [Schedule::StoreAll, Schedule::Sqrt, Schedule::Revolve { snapshots: 1 }, Schedule::Revolve { snapshots: 42 }]
    {
        assert_eq!(s.to_string().parse::<Schedule>(), Ok(s));
    }
    for bad in [
        "",
        "ALL",
        " all",
        "revolve",
        "revolve:",
        "revolve:0",
        "revolve:-1",
        "revolve:+3",
        "revolve:x",
        "revolve:3 ",
        "revolve:99999999999999999999999999",
        "binomial:3",
    ] {
        let err = bad.parse::<Schedule>().expect_err(bad);
        assert!(matches!(&err, crate::Error::Invalid { what, .. } if what.contains(&format!("{bad:?}"))), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&format!("{bad:?}")) && !msg.contains('\n'), "{msg}");
    }
    assert!("revolve:0".parse::<Schedule>().unwrap_err().to_string().contains("at least 1"));
}

#[test]
fn formula_hand_examples() {
    // l = 3, s = 1: advance 0→2, firsturn, restore, advance 0→1, youturn,
    // restore, youturn: 3 advances (2 from the first sweep), 1 recomputed.
    assert_eq!(revolve_advances(3, 1), 3);
    assert_eq!(revolve_recomputations(3, 1), 1);
    // l = 10, s = 2: r = 3, t = 30 − C(5,3) = 20 = 6 + F(4,1) + F(6,2) = 6 + 6 + 8.
    assert_eq!(revolve_advances(10, 2), 20);
    assert_eq!(revolve_advances(4, 1), 6);
    assert_eq!(revolve_advances(6, 2), 8);
    assert_eq!(revolve_recomputations(10, 2), 11);
    assert_eq!(revolve_split(10, 2), 6);
    // r = 1 regime: a plain sweep.
    for s in 1..6 {
        for l in 1..=s + 1 {
            assert_eq!(revolve_advances(l, s), l - 1);
            assert_eq!(revolve_recomputations(l, s), 0);
        }
    }
    // s = 1: t = l(l − 1)/2.
    for l in 1..50 {
        assert_eq!(revolve_advances(l, 1), l * (l - 1) / 2);
        assert_eq!(revolve_recomputations(l, 1), (l - 1) * l.saturating_sub(2) / 2);
    }
    assert_eq!(revolve_advances(0, 3), 0);
    assert_eq!(revolve_recomputations(0, 3), 0);
    assert_eq!(revolve_advances(1, 0), 0);
    assert_eq!(revolve_recomputations(1, 0), 0);
    // Large arguments do not overflow internally.
    assert_eq!(revolve_recomputations(1_000_000, 1_000_000), 0);
    assert_eq!(revolve_recomputations(5, usize::MAX), 0);
    assert!(revolve_advances(1 << 40, 40) > 1 << 40);
}

#[test]
#[should_panic(expected = "at least one snapshot")]
fn formula_without_snapshots_panics() {
    revolve_advances(2, 0);
}

#[test]
fn formula_equals_optimal_recursion() {
    let (max_l, max_s) = (120, 8);
    let f = advances_dp(max_l, max_s);
    for (l, row) in f.iter().enumerate().skip(1) {
        for (s, &best) in row.iter().enumerate().skip(1) {
            assert_eq!(revolve_advances(l, s), best, "l={l} s={s}");
            // The chosen split is optimal too.
            if l >= 2 {
                let m = revolve_split(l, s);
                assert_eq!(m + f[l - m][s - 1] + f[m][s], best, "split l={l} s={s}");
            }
        }
    }
}

#[test]
fn every_split_in_the_documented_interval_is_optimal() {
    let f = advances_dp(80, 6);
    for l in 2..=80 {
        for s in 1..=6 {
            let rep = Repetition::new(l, s);
            let lu = l as u128;
            let lo = lu.saturating_sub(rep.b0 - rep.b1).max(rep.b2).max(1) as usize;
            let hi = revolve_split(l, s);
            assert!(lo <= hi);
            for m in lo..=hi {
                assert_eq!(m + f[l - m][s - 1] + f[m][s], f[l][s], "l={l} s={s} m={m}");
            }
        }
    }
}

#[test]
fn trace_three_steps_one_snapshot() {
    let mut toy = Toy::new(0.1);
    toy.trace = Some(Vec::new());
    let (_, _, stats) = gradient(&mut toy, &init(), 3, &Schedule::Revolve { snapshots: 1 }, |x| seed(x)).unwrap();
    // First sweep 0,1,2 (state 2 kept as the working state), then state 1
    // is recomputed from the snapshot of state 0.
    assert_eq!(toy.trace.as_deref(), Some(&[0, 1, 2, 0][..]));
    assert_eq!(stats.recomputed_steps, 1);
    assert_eq!(stats.total_forward_steps, 4);
    assert_eq!(stats.peak_stored_states, 2);
}

#[test]
fn trace_ten_steps_two_snapshots() {
    let mut toy = Toy::new(0.1);
    toy.trace = Some(Vec::new());
    let (_, _, stats) = gradient(&mut toy, &init(), 10, &Schedule::Revolve { snapshots: 2 }, |x| seed(x)).unwrap();
    let trace = toy.trace.expect("traced");
    assert_eq!(&trace[..10], &(0..10).collect::<Vec<_>>()[..]);
    assert_eq!(trace.len(), 21);
    assert_eq!(stats.total_forward_steps, revolve_advances(10, 2) + 1);
    assert_eq!(stats.recomputed_steps, 11);
    assert_eq!(stats.peak_stored_states, 3);
}

#[test]
fn trace_sqrt() {
    let mut toy = Toy::new(0.1);
    toy.trace = Some(Vec::new());
    // n = 7: k = 3, checkpoints 0, 3; last segment 6 kept.
    let (_, _, stats) = gradient(&mut toy, &init(), 7, &Schedule::Sqrt, |x| seed(x)).unwrap();
    assert_eq!(toy.trace.as_deref(), Some(&[0, 1, 2, 3, 4, 5, 6, 3, 4, 0, 1][..]));
    assert_eq!(stats.recomputed_steps, 4);
    assert_eq!(stats.peak_stored_states, 4);
}

#[test]
fn grid_bitwise_formula_and_peak() {
    for n in [1, 2, 3, 7, 10, 100, 1000] {
        let reference = check_reference_and_sqrt(n);
        for s in [1, 2, 3, 5, 10] {
            check_case(n, s, &reference);
        }
    }
}

#[test]
fn revolve_peak_bytes_is_small() {
    let all = run(Schedule::StoreAll, 1000);
    let rev = run(Schedule::Revolve { snapshots: 10 }, 1000);
    assert!(rev.stats.peak_bytes * 20 <= all.stats.peak_bytes, "{} vs {}", rev.stats.peak_bytes, all.stats.peak_bytes);
    assert_eq!(rev.stats.peak_stored_states, 11);
    assert_eq!(all.stats.peak_bytes, 1000 * D * 8);
}

#[test]
fn random_cases() {
    // xorshift64*, deterministic.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |bound: u64| {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    };
    for _ in 0..60 {
        let n = 1 + next(400) as usize;
        let s = 1 + next(16) as usize;
        let reference = check_reference_and_sqrt(n);
        check_case(n, s, &reference);
    }
}

#[test]
fn zero_steps() {
    for schedule in
        [Schedule::StoreAll, Schedule::Sqrt, Schedule::Revolve { snapshots: 1 }, Schedule::Revolve { snapshots: 0 }]
    {
        let mut toy = Toy::new(0.1);
        let (fin, adj, stats) = gradient(&mut toy, &init(), 0, &schedule, |x| seed(x)).unwrap();
        assert_eq!(bits(&fin), bits(&init()));
        assert_eq!(bits(&adj), bits(&seed(&init())));
        assert_eq!(stats, RunStats::default());
        assert_eq!(toy.step_calls + toy.adjoint_calls, 0);
    }
}

#[test]
fn many_snapshots_degenerates_to_store_all() {
    for n in [1, 5, 64] {
        let reference = run(Schedule::StoreAll, n);
        for s in [n - 1, n, n + 1, 10 * n, usize::MAX] {
            if s == 0 {
                continue;
            }
            let rev = run(Schedule::Revolve { snapshots: s }, n);
            assert_bitwise_equal(&rev, &reference, "many snapshots");
            assert_eq!(rev.stats.recomputed_steps, 0);
            assert_eq!(rev.stats.peak_stored_states, n);
        }
    }
}

#[test]
fn one_step_without_snapshots() {
    let reference = run(Schedule::StoreAll, 1);
    let rev = run(Schedule::Revolve { snapshots: 0 }, 1);
    assert_bitwise_equal(&rev, &reference, "revolve:0 n=1");
    assert_eq!(rev.stats.peak_stored_states, 1);
}

#[test]
#[should_panic(expected = "at least one snapshot")]
fn no_snapshots_panics() {
    run(Schedule::Revolve { snapshots: 0 }, 2);
}

#[test]
fn forward_matches_gradient_final_state() {
    for n in [0, 1, 13, 200] {
        let mut toy = Toy::new(0.1);
        let fin = forward(&mut toy, &init(), n);
        assert_eq!(toy.step_calls, n);
        let out = run(Schedule::Revolve { snapshots: 3 }, n);
        assert_eq!(bits(&fin), bits(&out.fin));
    }
}

#[test]
fn adjoint_matches_central_differences() {
    let n = 60;
    let j_of = |x0: &[f64], a: f64| {
        let mut toy = Toy::new(a);
        loss(&forward(&mut toy, &x0.to_vec(), n))
    };
    let h = 1e-6;
    let close = |ad: f64, fd: f64, what: &str| {
        let tol = 1e-6 * (1.0 + ad.abs());
        assert!((ad - fd).abs() <= tol, "{what}: adjoint {ad} vs fd {fd}");
    };
    for schedule in [Schedule::StoreAll, Schedule::Sqrt, Schedule::Revolve { snapshots: 3 }] {
        let out = run(schedule, n);
        let x0 = init();
        for j in 0..D {
            let mut plus = x0.clone();
            let mut minus = x0.clone();
            plus[j] += h;
            minus[j] -= h;
            let fd = (j_of(&plus, 0.1) - j_of(&minus, 0.1)) / (2.0 * h);
            close(out.adj[j], fd, &format!("{schedule} dJ/dx0[{j}]"));
        }
        let fd = (j_of(&x0, 0.1 + h) - j_of(&x0, 0.1 - h)) / (2.0 * h);
        close(out.grad_a, fd, &format!("{schedule} dJ/da"));
    }
}
