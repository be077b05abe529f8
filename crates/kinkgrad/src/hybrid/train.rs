//! Training a hybrid model with Adam; progress goes to a callback (the library prints nothing).
//! Every iteration's gradient comes with its certificate; the run's certificate sums them
//! ([`Certificate::merge`]). The loop polls [`crate::cancel`] before every iteration. The
//! [`Position`] (iteration, shuffle order and cursor, generator state) is all a resume needs to
//! continue bit for bit ([`super::checkpoint`] saves it).

use super::data::Dataset;
use super::model::{scope_kinks, HybridModel, NET, SCHEME};
use crate::cancel;
use crate::certificate::Certificate;
use crate::engine::Mode;
use crate::error::{Error, Result};
use crate::nn::{Optimizer, OptimizerKind};
use crate::pde::checkpoint::Schedule;
use crate::repr::Representation;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Training settings.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Adam iterations.
    pub iterations: usize,
    /// Learning rate.
    pub lr: f64,
    /// Samples per iteration (0: every training sample).
    pub batch: usize,
    /// Evaluate the test loss every this many iterations (and at the end).
    pub eval_every: usize,
    /// Gradient mode: `assoc` (any schedule), or `safe` (the scheme's kinks locked with the
    /// network's; store-all only: see [`HybridModel::loss_and_gradient`]).
    pub mode: Mode,
    /// Representation at kinks.
    pub rep: Representation,
    /// Checkpoint schedule of the time loop.
    pub schedule: Schedule,
    /// Seed of the batch shuffling.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            iterations: 1000,
            lr: 1e-2,
            batch: 0,
            eval_every: 50,
            mode: Mode::default(),
            rep: Representation::default(),
            schedule: Schedule::StoreAll,
            seed: 0,
        }
    }
}

/// What one iteration did.
#[derive(Clone, Debug)]
pub struct TrainStep {
    /// 1-based iteration.
    pub iteration: usize,
    /// Training loss of the batch before the update.
    pub train_loss: f64,
    /// Test loss, on evaluation iterations.
    pub test_loss: Option<f64>,
    /// The certificate of this iteration's gradient (network kinks under `net`, scheme kinks
    /// under `scheme`).
    pub certificate: Certificate,
    /// Peak bytes of stored states (one sample).
    pub peak_bytes: usize,
}

impl TrainStep {
    /// Network kinks in this iteration's gradient.
    pub fn net_kinks(&self) -> usize {
        scope_kinks(&self.certificate.kinks, NET)
    }
    /// Scheme kinks in this iteration's gradient.
    pub fn scheme_kinks(&self) -> usize {
        scope_kinks(&self.certificate.kinks, SCHEME)
    }
}

/// Where a run is: iterations done, and the batch shuffling's state (the current order of the
/// training samples, how many of it the batches have used, the generator's state). A run resumed
/// from a saved position draws the same batches as an uninterrupted one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// Iterations done.
    pub iteration: usize,
    /// The current order of the training samples (a permutation of `0..n_train`).
    pub order: Vec<usize>,
    /// Samples of `order` already used; a batch that does not fit reshuffles `order` first.
    pub cursor: usize,
    /// The shuffling generator's state ([`Rng::state`]).
    pub rng_state: u64,
}

impl Position {
    /// The start of a run over `n_train` training samples with shuffling seed `seed`.
    pub fn new(seed: u64, n_train: usize) -> Self {
        Position { iteration: 0, order: (0..n_train).collect(), cursor: n_train, rng_state: Rng::new(seed).state() }
    }
}

/// The run's state after an iteration, as the progress callback sees it (to save a checkpoint).
pub struct Snapshot<'a> {
    /// The model after the iteration's update.
    pub model: &'a HybridModel,
    /// The optimiser after the update.
    pub opt: &'a Optimizer,
    /// The position after the iteration.
    pub position: &'a Position,
}

/// What a training run did: every iteration, and the certificate of the run (the sum of the
/// iterations' certificates: gradients taken, kinks hit, ties locked and left unresolved).
#[derive(Clone, Debug)]
pub struct TrainRun {
    /// One entry per iteration of this run.
    pub steps: Vec<TrainStep>,
    /// The certificates of the iterations, merged.
    pub certificate: Certificate,
}

/// Train `model` on the training split of `d` with Adam, from `opt` and `pos` (fresh, or resumed
/// from [`super::checkpoint`]) up to `cfg.iterations`; `progress` sees every iteration with the
/// state after it (an error it returns stops the run). Mode `lex` is refused (one tangent
/// direction per weight); a cancellation ([`crate::cancel`]) stops the run before the next
/// iteration with [`Error::Cancelled`], `model`, `opt` and `pos` then holding the last completed
/// iteration (what a checkpoint should save).
pub fn train(
    model: &mut HybridModel,
    opt: &mut Optimizer,
    d: &Dataset,
    cfg: &TrainConfig,
    pos: &mut Position,
    progress: &mut dyn FnMut(&TrainStep, &Snapshot<'_>) -> Result<()>,
) -> Result<TrainRun> {
    if let Mode::Lex(_) = cfg.mode {
        return Err(Error::unsupported(
            "training in mode lex",
            "lex takes one tangent direction per weight; training takes assoc or safe",
        ));
    }
    let mut history = Vec::new();
    let mut certificate = Certificate::run(cfg.mode.name(), cfg.rep.name.clone());
    let test_idx = d.test_indices();
    if pos.order.len() != d.n_train || pos.cursor > d.n_train {
        return Err(Error::invalid(
            "training position",
            format!("an order of {} samples for {} training samples", pos.order.len(), d.n_train),
        ));
    }
    let batch = if cfg.batch == 0 { d.n_train } else { cfg.batch.min(d.n_train) };
    for it in pos.iteration + 1..=cfg.iterations {
        cancel::check(format_args!("iteration {it} of {}", cfg.iterations))?;
        let mut rng = Rng::from_state(pos.rng_state);
        let mut order = pos.order.clone();
        let mut cursor = pos.cursor;
        if cursor + batch > order.len() {
            rng.shuffle(&mut order);
            cursor = 0;
        }
        let idx = &order[cursor..cursor + batch];
        let r = model.loss_and_gradient(d, idx, &cfg.mode, &cfg.rep, &cfg.schedule)?;
        if !r.loss.is_finite() {
            return Err(Error::NonFinite { op: format!("iteration {it}: training loss {}", r.loss), stage: "value" });
        }
        let grads: Vec<Tensor<f64>> = r
            .grads
            .iter()
            .zip(&model.net.params)
            .map(|(g, p)| Tensor::new(p.shape().to_vec(), g.clone()))
            .collect::<Result<_>>()?;
        opt.update(&mut model.net.params, &grads)?;
        *pos = Position { iteration: it, cursor: cursor + batch, order, rng_state: rng.state() };
        let test_loss = if (it % cfg.eval_every.max(1) == 0 || it == cfg.iterations) && !test_idx.is_empty() {
            Some(model.loss(d, &test_idx)?)
        } else {
            None
        };
        certificate.merge(&r.certificate);
        let step = TrainStep {
            iteration: it,
            train_loss: r.loss,
            test_loss,
            certificate: r.certificate,
            peak_bytes: r.peak_bytes,
        };
        progress(&step, &Snapshot { model, opt, position: pos })?;
        history.push(step);
    }
    Ok(TrainRun { steps: history, certificate })
}

/// A fresh Adam optimiser for the model.
pub fn adam(model: &HybridModel, lr: f64) -> Optimizer {
    let sizes: Vec<usize> = model.net.params.iter().map(|p| p.len()).collect();
    Optimizer::new(OptimizerKind::adam(), lr, &sizes)
}
