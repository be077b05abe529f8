//! The hybrid model: a scheme from [`crate::pde`] and a ReLU network source from [`crate::nn`], with
//! the cost `J(W)` and its gradient through every time step.

use super::data::{Dataset, SourceForm};
use super::net_grad::{Plan, Scratch};
use crate::cancel;
use crate::certificate::Certificate;
use crate::engine::Mode;
use crate::error::{Error, Result};
use crate::kink::KinkLog;
use crate::nn::Sequential;
use crate::pde::checkpoint::{self, Schedule, Stepper};
use crate::pde::gradient::{GradientRequest, Wanted, Workspace};
use crate::pde::scheme::Transport;
use crate::pde::stepper::TransportStepper;
use crate::repr::Representation;
use crate::reverse::{Tape, Var};
use crate::tensor::Tensor;
use rayon::prelude::*;

/// The network source and its form.
#[derive(Clone, Debug)]
pub struct HybridModel {
    /// The network: `4-h-h-1` (alpha form) or `5-h-h-1` (state form), ReLU.
    pub net: Sequential<f64>,
    /// The source form.
    pub form: SourceForm,
}

/// `J`, its gradient and what the evaluation met.
#[derive(Clone, Debug)]
pub struct LossReport {
    /// `J(W)`, the mean over the samples.
    pub loss: f64,
    /// `dJ/dW`, one vector per parameter tensor (empty when not asked for).
    pub grads: Vec<Vec<f64>>,
    /// What `dJ/dW` is: its kind, mode and representation, and the kinks it met under the scopes
    /// [`NET`] (the network's relu inputs exactly 0, per op) and [`SCHEME`] (upwind switches and
    /// limiter arguments on switching surfaces, under the scheme's op name).
    pub certificate: Certificate,
    /// Memory held by the gradient's path: in mode `assoc` the largest held by stored states (or the
    /// piece tape) in one sample's checkpointed sweep; in `safe`/`lex` the bytes the tape holds
    /// after the gradient ([`crate::Tape::bytes`], measured: every node's value and the time-step
    /// ops' linearisations and locked copies).
    pub peak_bytes: usize,
}

/// Scope of the network's kinks in a hybrid certificate.
pub const NET: &str = "net";
/// Scope of the scheme's kinks in a hybrid certificate.
pub const SCHEME: &str = "scheme";

/// The kinks of `log` under `scope` (summed over its ops).
pub fn scope_kinks(log: &KinkLog, scope: &str) -> usize {
    log.sites().iter().filter(|s| s.scope == scope).map(|s| s.count).sum()
}

/// `log` with the kinks recorded under [`SCHEME`] kept there and every other scope (the network's
/// layers) folded into [`NET`], per op.
pub(super) fn net_and_scheme(log: &KinkLog) -> KinkLog {
    let mut out = KinkLog::default();
    for s in log.sites() {
        out.add(if s.scope == SCHEME { SCHEME } else { NET }, &s.op, s.count);
    }
    out
}

/// The op name the scheme's kinks are counted under (the name of the scheme's step op).
fn scheme_op(t: &Transport) -> String {
    format!("transport-{}", t.scheme.name())
}

impl LossReport {
    /// Kinks hit by the network.
    pub fn net_kinks(&self) -> usize {
        scope_kinks(&self.certificate.kinks, NET)
    }
    /// Kinks hit by the scheme.
    pub fn scheme_kinks(&self) -> usize {
        scope_kinks(&self.certificate.kinks, SCHEME)
    }
}

fn features_x(t: &Transport) -> (Vec<f64>, Vec<f64>) {
    let x = t.grid.centers();
    let tau = 2.0 * std::f64::consts::PI;
    (x.iter().map(|v| (tau * v).sin()).collect(), x.iter().map(|v| (tau * v).cos()).collect())
}

/// Network inputs per cell: `P` parameters and `sin`, `cos`, after `u` in the state form.
fn feature_width(alpha: &[f64], state: bool) -> usize {
    alpha.len() + 2 + usize::from(state)
}

/// Append one sample's network inputs, row by row, to `f`.
fn push_features(f: &mut Vec<f64>, alpha: &[f64], sx: &[f64], cx: &[f64], u: Option<&[f64]>) {
    f.reserve(sx.len() * feature_width(alpha, u.is_some()));
    for j in 0..sx.len() {
        if let Some(u) = u {
            f.push(u[j]);
        }
        f.extend_from_slice(alpha);
        f.extend_from_slice(&[sx[j], cx[j]]);
    }
}

/// Rows of the network batch evaluated on one tape in the alpha form. The samples are split into
/// chunks of about this many rows (whole samples), and the chunks run in parallel, each on its own
/// tape: each chunk's intermediate values stay in cache (a 512 x 32 `f64` activation is 128 KiB)
/// instead of streaming whole-batch tensors through memory, and the two parts of the work (the
/// network on the tape, the time loops) run on every core without a serial phase. The chunking
/// depends only on the number of cells, never on the thread count, so results are reproducible.
const CHUNK_ROWS: usize = 512;

/// Samples per chunk (at least one).
fn samples_per_chunk(cells: usize) -> usize {
    (CHUNK_ROWS / cells.max(1)).max(1)
}

impl HybridModel {
    /// A seeded model for 2 source parameters with hidden width `width` (two hidden ReLU layers, He
    /// initialisation): [`HybridModel::with_sizes`] with `[4, w, w, 1]` (alpha form) or `[5, w, w, 1]`.
    pub fn new(form: SourceForm, width: usize, seed: u64) -> Result<Self> {
        Self::with_sizes(form, &[Self::inputs(form, 2), width, width, 1], seed)
    }

    /// Network inputs per cell: `(alpha, sin 2 pi x, cos 2 pi x)`, with `u` first in the state form.
    fn features(&self, alpha: &[f64], sx: &[f64], cx: &[f64], u: Option<&[f64]>) -> Tensor<f64> {
        let mut f = Vec::new();
        push_features(&mut f, alpha, sx, cx, u);
        Tensor::from_parts(vec![sx.len(), feature_width(alpha, u.is_some())], f)
    }

    /// The learned source per cell for one sample (state form: at state `u`).
    pub fn source(&self, t: &Transport, alpha: &[f64], u: Option<&[f64]>) -> Result<Vec<f64>> {
        let (sx, cx) = features_x(t);
        let tape = Tape::<f64>::new();
        let p: Vec<Var<'_, f64>> = self.net.params.iter().map(|p| tape.constant(p.clone())).collect();
        let s = self.net.forward(tape.constant(self.features(alpha, &sx, &cx, u)), &p)?;
        Ok(s.value().into_vec())
    }

    /// Final state of one sample under the model.
    pub fn simulate(&self, d: &Dataset, t: &Transport, i: usize) -> Result<Vec<f64>> {
        let a = d.velocity_arg(t);
        let (mut ext, mut flux) = (Vec::new(), Vec::new());
        let mut u = d.beta[i].clone();
        let mut next = vec![0.0; u.len()];
        let fixed = match self.form {
            SourceForm::Alpha => Some(self.source(t, &d.alpha[i], None)?),
            SourceForm::State => None,
        };
        for k in 0..d.steps {
            cancel::check(format_args!("time step {} of {}", k + 1, d.steps))?;
            let s = match &fixed {
                Some(s) => s.clone(),
                None => self.source(t, &d.alpha[i], Some(&u))?,
            };
            t.step_values(&u, &a, Some(&s), &mut ext, &mut flux, &mut next);
            std::mem::swap(&mut u, &mut next);
        }
        Ok(u)
    }

    /// `J` over the samples `idx` (no gradient). The network runs once on the whole batch (alpha
    /// form) or once per step on the whole batch (state form).
    pub fn loss(&self, d: &Dataset, idx: &[usize]) -> Result<f64> {
        if idx.is_empty() {
            return Err(Error::invalid("samples", "no sample to evaluate"));
        }
        self.check_fits(d)?;
        let t = d.transport()?;
        let dx = t.grid.dx();
        let n = t.grid.cells;
        let m = idx.len() as f64;
        let finals: Vec<f64> = match self.form {
            SourceForm::Alpha => {
                // per chunk of samples: the network on the chunk's cells, then the chunk's time loops
                let (sx, cx) = features_x(&t);
                let a = d.velocity_arg(&t);
                let parts: Vec<Vec<f64>> = idx
                    .par_chunks(samples_per_chunk(n))
                    .map(|c| {
                        let tape = Tape::<f64>::new();
                        let p: Vec<Var<'_, f64>> = self.net.params.iter().map(|p| tape.constant(p.clone())).collect();
                        let x = tape.constant(Self::stacked_features(d, &sx, &cx, c, None));
                        let s = self.net.forward(x, &p)?.value();
                        let mut out = Vec::with_capacity(c.len() * n);
                        for (k, &i) in c.iter().enumerate() {
                            out.extend(t.simulate(&d.beta[i], &a, Some(&s.data()[k * n..(k + 1) * n]), d.steps)?);
                        }
                        Ok(out)
                    })
                    .collect::<Result<_>>()?;
                parts.concat()
            }
            SourceForm::State => {
                let mut st = self.closure_stepper(d, &t, idx, &Mode::Assoc, &Representation::default())?;
                let u0: Vec<f64> = idx.iter().flat_map(|&i| d.beta[i].iter().copied()).collect();
                let u = checkpoint::forward(&mut st, &u0, d.steps);
                if let Some(e) = st.error {
                    return Err(e);
                }
                u
            }
        };
        let target = idx.iter().flat_map(|&i| d.gamma[i].iter());
        Ok(finals.iter().zip(target).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() * dx / m)
    }

    fn closure_stepper(
        &self,
        d: &Dataset,
        t: &Transport,
        idx: &[usize],
        mode: &Mode,
        rep: &Representation,
    ) -> Result<ClosureStepper<'_>> {
        let a = d.velocity_arg(t);
        let steppers = idx
            .iter()
            .map(|_| TransportStepper::new(t.clone(), a.clone(), None, rep.clone()))
            .collect::<Result<Vec<_>>>()?;
        Ok(ClosureStepper {
            model: self,
            steppers,
            rest: self.batch_features(d, t, idx, None),
            n: t.grid.cells,
            dt: t.dt,
            mode: mode.clone(),
            rep: rep.clone(),
            grads: self.net.params.iter().map(|p| vec![0.0; p.len()]).collect(),
            net_kinks: KinkLog::default(),
            steps: d.steps,
            error: None,
        })
    }

    /// `J` over the samples `idx` and `dJ/dW`, with its certificate.
    ///
    /// In mode `assoc` the network runs once on all cells of all samples (one tape, large matrix
    /// products); the time loops run per sample in parallel (alpha form) or in lockstep with the
    /// network evaluated on the whole batch at every step (state form), checkpointed by `schedule`;
    /// the network and the scheme's adjoint use `rep`'s rules at their kinks.
    ///
    /// Modes `safe` and `lex` lock the network's and the scheme's kinks together, on one tape (see
    /// the `locked` module): the alpha form with a constant non-zero velocity and a scheme of the
    /// 1-byte piece tape records all time loops as one op ([`Transport::time_loop_var`], one byte
    /// per face, step and sample); the state form, Burgers' equation and the other cases record
    /// every time step ([`Transport::step_var`]) after the network's source for that step, so the
    /// tape holds every step's network activations and linearisation ([`LossReport::peak_bytes`]
    /// measures it). Both locked paths store everything: a recompute schedule (`sqrt`,
    /// `revolve:S`) is refused with [`Error::Unsupported`] in these modes, never accepted and
    /// ignored.
    pub fn loss_and_gradient(
        &self,
        d: &Dataset,
        idx: &[usize],
        mode: &Mode,
        rep: &Representation,
        schedule: &Schedule,
    ) -> Result<LossReport> {
        if idx.is_empty() {
            return Err(Error::invalid("samples", "no sample to evaluate"));
        }
        self.check_fits(d)?;
        if let Schedule::Revolve { snapshots: 0 } = schedule {
            return Err(Error::invalid("checkpoint schedule", "revolve needs at least one snapshot"));
        }
        let t = d.transport()?;
        if mode.locks() {
            return self.gradient_locked(d, &t, idx, mode, rep, schedule);
        }
        match self.form {
            SourceForm::Alpha => self.gradient_alpha(d, &t, idx, mode, rep, schedule),
            SourceForm::State => self.gradient_state(d, &t, idx, mode, rep, schedule),
        }
    }

    /// Features of a batch of samples, stacked: `[len(idx) * N, 4 or 5]`.
    pub(super) fn batch_features(&self, d: &Dataset, t: &Transport, idx: &[usize], u: Option<&[f64]>) -> Tensor<f64> {
        let (sx, cx) = features_x(t);
        Self::stacked_features(d, &sx, &cx, idx, u)
    }

    /// [`Self::batch_features`] from the precomputed `sin 2 pi x`, `cos 2 pi x`.
    fn stacked_features(d: &Dataset, sx: &[f64], cx: &[f64], idx: &[usize], u: Option<&[f64]>) -> Tensor<f64> {
        let n = sx.len();
        let w = d.params() + 2 + usize::from(u.is_some());
        let mut f = Vec::with_capacity(idx.len() * n * w);
        for (k, &i) in idx.iter().enumerate() {
            push_features(&mut f, &d.alpha[i], sx, cx, u.map(|u| &u[k * n..(k + 1) * n]));
        }
        Tensor::from_parts(vec![idx.len() * n, w], f)
    }

    fn gradient_alpha(
        &self,
        d: &Dataset,
        t: &Transport,
        idx: &[usize],
        mode: &Mode,
        rep: &Representation,
        schedule: &Schedule,
    ) -> Result<LossReport> {
        let n = t.grid.cells;
        let m = idx.len() as f64;
        let a = d.velocity_arg(t);
        let (sx, cx) = features_x(t);
        // `safe` and `lex` select pieces over the whole batch at once (one set of probe directions,
        // one certificate): one tape. `assoc` decides every kink element by element, so the batch splits
        // into chunks with the same pieces, the same kink count and the same values.
        let per = if *mode == Mode::Assoc { samples_per_chunk(n) } else { idx.len() };
        // the time loops of a chunk: sequential inside an `assoc` chunk, in parallel over the one big
        // chunk; `m` divides `dJ/ds`
        let sweep = |c: &[usize], sv: &[f64], out: &mut ChunkGradient| -> Result<Vec<f64>> {
            let sweeps: Vec<Sweeps> = c
                .par_chunks(samples_per_chunk(n))
                .zip(sv.par_chunks(samples_per_chunk(n) * n))
                .map(|(cc, src)| Sweeps::run(d, t, &a, rep, schedule, cc, src, m))
                .collect::<Result<_>>()?;
            let mut ds = Vec::with_capacity(c.len() * n);
            for w in sweeps {
                out.losses.extend(w.losses);
                ds.extend(w.ds);
                out.scheme_kinks += w.kinks;
                out.peak_bytes = out.peak_bytes.max(w.peak_bytes);
            }
            Ok(ds)
        };
        let run = |c: &[usize]| -> Result<ChunkGradient> {
            let tape = Tape::<f64>::with_representation(rep.clone());
            let params = self.net.param_vars(&tape);
            let s = self.net.forward(tape.constant(Self::stacked_features(d, &sx, &cx, c, None)), &params)?;
            let mut out = ChunkGradient::default();
            let ds = sweep(c, s.value().data(), &mut out)?;
            let sur = s.mul(tape.constant(Tensor::from_parts(vec![c.len() * n, 1], ds)))?.sum();
            let g = tape.gradient(sur, &params, mode)?;
            out.net_kinks = net_and_scheme(&g.certificate.kinks);
            out.grads = g.values.into_iter().map(Tensor::into_vec).collect();
            Ok(out)
        };
        // `assoc` off kinks: the network without a tape (`net_grad`, the tape's bits); a chunk where a
        // relu input is zero or NaN, or a value is not finite, runs on the tape
        let plan = (*mode == Mode::Assoc).then(|| Plan::of(&self.net)).flatten();
        let run_planned = |scr: &mut Scratch, c: &[usize]| -> Result<ChunkGradient> {
            let Some(plan) = plan.as_ref().filter(|p| p.outputs() == 1) else { return run(c) };
            let x = Self::stacked_features(d, &sx, &cx, c, None);
            let Some(sv) = plan.forward(&self.net, x.data(), c.len() * n, scr) else { return run(c) };
            let sv = sv.to_vec();
            let mut out = ChunkGradient::default();
            let ds = sweep(c, &sv, &mut out)?;
            match plan.gradient(&self.net, x.data(), &ds, scr) {
                Some(g) => {
                    out.grads = g;
                    Ok(out)
                }
                None => run(c),
            }
        };
        // one chunk runs on this thread (its products then split across the threads themselves)
        let chunks: Vec<ChunkGradient> = if per >= idx.len() {
            vec![run_planned(&mut Scratch::default(), idx)?]
        } else {
            idx.par_chunks(per).map_init(Scratch::default, run_planned).collect::<Result<_>>()?
        };
        // sums in a fixed order (chunk by chunk, sample by sample): reproducible whatever the threads
        let mut grads: Vec<Vec<f64>> = self.net.params.iter().map(|p| vec![0.0; p.len()]).collect();
        for c in &chunks {
            for (acc, g) in grads.iter_mut().zip(&c.grads) {
                acc.iter_mut().zip(g).for_each(|(a, b)| *a += b);
            }
        }
        let mut kinks = KinkLog::default();
        for c in &chunks {
            kinks.merge(&c.net_kinks);
            kinks.add(SCHEME, &scheme_op(t), c.scheme_kinks);
        }
        Ok(LossReport {
            loss: chunks.iter().flat_map(|c| c.losses.iter()).sum::<f64>() / m,
            grads,
            certificate: Certificate::for_kinks(mode.name(), rep.name.clone(), kinks),
            peak_bytes: chunks.iter().map(|c| c.peak_bytes).max().unwrap_or(0),
        })
    }

    fn gradient_state(
        &self,
        d: &Dataset,
        t: &Transport,
        idx: &[usize],
        mode: &Mode,
        rep: &Representation,
        schedule: &Schedule,
    ) -> Result<LossReport> {
        let m = idx.len() as f64;
        let mut st = self.closure_stepper(d, t, idx, mode, rep)?;
        let dx = t.grid.dx();
        let u0: Vec<f64> = idx.iter().flat_map(|&i| d.beta[i].iter().copied()).collect();
        let target: Vec<f64> = idx.iter().flat_map(|&i| d.gamma[i].iter().copied()).collect();
        let mut loss = 0.0;
        let (_, _, stats) = checkpoint::gradient(&mut st, &u0, d.steps, schedule, |u: &Vec<f64>| {
            loss = u.iter().zip(&target).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() * dx / m;
            u.iter().zip(&target).map(|(a, b)| 2.0 * (a - b) * dx / m).collect()
        })?;
        if let Some(e) = st.error {
            return Err(e);
        }
        let mut kinks = st.net_kinks;
        kinks.add(SCHEME, &scheme_op(t), st.steppers.iter().map(|s| s.kinks).sum());
        Ok(LossReport {
            loss,
            grads: st.grads,
            certificate: Certificate::for_kinks(mode.name(), rep.name.clone(), kinks),
            peak_bytes: stats.peak_bytes,
        })
    }

    /// Relative L2 error of the learned source against the data set's true source on the samples
    /// `idx` (state form: evaluated at the observed initial and final states); `None` when the data
    /// set carries no true source ([`crate::hybrid::data::TrueSource::Unknown`]).
    pub fn source_rel_l2(&self, d: &Dataset, idx: &[usize]) -> Result<Option<f64>> {
        let t = d.transport()?;
        let x = t.grid.centers();
        let (mut num, mut den) = (0.0, 0.0);
        for &i in idx {
            let states: Vec<Option<&[f64]>> = match self.form {
                SourceForm::Alpha => vec![None],
                SourceForm::State => vec![Some(&d.beta[i]), Some(&d.gamma[i])],
            };
            for u in states {
                let Some(truth) = d.true_source_at(i, &x, u) else { return Ok(None) };
                let s = self.source(&t, &d.alpha[i], u)?;
                for (sj, tj) in s.iter().zip(&truth) {
                    num += (sj - tj).powi(2);
                    den += tj * tj;
                }
            }
        }
        Ok(Some((num / den.max(1e-300)).sqrt()))
    }
}

/// What one chunk of samples contributes to [`LossReport`] in the alpha form.
#[derive(Default)]
struct ChunkGradient {
    losses: Vec<f64>,
    grads: Vec<Vec<f64>>,
    net_kinks: KinkLog,
    scheme_kinks: usize,
    peak_bytes: usize,
}

/// The adjoint sweeps of a few samples, one after the other on one [`TransportStepper`] (its buffers
/// reused from sample to sample).
struct Sweeps {
    losses: Vec<f64>,
    /// `dJ/ds` per cell of the samples, divided by the number of samples `m`.
    ds: Vec<f64>,
    kinks: usize,
    peak_bytes: usize,
}

impl Sweeps {
    /// Samples `idx` with sources `src` (`[len(idx) * N]`).
    #[allow(clippy::too_many_arguments)]
    fn run(
        d: &Dataset,
        t: &Transport,
        a: &[f64],
        rep: &Representation,
        schedule: &Schedule,
        idx: &[usize],
        src: &[f64],
        m: f64,
    ) -> Result<Self> {
        let n = t.grid.cells;
        let mut out = Sweeps {
            losses: Vec::with_capacity(idx.len()),
            ds: Vec::with_capacity(src.len()),
            kinks: 0,
            peak_bytes: 0,
        };
        // one workspace for the samples of this chunk: its buffers are reused from sample to sample
        let mut ws = Workspace::default();
        let (mode, wanted) = (Mode::Assoc, Wanted { u0: false, velocity: false, source: true });
        for (k, &i) in idx.iter().enumerate() {
            let s = &src[k * n..(k + 1) * n];
            // the velocity is data, not trained: store-all keeps a piece tape instead of the states
            let req = GradientRequest {
                u0: &d.beta[i],
                target: &d.gamma[i],
                velocity: a,
                source: Some(s),
                steps: d.steps,
                mode: &mode,
                representation: rep,
                schedule: *schedule,
                wanted,
            };
            let r = t.loss_gradient_in(&req, &mut ws)?;
            out.losses.push(r.loss);
            out.ds.extend(r.source.iter().map(|v| v / m));
            out.kinks += r.certificate.kinks.total();
            out.peak_bytes = out.peak_bytes.max(r.stats.peak_bytes);
        }
        Ok(out)
    }
}

/// The state-form time step for a batch in lockstep (state `[samples * N]`):
/// `u^{n+1} = step(u^n) + dt S_W(u^n, alpha, x)`, with the adjoint through the scheme (per sample) and
/// through the network's input `u` (the whole batch on one tape) at every step; `dJ/dW` accumulates in
/// `grads`.
struct ClosureStepper<'m> {
    model: &'m HybridModel,
    steppers: Vec<TransportStepper>,
    /// `(alpha_0, alpha_1, sin, cos)` per cell of the batch, `[samples * N, 4]`.
    rest: Tensor<f64>,
    n: usize,
    dt: f64,
    mode: Mode,
    rep: Representation,
    grads: Vec<Vec<f64>>,
    /// The network's kinks over every step's source adjoint (scope [`NET`]).
    net_kinks: KinkLog,
    /// Time steps of the loop (for the cancellation message).
    steps: usize,
    /// The first error of a step (the [`Stepper`] trait returns states, not results); once set, the
    /// remaining steps do no work.
    error: Option<Error>,
}

impl ClosureStepper<'_> {
    fn inputs<'t>(&self, tape: &'t Tape<f64>, u: Var<'t, f64>) -> Result<Var<'t, f64>> {
        Var::concat(&[u, tape.constant(self.rest.clone())], 1)
    }
    fn source(&self, u: &[f64]) -> Result<Vec<f64>> {
        let tape = Tape::<f64>::new();
        let p: Vec<Var<'_, f64>> = self.model.net.params.iter().map(|p| tape.constant(p.clone())).collect();
        let uv = tape.constant(Tensor::from_parts(vec![u.len(), 1], u.to_vec()));
        let s = self.model.net.forward(self.inputs(&tape, uv)?, &p)?;
        Ok(s.value().into_vec())
    }
    /// `(dt g . S)` differentiated with respect to `u` and `W`.
    fn source_adjoint(&mut self, u: &[f64], g: &[f64]) -> Result<Vec<f64>> {
        let tape = Tape::<f64>::with_representation(self.rep.clone());
        let uv = tape.var(Tensor::from_parts(vec![u.len(), 1], u.to_vec()));
        let params = self.model.net.param_vars(&tape);
        let s = self.model.net.forward(self.inputs(&tape, uv)?, &params)?;
        let w = Tensor::from_parts(vec![u.len(), 1], g.iter().map(|v| self.dt * v).collect());
        let sur = s.mul(tape.constant(w))?.sum();
        let mut wrt = vec![uv];
        wrt.extend(params);
        let gr = tape.gradient(sur, &wrt, &self.mode)?;
        self.net_kinks.merge(&net_and_scheme(&gr.certificate.kinks));
        let mut it = gr.values.into_iter();
        let gu = it.next().map(|t| t.into_vec()).unwrap_or_default();
        for (acc, gp) in self.grads.iter_mut().zip(it) {
            acc.iter_mut().zip(gp.data()).for_each(|(a, b)| *a += b);
        }
        Ok(gu)
    }
}

impl Stepper for ClosureStepper<'_> {
    type State = Vec<f64>;
    type Adjoint = Vec<f64>;
    fn step(&mut self, k: usize, u: &Vec<f64>) -> Vec<f64> {
        if self.error.is_none() {
            if let Err(e) = cancel::check(format_args!("time step {} of {}", k + 1, self.steps)) {
                self.error = Some(e);
            }
        }
        if self.error.is_some() {
            return u.clone();
        }
        let n = self.n;
        let mut out = vec![0.0; u.len()];
        self.steppers
            .par_iter_mut()
            .zip(out.par_chunks_mut(n))
            .zip(u.par_chunks(n))
            .for_each(|((st, o), ui)| o.copy_from_slice(&st.step(k, &ui.to_vec())));
        match self.source(u) {
            Ok(s) => out.iter_mut().zip(&s).for_each(|(o, s)| *o += self.dt * s),
            Err(e) => self.error = Some(e),
        }
        out
    }
    fn step_adjoint(&mut self, k: usize, u: &Vec<f64>, g: Vec<f64>) -> Vec<f64> {
        if self.error.is_none() {
            if let Err(e) = cancel::check(format_args!("adjoint of time step {} of {}", k + 1, self.steps)) {
                self.error = Some(e);
            }
        }
        if self.error.is_some() {
            return g;
        }
        let n = self.n;
        let mut lam = vec![0.0; u.len()];
        self.steppers
            .par_iter_mut()
            .zip(lam.par_chunks_mut(n))
            .zip(u.par_chunks(n).zip(g.par_chunks(n)))
            .for_each(|((st, l), (ui, gi))| l.copy_from_slice(&st.step_adjoint(k, &ui.to_vec(), gi.to_vec())));
        match self.source_adjoint(u, &g) {
            Ok(gu) => lam.iter_mut().zip(&gu).for_each(|(l, v)| *l += v),
            Err(e) => self.error = Some(e),
        }
        lam
    }
    fn state_bytes(&self, u: &Vec<f64>) -> usize {
        u.len() * std::mem::size_of::<f64>()
    }
}
