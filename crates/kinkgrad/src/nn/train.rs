//! Mini-batch training of a [`Sequential`] classifier, generic over the precision `T` and the
//! gradient [`Mode`], with the certificate of every step (its kink log per layer) summed over each
//! epoch ([`Certificate::merge`]), and checkpoints (weights, optimiser state, epoch, RNG) saved
//! atomically as safetensors so that a run can resume.
//!
//! Cancellation: [`Trainer::train_epoch`] polls [`crate::cancel`] before every batch and stops with
//! [`Error::Cancelled`] naming the epoch and batch.
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
use crate::io::safetensors_io::{self, Dtype, NamedTensor};
use crate::kink::KinkLog;
use crate::repr::Representation;
use crate::reverse::Tape;
use crate::rng::Rng;
use crate::scalar::Real;
use crate::tensor::Tensor;
use std::collections::BTreeMap;
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
    let mut v = Vec::with_capacity(idx.len() * p);
    for &i in idx {
        v.extend(data.images[i * p..(i + 1) * p].iter().map(|&x| T::from_f32(x)));
    }
    let shape = if images { vec![idx.len(), 1, data.rows, data.cols] } else { vec![idx.len(), p] };
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
        })
    }

    /// One gradient step on the examples `idx`: the loss and correct predictions before the update,
    /// and the gradient's certificate.
    pub fn step(&mut self, data: &Mnist, idx: &[usize]) -> Result<StepReport> {
        let tape = Tape::<T>::with_representation(self.representation.clone());
        let x = tape.constant(batch_inputs(data, idx, self.model.takes_images())?);
        let params = self.model.param_vars(&tape);
        let logits = self.model.forward(x, &params)?;
        let labels: Vec<u8> = idx.iter().map(|&i| data.labels[i]).collect();
        let loss = cross_entropy(logits, &labels)?;
        let ok = correct(&logits.value(), &labels);
        let l = loss.item()?;
        let mode = match &self.mode {
            // a fresh probe seed per step keeps safe mode deterministic yet not tied to one direction
            Mode::Safe { seed, max_directions } => {
                Mode::Safe { seed: seed.wrapping_add(self.opt.step), max_directions: *max_directions }
            }
            m => m.clone(),
        };
        let g = tape.gradient(loss, &params, &mode)?;
        self.opt.update(&mut self.model.params, &g.values)?;
        Ok(StepReport { loss: l, correct: ok, certificate: g.certificate })
    }

    /// One epoch over `data` in shuffled mini-batches; `progress` is called after every batch.
    pub fn train_epoch(&mut self, data: &Mnist, progress: &mut dyn FnMut(&BatchInfo)) -> Result<EpochReport> {
        let start = Instant::now();
        let mut order: Vec<usize> = (0..data.n).collect();
        self.rng.shuffle(&mut order);
        let batches = data.n.div_ceil(self.batch);
        let (mut loss_sum, mut right, mut seen) = (0.0, 0usize, 0usize);
        let mut certificate = Certificate::run(self.mode.name(), self.representation.name.clone());
        for (b, idx) in order.chunks(self.batch).enumerate() {
            cancel::check(format_args!("epoch {}, batch {} of {batches}", self.epoch + 1, b + 1))?;
            let r = self.step(data, idx)?;
            loss_sum += r.loss;
            right += r.correct;
            seen += idx.len();
            certificate.merge(&r.certificate);
            progress(&BatchInfo {
                epoch: self.epoch + 1,
                batch: b + 1,
                batches,
                loss: r.loss,
                accuracy: right as f64 / seen as f64,
            });
        }
        self.epoch += 1;
        Ok(EpochReport {
            epoch: self.epoch,
            loss: loss_sum / batches.max(1) as f64,
            train_accuracy: right as f64 / seen.max(1) as f64,
            certificate,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// Accuracy and mean cross-entropy of the current weights on `data` (no gradient).
    pub fn evaluate(&self, data: &Mnist) -> Result<(f64, f64)> {
        let mut right = 0;
        let mut loss = 0.0;
        let all: Vec<usize> = (0..data.n).collect();
        for idx in all.chunks(500) {
            let tape = Tape::<T>::with_representation(self.representation.clone());
            let x = tape.constant(batch_inputs(data, idx, self.model.takes_images())?);
            let params: Vec<_> = self.model.params.iter().map(|p| tape.constant(p.clone())).collect();
            let logits = self.model.forward(x, &params)?;
            let labels: Vec<u8> = idx.iter().map(|&i| data.labels[i]).collect();
            right += correct(&logits.value(), &labels);
            loss += cross_entropy(logits, &labels)?.item()? * idx.len() as f64;
        }
        Ok((right as f64 / data.n.max(1) as f64, loss / data.n.max(1) as f64))
    }

    /// Save weights (in `T`'s dtype, PyTorch names), optimiser state (`F64`), epoch and RNG state
    /// to a safetensors file, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dt = dtype_of::<T>();
        let mut tensors = Vec::new();
        for (name, p) in self.model.param_names.iter().zip(&self.model.params) {
            tensors.push(NamedTensor::new(name.clone(), p.shape().to_vec(), dt, p.to_f64_vec()));
        }
        for (i, name) in self.model.param_names.iter().enumerate() {
            let shape = self.model.params[i].shape().to_vec();
            tensors.push(NamedTensor::new(
                format!("optimizer.m.{name}"),
                shape.clone(),
                Dtype::F64,
                self.opt.m[i].clone(),
            ));
            if let Some(v) = self.opt.v.get(i) {
                tensors.push(NamedTensor::new(format!("optimizer.v.{name}"), shape, Dtype::F64, v.clone()));
            }
        }
        let mut meta = BTreeMap::new();
        meta.insert("format".to_string(), "kinkgrad-checkpoint-1".to_string());
        meta.insert("epoch".into(), self.epoch.to_string());
        meta.insert("step".into(), self.opt.step.to_string());
        meta.insert("rng_state".into(), self.rng.state().to_string());
        meta.insert("optimizer".into(), self.opt.kind.name().to_string());
        meta.insert("lr".into(), self.opt.lr.to_string());
        meta.insert("precision".into(), T::NAME.to_string());
        safetensors_io::save(path, &tensors, &meta)?;
        Ok(())
    }

    /// Resume from a checkpoint written by [`Trainer::save`]: the model's layers must match (names
    /// and shapes are checked) and so must the optimiser kind; weights (converted to `T`), optimiser
    /// state, step count, epoch and RNG are restored. The learning rate, batch size and mode stay
    /// those of this trainer. A checkpoint saved at another precision is refused (see
    /// [`Trainer::load_with`]).
    pub fn load(&mut self, path: &Path) -> Result<()> {
        self.load_with(path, false)
    }

    /// [`Trainer::load`], converting a checkpoint saved at another precision (its `precision`
    /// metadata) to `T` when `allow_precision_change` is set, refusing it otherwise.
    pub fn load_with(&mut self, path: &Path, allow_precision_change: bool) -> Result<()> {
        let (tensors, meta) = safetensors_io::load(path)?;
        if let Some(p) = meta.get("precision").filter(|p| p.as_str() != T::NAME) {
            if !allow_precision_change {
                return Err(Error::io(
                    path.display(),
                    format!(
                        "checkpoint precision is {}, this run uses {}: refused (allow the conversion explicitly)",
                        p.escape_debug(),
                        T::NAME
                    ),
                ));
            }
        }
        let mut expected: Vec<(String, Vec<usize>)> = Vec::new();
        for (name, p) in self.model.param_names.iter().zip(&self.model.params) {
            expected.push((name.clone(), p.shape().to_vec()));
            expected.push((format!("optimizer.m.{name}"), p.shape().to_vec()));
            if !self.opt.v.is_empty() {
                expected.push((format!("optimizer.v.{name}"), p.shape().to_vec()));
            }
        }
        let exp_refs: Vec<(&str, &[usize])> = expected.iter().map(|(n, s)| (n.as_str(), s.as_slice())).collect();
        safetensors_io::expect_shapes(&tensors, &exp_refs).map_err(|e| e.with_path(path))?;
        let get = |name: &str| tensors.iter().find(|t| t.name == name).map(|t| t.data.clone()).unwrap_or_default();
        let meta_num = |key: &str| -> Result<u64> {
            meta.get(key).and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| {
                Error::io(path.display(), format!("checkpoint metadata '{key}' missing or not a number"))
            })
        };
        let kind = meta.get("optimizer").map(String::as_str).unwrap_or("");
        if kind != self.opt.kind.name() {
            return Err(Error::io(
                path.display(),
                format!("checkpoint optimizer is '{kind}', this run uses '{}'", self.opt.kind.name()),
            ));
        }
        let (epoch, step, rng) = (meta_num("epoch")?, meta_num("step")?, meta_num("rng_state")?);
        for i in 0..self.model.params.len() {
            let name = self.model.param_names[i].clone();
            let shape = self.model.params[i].shape().to_vec();
            self.model.params[i] = Tensor::from_f64(shape, &get(&name))?;
            self.opt.m[i] = get(&format!("optimizer.m.{name}"));
            if !self.opt.v.is_empty() {
                self.opt.v[i] = get(&format!("optimizer.v.{name}"));
            }
        }
        self.epoch = epoch as usize;
        self.opt.step = step;
        self.rng = Rng::from_state(rng);
        Ok(())
    }
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
