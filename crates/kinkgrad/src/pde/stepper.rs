//! The checkpointed time loops: a step and its adjoint as a checkpoint [`Stepper`], with the pieces
//! decided by the representation's rules ([`TransportStepper`], mode `assoc`) or locked
//! lexicographically along tangent directions carried with the state ([`LockedStepper`], modes `safe`
//! and `lex`). Both recompute the pieces of a step from its state in the adjoint sweep, so every
//! checkpoint schedule gives the same bits: a recomputed state (and, for the locked stepper, its
//! tangents) is bit-identical to the stored one, so are its pieces.

use super::checkpoint::Stepper;
use super::linearize::StepPieces;
use super::lock::Tangents;
use super::rules::Rules;
use super::scheme::Transport;
use crate::error::{Error, Result};
use crate::repr::Representation;

/// Check a stepper's velocity and source against its scheme and grid, and the CFL bound on the
/// velocity (for Burgers the caller checks it on the initial state).
fn check(transport: &Transport, velocity: &[f64], source: Option<usize>) -> Result<()> {
    let n = transport.grid.cells;
    if !transport.scheme.is_linear() && !velocity.is_empty() {
        return Err(Error::invalid("velocity", "Burgers' equation carries its own speed u: give no velocity"));
    }
    let a_opt = if transport.scheme.is_linear() { Some(velocity.len()) } else { None };
    transport.check_shapes(n, a_opt, source)?;
    if transport.scheme.is_linear() {
        transport.check_cfl(velocity)?;
    }
    Ok(())
}

/// The checkpoint [`Stepper`] of a scheme with the representation's pieces (mode `assoc`).
///
/// Parameters: the velocity (1 value or one per face; empty for Burgers) and an optional source.
/// [`Stepper::step_adjoint`] selects the step's pieces at the given state by the representation's
/// rules (the same selection and kernels as the tape op, so the same numbers), returns `J_u^T g`, and
/// accumulates `J_a^T g` into [`TransportStepper::grad_velocity`] (when
/// [`TransportStepper::velocity_gradient`]) and `dt g` into [`TransportStepper::grad_source`].
/// Kinks are counted in the adjoint sweep (once per step, whatever the schedule recomputes).
pub struct TransportStepper {
    /// The scheme, grid and time step.
    pub transport: Transport,
    /// The velocity: one value, or one per face; empty for Burgers.
    pub velocity: Vec<f64>,
    /// The source per cell, if any.
    pub source: Option<Vec<f64>>,
    /// The representation used at kinks.
    pub rep: Representation,
    /// Accumulated `dJ/da` (length of the velocity).
    pub grad_velocity: Vec<f64>,
    /// Accumulated `dJ/ds` (empty without a source).
    pub grad_source: Vec<f64>,
    /// Kinks met by the adjoint sweep.
    pub kinks: usize,
    /// Accumulate [`Self::grad_velocity`] (default `true`).
    pub velocity_gradient: bool,
    /// The rules tabulated for the representation they were read from.
    rules: Option<(Representation, Rules)>,
    pieces: StepPieces,
    ext: Vec<f64>,
    flux: Vec<f64>,
    ga: Vec<f64>,
    /// Released state buffers, reused by `step` (at most the schedule's peak number of states).
    pool: Vec<Vec<f64>>,
    /// The previous adjoint's buffer, reused for the next one.
    spare: Vec<f64>,
}

impl TransportStepper {
    /// A stepper; checks the shapes and the CFL bound (on the velocity; for Burgers call
    /// [`Transport::check_cfl`] on the initial state).
    pub fn new(
        transport: Transport,
        velocity: Vec<f64>,
        source: Option<Vec<f64>>,
        rep: Representation,
    ) -> Result<Self> {
        check(&transport, &velocity, source.as_ref().map(|s| s.len()))?;
        let grad_source = if source.is_some() { vec![0.0; transport.grid.cells] } else { vec![] };
        Ok(Self {
            grad_velocity: vec![0.0; velocity.len()],
            transport,
            velocity,
            source,
            rep,
            grad_source,
            kinks: 0,
            velocity_gradient: true,
            rules: None,
            pieces: StepPieces::default(),
            ext: Vec::new(),
            flux: Vec::new(),
            ga: Vec::new(),
            pool: Vec::new(),
            spare: Vec::new(),
        })
    }

    /// Free the state buffers kept for reuse. A stepper keeps the buffers the checkpoint schedule
    /// hands back ([`Stepper::recycle`]), up to the schedule's peak number of states, so that a
    /// stepper reused across gradient calls (a training loop) does not touch fresh memory at every
    /// step.
    pub fn release_buffers(&mut self) {
        self.pool = Vec::new();
    }

    /// Reset the accumulated gradients and the kink count (and re-read [`Self::rep`] if it changed).
    pub fn reset(&mut self) {
        self.grad_velocity.iter_mut().for_each(|g| *g = 0.0);
        self.grad_source.iter_mut().for_each(|g| *g = 0.0);
        self.kinks = 0;
        if self.rules.as_ref().is_some_and(|(r, _)| *r != self.rep) {
            self.rules = None;
        }
    }

    /// Bytes of the working buffers (not the states the schedule holds).
    pub(crate) fn work_bytes(&self) -> usize {
        self.pieces.bytes()
            + 8 * (self.ext.capacity() + self.flux.capacity() + self.ga.capacity() + self.spare.capacity())
    }

    #[inline(always)]
    fn step_adjoint_body(&mut self, u: &[f64], g: Vec<f64>) -> Vec<f64> {
        let n = u.len();
        let t = &self.transport;
        let rep = &self.rep;
        let (_, rules) = self.rules.get_or_insert_with(|| (rep.clone(), Rules::new(t.scheme.slope(), rep)));
        let (kinks, _) = self.pieces.select(rules, t.lambda(), u, &self.velocity, None);
        self.kinks += kinks;
        let mut out = std::mem::take(&mut self.spare);
        out.resize(n, 0.0);
        self.pieces.adjoint(&g, &mut out);
        if self.velocity_gradient && !self.velocity.is_empty() {
            self.ga.resize(self.velocity.len(), 0.0);
            self.pieces.velocity_adjoint(&mut self.ga);
            for (acc, v) in self.grad_velocity.iter_mut().zip(&self.ga) {
                *acc += v;
            }
        }
        if self.source.is_some() {
            let dt = self.transport.dt;
            for (acc, v) in self.grad_source.iter_mut().zip(&g) {
                *acc += dt * v;
            }
        }
        self.spare = g;
        out
    }
}

impl Stepper for TransportStepper {
    type State = Vec<f64>;
    type Adjoint = Vec<f64>;
    fn step(&mut self, _n: usize, u: &Vec<f64>) -> Vec<f64> {
        let mut out = match self.pool.pop() {
            Some(mut v) => {
                v.resize(u.len(), 0.0);
                v
            }
            None => vec![0.0; u.len()],
        };
        self.transport.step_values(u, &self.velocity, self.source.as_deref(), &mut self.ext, &mut self.flux, &mut out);
        out
    }
    fn step_adjoint(&mut self, _n: usize, u: &Vec<f64>, g: Vec<f64>) -> Vec<f64> {
        // the same arithmetic compiled for the CPU's vector units (same bits on every path)
        step_adjoint_wide(self, u, g)
    }
    fn state_bytes(&self, u: &Vec<f64>) -> usize {
        u.len() * std::mem::size_of::<f64>()
    }
    fn recycle(&mut self, state: Vec<f64>) {
        self.pool.push(state);
    }
}

#[inline(always)]
fn step_adjoint_free(st: &mut TransportStepper, u: &[f64], g: Vec<f64>) -> Vec<f64> {
    st.step_adjoint_body(u, g)
}

wide_fn! {
    /// The stepper's adjoint step compiled for the CPU's vector units.
    fn step_adjoint_wide(st: &mut TransportStepper, u: &[f64], g: Vec<f64>) -> Vec<f64> = step_adjoint_free;
}

/// A state of the [`LockedStepper`]: the field and its tangents along the `k` directions
/// (direction-major, `t[c n + i]`). Checkpointed as a whole, so a recomputed step locks the same
/// pieces.
#[derive(Clone, Debug, PartialEq)]
pub struct LockedState {
    /// The field.
    pub u: Vec<f64>,
    /// Its tangents, `k n` values.
    pub t: Vec<f64>,
}

/// The checkpoint [`Stepper`] of a scheme with its pieces locked lexicographically (modes `safe` and
/// `lex`): the state carries its tangents along `k` directions, every step locks its kink faces along
/// them ([`super::lock::lock_faces`]) and advances them on the locked pieces (with the velocity's and
/// the source's tangents), and the adjoint sweep re-derives the same locks from the checkpointed
/// state. Any number of directions; any scheme (per-face velocity, Burgers, van Leer); any schedule.
///
/// The source may be supplied per step ([`LockedStepper::advance`], [`LockedStepper::adjoint`]) with
/// its tangents, so that a caller whose source depends on the state (a network) locks the scheme's
/// kinks jointly with its own.
pub struct LockedStepper {
    /// The scheme, grid and time step.
    pub transport: Transport,
    /// The velocity: one value, or one per face; empty for Burgers.
    pub velocity: Vec<f64>,
    /// The velocity's tangents along the directions (`k` or `k n` values; empty: zero).
    pub velocity_tangent: Vec<f64>,
    /// The source per cell, constant in time (used by the [`Stepper`] impl).
    pub source: Option<Vec<f64>>,
    /// The source's tangents (`k n` values; empty: zero).
    pub source_tangent: Vec<f64>,
    /// Number of directions.
    pub k: usize,
    /// Accumulate [`Self::grad_velocity`].
    pub velocity_gradient: bool,
    /// Accumulated `dJ/da` on the locked pieces.
    pub grad_velocity: Vec<f64>,
    /// Accumulated `dJ/ds`.
    pub grad_source: Vec<f64>,
    /// Kinks met by the adjoint sweep.
    pub kinks: usize,
    /// Ties that survived every direction with differing partials (their first piece was taken).
    pub unresolved: usize,
    rules: Rules,
    pieces: StepPieces,
    ext: Vec<f64>,
    flux: Vec<f64>,
    ga: Vec<f64>,
    /// Released states, reused by `advance`.
    pool: Vec<LockedState>,
    /// Kinks and unresolved ties of the last step [`Self::advance`] took.
    last: (usize, usize),
}

impl LockedStepper {
    /// A locked stepper with `k` directions; checks shapes and the CFL bound as
    /// [`TransportStepper::new`].
    pub fn new(
        transport: Transport,
        velocity: Vec<f64>,
        source: Option<Vec<f64>>,
        rep: &Representation,
        k: usize,
    ) -> Result<Self> {
        check(&transport, &velocity, source.as_ref().map(|s| s.len()))?;
        let grad_source = if source.is_some() { vec![0.0; transport.grid.cells] } else { vec![] };
        Ok(Self {
            rules: Rules::new(transport.scheme.slope(), rep),
            grad_velocity: vec![0.0; velocity.len()],
            transport,
            velocity,
            velocity_tangent: Vec::new(),
            source,
            source_tangent: Vec::new(),
            k,
            velocity_gradient: true,
            grad_source,
            kinks: 0,
            unresolved: 0,
            pieces: StepPieces::default(),
            ext: Vec::new(),
            flux: Vec::new(),
            ga: Vec::new(),
            pool: Vec::new(),
            last: (0, 0),
        })
    }

    /// The pieces of the last step [`Self::advance`] took: one single-piece code per face (bit `q`:
    /// piece `q` of the slope), its kinks and unresolved ties; `None` unless the velocity is constant,
    /// `a != 0`, and the slope has declared pieces (the piece-locked replay, [`super::replay`]).
    pub(crate) fn last_step_pieces(&self) -> Option<(&[u8], usize, usize)> {
        let codes = self.pieces.hoisted_codes()?;
        super::piece_tape::eligible(self.transport.scheme, &self.velocity).then_some((codes, self.last.0, self.last.1))
    }

    #[inline(always)]
    fn lock(&mut self, x: &LockedState) -> (usize, usize) {
        let tan = Tangents { u: &x.t, a: &self.velocity_tangent, k: self.k };
        self.pieces.select(&self.rules, self.transport.lambda(), &x.u, &self.velocity, Some(tan))
    }

    /// One step with the source `s` and its tangents `st` (`k n` values; empty: zero): the new field
    /// and its tangents on the locked pieces.
    pub fn advance(&mut self, x: &LockedState, s: Option<&[f64]>, st: &[f64]) -> LockedState {
        // the same arithmetic compiled for the CPU's vector units (same bits on every path)
        advance_wide(self, x, s, st)
    }

    #[inline(always)]
    fn advance_body(&mut self, x: &LockedState, s: Option<&[f64]>, st: &[f64]) -> LockedState {
        let n = x.u.len();
        self.last = self.lock(x);
        let LockedState { mut u, mut t } = self.pool.pop().unwrap_or(LockedState { u: vec![], t: vec![] });
        u.resize(n, 0.0);
        t.resize(self.k * n, 0.0);
        self.transport.step_values(&x.u, &self.velocity, s, &mut self.ext, &mut self.flux, &mut u);
        let dt = self.transport.dt;
        for c in 0..self.k {
            let o = &mut t[c * n..(c + 1) * n];
            self.pieces.tangent(&x.t[c * n..(c + 1) * n], o);
            if !self.velocity_tangent.is_empty() {
                let per = self.velocity_tangent.len() / self.k;
                self.pieces.add_velocity_tangent(&self.velocity_tangent[c * per..(c + 1) * per], o);
            }
            if !st.is_empty() {
                o.iter_mut().zip(&st[c * n..(c + 1) * n]).for_each(|(o, v)| *o += dt * v);
            }
        }
        LockedState { u, t }
    }

    /// The adjoint of one step at `x` on the pieces [`Self::advance`] locked: returns `J_u^T g`,
    /// accumulates `J_a^T g` (when [`Self::velocity_gradient`]) and counts the step's kinks and ties.
    /// The source's adjoint `dt g` is the caller's (the [`Stepper`] impl adds it to
    /// [`Self::grad_source`]).
    pub fn adjoint(&mut self, x: &LockedState, g: &[f64]) -> Vec<f64> {
        adjoint_wide(self, x, g)
    }

    #[inline(always)]
    fn adjoint_body(&mut self, x: &LockedState, g: &[f64]) -> Vec<f64> {
        let (kinks, unresolved) = self.lock(x);
        self.kinks += kinks;
        self.unresolved += unresolved;
        let mut out = vec![0.0; g.len()];
        self.pieces.adjoint(g, &mut out);
        if self.velocity_gradient && !self.velocity.is_empty() {
            self.ga.resize(self.velocity.len(), 0.0);
            self.pieces.velocity_adjoint(&mut self.ga);
            for (acc, v) in self.grad_velocity.iter_mut().zip(&self.ga) {
                *acc += v;
            }
        }
        out
    }

    /// Bytes of the working buffers.
    pub(crate) fn work_bytes(&self) -> usize {
        self.pieces.bytes() + 8 * (self.ext.capacity() + self.flux.capacity() + self.ga.capacity())
    }
}

impl Stepper for LockedStepper {
    type State = LockedState;
    type Adjoint = Vec<f64>;
    fn step(&mut self, _n: usize, x: &LockedState) -> LockedState {
        let s = self.source.take();
        let st = std::mem::take(&mut self.source_tangent);
        let y = self.advance(x, s.as_deref(), &st);
        (self.source, self.source_tangent) = (s, st);
        y
    }
    fn step_adjoint(&mut self, _n: usize, x: &LockedState, g: Vec<f64>) -> Vec<f64> {
        let out = self.adjoint(x, &g);
        if self.source.is_some() {
            let dt = self.transport.dt;
            for (acc, v) in self.grad_source.iter_mut().zip(&g) {
                *acc += dt * v;
            }
        }
        out
    }
    fn state_bytes(&self, x: &LockedState) -> usize {
        (x.u.len() + x.t.len()) * std::mem::size_of::<f64>()
    }
    fn recycle(&mut self, state: LockedState) {
        self.pool.push(state);
    }
}

#[inline(always)]
fn advance_free(st: &mut LockedStepper, x: &LockedState, s: Option<&[f64]>, t: &[f64]) -> LockedState {
    st.advance_body(x, s, t)
}

#[inline(always)]
fn adjoint_free(st: &mut LockedStepper, x: &LockedState, g: &[f64]) -> Vec<f64> {
    st.adjoint_body(x, g)
}

wide_fn! {
    /// [`LockedStepper::advance`] compiled for the CPU's vector units.
    fn advance_wide(st: &mut LockedStepper, x: &LockedState, s: Option<&[f64]>, t: &[f64]) -> LockedState = advance_free;
}

wide_fn! {
    /// [`LockedStepper::adjoint`] compiled for the CPU's vector units.
    fn adjoint_wide(st: &mut LockedStepper, x: &LockedState, g: &[f64]) -> Vec<f64> = adjoint_free;
}
