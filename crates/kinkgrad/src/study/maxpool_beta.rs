//! Boustany's max-pooling `beta` family (TMLR 2024) in LeNet-5 training.
//!
//! LeNet-5 ([`Sequential::lenet`]) is trained with SGD (momentum, weight decay), a cosine schedule
//! over the epochs ([`cosine_lr`], PyTorch's `CosineAnnealingLR(T_max = epochs)` stepped once per
//! epoch) and the same learning rate for every `beta`, under the representation
//! `pytorch[maxpool=beta:B]` ([`crate::TieRule::Beta`]: `beta * even split + (1 - beta) * first` at a
//! tie in a pooling window, weights summing to 1, signed for `beta > 1`). A run whose loss or
//! gradient becomes NaN or infinite stops there and is a row with `diverged: true` and the test
//! accuracy of the weights it reached, not an error.
//!
//! **Volume** (Boustany's estimate of how often the choice matters): on a run with `volume`
//! requested, every minibatch whose gradient met a pooling tie is differentiated again with
//! `beta = 1`, on the same weights, and the two gradients (all parameters) are compared. A
//! minibatch without a pooling tie gives the same gradient under every `beta` (the representation
//! is consulted only at kinks), so it counts as not differing without a second gradient.

use super::{accuracy, differ};
use crate::cancel;
use crate::certificate::Certificate;
use crate::engine::Mode;
use crate::error::{Error, ErrorKind, Result};
use crate::io::mnist::Mnist;
use crate::nn::optim::cosine_lr;
use crate::nn::train::batch_inputs;
use crate::nn::{cross_entropy, Init, Optimizer, OptimizerKind, Sequential};
use crate::repr::Representation;
use crate::reverse::{Tape, Var};
use crate::rng::Rng;
use crate::scalar::Real;
use crate::tensor::Tensor;
use std::time::Instant;

/// The training recipe (defaults: the issue's, with the f32 learning rate).
#[derive(Clone, Debug)]
pub struct BetaConfig {
    /// Epochs.
    pub epochs: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Initial learning rate (the cosine schedule decays it to 0 over the epochs).
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Round every operation of the update to the working precision (as PyTorch's `.half()`).
    pub working_precision: bool,
    /// Measure the volume (beta = 0 against beta = 1 on every minibatch with a pooling tie).
    pub volume: bool,
}

impl Default for BetaConfig {
    fn default() -> Self {
        Self {
            epochs: 3,
            batch: 128,
            lr: 0.0353,
            momentum: 0.9,
            weight_decay: 5e-4,
            working_precision: false,
            volume: false,
        }
    }
}

impl BetaConfig {
    /// The learning rate for a precision: 0.0233 for the 16-bit formats, 0.0353 otherwise.
    pub fn default_lr(precision: &str) -> f64 {
        if precision == "f16" || precision == "bf16" {
            0.0233
        } else {
            0.0353
        }
    }
    /// Refuse settings that cannot run (one line naming the setting).
    pub fn check(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::invalid("epochs", "must be positive"));
        }
        if self.batch == 0 {
            return Err(Error::invalid("batch", "must be positive"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::invalid("lr", format!("{}: must be a positive number", self.lr)));
        }
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return Err(Error::invalid("momentum", format!("{}: must be in [0, 1)", self.momentum)));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::invalid("weight decay", format!("{}: must be a number >= 0", self.weight_decay)));
        }
        Ok(())
    }
}

/// How often `beta = 0` and `beta = 1` gradients differ on a run's minibatches.
#[derive(Clone, Debug, PartialEq)]
pub struct Volume {
    /// Minibatches differentiated.
    pub batches: usize,
    /// Minibatches whose gradient met a pooling tie.
    pub batches_with_ties: usize,
    /// Minibatches on which the two gradients differ.
    pub differing: usize,
    /// `differing / batches`.
    pub fraction: f64,
}

/// One training run.
#[derive(Clone, Debug)]
pub struct BetaRow {
    /// `f64`, `f32`, `f16` or `bf16`.
    pub precision: &'static str,
    /// The tie weight parameter.
    pub beta: f64,
    /// `assoc` or `safe`.
    pub mode: &'static str,
    /// Seed of the initial weights and the shuffles.
    pub seed: u64,
    /// Test accuracy after training (or at divergence).
    pub test_accuracy: f64,
    /// The loss or a gradient became NaN or infinite.
    pub diverged: bool,
    /// Where it diverged (`epoch E, batch B`) and why.
    pub diverged_at: Option<String>,
    /// Mean training loss of the last epoch run (over the batches before a divergence).
    pub train_loss: f64,
    /// Optimiser steps taken.
    pub steps: u64,
    /// The run's certificate (kinks per layer: relu zeros, pooling ties; locked and unresolved in
    /// `safe`), merged over its gradients.
    pub certificate: Certificate,
    /// The volume, when requested.
    pub volume: Option<Volume>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The representation of a run: PyTorch's conventions with the pooling ties weighted by `beta`.
pub fn representation(beta: f64) -> Result<Representation> {
    if !beta.is_finite() {
        return Err(Error::invalid("beta", format!("{beta}: must be a finite number")));
    }
    format!("pytorch[maxpool=beta:{beta}]").parse()
}

/// Loss and gradients of all parameters on one minibatch.
fn gradient<T: Real>(
    model: &Sequential<T>,
    x: &Tensor<T>,
    labels: &[u8],
    rep: &Representation,
    mode: &Mode,
) -> Result<(f64, Vec<Tensor<T>>, Certificate)> {
    let tape = Tape::<T>::with_representation(rep.clone());
    let xv = tape.constant(x.clone());
    let params: Vec<Var<'_, T>> = model.param_vars(&tape);
    let loss = cross_entropy(model.forward(xv, &params)?, labels)?;
    let l = loss.item()?;
    if !l.is_finite() {
        return Err(Error::NonFinite { op: "cross_entropy".into(), stage: "value" });
    }
    let g = tape.gradient(loss, &params, mode)?;
    Ok((l, g.values, g.certificate))
}

/// Train LeNet-5 in precision `T` with the pooling ties weighted by `beta` in `mode` (`assoc` or
/// `safe`), seed `seed`; `progress` is called after every minibatch.
pub fn maxpool_beta<T: Real>(
    beta: f64,
    mode: &Mode,
    seed: u64,
    cfg: &BetaConfig,
    train: &Mnist,
    test: &Mnist,
    progress: &mut dyn FnMut(),
) -> Result<BetaRow> {
    cfg.check()?;
    if let Mode::Lex(_) = mode {
        return Err(Error::unsupported("the maxpool-beta study in mode lex", "it trains in assoc or safe"));
    }
    if train.n == 0 || test.n == 0 {
        return Err(Error::invalid("data", "the training and test sets must not be empty"));
    }
    let start = Instant::now();
    let rep = representation(beta)?;
    let rep1 = representation(1.0)?;
    let mut rng = Rng::new(seed);
    let mut model = Sequential::<T>::lenet(None, Init::PyTorch, &mut rng)?;
    let sizes: Vec<usize> = model.params.iter().map(|p| p.len()).collect();
    let mut opt = Optimizer::new(OptimizerKind::Sgd { momentum: cfg.momentum }, cfg.lr, &sizes);
    opt.weight_decay = cfg.weight_decay;
    opt.working_precision = cfg.working_precision;
    let mut certificate = Certificate::run(mode.name(), rep.name.clone());
    let mut volume = cfg.volume.then_some(Volume { batches: 0, batches_with_ties: 0, differing: 0, fraction: 0.0 });
    let (mut diverged_at, mut train_loss) = (None, f64::NAN);
    'epochs: for e in 0..cfg.epochs {
        opt.lr = cosine_lr(cfg.lr, e, cfg.epochs);
        let mut order: Vec<usize> = (0..train.n).collect();
        rng.shuffle(&mut order);
        let (mut sum, mut count) = (0.0, 0usize);
        for (b, idx) in order.chunks(cfg.batch).enumerate() {
            cancel::check(format_args!("epoch {}, batch {}", e + 1, b + 1))?;
            let x = batch_inputs::<T>(train, idx, true)?;
            let labels: Vec<u8> = idx.iter().map(|&k| train.labels[k]).collect();
            let step_mode = match mode {
                Mode::Safe { seed, max_directions } => {
                    Mode::Safe { seed: seed.wrapping_add(opt.step), max_directions: *max_directions }
                }
                m => m.clone(),
            };
            let (l, g, cert) = match gradient(&model, &x, &labels, &rep, &step_mode) {
                Ok(r) => r,
                Err(err) if err.kind() == ErrorKind::Numeric => {
                    diverged_at = Some(format!("epoch {}, batch {}: {err}", e + 1, b + 1));
                    if count > 0 {
                        train_loss = sum / count as f64;
                    }
                    progress();
                    break 'epochs;
                }
                Err(err) => return Err(err),
            };
            if let Some(v) = volume.as_mut() {
                v.batches += 1;
                if cert.kinks.count_op("maxpool2d") > 0 {
                    v.batches_with_ties += 1;
                    // beta = 1 on the same weights; its own divergence counts as a difference
                    let other = gradient(&model, &x, &labels, &rep1, &Mode::Assoc);
                    let d = match other {
                        Ok((_, g1, _)) => g.iter().zip(&g1).any(|(a, b)| differ(a, b)),
                        Err(err) if err.kind() == ErrorKind::Numeric => true,
                        Err(err) => return Err(err),
                    };
                    v.differing += usize::from(d);
                }
            }
            certificate.merge(&cert);
            opt.update(&mut model.params, &g)?;
            sum += l;
            count += 1;
            progress();
        }
        train_loss = sum / count.max(1) as f64;
    }
    if let Some(v) = volume.as_mut() {
        v.fraction = v.differing as f64 / v.batches.max(1) as f64;
    }
    Ok(BetaRow {
        precision: T::NAME,
        beta,
        mode: mode.name(),
        seed,
        test_accuracy: accuracy(&model, test)?,
        diverged: diverged_at.is_some(),
        diverged_at,
        train_loss,
        steps: opt.step,
        certificate,
        volume,
        seconds: start.elapsed().as_secs_f64(),
    })
}
