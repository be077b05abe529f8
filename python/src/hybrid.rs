//! `kinkgrad.hybrid`: a ReLU network as the source of a finite-volume scheme, fitted to observations
//! given as NumPy arrays (the library's `hybrid` module). Loss, gradient and training run off the
//! GIL and stop on Ctrl-C ([`crate::interrupt`]).
//!
//! The data set is built from arrays by the library's one validator of data sets
//! (`kinkgrad::hybrid::data_file::from_arrays`, the checks of a data file: shapes, finite values,
//! settings in range), so NumPy arrays and files are refused for the same reasons, in the same words.

use crate::{interrupt, to_py_err};
use kinkgrad::hybrid::{
    self, checkpoint, data_file, Dataset, GenerateConfig, HybridModel, Position, Snapshot, SourceForm, TrainConfig,
    TrueSource,
};
use kinkgrad::limits::Budget;
use kinkgrad::pde::checkpoint::Schedule;
use numpy::PyReadonlyArrayDyn;
use pyo3::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn invalid(what: &str, detail: String) -> PyErr {
    to_py_err(kinkgrad::Error::invalid(what, detail))
}

/// Observations: `alpha [S, P]`, initial states `beta [S, N]`, final states `gamma [S, N]`,
/// optionally `velocity [N]` (one per face) and `true_source [S, N]`, and the scheme's settings:
/// the names and checks of a data file (`kinkgrad::hybrid::data_file::from_arrays`, the library's
/// one validator).
#[pyclass(frozen, name = "HybridData", module = "kinkgrad._native")]
pub(crate) struct PyHybridData {
    data: Dataset,
}

#[pymethods]
impl PyHybridData {
    /// A data set from arrays (float64) by name and settings (text) by name.
    #[new]
    fn new(
        arrays: BTreeMap<String, PyReadonlyArrayDyn<'_, f64>>,
        settings: BTreeMap<String, String>,
    ) -> PyResult<Self> {
        let arrays = arrays
            .into_iter()
            .map(|(name, a)| {
                let v = a.as_array();
                (name, (v.shape().to_vec(), v.iter().copied().collect()))
            })
            .collect();
        let data = data_file::from_arrays(arrays, settings).map_err(to_py_err)?;
        data.transport().map_err(to_py_err)?;
        Ok(Self { data })
    }
    /// `(alpha, beta, gamma)` as lists of rows.
    #[allow(clippy::type_complexity)]
    fn arrays(&self) -> (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<Vec<f64>>) {
        (self.data.alpha.clone(), self.data.beta.clone(), self.data.gamma.clone())
    }
    /// `(scheme, courant, steps, velocity (one value, or one per face), source, n_train, cells)`.
    #[allow(clippy::type_complexity)]
    fn settings(&self) -> (String, f64, usize, Vec<f64>, &'static str, usize, usize) {
        let d = &self.data;
        (d.scheme.name().to_string(), d.courant, d.steps, d.velocity.clone(), d.source.name(), d.n_train, d.cells)
    }
    /// The true source per cell `[S][N]` when the data carry one as an array.
    fn true_source(&self) -> Option<Vec<Vec<f64>>> {
        match &self.data.truth {
            TrueSource::Cells(t) => Some(t.clone()),
            _ => None,
        }
    }
    /// Number of source parameters `P` (the columns of `alpha`).
    fn params(&self) -> usize {
        self.data.params()
    }
    fn __len__(&self) -> usize {
        self.data.len()
    }
}

/// Synthetic observations of the library's true sources (`kinkgrad hybrid generate`).
#[pyfunction]
#[pyo3(signature = (*, scheme, cells, courant, steps, velocity, source, n_train, n_test, noise, seed))]
#[allow(clippy::too_many_arguments)]
fn hybrid_generate(
    py: Python<'_>,
    scheme: &str,
    cells: usize,
    courant: f64,
    steps: usize,
    velocity: f64,
    source: &str,
    n_train: usize,
    n_test: usize,
    noise: f64,
    seed: u64,
) -> PyResult<PyHybridData> {
    let cfg = GenerateConfig {
        scheme: scheme.parse().map_err(to_py_err)?,
        cells,
        courant,
        steps,
        velocity,
        source: source.parse().map_err(to_py_err)?,
        n_train,
        n_test,
        noise,
        seed,
    };
    Ok(PyHybridData { data: interrupt::run(py, || hybrid::data::generate(&cfg))? })
}

/// Loss, flat gradient, certificate (JSON, line), peak bytes.
type LossTuple = (f64, Vec<f64>, (String, String), usize);

/// One training iteration: iteration, training loss, test loss, certificate (JSON, line).
type StepTuple = (usize, f64, Option<f64>, (String, String));

/// The network source of a hybrid model.
#[pyclass(name = "HybridModel", module = "kinkgrad._native")]
pub(crate) struct PyHybridModel {
    model: HybridModel,
}

fn indices(d: &Dataset, idx: Option<Vec<usize>>) -> PyResult<Vec<usize>> {
    let idx = idx.unwrap_or_else(|| d.train_indices());
    if let Some(i) = idx.iter().find(|&&i| i >= d.len()) {
        return Err(invalid("samples", format!("index {i} of a data set of {} samples", d.len())));
    }
    Ok(idx)
}

impl PyHybridModel {
    /// The samples `idx` of `d`, after checking that the network fits the data set.
    fn samples(&self, d: &Dataset, idx: Vec<usize>) -> PyResult<Vec<usize>> {
        self.model.check_fits(d).map_err(to_py_err)?;
        indices(d, Some(idx))
    }
}

#[pymethods]
impl PyHybridModel {
    /// A seeded model: `form` `alpha` or `state`, `params` source parameters, two hidden ReLU
    /// layers of `width`.
    #[new]
    #[pyo3(signature = (form, width, seed, params=2))]
    fn new(form: &str, width: usize, seed: u64, params: usize) -> PyResult<Self> {
        let form: SourceForm = form.parse().map_err(to_py_err)?;
        let sizes = [HybridModel::inputs(form, params), width, width, 1];
        Ok(Self { model: HybridModel::with_sizes(form, &sizes, seed).map_err(to_py_err)? })
    }
    /// Number of source parameters `P` the network takes.
    #[getter]
    fn params(&self) -> usize {
        self.model.params()
    }
    /// The source form's name.
    #[getter]
    fn form(&self) -> &'static str {
        self.model.form.name()
    }
    /// `[(name, shape, values)]` of the network's parameters (PyTorch names).
    fn tensors(&self) -> Vec<(String, Vec<usize>, Vec<f64>)> {
        let net = &self.model.net;
        net.param_names.iter().zip(&net.params).map(|(n, p)| (n.clone(), p.shape().to_vec(), p.to_f64_vec())).collect()
    }
    /// Sets the parameters from one flat vector (the order of `params`).
    fn set_flat(&mut self, w: Vec<f64>) -> PyResult<()> {
        let total: usize = self.model.net.params.iter().map(|p| p.len()).sum();
        if w.len() != total {
            return Err(invalid("weights", format!("{} values for {total} parameters", w.len())));
        }
        if let Some(i) = w.iter().position(|v| !v.is_finite()) {
            return Err(invalid("weights", format!("value {} at index {i}", w[i])));
        }
        let mut at = 0;
        for p in &mut self.model.net.params {
            let n = p.len();
            *p = kinkgrad::Tensor::from_f64(p.shape().to_vec(), &w[at..at + n]).map_err(to_py_err)?;
            at += n;
        }
        Ok(())
    }
    /// `J` on the samples `idx` (default: the training split), no gradient.
    #[pyo3(signature = (data, idx=None))]
    fn loss(&self, py: Python<'_>, data: PyRef<'_, PyHybridData>, idx: Option<Vec<usize>>) -> PyResult<f64> {
        let d = &data.data;
        let idx = indices(d, idx)?;
        interrupt::run(py, || self.model.loss(d, &idx))
    }
    /// `J` and `dJ/dW` (flat, the order of `params`) with its certificate.
    #[pyo3(signature = (data, idx, mode, seed, convention, relu_at_zero, max_ties, kink_rule, representation, schedule))]
    #[allow(clippy::too_many_arguments)]
    fn loss_and_gradient(
        &self,
        py: Python<'_>,
        data: PyRef<'_, PyHybridData>,
        idx: Option<Vec<usize>>,
        mode: &str,
        seed: Option<u64>,
        convention: Option<&str>,
        relu_at_zero: Option<f64>,
        max_ties: Option<&str>,
        kink_rule: Option<&str>,
        representation: Option<&str>,
        schedule: &str,
    ) -> PyResult<LossTuple> {
        let d = &data.data;
        let idx = indices(d, idx)?;
        let rep = crate::representation(convention, relu_at_zero, max_ties, kink_rule, representation)?;
        let mode = crate::mode(mode, seed, None)?;
        let schedule: Schedule = schedule.parse().map_err(to_py_err)?;
        let r = interrupt::run(py, || self.model.loss_and_gradient(d, &idx, &mode, &rep, &schedule))?;
        Ok((r.loss, r.grads.concat(), crate::certificate(&r.certificate), r.peak_bytes))
    }
    /// The learned source per cell for every sample in `idx` (state form: at the initial states).
    #[pyo3(signature = (data, idx=None))]
    fn source(
        &self,
        py: Python<'_>,
        data: PyRef<'_, PyHybridData>,
        idx: Option<Vec<usize>>,
    ) -> PyResult<Vec<Vec<f64>>> {
        let d = &data.data;
        let idx = self.samples(d, idx.unwrap_or_else(|| (0..d.len()).collect()))?;
        interrupt::run(py, || {
            let t = d.transport()?;
            let u = |i: usize| match self.model.form {
                SourceForm::Alpha => None,
                SourceForm::State => Some(d.beta[i].as_slice()),
            };
            idx.iter().map(|&i| self.model.source(&t, &d.alpha[i], u(i))).collect()
        })
    }
    /// The final states the model predicts for the samples `idx`.
    #[pyo3(signature = (data, idx=None))]
    fn simulate(
        &self,
        py: Python<'_>,
        data: PyRef<'_, PyHybridData>,
        idx: Option<Vec<usize>>,
    ) -> PyResult<Vec<Vec<f64>>> {
        let d = &data.data;
        let idx = self.samples(d, idx.unwrap_or_else(|| (0..d.len()).collect()))?;
        interrupt::run(py, || {
            let t = d.transport()?;
            idx.iter().map(|&i| self.model.simulate(d, &t, i)).collect()
        })
    }
    /// Relative L2 error of the learned source against the data's true source on `idx`; `None`
    /// when the data carry no true source.
    #[pyo3(signature = (data, idx=None))]
    fn source_rel_l2(
        &self,
        py: Python<'_>,
        data: PyRef<'_, PyHybridData>,
        idx: Option<Vec<usize>>,
    ) -> PyResult<Option<f64>> {
        let d = &data.data;
        let idx = self.samples(d, idx.unwrap_or_else(|| d.test_indices()))?;
        interrupt::run(py, || self.model.source_rel_l2(d, &idx))
    }
    /// Adam on the training split up to `iterations` (counting resumed ones): a fresh optimiser, or
    /// the optimiser, position and weights of the checkpoint `resume` (the CLI's `hybrid train
    /// --resume` contract: `kinkgrad::hybrid::checkpoint`); every iteration of this call, and its
    /// certificate. With `save`: a checkpoint at the end, every `save_every` iterations and on
    /// Ctrl-C.
    #[pyo3(signature = (data, iterations, lr, batch, eval_every, mode, seed, convention, relu_at_zero, max_ties, kink_rule, representation, schedule, shuffle_seed, save=None, save_every=None, resume=None))]
    #[allow(clippy::too_many_arguments)]
    fn train(
        &mut self,
        py: Python<'_>,
        data: PyRef<'_, PyHybridData>,
        iterations: usize,
        lr: Option<f64>,
        batch: usize,
        eval_every: usize,
        mode: &str,
        seed: Option<u64>,
        convention: Option<&str>,
        relu_at_zero: Option<f64>,
        max_ties: Option<&str>,
        kink_rule: Option<&str>,
        representation: Option<&str>,
        schedule: &str,
        shuffle_seed: u64,
        save: Option<PathBuf>,
        save_every: Option<usize>,
        resume: Option<PathBuf>,
    ) -> PyResult<(Vec<StepTuple>, (String, String))> {
        if let Some(lr) = lr.filter(|lr| !(lr.is_finite() && *lr > 0.0)) {
            return Err(invalid("lr", format!("{lr}: must be a positive number")));
        }
        match (save.is_some(), save_every) {
            (_, Some(0)) => return Err(invalid("save_every", "0: must be positive".into())),
            (false, Some(_)) => {
                return Err(invalid("save_every", "needs save (where to write the checkpoints)".into()))
            }
            _ => {}
        }
        let d = &data.data;
        let (mut opt, mut pos) = match &resume {
            Some(p) => {
                let r = checkpoint::resume(p, d, &Budget::default()).map_err(to_py_err)?;
                let (ours, theirs) = (sizes(&self.model), sizes(&r.model));
                if ours != theirs || r.model.form != self.model.form {
                    return Err(invalid(
                        "resume",
                        format!(
                            "{}: the checkpoint's network is {} with layers {theirs:?}, this model {} with {ours:?}: refused",
                            p.display(),
                            r.model.form.name(),
                            self.model.form.name()
                        ),
                    ));
                }
                if r.batch != batch {
                    return Err(invalid(
                        "resume",
                        format!(
                            "batch {batch}: the checkpoint {} was saved with batch {}; resuming bit for bit needs the same: refused",
                            p.display(),
                            r.batch
                        ),
                    ));
                }
                if r.position.iteration >= iterations {
                    return Err(invalid(
                        "resume",
                        format!(
                            "{} has already run {} iterations, as many as iterations={iterations}: nothing to resume",
                            p.display(),
                            r.position.iteration
                        ),
                    ));
                }
                self.model = r.model;
                let mut opt = r.opt;
                // the given rate replaces the file's; without one the file's is kept
                if let Some(lr) = lr {
                    opt.lr = lr;
                }
                (opt, r.position)
            }
            None => (hybrid::adam(&self.model, lr.unwrap_or(1e-2)), Position::new(shuffle_seed, d.n_train)),
        };
        let cfg = TrainConfig {
            iterations,
            lr: opt.lr,
            batch,
            eval_every,
            mode: crate::mode(mode, seed, None)?,
            rep: crate::representation(convention, relu_at_zero, max_ties, kink_rule, representation)?,
            schedule: schedule.parse().map_err(to_py_err)?,
            seed: shuffle_seed,
        };
        let model = &mut self.model;
        let run = interrupt::run(py, || {
            let run = hybrid::train(model, &mut opt, d, &cfg, &mut pos, &mut |s, snap| match (&save, save_every) {
                (Some(p), Some(n)) if s.iteration % n == 0 => checkpoint::save(p, snap, batch),
                _ => Ok(()),
            });
            // at the end, and on Ctrl-C the last completed iteration (the model keeps it too)
            if let (Some(p), Ok(_) | Err(kinkgrad::Error::Cancelled { .. })) = (&save, &run) {
                checkpoint::save(p, &Snapshot { model, opt: &opt, position: &pos }, batch)?;
            }
            run
        })?;
        let steps = run
            .steps
            .iter()
            .map(|s| (s.iteration, s.train_loss, s.test_loss, crate::certificate(&s.certificate)))
            .collect();
        Ok((steps, crate::certificate(&run.certificate)))
    }
}

/// The layer sizes of a model's network (inputs, then each layer's outputs).
fn sizes(m: &HybridModel) -> Vec<usize> {
    let p = &m.net.params;
    p.iter().step_by(2).map(|w| w.shape()[1]).take(1).chain(p.iter().step_by(2).map(|w| w.shape()[0])).collect()
}

/// Adds the hybrid classes and functions to the native module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyHybridData>()?;
    m.add_class::<PyHybridModel>()?;
    m.add_function(wrap_pyfunction!(hybrid_generate, m)?)?;
    Ok(())
}
