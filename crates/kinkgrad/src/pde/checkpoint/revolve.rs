//! Binomial checkpointing ("revolve").
//!
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

use super::{Run, Stepper};
use crate::error::Result;

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
pub(super) struct Repetition {
    /// Least `r` with `β(s, r) ≥ l`.
    pub(super) r: u128,
    /// `β(s, r − 1)` (0 if `r < 1`).
    pub(super) b1: u128,
    /// `β(s, r − 2)` (0 if `r < 2`).
    pub(super) b2: u128,
    /// `β(s, r)`.
    pub(super) b0: u128,
    /// `Σ_{j<r} β(s, j) = β(s + 1, r − 1) = C(s + r, s + 1)`.
    pub(super) sum_below: u128,
}

impl Repetition {
    pub(super) fn new(l: usize, s: usize) -> Self {
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
pub(super) fn revolve_split(l: usize, s: usize) -> usize {
    debug_assert!(l >= 2 && s >= 1);
    let rep = Repetition::new(l, s);
    let lu = l as u128;
    // β(s − 1, r) = β(s, r) − β(s, r − 1), β(s − 1, r − 1) = β(s, r − 1) − β(s, r − 2).
    let lo = lu.saturating_sub(rep.b0.saturating_sub(rep.b1)).max(rep.b2).max(1);
    let hi = (lu - (rep.b1 - rep.b2)).min(rep.b1);
    debug_assert!(lo <= hi && hi < lu, "empty split interval l={l} s={s}");
    hi as usize
}

pub(super) fn revolve<S: Stepper>(
    run: &mut Run<'_, S>,
    init: &S::State,
    n: usize,
    snapshots: usize,
    seed: impl FnOnce(&S::State) -> S::Adjoint,
) -> Result<(S::State, S::Adjoint)> {
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
                    let f = run.step(c, &state)?;
                    let a = run.seed(seed.take().expect("seed is called once"), &f);
                    fin = Some(f);
                    a
                }
            };
            adj = Some(run.adjoint(c, &state, adj_next)?);
            run.release(state);
            end = c;
        } else {
            let free = snapshots - (stack.len() - 1);
            let m = c + revolve_split(len, free);
            let mut cur = run.step(c, top)?;
            run.hold(&cur);
            for i in c + 1..m {
                let next = run.step(i, &cur)?;
                run.release(cur);
                run.hold(&next);
                cur = next;
            }
            stack.push((m, cur));
        }
    }
    Ok((fin.expect("final state computed"), adj.expect("adjoint computed")))
}
