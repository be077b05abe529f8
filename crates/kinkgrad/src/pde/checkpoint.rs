//! Checkpointed adjoint time loops.
//!
//! A time loop `x_{k+1} = f_k(x_k)`, `k = 0..n`, is differentiated in reverse
//! mode by sweeping the adjoints back from `x̄_n = ∂J/∂x_n` with
//! `x̄_k = (∂f_k/∂x_k)^T x̄_{k+1}`. Step `k`'s adjoint needs the state `x_k`,
//! and the states are produced in the opposite order. A [`Schedule`] decides
//! which states to keep and which to recompute from an earlier one:
//!
//! * [`Schedule::StoreAll`] keeps `x_0 .. x_{n-1}`: `n` stored states, no
//!   recomputation.
//! * [`Schedule::Sqrt`] keeps every `k`-th state, `k = ⌈√n⌉`, and rebuilds one
//!   segment of `k` states at a time from its checkpoint during the reverse
//!   sweep. The last segment is kept during the first sweep, so
//!   `recomputed = (m − 1)(k − 1)` with `m = ⌈n / k⌉` segments, and the peak is
//!   at most `(m − 1) + k ≤ 2⌈√n⌉ − 1` states.
//! * [`Schedule::Revolve`] is binomial checkpointing (Griewank 1992;
//!   Griewank & Walther, ACM TOMS 26(1) 2000, "Algorithm 799: revolve"),
//!   which is optimal in the number of recomputed steps for a given number of
//!   snapshot slots.
//!
//! # Binomial checkpointing
//!
//! Let `β(s, r) = C(s + r, s)`. With `s` snapshots and at most `r`
//! evaluations of any one step (the *repetition number*) one can reverse at
//! most `β(s, r)` steps. For `l ≥ 1` steps let `r` be the least integer with
//! `β(s, r) ≥ l`. Then the minimal number of forward steps is
//!
//! ```text
//! t(l, s) = r·l − β(s + 1, r − 1) = r·l − C(s + r, s + 1) = Σ_{j=0}^{r−1} (l − β(s, j)).
//! ```
//!
//! It is the solution of the recursion
//!
//! ```text
//! F(1, s) = 0,   F(l, 0) = ∞ (l ≥ 2),
//! F(l, s) = min_{1 ≤ m < l} [ m + F(l − m, s − 1) + F(m, s) ]
//! ```
//!
//! (advance `m` steps from the snapshot at the left end, store the reached
//! state in a new slot, reverse the right part with one slot fewer, then the
//! left part with all slots). `t` is piecewise linear in `l` with slope `r` on
//! `[β(s, r − 1), β(s, r)]`, so by Pascal's rule
//! `β(s, r − 1) + β(s + 1, r − 2) = β(s + 1, r − 1)` every split with
//!
//! ```text
//! max(l − β(s − 1, r), β(s, r − 2)) ≤ m ≤ min(l − β(s − 1, r − 1), β(s, r − 1))
//! ```
//!
//! is optimal (the interval is never empty because
//! `β(s, r − 1) < l ≤ β(s, r)`). This module always takes the upper end. The
//! left part is handled iteratively and the right parts with an explicit
//! stack, so there is no recursion and no stack-depth limit.
//!
//! ## What `t(l, s)` counts (verified)
//!
//! `t(l, s)` is revolve's number of `advance` steps: it **includes** the
//! `l − 1` steps of the first forward sweep and **excludes** the last step
//! `l − 1`, which revolve performs together with its adjoint (`firsturn`,
//! "forward with taping, then reverse"). Hand examples:
//!
//! * `l = 3, s = 1`: `r = 2`, `t = 6 − C(3, 2) = 3`. Revolve: advance
//!   `0 → 2` (2), `firsturn(2)`, restore `x_0`, advance `0 → 1` (1),
//!   `youturn(1)`, restore `x_0`, `youturn(0)`: 3 advances. Only 1 of them is a
//!   recomputation.
//! * `l = 10, s = 2`: `r = 3`, `t = 30 − C(5, 3) = 20`; the optimal split is
//!   `m = 6` and `20 = 6 + F(4, 1) + F(6, 2) = 6 + 6 + 8`. The first sweep
//!   contributes 9 advances, so 11 are recomputations.
//! * `l ≤ s + 1`: `r = 1`, `t = l − 1` (a plain forward sweep, nothing
//!   recomputed). `s = 1`: `t = l(l − 1)/2`.
//!
//! Here [`Stepper::step_adjoint`] does *not* execute the forward step, and the
//! final state `x_n` must be computed for the seed, so the last step is an
//! ordinary [`Stepper::step`] call. Hence, for `n ≥ 1`,
//!
//! ```text
//! total step() calls  = t(n, s) + 1                      (RunStats::total_forward_steps)
//! recomputed_steps    = total step() calls − n = t(n, s) − (n − 1)
//! ```
//!
//! [`revolve_advances`] returns `t(n, s)` and [`revolve_recomputations`]
//! returns `t(n, s) − (n − 1)`; the tests check both against the measured
//! counts, `t` against the recursion `F` by dynamic programming, and the
//! hand examples above. Any schedule in this module's cost model is a revolve
//! schedule plus the one step that produces `x_n`, so `t + 1` calls is optimal.
//!
//! # Memory accounting and snapshot convention
//!
//! `peak_stored_states` / `peak_bytes` are the maxima (each maximised on its
//! own) of the states held by the schedule between `step()` calls: stored
//! checkpoints plus the working state being advanced. Conventions:
//!
//! * The initial state counts: it is copied into the schedule's storage (for
//!   revolve it occupies one of the `s` snapshot slots, as revolve's first
//!   `takeshot` does).
//! * The final state `x_n` does not count (it is the return value), nor do
//!   adjoints.
//! * When a step's input is discarded right after the call, it is released
//!   before the output is counted, i.e. the input/output pair that exists
//!   inside one `step()` call is not counted.
//!
//! With these conventions: `StoreAll` peaks at exactly `n` states, `Sqrt` at
//! most at `(m − 1) + k`, and `Revolve { snapshots: s }` at most at
//! `min(n, s + 1)`: `s` snapshot slots (the initial state included) plus one
//! working state being advanced.
//!
//! # Determinism
//!
//! Every schedule calls [`Stepper::step_adjoint`] exactly once per step, in the
//! order `n − 1, …, 0`, with bit-identical states (steps are deterministic).
//! Adjoints and parameter gradients accumulated in the stepper are therefore
//! bitwise identical across schedules.
//!
//! # Example
//!
//! ```
//! use kinkgrad::pde::checkpoint::{gradient, Schedule, Stepper};
//!
//! /// x_{k+1} = x_k + a·sin(x_k); accumulates dJ/da.
//! struct Sine {
//!     a: f64,
//!     grad_a: f64,
//! }
//!
//! impl Stepper for Sine {
//!     type State = f64;
//!     type Adjoint = f64;
//!     fn step(&mut self, _n: usize, x: &f64) -> f64 {
//!         x + self.a * x.sin()
//!     }
//!     fn step_adjoint(&mut self, _n: usize, x: &f64, adj_next: f64) -> f64 {
//!         self.grad_a += adj_next * x.sin();
//!         adj_next * (1.0 + self.a * x.cos())
//!     }
//!     fn state_bytes(&self, _x: &f64) -> usize {
//!         8
//!     }
//! }
//!
//! let schedule: Schedule = "revolve:3".parse().unwrap();
//! let mut s = Sine { a: 0.1, grad_a: 0.0 };
//! // J = x_n, so the seed is 1.
//! let (x_n, dj_dx0, stats) = gradient(&mut s, &0.5, 100, &schedule, |_| 1.0);
//! assert!(x_n > 0.5 && dj_dx0 > 0.0);
//! assert_eq!(stats.recomputed_steps, kinkgrad::pde::checkpoint::revolve_recomputations(100, 3));
//! assert!(stats.peak_stored_states <= 4);
//! ```

use std::error::Error;
use std::fmt;
use std::str::FromStr;

/// A deterministic one-step map `state_n -> state_{n+1}` with its adjoint.
pub trait Stepper {
    /// The state of the time loop (e.g. a field on a grid).
    type State: Clone;
    /// The adjoint (cotangent) of a state.
    type Adjoint;

    /// Advance step `n` (0-based): returns state `n + 1` from state `n`.
    ///
    /// Must be deterministic (same input, same output bit for bit): the
    /// schedules recompute states and rely on getting identical ones.
    fn step(&mut self, n: usize, state: &Self::State) -> Self::State;

    /// Adjoint of step `n`: given state `n` (the INPUT of step `n`) and the
    /// adjoint of state `n + 1`, return the adjoint of state `n`.
    ///
    /// Parameter gradients (e.g. of a velocity) are accumulated inside the
    /// stepper. Every schedule calls this exactly once per step, in the order
    /// `n - 1, …, 0`.
    fn step_adjoint(&mut self, n: usize, state: &Self::State, adj_next: Self::Adjoint) -> Self::Adjoint;

    /// Bytes held by one stored state (for peak-memory accounting).
    fn state_bytes(&self, state: &Self::State) -> usize;

    /// A state the schedule no longer needs, handed back so that the stepper can reuse its storage
    /// for the next [`Stepper::step`] (the default drops it). Reusing buffers avoids touching fresh
    /// memory at every step; it never changes any number.
    fn recycle(&mut self, state: Self::State) {
        drop(state);
    }
}

/// Which states to store during the forward sweep and which to recompute
/// during the reverse sweep.
///
/// Parses from / displays as `"all"`, `"sqrt"` and `"revolve:S"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Schedule {
    /// Store every state `0..n-1`; no recomputation, `n` stored states.
    StoreAll,
    /// Store every `⌈√n⌉`-th state; recompute one segment at a time during
    /// the reverse sweep (peak `≤ 2⌈√n⌉ − 1` states).
    Sqrt,
    /// Binomial checkpointing (Griewank & Walther's revolve) with a fixed
    /// number of snapshot slots; optimal recomputation count
    /// [`revolve_recomputations`].
    Revolve {
        /// Number of snapshot slots `s`, the slot holding the initial state
        /// included. The peak is at most `s + 1` states (the `+ 1` is the
        /// working state being advanced). Must be `≥ 1` unless `n ≤ 1`.
        snapshots: usize,
    },
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::StoreAll => f.write_str("all"),
            Schedule::Sqrt => f.write_str("sqrt"),
            Schedule::Revolve { snapshots } => write!(f, "revolve:{snapshots}"),
        }
    }
}

/// Error returned when parsing a [`Schedule`] fails; names the offending text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseScheduleError {
    text: String,
    reason: &'static str,
}

impl ParseScheduleError {
    /// The text that failed to parse.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Why it failed.
    pub fn reason(&self) -> &str {
        self.reason
    }
}

impl fmt::Display for ParseScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid checkpoint schedule {:?}: {} (expected \"all\", \"sqrt\" or \"revolve:S\" with S >= 1)",
            self.text, self.reason
        )
    }
}

impl Error for ParseScheduleError {}

impl FromStr for Schedule {
    type Err = ParseScheduleError;

    /// Parses `"all"`, `"sqrt"` or `"revolve:S"` (`S` decimal digits, `S ≥ 1`).
    /// Case-sensitive; no surrounding whitespace.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason| ParseScheduleError { text: text.to_owned(), reason };
        match text {
            "all" => Ok(Schedule::StoreAll),
            "sqrt" => Ok(Schedule::Sqrt),
            _ => {
                let digits = text.strip_prefix("revolve:").ok_or_else(|| fail("unknown schedule"))?;
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(fail("snapshot count is not a decimal integer"));
                }
                match digits.parse::<usize>() {
                    Ok(0) => Err(fail("snapshot count must be at least 1")),
                    Ok(snapshots) => Ok(Schedule::Revolve { snapshots }),
                    Err(_) => Err(fail("snapshot count is too large")),
                }
            }
        }
    }
}

/// Counters of one [`gradient`] run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunStats {
    /// Number of time steps `n`.
    pub steps: usize,
    /// `step()` calls executed in the first forward sweep (up to and including
    /// the one producing the final state); always `n`.
    pub forward_steps: usize,
    /// Extra `step()` calls during the reverse sweep:
    /// `total_forward_steps − n`. For revolve this equals
    /// [`revolve_recomputations`]`(n, s)`.
    pub recomputed_steps: usize,
    /// All `step()` calls: `forward_steps + recomputed_steps`. For revolve and
    /// `n ≥ 1` this equals [`revolve_advances`]`(n, s) + 1`.
    pub total_forward_steps: usize,
    /// `step_adjoint()` calls; always `n`.
    pub adjoint_steps: usize,
    /// Peak number of states held (see the module docs for the convention).
    pub peak_stored_states: usize,
    /// Peak of the summed [`Stepper::state_bytes`] of the held states.
    pub peak_bytes: usize,
}

/// Forward only: run `n` steps from `init` and return the final state.
pub fn forward<S: Stepper>(stepper: &mut S, init: &S::State, n: usize) -> S::State {
    let mut state = init.clone();
    for k in 0..n {
        state = stepper.step(k, &state);
    }
    state
}

/// Run `n` steps forward from `init`, call `seed(&final_state)` to obtain the
/// adjoint of the final state, and sweep back.
///
/// Returns the final state, the adjoint of `init`, and the run's counters.
/// `seed` is called exactly once (also for `n = 0`, with `init`).
///
/// # Panics
///
/// If `schedule` is `Revolve { snapshots: 0 }` and `n ≥ 2` (no schedule
/// exists without a snapshot slot).
pub fn gradient<S: Stepper>(
    stepper: &mut S,
    init: &S::State,
    n: usize,
    schedule: &Schedule,
    seed: impl FnOnce(&S::State) -> S::Adjoint,
) -> (S::State, S::Adjoint, RunStats) {
    if n == 0 {
        let adj = seed(init);
        return (init.clone(), adj, RunStats::default());
    }
    let mut run = Run::new(stepper);
    let (fin, adj) = match *schedule {
        Schedule::StoreAll => store_all(&mut run, init, n, seed),
        Schedule::Sqrt => sqrt(&mut run, init, n, seed),
        Schedule::Revolve { snapshots } => revolve(&mut run, init, n, snapshots, seed),
    };
    (fin, adj, run.stats(n))
}

/// Griewank's minimal number of forward (`advance`) steps `t(l, s)` to reverse
/// `steps = l` steps with `snapshots = s` slots:
/// `t = r·l − C(s + r, s + 1)`, `r` the least integer with `C(s + r, s) ≥ l`.
///
/// Counts revolve's advances: the first sweep's `l − 1` steps included, the
/// last step (fused with its adjoint in revolve's `firsturn`) excluded. In
/// this module a revolve run makes `revolve_advances(n, s) + 1` `step()`
/// calls (see the module docs). `t(0, s) = t(1, s) = 0`; `t(3, 1) = 3`;
/// `t(10, 2) = 20`.
///
/// # Panics
///
/// If `snapshots == 0` and `steps ≥ 2`, or if the result overflows `usize`.
pub fn revolve_advances(steps: usize, snapshots: usize) -> usize {
    if steps <= 1 {
        return 0;
    }
    assert!(snapshots >= 1, "binomial checkpointing of {steps} steps needs at least one snapshot");
    let rep = Repetition::new(steps, snapshots);
    let t = rep.r * steps as u128 - rep.sum_below;
    usize::try_from(t).expect("revolve_advances overflows usize")
}

/// The number of recomputed steps binomial checkpointing needs: the extra
/// `step()` calls beyond the `n` of the first forward sweep,
/// `t − (l − 1)` with `t = r·l − C(s + r, s + 1)` ([`revolve_advances`]) and
/// `r` the least integer with `C(s + r, s) ≥ l`.
///
/// This is exactly [`RunStats::recomputed_steps`] of
/// `gradient(.., steps, &Schedule::Revolve { snapshots }, ..)`, and it is
/// optimal. Zero when `steps ≤ snapshots + 1`; `(l − 1)(l − 2)/2` for
/// `s = 1`; `1` for `(l, s) = (3, 1)`; `11` for `(10, 2)`.
///
/// # Panics
///
/// If `snapshots == 0` and `steps ≥ 2`, or on `usize` overflow.
pub fn revolve_recomputations(steps: usize, snapshots: usize) -> usize {
    if steps == 0 {
        return 0;
    }
    revolve_advances(steps, snapshots) - (steps - 1)
}

/// Repetition number `r` of `l` steps with `s ≥ 1` slots and the binomials
/// around it (`β(s, j) = C(s + j, s)`), in `u128` to avoid overflow.
struct Repetition {
    /// Least `r` with `β(s, r) ≥ l`.
    r: u128,
    /// `β(s, r − 1)` (0 if `r < 1`).
    b1: u128,
    /// `β(s, r − 2)` (0 if `r < 2`).
    b2: u128,
    /// `β(s, r)`.
    b0: u128,
    /// `Σ_{j<r} β(s, j) = β(s + 1, r − 1) = C(s + r, s + 1)`.
    sum_below: u128,
}

impl Repetition {
    fn new(l: usize, s: usize) -> Self {
        debug_assert!(s >= 1);
        let (l, s) = (l as u128, s as u128);
        let mut rep = Repetition { r: 0, b0: 1, b1: 0, b2: 0, sum_below: 0 };
        while rep.b0 < l {
            rep.r += 1;
            rep.sum_below += rep.b0;
            rep.b2 = rep.b1;
            rep.b1 = rep.b0;
            // β(s, r) = β(s, r − 1)·(s + r)/r, exact.
            rep.b0 = rep.b0.saturating_mul(s + rep.r) / rep.r;
        }
        rep
    }
}

/// Optimal first advance `m` (`1 ≤ m < l`) for reversing `l ≥ 2` steps with
/// `s ≥ 1` slots: the upper end of the optimal interval in the module docs.
fn revolve_split(l: usize, s: usize) -> usize {
    debug_assert!(l >= 2 && s >= 1);
    let rep = Repetition::new(l, s);
    let lu = l as u128;
    // β(s − 1, r) = β(s, r) − β(s, r − 1), β(s − 1, r − 1) = β(s, r − 1) − β(s, r − 2).
    let lo = lu.saturating_sub(rep.b0.saturating_sub(rep.b1)).max(rep.b2).max(1);
    let hi = (lu - (rep.b1 - rep.b2)).min(rep.b1);
    debug_assert!(lo <= hi && hi < lu, "empty split interval l={l} s={s}");
    hi as usize
}

/// Bookkeeping wrapper around the stepper: call counts and held memory.
struct Run<'a, S: Stepper> {
    stepper: &'a mut S,
    step_calls: usize,
    adjoint_calls: usize,
    forward_steps: usize,
    held_states: usize,
    held_bytes: usize,
    peak_states: usize,
    peak_bytes: usize,
}

impl<'a, S: Stepper> Run<'a, S> {
    fn new(stepper: &'a mut S) -> Self {
        Run {
            stepper,
            step_calls: 0,
            adjoint_calls: 0,
            forward_steps: 0,
            held_states: 0,
            held_bytes: 0,
            peak_states: 0,
            peak_bytes: 0,
        }
    }

    fn step(&mut self, k: usize, state: &S::State) -> S::State {
        self.step_calls += 1;
        self.stepper.step(k, state)
    }

    fn adjoint(&mut self, k: usize, state: &S::State, adj_next: S::Adjoint) -> S::Adjoint {
        self.adjoint_calls += 1;
        self.stepper.step_adjoint(k, state, adj_next)
    }

    /// Calls the seed on the final state; marks the end of the first sweep.
    fn seed(&mut self, seed: impl FnOnce(&S::State) -> S::Adjoint, fin: &S::State) -> S::Adjoint {
        self.forward_steps = self.step_calls;
        seed(fin)
    }

    fn hold(&mut self, state: &S::State) {
        self.held_states += 1;
        self.held_bytes += self.stepper.state_bytes(state);
        self.peak_states = self.peak_states.max(self.held_states);
        self.peak_bytes = self.peak_bytes.max(self.held_bytes);
    }

    fn release(&mut self, state: S::State) {
        self.held_states -= 1;
        self.held_bytes -= self.stepper.state_bytes(&state);
        self.stepper.recycle(state);
    }

    fn stats(&self, n: usize) -> RunStats {
        debug_assert_eq!(self.forward_steps, n);
        debug_assert_eq!(self.adjoint_calls, n);
        debug_assert_eq!(self.held_states, 0);
        RunStats {
            steps: n,
            forward_steps: self.forward_steps,
            recomputed_steps: self.step_calls - n,
            total_forward_steps: self.step_calls,
            adjoint_steps: self.adjoint_calls,
            peak_stored_states: self.peak_states,
            peak_bytes: self.peak_bytes,
        }
    }
}

fn store_all<S: Stepper>(
    run: &mut Run<'_, S>,
    init: &S::State,
    n: usize,
    seed: impl FnOnce(&S::State) -> S::Adjoint,
) -> (S::State, S::Adjoint) {
    let mut states = Vec::with_capacity(n);
    let first = init.clone();
    run.hold(&first);
    states.push(first);
    for k in 0..n - 1 {
        let next = run.step(k, last(&states));
        run.hold(&next);
        states.push(next);
    }
    let fin = run.step(n - 1, last(&states));
    let mut adj = run.seed(seed, &fin);
    for k in (0..n).rev() {
        let state = states.pop().expect("state k is stored");
        adj = run.adjoint(k, &state, adj);
        run.release(state);
    }
    (fin, adj)
}

/// `⌈√n⌉`.
fn ceil_sqrt(n: usize) -> usize {
    let r = n.isqrt();
    if r * r < n {
        r + 1
    } else {
        r
    }
}

fn sqrt<S: Stepper>(
    run: &mut Run<'_, S>,
    init: &S::State,
    n: usize,
    seed: impl FnOnce(&S::State) -> S::Adjoint,
) -> (S::State, S::Adjoint) {
    let k = ceil_sqrt(n);
    // Start of the last segment; checkpoints at 0, k, …, last − k.
    let last_start = (n - 1) / k * k;
    let mut checkpoints: Vec<S::State> = Vec::with_capacity(last_start / k);
    let mut cur = init.clone();
    run.hold(&cur);
    for i in 0..last_start {
        let next = if i % k == 0 {
            checkpoints.push(cur);
            run.step(i, last(&checkpoints))
        } else {
            let next = run.step(i, &cur);
            run.release(cur);
            next
        };
        run.hold(&next);
        cur = next;
    }
    // The last segment is kept from the first sweep.
    let mut segment = Vec::with_capacity(k);
    segment.push(cur);
    for i in last_start..n - 1 {
        let next = run.step(i, last(&segment));
        run.hold(&next);
        segment.push(next);
    }
    let fin = run.step(n - 1, last(&segment));
    let mut adj = run.seed(seed, &fin);
    let mut start = last_start;
    loop {
        let len = segment.len();
        for i in (start..start + len).rev() {
            let state = segment.pop().expect("segment state is stored");
            adj = run.adjoint(i, &state, adj);
            run.release(state);
        }
        let Some(checkpoint) = checkpoints.pop() else {
            break;
        };
        start -= k;
        segment.push(checkpoint);
        for i in start..start + k - 1 {
            let next = run.step(i, last(&segment));
            run.hold(&next);
            segment.push(next);
        }
    }
    (fin, adj)
}

fn revolve<S: Stepper>(
    run: &mut Run<'_, S>,
    init: &S::State,
    n: usize,
    snapshots: usize,
    seed: impl FnOnce(&S::State) -> S::Adjoint,
) -> (S::State, S::Adjoint) {
    assert!(snapshots >= 1 || n <= 1, "Schedule::Revolve needs at least one snapshot for {n} steps");
    let mut seed = Some(seed);
    let mut fin = None;
    let mut adj = None;
    let first = init.clone();
    run.hold(&first);
    // Stack of snapshots (index, state), increasing indices. Entry `d`
    // (0-based) starts a segment that may use `snapshots − d` slots, its own
    // included; an entry with 0 slots left is the working state and always
    // starts a segment of length 1.
    let mut stack: Vec<(usize, S::State)> = vec![(0, first)];
    // Steps end.. are already reversed.
    let mut end = n;
    while let Some((c, top)) = stack.last() {
        let c = *c;
        let len = end - c;
        if len == 1 {
            let (c, state) = stack.pop().expect("stack is non-empty");
            let adj_next = match adj.take() {
                Some(a) => a,
                None => {
                    // First leaf: c = n − 1, end of the first sweep.
                    let f = run.step(c, &state);
                    let a = run.seed(seed.take().expect("seed is called once"), &f);
                    fin = Some(f);
                    a
                }
            };
            adj = Some(run.adjoint(c, &state, adj_next));
            run.release(state);
            end = c;
        } else {
            let free = snapshots - (stack.len() - 1);
            let m = c + revolve_split(len, free);
            let mut cur = run.step(c, top);
            run.hold(&cur);
            for i in c + 1..m {
                let next = run.step(i, &cur);
                run.release(cur);
                run.hold(&next);
                cur = next;
            }
            stack.push((m, cur));
        }
    }
    (fin.expect("final state computed"), adj.expect("adjoint computed"))
}

fn last<T>(v: &[T]) -> &T {
    v.last().expect("non-empty")
}

#[cfg(test)]
mod tests {
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
        let (fin, adj, stats) = gradient(&mut toy, &init(), n, &schedule, |x| seed(x));
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
        for s in [
            Schedule::StoreAll,
            Schedule::Sqrt,
            Schedule::Revolve { snapshots: 1 },
            Schedule::Revolve { snapshots: 42 },
        ] {
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
            assert_eq!(err.text(), bad);
            let msg = err.to_string();
            assert!(msg.contains(&format!("{bad:?}")), "{msg}");
            assert!(!err.reason().is_empty());
        }
        assert!("revolve:0".parse::<Schedule>().unwrap_err().reason().contains("at least 1"));
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
        let (_, _, stats) = gradient(&mut toy, &init(), 3, &Schedule::Revolve { snapshots: 1 }, |x| seed(x));
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
        let (_, _, stats) = gradient(&mut toy, &init(), 10, &Schedule::Revolve { snapshots: 2 }, |x| seed(x));
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
        let (_, _, stats) = gradient(&mut toy, &init(), 7, &Schedule::Sqrt, |x| seed(x));
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
        assert!(
            rev.stats.peak_bytes * 20 <= all.stats.peak_bytes,
            "{} vs {}",
            rev.stats.peak_bytes,
            all.stats.peak_bytes
        );
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
            let (fin, adj, stats) = gradient(&mut toy, &init(), 0, &schedule, |x| seed(x));
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
}
