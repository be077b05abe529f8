//! Mini-batch training of a [`Sequential`] classifier, generic over the precision `T` and the
//! gradient [`Mode`], with the certificate of every step (its kink log per layer) summed over each
//! epoch ([`Certificate::merge`]), and checkpoints (a weights file and a state file, see
//! [`super::checkpoint`]) so that a run can resume bit for bit, also from the middle of an epoch.
//!
//! Cancellation: [`Trainer::train_until`] polls [`crate::cancel`] before every batch and stops with
//! [`Error::Cancelled`] naming the epoch and batch; the trainer is then at that batch boundary, and
//! [`Trainer::save`] records the position.
//!
//! Determinism: the initial weights, the shuffles and `safe` mode's probe directions all come from
//! seeded generators, and every kernel is deterministic, so the same seed gives the same numbers.

use super::layer::Sequential;
use super::loss::{correct, cross_entropy};
use super::optim::{Optimizer, OptimizerKind};
use crate::cancel;
use crate::certificate::Certificate;
use crate::engine::Mode;
use crate::error::{Error, Result};
use crate::io::mnist::{find_mnist_files, load_mnist_within, Mnist};
use crate::io::safetensors_io::Dtype;
use crate::kink::KinkLog;
use crate::repr::Representation;
use crate::reverse::Tape;
use crate::rng::Rng;
use crate::scalar::Real;
use crate::tensor::pool::{self, Workspace};
use crate::tensor::Tensor;
use std::path::Path;
use std::time::Instant;

/// Load a data set directory as `(train, test)`.
///
/// A directory with the original MNIST distribution's `train-*` and `t10k-*` files gives those two
/// sets; a directory with one pair of files (such as the built-in 10 000 digits,
/// `images-idx3-ubyte.gz` and `labels-idx1-ubyte.gz`) is split into its first 80% for training and
/// the last 20% for testing (8 000 / 2 000 for the built-in set).
///
/// Half a `t10k` pair beside the training files (images without labels or the reverse) is an
/// error, not a silent 80/20 split.
pub fn load_split(dir: &Path) -> Result<(Mnist, Mnist)> {
    load_split_within(dir, None, &crate::limits::Budget::default())
}

/// [`load_split`] within a memory budget, keeping only the first `limit` training examples
/// (before converting them; see [`crate::io::mnist::load_mnist_within`]).
pub fn load_split_within(dir: &Path, limit: Option<usize>, budget: &crate::limits::Budget) -> Result<(Mnist, Mnist)> {
    let (img, lbl) = find_mnist_files(dir)?;
    let t10k = |s: &str| [dir.join(s), dir.join(format!("{s}.gz"))].into_iter().find(|p| p.is_file());
    let is_train = img.file_name().is_some_and(|n| n.to_string_lossy().starts_with("train"));
    if is_train {
        match (t10k("t10k-images-idx3-ubyte"), t10k("t10k-labels-idx1-ubyte")) {
            (Some(ti), Some(tl)) => {
                let data = load_mnist_within(&img, &lbl, limit, budget)?;
                return Ok((data, load_mnist_within(&ti, &tl, None, budget)?));
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(Error::Io {
                    what: "MNIST directory".into(),
                    path: dir.display().to_string(),
                    kind: crate::io::IoErrorKind::Invalid,
                    detail: "has one of t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz) but not the \
                             other: give both for the test set, or neither for an 80/20 split"
                        .into(),
                })
            }
            (None, None) => {}
        }
    }
    let data = load_mnist_within(&img, &lbl, None, budget)?;
    let cut = data.n * 4 / 5;
    let (train, test) = data.split(cut);
    let train = match limit {
        Some(n) if n < train.n => train.split(n).0,
        _ => train,
    };
    Ok((train, test))
}

/// Progress of one mini-batch, for progress bars.
#[derive(Clone, Debug)]
pub struct BatchInfo {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Batch index in the epoch (1-based).
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// This batch's loss.
    pub loss: f64,
    /// Running training accuracy over the epoch so far.
    pub accuracy: f64,
}

/// What one epoch did.
#[derive(Clone, Debug)]
pub struct EpochReport {
    /// Epoch (1-based, counting resumed epochs).
    pub epoch: usize,
    /// Mean training loss over the batches.
    pub loss: f64,
    /// Training accuracy measured on the fly (weights changing during the epoch).
    pub train_accuracy: f64,
    /// The epoch's gradients summed ([`Certificate::merge`]): gradients taken, kinks hit per layer
    /// (scope) and op, ties locked and left unresolved.
    pub certificate: Certificate,
    /// Wall-clock seconds of the epoch (training only).
    pub seconds: f64,
}

/// What one gradient step did.
#[derive(Clone, Debug)]
pub struct StepReport {
    /// The batch's mean cross-entropy before the update.
    pub loss: f64,
    /// Correct predictions in the batch before the update.
    pub correct: usize,
    /// The certificate of the step's gradient (kinks per layer and op).
    pub certificate: Certificate,
}

/// A training run: the model, the optimiser, the shuffling generator and the gradient mode.
pub struct Trainer<T: Real> {
    /// The model.
    pub model: Sequential<T>,
    /// The optimiser and its state.
    pub opt: Optimizer,
    /// Shuffles the training set each epoch.
    pub rng: Rng,
    /// Epochs completed.
    pub epoch: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Gradient mode (`assoc` with the representation, or `safe`).
    pub mode: Mode,
    /// The representation of the tapes (`relu'(0)`, pooling ties, ...).
    pub representation: Representation,
    /// Where the current epoch stands (batches done, the shuffle's generator state, running sums).
    pub(crate) progress: EpochProgress,
    /// The certificate of the unfinished epoch's batches run in this process.
    certificate: Option<Certificate>,
    /// Buffers one step frees and the next reuses ([`Workspace`]; values never depend on it).
    workspace: Workspace,
    /// The copy of `representation` the steps' tapes share (made again when `representation`
    /// changes), so that a step copies no representation.
    shared: Option<std::sync::Arc<Representation>>,
}

/// The position inside an unfinished epoch: what a checkpoint needs to resume it bit for bit.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct EpochProgress {
    /// Batches done in the current epoch (0 at an epoch boundary).
    pub batch: usize,
    /// The generator's state before the current epoch's shuffle (meaningful when `batch > 0`).
    pub epoch_rng: u64,
    /// Running loss sum, correct predictions and examples seen in the current epoch.
    pub sums: (f64, usize, usize),
}

/// How [`Trainer::train_until`] returned.
// the report is large (its certificate holds its first kink sites in place, so that a step
// allocates none): returned once per epoch or pause, not worth a box
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Progress {
    /// The epoch finished.
    Epoch(EpochReport),
    /// Paused in the middle of an epoch after a multiple of the requested steps.
    Paused {
        /// Epoch in progress (1-based).
        epoch: usize,
        /// Batches done in it.
        batch: usize,
        /// Optimiser steps taken in total.
        step: u64,
    },
}

/// `T`'s safetensors dtype.
pub fn dtype_of<T: Real>() -> Dtype {
    match T::NAME {
        "f64" => Dtype::F64,
        "f32" => Dtype::F32,
        "f16" => Dtype::F16,
        _ => Dtype::BF16,
    }
}

/// The inputs of the examples `idx` as a batch tensor: `[b, rows*cols]`, or `[b, 1, rows, cols]`
/// for a model whose first layer is a convolution.
pub fn batch_inputs<T: Real>(data: &Mnist, idx: &[usize], images: bool) -> Result<Tensor<T>> {
    let p = data.pixels_per_image();
    let mut v = pool::take(idx.len() * p);
    for &i in idx {
        v.extend(data.images[i * p..(i + 1) * p].iter().map(|&x| T::from_f32(x)));
    }
    let shape =
        if images { pool::copied(&[idx.len(), 1, data.rows, data.cols]) } else { pool::copied(&[idx.len(), p]) };
    Tensor::new(shape, v)
}

impl<T: Real> Trainer<T> {
    /// A trainer. `seed` drives the shuffles; the model carries its own (seeded) initial weights.
    pub fn new(
        model: Sequential<T>,
        optimizer: OptimizerKind,
        lr: f64,
        batch: usize,
        mode: Mode,
        representation: Representation,
        seed: u64,
    ) -> Result<Self> {
        if batch == 0 {
            return Err(Error::invalid("batch", "must be positive"));
        }
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::invalid("lr", format!("{lr}: must be a positive number")));
        }
        if let Mode::Lex(_) = mode {
            return Err(Error::unsupported(
                "training in mode lex",
                "lex takes one tangent direction per weight; training takes assoc or safe",
            ));
        }
        let sizes: Vec<usize> = model.params.iter().map(|p| p.len()).collect();
        Ok(Self {
            opt: Optimizer::new(optimizer, lr, &sizes),
            model,
            rng: Rng::new(seed ^ 0x7261_696e),
            epoch: 0,
            batch,
            mode,
            representation,
            progress: EpochProgress::default(),
            certificate: None,
            workspace: Workspace::new(),
            shared: None,
        })
    }

    /// One gradient step on the examples `idx`: the loss and correct predictions before the update,
    /// and the gradient's certificate.
    pub fn step(&mut self, data: &Mnist, idx: &[usize]) -> Result<StepReport> {
        // on rayon's pool: one hand-off per step instead of some per parallel op (`on_pool`)
        super::on_pool(|| self.step_here(data, idx))
    }

    /// [`Trainer::step`] on the calling thread.
    fn step_here(&mut self, data: &Mnist, idx: &[usize]) -> Result<StepReport> {
        // the step's buffers come from (and return to) the trainer's workspace; declared first, so
        // that it is given back last, after every tensor of the step has returned its storage
        let _workspace = self.workspace.enter();
        let rep = match &self.shared {
            Some(r) if **r == self.representation => r.clone(),
            _ => self.shared.insert(std::sync::Arc::new(self.representation.clone())).clone(),
        };
        let tape = Tape::<T>::with_shared_representation(rep);
        let x = tape.constant(batch_inputs(data, idx, self.model.takes_images())?);
        let params = self.model.param_vars(&tape);
        let logits = self.model.forward(x, &params)?;
        let mut labels: Vec<u8> = pool::take(idx.len());
        labels.extend(idx.iter().map(|&i| data.labels[i]));
        let loss = cross_entropy(logits, &labels)?;
        let ok = correct(&logits.value(), &labels);
        pool::give(labels);
        let l = loss.item()?;
        let mode = match &self.mode {
            // a fresh probe seed per step keeps safe mode deterministic yet not tied to one direction
            Mode::Safe { seed, max_directions } => {
                Mode::Safe { seed: seed.wrapping_add(self.opt.step), max_directions: *max_directions }
            }
            m => m.clone(),
        };
        let g = tape.gradient(loss, &params, &mode)?;
        // the variables' list back to the step's pool (the next step's `param_vars` takes it)
        pool::give_any(params);
        // the tape holds clones of the parameters: dropped first, the update writes them in place
        // instead of copying each one
        drop(tape);
        self.opt.update(&mut self.model.params, &g.values)?;
        // the gradients' list back to the step's pool (the next step's gradient takes it)
        pool::give(g.values);
        Ok(StepReport { loss: l, correct: ok, certificate: g.certificate })
    }

    /// One epoch over `data` in shuffled mini-batches (the rest of it, if a resumed checkpoint
    /// stopped inside one); `progress` is called after every batch.
    pub fn train_epoch(&mut self, data: &Mnist, progress: &mut dyn FnMut(&BatchInfo)) -> Result<EpochReport> {
        loop {
            if let Progress::Epoch(r) = self.train_until(data, None, progress)? {
                return Ok(r);
            }
        }
    }

    /// Train until the current epoch ends, or, when `pause_every` is `Some(n)`, until the total
    /// step count is a multiple of `n` inside the epoch ([`Progress::Paused`]; call again to go
    /// on). The shuffle of an epoch is drawn from the generator's state at its start, so a run
    /// paused, saved and resumed visits the same batches in the same order. The certificate of the
    /// returned report covers the batches of this call and of the calls paused before it in this
    /// process.
    pub fn train_until(
        &mut self,
        data: &Mnist,
        pause_every: Option<u64>,
        progress: &mut dyn FnMut(&BatchInfo),
    ) -> Result<Progress> {
        let start = Instant::now();
        if self.progress.batch == 0 {
            self.progress = EpochProgress { batch: 0, epoch_rng: self.rng.state(), sums: (0.0, 0, 0) };
            self.certificate = None;
        }
        let mut rng = Rng::from_state(self.progress.epoch_rng);
        let mut order: Vec<usize> = (0..data.n).collect();
        rng.shuffle(&mut order);
        self.rng = rng;
        let batches = data.n.div_ceil(self.batch);
        let mut certificate = self
            .certificate
            .take()
            .unwrap_or_else(|| Certificate::run(self.mode.name(), self.representation.name.clone()));
        for idx in order.chunks(self.batch).skip(self.progress.batch) {
            let b = self.progress.batch;
            if let Err(e) = cancel::check(format_args!("epoch {}, batch {} of {batches}", self.epoch + 1, b + 1)) {
                self.certificate = Some(certificate);
                return Err(e);
            }
            let r = self.step(data, idx)?;
            let (loss_sum, right, seen) = &mut self.progress.sums;
            *loss_sum += r.loss;
            *right += r.correct;
            *seen += idx.len();
            let accuracy = *right as f64 / *seen as f64;
            self.progress.batch += 1;
            certificate.merge(&r.certificate);
            progress(&BatchInfo { epoch: self.epoch + 1, batch: b + 1, batches, loss: r.loss, accuracy });
            let pause = pause_every.is_some_and(|n| n > 0 && self.opt.step.is_multiple_of(n));
            if pause && self.progress.batch < batches {
                self.certificate = Some(certificate);
                return Ok(Progress::Paused { epoch: self.epoch + 1, batch: self.progress.batch, step: self.opt.step });
            }
        }
        let (loss_sum, right, seen) = self.progress.sums;
        self.progress = EpochProgress::default();
        self.epoch += 1;
        Ok(Progress::Epoch(EpochReport {
            epoch: self.epoch,
            loss: loss_sum / batches.max(1) as f64,
            train_accuracy: right as f64 / seen.max(1) as f64,
            certificate,
            seconds: start.elapsed().as_secs_f64(),
        }))
    }

    /// Accuracy and mean cross-entropy of the current weights on `data` (no gradient).
    pub fn evaluate(&self, data: &Mnist) -> Result<(f64, f64)> {
        evaluate(&self.model, &self.representation, data)
    }
}

/// Accuracy and mean cross-entropy of `model` on `data` (no gradient), in batches of 500; the
/// representation matters only for the tapes' bookkeeping, not for the values. Polls
/// [`crate::cancel`] before every batch ([`Error::Cancelled`]).
pub fn evaluate<T: Real>(model: &Sequential<T>, representation: &Representation, data: &Mnist) -> Result<(f64, f64)> {
    let mut right = 0;
    let mut loss = 0.0;
    let all: Vec<usize> = (0..data.n).collect();
    let batches = data.n.div_ceil(500);
    for (b, idx) in all.chunks(500).enumerate() {
        cancel::check(format_args!("evaluation, batch {} of {batches}", b + 1))?;
        let tape = Tape::<T>::with_representation(representation.clone());
        let x = tape.constant(batch_inputs(data, idx, model.takes_images())?);
        let params: Vec<_> = model.params.iter().map(|p| tape.constant(p.clone())).collect();
        let logits = model.forward(x, &params)?;
        let labels: Vec<u8> = idx.iter().map(|&i| data.labels[i]).collect();
        right += correct(&logits.value(), &labels);
        loss += cross_entropy(logits, &labels)?.item()? * idx.len() as f64;
    }
    Ok((right as f64 / data.n.max(1) as f64, loss / data.n.max(1) as f64))
}

/// Kink counts of a log grouped per layer: `(layer, relu-like zeros, pooling ties)`, in the model's
/// layer order. Relu-like: `relu`, `leaky_relu`, `abs`, `hardtanh`; pooling: `maxpool2d`.
pub fn kinks_per_layer<T: Real>(model: &Sequential<T>, log: &KinkLog) -> Vec<(String, usize, usize)> {
    model
        .layers
        .iter()
        .map(|(name, _)| {
            let sites = log.sites();
            let of = |ops: &[&str]| -> usize {
                sites.iter().filter(|s| &s.scope == name && ops.contains(&s.op.as_str())).map(|s| s.count).sum()
            };
            (name.clone(), of(&["relu", "leaky_relu", "abs", "hardtanh"]), of(&["maxpool2d"]))
        })
        .collect()
}
