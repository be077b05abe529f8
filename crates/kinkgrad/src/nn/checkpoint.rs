//! Checkpoint files of a [`Trainer`]: a **weights** file and a **state** file (the format is
//! documented in `docs/formats.md`).
//!
//! - The weights file is a weights-only safetensors file with PyTorch's names and layouts
//!   (`fc1.weight [out, in]`, `conv1.weight [out, in, kh, kw]`, ...; LeNet flattens `C, H, W` as
//!   `torch.flatten`), in the model's dtype, and the architecture in its metadata: `format`
//!   (`kinkgrad-weights-1`), `model` (`mlp` or `lenet`), `sizes` ([`architecture`]) and `dtype`.
//!   A PyTorch user loads it with `safetensors.torch.load_file` and `load_state_dict`.
//! - The state file (`{stem}.state.safetensors` beside it, [`state_path`]) holds the optimiser's
//!   moments (`optimizer.m.{name}`, `optimizer.v.{name}`, `F64`) and, in its metadata, the step,
//!   epoch, the shuffle position (`batch`: batches done in the current epoch, and `rng_state`: the
//!   generator's state before that epoch's shuffle), the running sums of the current epoch, and the
//!   weights file it belongs to (`weights`: its file name, `weights_fnv1a64`: the FNV-1a 64-bit hash
//!   of its bytes, checked on resume).
//!
//! Both files are byte-reproducible: the same training run writes the same bytes (sorted metadata
//! keys, a deterministic tensor order, no timestamps). Both are written atomically, the weights
//! first; a kill between the two renames leaves a pair whose hash does not match, which a resume
//! refuses with one line rather than mixing two saves.

use super::layer::{Layer, Sequential};
use super::train::{dtype_of, Trainer};
use crate::error::{Error, Result};
use crate::io::atomic::write_atomic_bytes;
use crate::io::safetensors_io::{self, Dtype, NamedTensor};
use crate::rng::Rng;
use crate::scalar::Real;
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `format` metadata of a weights file.
pub const WEIGHTS_FORMAT: &str = "kinkgrad-weights-1";
/// The `format` metadata of a state file.
pub const STATE_FORMAT: &str = "kinkgrad-state-1";

/// The architecture of a model as its weights file records it: `("mlp", "784,256,10")` for a
/// multilayer perceptron (the widths), `("lenet", "1,6,16,256,120,84,10")` for a model starting
/// with a convolution (input channels, each layer's outputs, the flattened width before the first
/// linear layer). `sizes` is the comma-separated list of every parameterised layer's input size
/// (channels for a convolution) followed by the last layer's output size.
pub fn architecture<T: Real>(model: &Sequential<T>) -> (&'static str, String) {
    let mut sizes = Vec::new();
    let mut last = None;
    for (_, layer) in &model.layers {
        match *layer {
            Layer::Linear { inputs, outputs } => {
                sizes.push(inputs);
                last = Some(outputs);
            }
            Layer::Conv2d { in_channels, out_channels, .. } => {
                sizes.push(in_channels);
                last = Some(out_channels);
            }
            _ => {}
        }
    }
    sizes.extend(last);
    let name = if model.takes_images() { "lenet" } else { "mlp" };
    (name, sizes.iter().map(usize::to_string).collect::<Vec<_>>().join(","))
}

/// The state file that goes with the weights file `weights`: `ck.safetensors` ->
/// `ck.state.safetensors`; a name without the `.safetensors` extension gets `.state.safetensors`
/// appended.
pub fn state_path(weights: &Path) -> PathBuf {
    let name = weights.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".safetensors").unwrap_or(&name);
    weights.with_file_name(format!("{stem}.state.safetensors"))
}

/// FNV-1a, 64 bits (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`): ties a state file
/// to the exact bytes of its weights file.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The bytes of a weights-only file of `model` (see the module documentation).
pub fn weights_bytes<T: Real>(model: &Sequential<T>) -> Result<Vec<u8>> {
    let dt = dtype_of::<T>();
    let tensors: Vec<NamedTensor> = model
        .param_names
        .iter()
        .zip(&model.params)
        .map(|(name, p)| NamedTensor::new(name.clone(), p.shape().to_vec(), dt, p.to_f64_vec()))
        .collect();
    let (arch, sizes) = architecture(model);
    let meta: BTreeMap<String, String> = [
        ("format", WEIGHTS_FORMAT.to_string()),
        ("model", arch.to_string()),
        ("sizes", sizes),
        ("dtype", dt.name().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    safetensors_io::to_bytes(&tensors, &meta)
}

/// Save the weights of `model` alone (weights-only safetensors, atomically).
pub fn save_weights<T: Real>(model: &Sequential<T>, path: &Path) -> Result<()> {
    write_atomic_bytes(path, &weights_bytes(model)?)
}

/// What [`load_weights`] read.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightsInfo {
    /// The dtype of the file's tensors (the first tensor's if they differ).
    pub dtype: Dtype,
    /// The file's metadata (empty for a file written by PyTorch or NumPy without any).
    pub metadata: BTreeMap<String, String>,
}

/// Read a weights-only safetensors file into `model`: every tensor the model has must be present
/// with its PyTorch name and shape, and no other tensor may be (each problem names the tensor);
/// values of any of F64, F32, F16, BF16 are converted to `T`; a non-finite value is an error
/// naming the tensor. Metadata is optional (a file written by PyTorch or NumPy has none), but a
/// `model` or `sizes` entry that disagrees with `model` is refused.
pub fn load_weights<T: Real>(model: &mut Sequential<T>, path: &Path) -> Result<WeightsInfo> {
    let (tensors, meta) = safetensors_io::load(path)?;
    check_architecture(model, &meta, path)?;
    assign(model, &tensors).map_err(|e| e.with_path(path))?;
    let dtype = tensors.first().map_or(dtype_of::<T>(), |t| t.dtype);
    Ok(WeightsInfo { dtype, metadata: meta })
}

/// Set the weights of `model` from tensors in memory (e.g. NumPy arrays from Python), under the
/// rules of [`load_weights`]: every tensor the model has, with its PyTorch name and shape, no
/// other, finite values (converted to `T`).
///
/// # Errors
///
/// [`Error::Invalid`] naming every missing, misshapen or unexpected tensor, or the first
/// non-finite value; `model` is unchanged then.
pub fn set_weights<T: Real>(model: &mut Sequential<T>, tensors: &[NamedTensor]) -> Result<()> {
    assign(model, tensors).map_err(|e| match e {
        Error::Io { detail, .. } => Error::invalid("weights", detail),
        e => e,
    })
}

/// The one check-and-assign of [`load_weights`] and [`set_weights`] (file errors without a path).
fn assign<T: Real>(model: &mut Sequential<T>, tensors: &[NamedTensor]) -> Result<()> {
    let expected: Vec<(&str, &[usize])> =
        model.param_names.iter().zip(&model.params).map(|(n, p)| (n.as_str(), p.shape())).collect();
    safetensors_io::expect_exact_shapes(tensors, &expected)?;
    let mut params = Vec::with_capacity(model.params.len());
    for (name, p) in model.param_names.iter().zip(&model.params) {
        let t = tensors.iter().find(|t| &t.name == name).ok_or_else(|| Error::io("", name.clone()))?;
        if let Some(i) = t.data.iter().position(|v| !v.is_finite()) {
            return Err(Error::io("", format!("tensor '{name}' holds {} at index {i}", t.data[i])));
        }
        params.push(Tensor::from_f64(p.shape().to_vec(), &t.data)?);
    }
    model.params = params;
    Ok(())
}

/// Refuses a file whose `model` or `sizes` metadata names another architecture than `model`'s.
fn check_architecture<T: Real>(model: &Sequential<T>, meta: &BTreeMap<String, String>, path: &Path) -> Result<()> {
    let (arch, sizes) = architecture(model);
    for (key, want) in [("model", arch.to_string()), ("sizes", sizes)] {
        if let Some(got) = meta.get(key).filter(|g| **g != want) {
            return Err(Error::io(
                path.display(),
                format!("architecture {key} is '{}', this run uses '{want}': refused", got.escape_debug()),
            ));
        }
    }
    Ok(())
}

/// What [`Trainer::resume`] restored.
#[derive(Clone, Debug, PartialEq)]
pub struct ResumeInfo {
    /// Epochs completed.
    pub epoch: usize,
    /// Batches done in the current (unfinished) epoch; 0 at an epoch boundary.
    pub batch: usize,
    /// Optimiser steps taken.
    pub step: u64,
    /// The checkpoint's precision (`T::NAME` of the run that saved it).
    pub precision: String,
    /// The state file read.
    pub state: PathBuf,
}

impl<T: Real> Trainer<T> {
    /// Save a checkpoint: the weights-only file at `path` and the state file at
    /// [`state_path`]`(path)`, both atomically (weights first). Saving mid-epoch (after a
    /// cancellation or a pause of [`Trainer::train_until`]) records the shuffle position so that
    /// a resume continues bit for bit.
    pub fn save(&self, path: &Path) -> Result<()> {
        let weights = weights_bytes(&self.model)?;
        let state = safetensors_io::to_bytes(&self.state_tensors(), &self.state_metadata(path, &weights))?;
        write_atomic_bytes(path, &weights)?;
        write_atomic_bytes(&state_path(path), &state)
    }

    fn state_tensors(&self) -> Vec<NamedTensor> {
        let mut tensors = Vec::new();
        for (i, (name, p)) in self.model.param_names.iter().zip(&self.model.params).enumerate() {
            tensors.push(NamedTensor::new(
                format!("optimizer.m.{name}"),
                p.shape().to_vec(),
                Dtype::F64,
                self.opt.m[i].clone(),
            ));
            if let Some(v) = self.opt.v.get(i) {
                tensors.push(NamedTensor::new(
                    format!("optimizer.v.{name}"),
                    p.shape().to_vec(),
                    Dtype::F64,
                    v.clone(),
                ));
            }
        }
        tensors
    }

    fn state_metadata(&self, path: &Path, weights: &[u8]) -> BTreeMap<String, String> {
        let (arch, sizes) = architecture(&self.model);
        let (loss_sum, correct, seen) = self.progress.sums;
        let rng = if self.progress.batch == 0 { self.rng.state() } else { self.progress.epoch_rng };
        let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        [
            ("format", STATE_FORMAT.to_string()),
            ("weights", file),
            ("weights_fnv1a64", format!("{:016x}", fnv1a64(weights))),
            ("model", arch.to_string()),
            ("sizes", sizes),
            ("precision", T::NAME.to_string()),
            ("optimizer", self.opt.kind.name().to_string()),
            ("lr", self.opt.lr.to_string()),
            ("step", self.opt.step.to_string()),
            ("epoch", self.epoch.to_string()),
            ("batch", self.progress.batch.to_string()),
            ("batch_size", self.batch.to_string()),
            ("rng_state", rng.to_string()),
            // f64 bits in hex: the running loss sum resumes exactly
            ("epoch_loss_sum_bits", format!("{:016x}", loss_sum.to_bits())),
            ("epoch_correct", correct.to_string()),
            ("epoch_seen", seen.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Resume from a checkpoint written by [`Trainer::save`] (`path` is the weights file; its state
    /// file is [`state_path`]`(path)`). Refused with one line naming the file: another
    /// architecture (`model`, `sizes`, tensor names and shapes), another optimiser, another
    /// precision unless `allow_precision_change` (the weights are then converted to `T`), another
    /// mini-batch size in the middle of an epoch, or a state file that belongs to other weights.
    /// The learning rate and mode stay those of this trainer.
    pub fn resume(&mut self, path: &Path, allow_precision_change: bool) -> Result<ResumeInfo> {
        let sp = state_path(path);
        let weight_bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), format!("cannot read: {e}")))?;
        let (tensors, meta) = safetensors_io::load(&sp)?;
        let get = |key: &str| -> Result<&str> {
            meta.get(key)
                .map(String::as_str)
                .ok_or_else(|| Error::io(sp.display(), format!("state metadata '{key}' is missing")))
        };
        let num = |key: &str| -> Result<u64> {
            let v = get(key)?;
            v.parse::<u64>().map_err(|_| {
                Error::io(sp.display(), format!("state metadata '{key}' = '{}' is not a number", v.escape_debug()))
            })
        };
        if get("format")? != STATE_FORMAT {
            return Err(Error::io(
                sp.display(),
                format!("format '{}', expected {STATE_FORMAT}", get("format")?.escape_debug()),
            ));
        }
        let hash = format!("{:016x}", fnv1a64(&weight_bytes));
        if get("weights_fnv1a64")? != hash {
            return Err(Error::io(
                sp.display(),
                format!("belongs to other weights than {} (a save was interrupted between the two files, or they come from different runs)", path.display()),
            ));
        }
        let precision = get("precision")?.to_string();
        if precision != T::NAME && !allow_precision_change {
            return Err(Error::io(
                path.display(),
                format!(
                    "checkpoint precision is {}, this run uses {}: refused (allow the conversion explicitly)",
                    precision.escape_debug(),
                    T::NAME
                ),
            ));
        }
        let kind = get("optimizer")?;
        if kind != self.opt.kind.name() {
            return Err(Error::io(
                sp.display(),
                format!("checkpoint optimizer is '{}', this run uses '{}'", kind.escape_debug(), self.opt.kind.name()),
            ));
        }
        check_architecture(&self.model, &meta, &sp)?;
        let (epoch, step, batch, rng) = (num("epoch")?, num("step")?, num("batch")?, num("rng_state")?);
        if batch > 0 && num("batch_size")? != self.batch as u64 {
            return Err(Error::io(
                sp.display(),
                format!(
                    "saved in the middle of an epoch with batches of {}, this run uses {}: refused",
                    num("batch_size")?,
                    self.batch
                ),
            ));
        }
        let loss_bits = u64::from_str_radix(get("epoch_loss_sum_bits")?, 16)
            .map_err(|_| Error::io(sp.display(), "state metadata 'epoch_loss_sum_bits' is not hexadecimal"))?;
        let sums = (f64::from_bits(loss_bits), num("epoch_correct")? as usize, num("epoch_seen")? as usize);

        let mut expected: Vec<(String, Vec<usize>)> = Vec::new();
        for (name, p) in self.model.param_names.iter().zip(&self.model.params) {
            expected.push((format!("optimizer.m.{name}"), p.shape().to_vec()));
            if !self.opt.v.is_empty() {
                expected.push((format!("optimizer.v.{name}"), p.shape().to_vec()));
            }
        }
        let refs: Vec<(&str, &[usize])> = expected.iter().map(|(n, s)| (n.as_str(), s.as_slice())).collect();
        safetensors_io::expect_exact_shapes(&tensors, &refs).map_err(|e| e.with_path(&sp))?;
        let moments = |name: &str| -> Result<Vec<f64>> {
            let t = tensors.iter().find(|t| t.name == name).map(|t| t.data.clone()).unwrap_or_default();
            match t.iter().position(|v| !v.is_finite()) {
                Some(i) => Err(Error::io(sp.display(), format!("tensor '{name}' holds {} at index {i}", t[i]))),
                None => Ok(t),
            }
        };
        let mut m = Vec::new();
        let mut v = Vec::new();
        for name in &self.model.param_names {
            m.push(moments(&format!("optimizer.m.{name}"))?);
            if !self.opt.v.is_empty() {
                v.push(moments(&format!("optimizer.v.{name}"))?);
            }
        }
        load_weights(&mut self.model, path)?;
        self.opt.m = m;
        self.opt.v = v;
        self.opt.step = step;
        self.epoch = epoch as usize;
        self.rng = Rng::from_state(rng);
        self.progress = super::train::EpochProgress { batch: batch as usize, epoch_rng: rng, sums };
        Ok(ResumeInfo { epoch: epoch as usize, batch: batch as usize, step, precision, state: sp })
    }
}
