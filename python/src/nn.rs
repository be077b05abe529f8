//! `kinkgrad.nn`: the built-in classifiers (MLP, LeNet) trained from NumPy arrays with the library's
//! `nn::Trainer`, as `kinkgrad train` trains them; weights in and out as NumPy arrays with PyTorch's
//! names. Training and evaluation run off the GIL and stop on Ctrl-C ([`crate::interrupt`]).

use crate::dtype::{to_tensor, Dtype};
use crate::{interrupt, to_py_err};
use kinkgrad::io::mnist::Mnist;
use kinkgrad::io::safetensors_io::NamedTensor;
use kinkgrad::nn::{kinks_per_layer, EpochReport, Init, OptimizerKind, Sequential, Trainer};
use kinkgrad::{bf16, f16, Precision, Representation, Rng};
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// A data set in memory: images (float32 values, row-major) and labels.
#[pyclass(frozen, name = "NnData", module = "kinkgrad._native")]
pub(crate) struct PyData {
    data: Mnist,
}

#[pymethods]
impl PyData {
    /// `n` images of `rows x cols` float32 pixels (flat, image after image) and `n` labels (0..9).
    #[new]
    fn new(
        images: PyReadonlyArray1<'_, f32>,
        labels: PyReadonlyArray1<'_, u8>,
        rows: usize,
        cols: usize,
    ) -> PyResult<Self> {
        let data = Mnist::from_parts(images.as_slice()?.to_vec(), labels.as_slice()?.to_vec(), rows, cols)
            .map_err(to_py_err)?;
        Ok(Self { data })
    }
    /// The number of examples.
    fn __len__(&self) -> usize {
        self.data.n
    }
    /// `(rows, cols)` of every image.
    #[getter]
    fn image_shape(&self) -> (usize, usize) {
        (self.data.rows, self.data.cols)
    }
    /// The first `n` examples and the rest, in order.
    fn split(&self, n: usize) -> PyResult<(Self, Self)> {
        if n > self.data.n {
            return Err(to_py_err(kinkgrad::Error::invalid(
                "split",
                format!("{n} examples asked of a set of {}", self.data.n),
            )));
        }
        let (a, b) = self.data.split(n);
        Ok((Self { data: a }, Self { data: b }))
    }
}

/// The split of an MNIST directory, as `kinkgrad train --data DIR --limit N` reads it.
#[pyfunction]
#[pyo3(signature = (dir, limit=None))]
fn load_split(py: Python<'_>, dir: std::path::PathBuf, limit: Option<usize>) -> PyResult<(PyData, PyData)> {
    let budget = kinkgrad::limits::Budget::default();
    let (train, test) = interrupt::run(py, || kinkgrad::nn::load_split_within(&dir, limit, &budget))?;
    Ok((PyData { data: train }, PyData { data: test }))
}

/// A trainer of one precision.
enum AnyTrainer {
    F64(Trainer<f64>),
    F32(Trainer<f32>),
    F16(Trainer<f16>),
    Bf16(Trainer<bf16>),
}

/// Runs `$body` with `$t` bound to the typed trainer.
macro_rules! dispatch {
    ($tr:expr, $t:ident => $body:expr) => {
        match $tr {
            AnyTrainer::F64($t) => $body,
            AnyTrainer::F32($t) => $body,
            AnyTrainer::F16($t) => $body,
            AnyTrainer::Bf16($t) => $body,
        }
    };
}

/// One epoch: epoch, mean loss, running training accuracy, certificate (JSON, line), seconds, and
/// kinks per layer `(layer, relu zeros, pool ties)`.
type EpochTuple = (usize, f64, f64, (String, String), f64, Vec<(String, usize, usize)>);

/// A training run of a built-in model (`kinkgrad.nn.Trainer` wraps it).
#[pyclass(name = "Trainer", module = "kinkgrad._native")]
pub(crate) struct PyTrainer {
    trainer: AnyTrainer,
    model: String,
}

/// The model named as on the command line: `mlp` (`inputs`-256-10) or `lenet` (28x28 images).
fn build<T: Dtype>(name: &str, inputs: usize, init: Init, seed: u64) -> kinkgrad::Result<Sequential<T>> {
    let mut rng = Rng::new(seed);
    match name {
        "mlp" => Sequential::<T>::mlp(&[inputs, 256, 10], init, &mut rng),
        "lenet" => Sequential::<T>::lenet(None, init, &mut rng),
        other => Err(kinkgrad::Error::invalid("model", format!("'{other}' (expected mlp or lenet)"))),
    }
}

#[allow(clippy::too_many_arguments)]
fn trainer<T: Dtype>(
    model: &str,
    inputs: usize,
    init: Init,
    init_seed: u64,
    opt: OptimizerKind,
    lr: f64,
    batch: usize,
    mode: kinkgrad::Mode,
    rep: Representation,
) -> PyResult<Trainer<T>> {
    let m = build::<T>(model, inputs, init, init_seed).map_err(to_py_err)?;
    Trainer::new(m, opt, lr, batch, mode, rep, init_seed).map_err(to_py_err)
}

fn epoch_tuple<T: Dtype>(tr: &Trainer<T>, r: &EpochReport) -> EpochTuple {
    let per_layer = kinks_per_layer(&tr.model, &r.certificate.kinks);
    (r.epoch, r.loss, r.train_accuracy, crate::certificate(&r.certificate), r.seconds, per_layer)
}

#[pymethods]
impl PyTrainer {
    /// A trainer as `kinkgrad train` sets one up: the model's weights from `init_seed`, the
    /// shuffles from `init_seed`, safe mode's probes from `seed`.
    #[new]
    #[pyo3(signature = (model, precision, mode, seed, convention, relu_at_zero, max_ties, kink_rule, representation, optimizer, lr, batch, init, init_seed, inputs))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        model: &str,
        precision: &str,
        mode: &str,
        seed: Option<u64>,
        convention: Option<&str>,
        relu_at_zero: Option<f64>,
        max_ties: Option<&str>,
        kink_rule: Option<&str>,
        representation: Option<&str>,
        optimizer: &str,
        lr: f64,
        batch: usize,
        init: &str,
        init_seed: u64,
        inputs: usize,
    ) -> PyResult<Self> {
        let rep = crate::representation(convention, relu_at_zero, max_ties, kink_rule, representation)?;
        let mode = crate::mode(mode, seed, None)?;
        let precision: Precision = precision.parse().map_err(to_py_err)?;
        let init: Init = init.parse().map_err(to_py_err)?;
        let opt: OptimizerKind = optimizer.parse().map_err(to_py_err)?;
        let a = (model, inputs, init, init_seed, opt, lr, batch, mode, rep);
        let trainer = match precision {
            Precision::F64 => AnyTrainer::F64(trainer(a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7, a.8)?),
            Precision::F32 => AnyTrainer::F32(trainer(a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7, a.8)?),
            Precision::F16 => AnyTrainer::F16(trainer(a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7, a.8)?),
            Precision::BF16 => AnyTrainer::Bf16(trainer(a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7, a.8)?),
        };
        Ok(Self { trainer, model: model.to_string() })
    }

    /// The model's name (`mlp` or `lenet`).
    #[getter]
    fn model(&self) -> &str {
        &self.model
    }
    /// The precision's name (`f64`, `f32`, `f16`, `bf16`).
    #[getter]
    fn precision(&self) -> &'static str {
        match &self.trainer {
            AnyTrainer::F64(_) => "f64",
            AnyTrainer::F32(_) => "f32",
            AnyTrainer::F16(_) => "f16",
            AnyTrainer::Bf16(_) => "bf16",
        }
    }
    /// Epochs completed.
    #[getter]
    fn epoch(&self) -> usize {
        dispatch!(&self.trainer, t => t.epoch)
    }
    /// Optimiser steps taken.
    #[getter]
    fn step(&self) -> u64 {
        dispatch!(&self.trainer, t => t.opt.step)
    }
    /// The number of weights.
    #[getter]
    fn parameters(&self) -> usize {
        dispatch!(&self.trainer, t => t.model.num_params())
    }
    /// The mode's name.
    #[getter]
    fn mode(&self) -> &'static str {
        dispatch!(&self.trainer, t => t.mode.name())
    }
    /// The representation's name.
    #[getter]
    fn representation(&self) -> String {
        dispatch!(&self.trainer, t => t.representation.name.clone())
    }

    /// One epoch (the rest of it after an interrupt) over `data` in shuffled mini-batches.
    fn train_epoch(&mut self, py: Python<'_>, data: PyRef<'_, PyData>) -> PyResult<EpochTuple> {
        let d = &data.data;
        dispatch!(&mut self.trainer, t => {
            let r = interrupt::run(py, || t.train_epoch(d, &mut |_| {}))?;
            Ok(epoch_tuple(t, &r))
        })
    }

    /// `(accuracy, mean cross-entropy)` of the current weights on `data`.
    fn evaluate(&self, py: Python<'_>, data: PyRef<'_, PyData>) -> PyResult<(f64, f64)> {
        let d = &data.data;
        dispatch!(&self.trainer, t => interrupt::run(py, || t.evaluate(d)))
    }

    /// The weights as `{PyTorch name: array}` in the model's precision (bfloat16 as float32).
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        dispatch!(&self.trainer, t => {
            for (name, p) in t.model.param_names.iter().zip(&t.model.params) {
                out.set_item(name, Dtype::array(py, p)?)?;
            }
        });
        Ok(out)
    }

    /// Sets the weights from `{PyTorch name: array}`: every weight, no other, finite, its shape.
    fn set_weights(&mut self, weights: Bound<'_, PyDict>) -> PyResult<()> {
        let mut tensors = Vec::with_capacity(weights.len());
        for (k, v) in weights.iter() {
            let name: String = k.extract()?;
            let t = to_tensor::<f64>(&v)?;
            tensors.push(NamedTensor::new(
                name,
                t.shape().to_vec(),
                kinkgrad::io::safetensors_io::Dtype::F64,
                t.data().to_vec(),
            ));
        }
        dispatch!(&mut self.trainer, t => kinkgrad::nn::set_weights(&mut t.model, &tensors).map_err(to_py_err))
    }

    /// Saves a checkpoint (weights file `path` with PyTorch's names, and its state file beside it).
    fn save(&self, path: std::path::PathBuf) -> PyResult<()> {
        dispatch!(&self.trainer, t => t.save(&path).map_err(to_py_err))
    }

    /// Resumes from a checkpoint written by `save` or `kinkgrad train --save`: `(epoch, batch, step)`.
    #[pyo3(signature = (path, allow_precision_change=false))]
    fn resume(&mut self, path: std::path::PathBuf, allow_precision_change: bool) -> PyResult<(usize, usize, u64)> {
        dispatch!(&mut self.trainer, t => {
            let i = t.resume(&path, allow_precision_change).map_err(to_py_err)?;
            Ok((i.epoch, i.batch, i.step))
        })
    }
}

/// Adds the nn classes and functions to the native module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyData>()?;
    m.add_class::<PyTrainer>()?;
    m.add_function(wrap_pyfunction!(load_split, m)?)?;
    Ok(())
}
