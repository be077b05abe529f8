//! Training a hybrid model with Adam; progress goes to a callback (the library prints nothing).

use super::data::Dataset;
use super::model::HybridModel;
use crate::error::Result;
use crate::nn::{Optimizer, OptimizerKind};
use crate::pde::checkpoint::Schedule;
use crate::repr::Representation;
use crate::reverse::Mode;
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
    /// Gradient mode for the network.
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
            mode: Mode::Assoc,
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
    /// Network kinks in this iteration's gradient.
    pub net_kinks: usize,
    /// Scheme kinks in this iteration's gradient.
    pub scheme_kinks: usize,
    /// Peak bytes of stored states (one sample).
    pub peak_bytes: usize,
}

/// Train `model` on the training split of `d` with Adam, starting from `opt` (fresh or resumed) at
/// iteration `start`; `progress` sees every iteration.
pub fn train(
    model: &mut HybridModel,
    opt: &mut Optimizer,
    d: &Dataset,
    cfg: &TrainConfig,
    start: usize,
    progress: &mut dyn FnMut(&TrainStep),
) -> Result<Vec<TrainStep>> {
    let mut history = Vec::new();
    let train_idx = d.train_indices();
    let test_idx = d.test_indices();
    let mut rng = Rng::new(cfg.seed ^ start as u64);
    let mut order = train_idx.clone();
    let batch = if cfg.batch == 0 { train_idx.len() } else { cfg.batch.min(train_idx.len()) };
    let mut cursor = order.len();
    for it in start + 1..=cfg.iterations {
        if cursor + batch > order.len() {
            rng.shuffle(&mut order);
            cursor = 0;
        }
        let idx = &order[cursor..cursor + batch];
        cursor += batch;
        let r = model.loss_and_gradient(d, idx, &cfg.mode, &cfg.rep, &cfg.schedule)?;
        let grads: Vec<Tensor<f64>> = r
            .grads
            .iter()
            .zip(&model.net.params)
            .map(|(g, p)| Tensor::new(p.shape().to_vec(), g.clone()))
            .collect::<Result<_>>()?;
        opt.update(&mut model.net.params, &grads)?;
        let test_loss = if (it % cfg.eval_every.max(1) == 0 || it == cfg.iterations) && !test_idx.is_empty() {
            Some(model.loss(d, &test_idx)?)
        } else {
            None
        };
        let step = TrainStep {
            iteration: it,
            train_loss: r.loss,
            test_loss,
            net_kinks: r.net_kinks,
            scheme_kinks: r.scheme_kinks,
            peak_bytes: r.peak_bytes,
        };
        progress(&step);
        history.push(step);
    }
    Ok(history)
}

/// A fresh Adam optimiser for the model.
pub fn adam(model: &HybridModel, lr: f64) -> Optimizer {
    let sizes: Vec<usize> = model.net.params.iter().map(|p| p.len()).collect();
    Optimizer::new(OptimizerKind::adam(), lr, &sizes)
}
