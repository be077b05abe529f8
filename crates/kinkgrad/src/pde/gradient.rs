//! The one entry point for the gradient of a transport loss: [`Transport::loss_gradient`].
//!
//! The caller states what it wants ([`GradientRequest`]: data, mode, representation, checkpoint
//! schedule, which gradients); the library picks the path that serves it and reports which one, with
//! the certificate, the measured memory and the run's counters ([`TransportGradient`]):
//!
//! | path | when | memory |
//! |---|---|---|
//! | `piece-tape` | `assoc`, store-all, constant velocity `a != 0`, a slope with declared pieces, no velocity gradient | 1 byte per face and step (nothing for upwind and Lax-Wendroff) |
//! | `checkpointed` | `assoc` otherwise (any scheme, velocity, schedule) | the schedule's states |
//! | `locked-piece-tape` | `safe`/`lex`, otherwise as `piece-tape` | 1 byte per face and step, plus `k` tangents |
//! | `locked-checkpointed` | `safe`/`lex` otherwise | the schedule's states, each with its `k` tangents |
//!
//! Every path differentiates `J = Σ_j (u_j(T) - target_j)^2 dx` with the same kernels and the same
//! piece selection ([`super::kernel`], [`super::lock`]), so the `assoc` paths agree bit for bit, and so
//! do the locked ones for the same directions, whatever the schedule.

use super::checkpoint::{self, RunStats, Schedule};
use super::piece_tape::{self, Probe, Scratch};
use super::rules::Rules;
use super::scheme::{Scheme, Transport};
use super::stepper::{LockedState, LockedStepper, TransportStepper};
use crate::certificate::Certificate;
use crate::engine::Mode;
use crate::error::{Error, Result};
use crate::kink::KinkLog;
use crate::lex::Directions;
use crate::repr::Representation;
use crate::rng::Rng;

/// Which gradients a request wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// `dJ/du0`.
    pub u0: bool,
    /// `dJ/da` (linear transport only).
    pub velocity: bool,
    /// `dJ/ds` (a source must be given).
    pub source: bool,
}

impl Wanted {
    /// Only `dJ/du0`.
    pub const U0: Wanted = Wanted { u0: true, velocity: false, source: false };
}

/// A request for the gradient of `J = Σ_j (u_j(T) - target_j)^2 dx` after `steps` steps.
#[derive(Clone, Debug)]
pub struct GradientRequest<'a> {
    /// The initial state (`cells` values).
    pub u0: &'a [f64],
    /// The target of `u(T)`.
    pub target: &'a [f64],
    /// The velocity: one value or one per face; empty for Burgers.
    pub velocity: &'a [f64],
    /// The source per cell, constant in time.
    pub source: Option<&'a [f64]>,
    /// Number of time steps.
    pub steps: usize,
    /// `assoc`, `safe` or `lex`. The directions of `lex` (rows: the wanted inputs' elements in the
    /// order `u0`, velocity, source) and the probes of `safe` live in the same input space.
    pub mode: &'a Mode,
    /// The representation at kinks (`assoc`), and for nothing else: `safe` and `lex` results do not
    /// depend on it.
    pub representation: &'a Representation,
    /// The checkpoint schedule (store-all lets constant-velocity schemes keep a piece tape).
    pub schedule: Schedule,
    /// The gradients wanted.
    pub wanted: Wanted,
}

/// The path that served a request (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradientPath {
    /// Store-all through the 1-byte piece tape.
    PieceTape,
    /// The checkpointed stepper (representation's pieces).
    Checkpointed,
    /// The piece tape with the pieces locked along tangent directions.
    LockedPieceTape,
    /// The checkpointed locked stepper (state and tangents checkpointed).
    LockedCheckpointed,
}

impl GradientPath {
    /// `piece-tape`, `checkpointed`, `locked-piece-tape`, `locked-checkpointed`.
    pub fn name(self) -> &'static str {
        match self {
            GradientPath::PieceTape => "piece-tape",
            GradientPath::Checkpointed => "checkpointed",
            GradientPath::LockedPieceTape => "locked-piece-tape",
            GradientPath::LockedCheckpointed => "locked-checkpointed",
        }
    }
}

/// The result of [`Transport::loss_gradient`].
#[derive(Clone, Debug)]
pub struct TransportGradient {
    /// `J`.
    pub loss: f64,
    /// `dJ/du0` (empty unless wanted).
    pub u0: Vec<f64>,
    /// `dJ/da` (empty unless wanted).
    pub velocity: Vec<f64>,
    /// `dJ/ds` (empty unless wanted).
    pub source: Vec<f64>,
    /// `lex`: the LD-derivative `J'(x; M)`, one value per direction (from the forward tangents);
    /// `None` in the other modes (as [`crate::Gradients::ld_derivative`]).
    pub ld_derivative: Option<Vec<f64>>,
    /// What the gradient is: kind, kinks per op, locked and unresolved ties, mode, representation,
    /// directions.
    pub certificate: Certificate,
    /// The path that served the request.
    pub path: GradientPath,
    /// The schedule the path ran (store-all for the piece tapes).
    pub schedule: Schedule,
    /// Peak bytes held by the path (stored states or piece codes, tangents and working buffers),
    /// measured from the buffers during the run; the inputs and the returned gradients excluded.
    pub peak_bytes: usize,
    /// Counters of the time loop.
    pub stats: RunStats,
}

/// Buffers reused across calls of [`Transport::loss_gradient_in`] (a training loop).
#[derive(Default)]
pub struct Workspace {
    stepper: Option<TransportStepper>,
    tape: Vec<u8>,
    scratch: Scratch,
    /// The rules last tabulated, with the scheme and representation they are for.
    rules: Option<(Scheme, Representation, Rules)>,
}

impl Workspace {
    /// Tabulate the rules of `scheme` under `rep` unless the last call did (a training loop).
    fn tabulate(&mut self, scheme: Scheme, rep: &Representation) {
        if !matches!(&self.rules, Some((s, r, _)) if *s == scheme && r == rep) {
            self.rules = Some((scheme, rep.clone(), Rules::new(scheme.slope(), rep)));
        }
    }
}

struct Outcome {
    loss: f64,
    u0: Vec<f64>,
    velocity: Vec<f64>,
    source: Vec<f64>,
    ld: Option<Vec<f64>>,
    kinks: usize,
    unresolved: usize,
    peak: usize,
    stats: RunStats,
}

impl Transport {
    /// The gradient of `J = Σ_j (u_j(T) - target_j)^2 dx` as requested, by the path the library
    /// picks (see the module docs). Errors name what is wrong or unsupported: shapes, a velocity for
    /// Burgers, a gradient wanted without its input, `revolve:0`, direction matrices of the wrong
    /// size, a Courant number above the bound, a non-finite loss or gradient.
    ///
    /// ```
    /// use kinkgrad::pde::gradient::{GradientRequest, Wanted};
    /// use kinkgrad::pde::{checkpoint::Schedule, grid::Grid, scheme::Transport};
    /// use kinkgrad::{Mode, Representation};
    /// let g = Grid::unit(32).unwrap();
    /// let t = Transport::from_courant(g, "lw-minmod".parse().unwrap(), 1.0, 0.5, false).unwrap();
    /// let u0: Vec<f64> = g.centers().iter().map(|&x| if x < 0.5 { 1.0 } else { 0.0 }).collect();
    /// let target = vec![0.5; 32];
    /// let (mode, rep) = (Mode::safe(), Representation::default());
    /// let req = GradientRequest {
    ///     u0: &u0, target: &target, velocity: &[1.0], source: None, steps: 10, mode: &mode,
    ///     representation: &rep, schedule: Schedule::Sqrt, wanted: Wanted::U0,
    /// };
    /// let r = t.loss_gradient(&req).unwrap();
    /// assert_eq!(r.path.name(), "locked-checkpointed");
    /// assert_eq!(r.certificate.kind.as_str(), "generalized"); // the plateaus are kinks
    /// assert_eq!(r.u0.len(), 32);
    /// ```
    pub fn loss_gradient(&self, req: &GradientRequest) -> Result<TransportGradient> {
        self.loss_gradient_in(req, &mut Workspace::default())
    }

    /// [`Self::loss_gradient`] reusing the buffers of `ws`.
    pub fn loss_gradient_in(&self, req: &GradientRequest, ws: &mut Workspace) -> Result<TransportGradient> {
        self.check_request(req)?;
        let path = self.gradient_path(req);
        let locks = req.mode.locks();
        let mut directions = 0;
        let out = match req.mode {
            Mode::Assoc if path == GradientPath::PieceTape => self.run_piece_tape(req, ws, None)?,
            Mode::Assoc => self.run_checkpointed(req, ws)?,
            Mode::Lex(m) => {
                let m = match m {
                    Some(m) => m.clone(),
                    None => Directions::identity(self.wanted_len(req)),
                };
                directions = m.cols;
                self.run_locked(req, ws, path, &m)?
            }
            Mode::Safe { seed, max_directions } => {
                // as the tape's safe mode: one probe direction, more while ties survive
                let mut k = 1;
                loop {
                    let m = probes(&self.wanted_blocks(req), k, *seed);
                    let o = self.run_locked(req, ws, path, &m)?;
                    if o.unresolved == 0 || k >= (*max_directions).max(1) {
                        directions = k;
                        break o;
                    }
                    k += 1;
                }
            }
        };
        let op = self.scheme.op_name();
        for (what, v) in [("u0", &out.u0), ("velocity", &out.velocity), ("source", &out.source)] {
            if v.iter().any(|x| !x.is_finite()) {
                return Err(Error::NonFinite { op: format!("{op} (dJ/d{what})"), stage: "gradient" });
            }
        }
        if !out.loss.is_finite() {
            return Err(Error::NonFinite { op: op.to_string(), stage: "value" });
        }
        if out.kinks == 0 && matches!(req.mode, Mode::Safe { .. }) {
            directions = 0; // nothing to lock: no probe direction was needed (as on the tape)
        }
        let mut kinks = KinkLog::default();
        kinks.add("", op, out.kinks);
        let mut certificate = Certificate::for_kinks(req.mode.name(), req.representation.name.clone(), kinks);
        if locks {
            // as the tape's modes count them: every kink's pieces were chosen lexicographically (a
            // tie surviving every direction by taking its first piece, counted as unresolved)
            certificate.locked = out.kinks;
            certificate.unresolved = out.unresolved;
            certificate.directions = directions;
        }
        let schedule = match path {
            GradientPath::PieceTape | GradientPath::LockedPieceTape => Schedule::StoreAll,
            _ => req.schedule,
        };
        Ok(TransportGradient {
            loss: out.loss,
            u0: out.u0,
            velocity: out.velocity,
            source: out.source,
            ld_derivative: out.ld,
            certificate,
            path,
            schedule,
            peak_bytes: out.peak,
            stats: out.stats,
        })
    }

    /// The path [`Self::loss_gradient`] takes for a (valid) request.
    pub fn gradient_path(&self, req: &GradientRequest) -> GradientPath {
        let tape = req.schedule == Schedule::StoreAll
            && !req.wanted.velocity
            && piece_tape::eligible(self.scheme, req.velocity);
        match (matches!(req.mode, Mode::Assoc), tape) {
            (true, true) => GradientPath::PieceTape,
            (true, false) => GradientPath::Checkpointed,
            (false, true) => GradientPath::LockedPieceTape,
            (false, false) => GradientPath::LockedCheckpointed,
        }
    }

    /// The lengths of the wanted inputs, in the order `u0`, velocity, source.
    fn wanted_blocks(&self, req: &GradientRequest) -> Vec<usize> {
        let (n, w) = (self.grid.cells, req.wanted);
        [(w.u0, n), (w.velocity, req.velocity.len()), (w.source, n)].iter().filter(|b| b.0).map(|b| b.1).collect()
    }

    fn wanted_len(&self, req: &GradientRequest) -> usize {
        self.wanted_blocks(req).iter().sum()
    }

    fn check_request(&self, req: &GradientRequest) -> Result<()> {
        let n = self.grid.cells;
        if req.u0.len() != n || req.target.len() != n {
            return Err(Error::shape("transport loss", format!("state and target must have {n} cells")));
        }
        let a = if self.scheme.is_linear() {
            Some(req.velocity.len())
        } else {
            Some(req.velocity.len()).filter(|&l| l > 0)
        };
        self.check_shapes(n, a, req.source.map(|s| s.len()))?;
        self.check_cfl(if self.scheme.is_linear() { req.velocity } else { req.u0 })?;
        if let Schedule::Revolve { snapshots: 0 } = req.schedule {
            return Err(Error::invalid("checkpoint schedule", "revolve needs at least one snapshot"));
        }
        let w = req.wanted;
        if !(w.u0 || w.velocity || w.source) {
            return Err(Error::invalid("gradients", "no gradient wanted"));
        }
        if w.velocity && req.velocity.is_empty() {
            return Err(Error::unsupported("the velocity gradient", "Burgers' equation has no velocity"));
        }
        if w.source && req.source.is_none() {
            return Err(Error::invalid("gradients", "a source gradient was asked for, but no source was given"));
        }
        if let Mode::Lex(Some(m)) = req.mode {
            let len = self.wanted_len(req);
            if m.rows != len || m.data.len() != m.rows * m.cols || m.cols == 0 {
                return Err(Error::invalid(
                    "directions",
                    format!("the direction matrix is {}x{}: expected {len} rows (the wanted inputs' elements) and at least one column", m.rows, m.cols),
                ));
            }
        }
        Ok(())
    }

    /// `J = Σ_j (u_j(T) - target_j)^2 dx` alone, without a gradient: the state after `steps` steps
    /// ([`Self::simulate`]) against `target`. Every gradient path reports this value bit for bit (the
    /// same steps, the same sum), at the cost of the forward run only. Errors as `simulate`, a target
    /// of the wrong length, a non-finite loss.
    pub fn loss(
        &self,
        u0: &[f64],
        target: &[f64],
        velocity: &[f64],
        source: Option<&[f64]>,
        steps: usize,
    ) -> Result<f64> {
        let n = self.grid.cells;
        if target.len() != n {
            return Err(Error::shape("transport loss", format!("state and target must have {n} cells")));
        }
        let j = self.loss_of(target, &self.simulate(u0, velocity, source, steps)?);
        if !j.is_finite() {
            return Err(Error::NonFinite { op: self.scheme.op_name().to_string(), stage: "value" });
        }
        Ok(j)
    }

    fn loss_of(&self, target: &[f64], u: &[f64]) -> f64 {
        u.iter().zip(target).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() * self.grid.dx()
    }

    fn seed(&self, target: &[f64], u: &[f64]) -> (f64, Vec<f64>) {
        let dx = self.grid.dx();
        (self.loss_of(target, u), u.iter().zip(target).map(|(a, b)| 2.0 * (a - b) * dx).collect())
    }

    fn run_piece_tape(&self, req: &GradientRequest, ws: &mut Workspace, probe: Option<Probe>) -> Result<Outcome> {
        ws.tabulate(self.scheme, req.representation);
        let rules = &ws.rules.as_ref().expect("tabulated").2;
        let a = req.velocity[0];
        let n = self.grid.cells;
        let k = probe.as_ref().map_or(0, |p| p.k);
        let mut probe = probe;
        let reborrow = probe.as_mut().map(|p| Probe {
            t: &mut *p.t,
            ds: p.ds,
            k: p.k,
            lock_first: p.lock_first,
            final_tangents: p.final_tangents,
        });
        let (u, kinks, unresolved) = piece_tape::forward(
            true,
            self,
            rules,
            a,
            req.u0,
            req.source,
            req.steps,
            &mut ws.tape,
            reborrow,
            &mut ws.scratch,
        )?;
        let (loss, g) = self.seed(req.target, &u);
        // J'(x; M) = Σ_j 2 (u_j - target_j) dx t_j from the tangents of u(T)
        let ld = probe
            .filter(|p| p.final_tangents)
            .map(|p| (0..k).map(|c| g.iter().zip(&p.t[c * n..(c + 1) * n]).map(|(g, t)| g * t).sum()).collect());
        let mut source = if req.wanted.source { vec![0.0; n] } else { vec![] };
        let src = if req.wanted.source { Some(&mut source[..]) } else { None };
        let g0 = piece_tape::reverse(true, self, rules, a, &ws.tape, req.steps, g, src, &mut ws.scratch)?;
        let tape_bytes = ws.tape.len();
        let stats = RunStats {
            steps: req.steps,
            forward_steps: req.steps,
            recomputed_steps: 0,
            total_forward_steps: req.steps,
            adjoint_steps: req.steps,
            peak_stored_states: 0,
            peak_bytes: tape_bytes,
        };
        Ok(Outcome {
            loss,
            u0: if req.wanted.u0 { g0 } else { vec![] },
            velocity: vec![],
            source,
            ld,
            kinks,
            unresolved,
            // the tape, the tangents (and the source's), the state pair and the working buffers
            peak: tape_bytes + 8 * (2 * k * n + 2 * n) + ws.scratch.bytes(),
            stats,
        })
    }

    fn run_checkpointed(&self, req: &GradientRequest, ws: &mut Workspace) -> Result<Outcome> {
        let reuse = ws.stepper.as_ref().is_some_and(|s| {
            s.transport == *self
                && s.velocity == req.velocity
                && s.rep == *req.representation
                && s.source.is_some() == req.source.is_some()
        });
        if !reuse {
            let src = req.source.map(|s| s.to_vec());
            ws.stepper =
                Some(TransportStepper::new(self.clone(), req.velocity.to_vec(), src, req.representation.clone())?);
        }
        let st = ws.stepper.as_mut().expect("set above");
        if let (Some(s), Some(dst)) = (req.source, st.source.as_mut()) {
            dst.clone_from_slice(s);
        }
        st.reset();
        st.velocity_gradient = req.wanted.velocity;
        let mut loss = 0.0;
        let (_, g0, stats) = checkpoint::gradient(st, &req.u0.to_vec(), req.steps, &req.schedule, |u: &Vec<f64>| {
            let (j, g) = self.seed(req.target, u);
            loss = j;
            g
        })?;
        Ok(Outcome {
            loss,
            u0: if req.wanted.u0 { g0 } else { vec![] },
            velocity: if req.wanted.velocity { st.grad_velocity.clone() } else { vec![] },
            source: if req.wanted.source { st.grad_source.clone() } else { vec![] },
            ld: None,
            kinks: st.kinks,
            unresolved: 0,
            peak: stats.peak_bytes + st.work_bytes(),
            stats,
        })
    }

    /// The locked paths with the directions `m` (rows: the wanted inputs' elements).
    fn run_locked(
        &self,
        req: &GradientRequest,
        ws: &mut Workspace,
        path: GradientPath,
        m: &Directions,
    ) -> Result<Outcome> {
        let (n, k) = (self.grid.cells, m.cols);
        // split the directions into the tangents of u0, the velocity and the source (direction-major)
        let mut row = 0;
        let mut take = |wanted: bool, len: usize| -> Vec<f64> {
            if !wanted {
                return vec![];
            }
            let mut t = vec![0.0; k * len];
            for c in 0..k {
                for e in 0..len {
                    t[c * len + e] = m.data[(row + e) * m.cols + c];
                }
            }
            row += len;
            t
        };
        let mut tu = take(req.wanted.u0, n);
        let ta = take(req.wanted.velocity, req.velocity.len());
        let ts = take(req.wanted.source, n);
        if tu.is_empty() {
            tu = vec![0.0; k * n];
        }
        if path == GradientPath::LockedPieceTape {
            // only lex reports J'(x; M) from the final tangents; safe reads them only at its locks
            let final_tangents = matches!(req.mode, Mode::Lex(_));
            let probe = Probe { t: &mut tu, ds: &ts, k, lock_first: true, final_tangents };
            return self.run_piece_tape(req, ws, Some(probe));
        }
        let mut st = LockedStepper::new(
            self.clone(),
            req.velocity.to_vec(),
            req.source.map(|s| s.to_vec()),
            req.representation,
            k,
        )?;
        st.velocity_tangent = ta;
        st.source_tangent = ts;
        st.velocity_gradient = req.wanted.velocity;
        let x0 = LockedState { u: req.u0.to_vec(), t: tu };
        let mut loss = 0.0;
        let mut ld = vec![0.0; k];
        let (_, g0, stats) = checkpoint::gradient(&mut st, &x0, req.steps, &req.schedule, |x: &LockedState| {
            let (j, g) = self.seed(req.target, &x.u);
            loss = j;
            for (c, l) in ld.iter_mut().enumerate() {
                *l = g.iter().zip(&x.t[c * n..(c + 1) * n]).map(|(g, t)| g * t).sum();
            }
            g
        })?;
        Ok(Outcome {
            loss,
            u0: if req.wanted.u0 { g0 } else { vec![] },
            velocity: if req.wanted.velocity { st.grad_velocity.clone() } else { vec![] },
            source: if req.wanted.source { st.grad_source.clone() } else { vec![] },
            ld: Some(ld).filter(|_| matches!(req.mode, Mode::Lex(_))),
            kinks: st.kinks,
            unresolved: st.unresolved,
            peak: stats.peak_bytes + st.work_bytes(),
            stats,
        })
    }
}

/// `k` probe directions over inputs of lengths `blocks` (in order), drawn as the tape's `safe` mode
/// draws them: uniform on `[-1, 1)` from `Rng::new(seed)`, input by input, direction by direction.
pub(crate) fn probes(blocks: &[usize], k: usize, seed: u64) -> Directions {
    let mut rng = Rng::new(seed);
    let rows: usize = blocks.iter().sum();
    let mut data = vec![0.0; rows * k];
    let mut off = 0;
    for &len in blocks {
        for c in 0..k {
            for e in 0..len {
                data[(off + e) * k + c] = rng.range(-1.0, 1.0);
            }
        }
        off += len;
    }
    Directions { rows, cols: k, data }
}
