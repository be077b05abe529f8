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
//! The binomial schedule, its cost formula and its proof sketch are in [`revolve`].
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
//! let (x_n, dj_dx0, stats) = gradient(&mut s, &0.5, 100, &schedule, |_| 1.0).unwrap();
//! assert!(x_n > 0.5 && dj_dx0 > 0.0);
//! assert_eq!(stats.recomputed_steps, kinkgrad::pde::checkpoint::revolve_recomputations(100, 3));
//! assert!(stats.peak_stored_states <= 4);
//! ```

mod revolve;
#[cfg(test)]
mod tests;

use revolve::revolve;
pub use revolve::{revolve_advances, revolve_recomputations};

use crate::error::Result;
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

impl FromStr for Schedule {
    type Err = crate::Error;

    /// Parses `"all"`, `"sqrt"` or `"revolve:S"` (`S` decimal digits, `S ≥ 1`).
    /// Case-sensitive; no surrounding whitespace. The error ([`crate::Error::Invalid`]) quotes the
    /// text (escaped) and says why it failed and what is expected.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| {
            crate::Error::invalid(
                format!("checkpoint schedule {text:?}"),
                format!("{reason} (expected \"all\", \"sqrt\" or \"revolve:S\" with S >= 1)"),
            )
        };
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
/// `seed` is called exactly once (also for `n = 0`, with `init`). Every step
/// and adjoint step first polls the cancellation token ([`crate::cancel`]):
/// a requested cancellation stops the run with [`crate::Error::Cancelled`].
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
) -> Result<(S::State, S::Adjoint, RunStats)> {
    if n == 0 {
        let adj = seed(init);
        return Ok((init.clone(), adj, RunStats::default()));
    }
    let mut run = Run::new(stepper, n);
    let (fin, adj) = match *schedule {
        Schedule::StoreAll => store_all(&mut run, init, n, seed)?,
        Schedule::Sqrt => sqrt(&mut run, init, n, seed)?,
        Schedule::Revolve { snapshots } => revolve(&mut run, init, n, snapshots, seed)?,
    };
    Ok((fin, adj, run.stats(n)))
}

/// Bookkeeping wrapper around the stepper: call counts and held memory.
struct Run<'a, S: Stepper> {
    stepper: &'a mut S,
    /// Number of steps (for the cancellation message).
    n: usize,
    step_calls: usize,
    adjoint_calls: usize,
    forward_steps: usize,
    held_states: usize,
    held_bytes: usize,
    peak_states: usize,
    peak_bytes: usize,
}

impl<'a, S: Stepper> Run<'a, S> {
    fn new(stepper: &'a mut S, n: usize) -> Self {
        Run {
            stepper,
            n,
            step_calls: 0,
            adjoint_calls: 0,
            forward_steps: 0,
            held_states: 0,
            held_bytes: 0,
            peak_states: 0,
            peak_bytes: 0,
        }
    }

    /// Step `k`, after polling the cancellation token ([`crate::cancel`]).
    fn step(&mut self, k: usize, state: &S::State) -> Result<S::State> {
        crate::cancel::check(format_args!("time step {} of {}", k + 1, self.n))?;
        self.step_calls += 1;
        Ok(self.stepper.step(k, state))
    }

    /// The adjoint of step `k`, after polling the cancellation token.
    fn adjoint(&mut self, k: usize, state: &S::State, adj_next: S::Adjoint) -> Result<S::Adjoint> {
        crate::cancel::check(format_args!("adjoint of time step {} of {}", k + 1, self.n))?;
        self.adjoint_calls += 1;
        Ok(self.stepper.step_adjoint(k, state, adj_next))
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
) -> Result<(S::State, S::Adjoint)> {
    let mut states = Vec::with_capacity(n);
    let first = init.clone();
    run.hold(&first);
    states.push(first);
    for k in 0..n - 1 {
        let next = run.step(k, last(&states))?;
        run.hold(&next);
        states.push(next);
    }
    let fin = run.step(n - 1, last(&states))?;
    let mut adj = run.seed(seed, &fin);
    for k in (0..n).rev() {
        let state = states.pop().expect("state k is stored");
        adj = run.adjoint(k, &state, adj)?;
        run.release(state);
    }
    Ok((fin, adj))
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
) -> Result<(S::State, S::Adjoint)> {
    let k = ceil_sqrt(n);
    // Start of the last segment; checkpoints at 0, k, …, last − k.
    let last_start = (n - 1) / k * k;
    let mut checkpoints: Vec<S::State> = Vec::with_capacity(last_start / k);
    let mut cur = init.clone();
    run.hold(&cur);
    for i in 0..last_start {
        let next = if i % k == 0 {
            checkpoints.push(cur);
            run.step(i, last(&checkpoints))?
        } else {
            let next = run.step(i, &cur)?;
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
        let next = run.step(i, last(&segment))?;
        run.hold(&next);
        segment.push(next);
    }
    let fin = run.step(n - 1, last(&segment))?;
    let mut adj = run.seed(seed, &fin);
    let mut start = last_start;
    loop {
        let len = segment.len();
        for i in (start..start + len).rev() {
            let state = segment.pop().expect("segment state is stored");
            adj = run.adjoint(i, &state, adj)?;
            run.release(state);
        }
        let Some(checkpoint) = checkpoints.pop() else {
            break;
        };
        start -= k;
        segment.push(checkpoint);
        for i in start..start + k - 1 {
            let next = run.step(i, last(&segment))?;
            run.hold(&next);
            segment.push(next);
        }
    }
    Ok((fin, adj))
}
fn last<T>(v: &[T]) -> &T {
    v.last().expect("non-empty")
}
