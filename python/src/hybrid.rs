//! `kinkgrad.hybrid`: a ReLU network as the source of a finite-volume scheme, fitted to observations
//! given as NumPy arrays (the library's `hybrid` module). Loss, gradient and training run off the
//! GIL and stop on Ctrl-C ([`crate::interrupt`]).
//!
//! The data set is built from arrays by [`dataset`], the one place that knows the library's
//! `Dataset` fields (the library validates files in its loader; the checks here are that loader's,
//! for arrays: shapes, finite values, settings in range).

use crate::{interrupt, to_py_err};
use kinkgrad::hybrid::{self, Dataset, GenerateConfig, HybridModel, SourceForm, TrainConfig};
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::pde::scheme::Scheme;
use numpy::{PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;

fn invalid(what: &str, detail: String) -> PyErr {
    to_py_err(kinkgrad::Error::invalid(what, detail))
}

/// Rows of a 2-d array.
fn rows(a: &PyReadonlyArray2<'_, f64>, name: &str) -> PyResult<Vec<Vec<f64>>> {
    let v = a.as_array();
    if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(invalid(name, format!("element {i} is {x}, not finite")));
    }
    Ok(v.rows().into_iter().map(|r| r.to_vec()).collect())
}

/// The library's data set from arrays and settings.
#[allow(clippy::too_many_arguments)]
fn dataset(
    alpha: PyReadonlyArray2<'_, f64>,
    beta: PyReadonlyArray2<'_, f64>,
    gamma: PyReadonlyArray2<'_, f64>,
    scheme: &str,
    courant: f64,
    steps: usize,
    velocity: f64,
    source: &str,
    n_train: usize,
) -> PyResult<Dataset> {
    let (s, p) = (alpha.shape()[0], alpha.shape()[1]);
    if p != 2 {
        return Err(invalid("alpha", format!("shape [{s}, {p}], expected [S, 2] (amplitude, centre)")));
    }
    let n = beta.shape()[1];
    if beta.shape() != [s, n] || n < 3 {
        return Err(invalid("beta", format!("shape {:?}, expected [{s}, N] with N >= 3", beta.shape())));
    }
    if gamma.shape() != [s, n] {
        return Err(invalid("gamma", format!("shape {:?}, expected [{s}, {n}] like beta", gamma.shape())));
    }
    if n_train == 0 || n_train > s {
        return Err(invalid("n_train", format!("{n_train}, expected 1..={s}")));
    }
    if !(courant > 0.0 && courant <= 1.0) {
        return Err(invalid("courant", format!("{courant}, expected in (0, 1]")));
    }
    if steps == 0 {
        return Err(invalid("steps", "0, expected at least 1".into()));
    }
    if !(velocity.is_finite() && velocity != 0.0) {
        return Err(invalid("velocity", format!("{velocity}, expected a finite non-zero number")));
    }
    let scheme: Scheme = scheme.parse().map_err(to_py_err)?;
    let source: SourceForm = source.parse().map_err(to_py_err)?;
    let alpha = rows(&alpha, "alpha")?.into_iter().map(|r| [r[0], r[1]]).collect();
    let d = Dataset {
        scheme,
        courant,
        steps,
        velocity,
        source,
        cells: n,
        alpha,
        beta: rows(&beta, "beta")?,
        gamma: rows(&gamma, "gamma")?,
        n_train,
    };
    d.transport().map_err(to_py_err)?;
    Ok(d)
}

/// Observations: `alpha [S, 2]`, initial states `beta [S, N]`, final states `gamma [S, N]`, and the
/// scheme's settings.
#[pyclass(frozen, name = "HybridData", module = "kinkgrad._native")]
pub(crate) struct PyHybridData {
    data: Dataset,
}

#[pymethods]
impl PyHybridData {
    /// A data set from arrays (float64, C order) and settings.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        alpha: PyReadonlyArray2<'_, f64>,
        beta: PyReadonlyArray2<'_, f64>,
        gamma: PyReadonlyArray2<'_, f64>,
        scheme: &str,
        courant: f64,
        steps: usize,
        velocity: f64,
        source: &str,
        n_train: usize,
    ) -> PyResult<Self> {
        Ok(Self { data: dataset(alpha, beta, gamma, scheme, courant, steps, velocity, source, n_train)? })
    }
    /// `(alpha, beta, gamma)` as lists of rows.
    #[allow(clippy::type_complexity)]
    fn arrays(&self) -> (Vec<[f64; 2]>, Vec<Vec<f64>>, Vec<Vec<f64>>) {
        (self.data.alpha.clone(), self.data.beta.clone(), self.data.gamma.clone())
    }
    /// `(scheme, courant, steps, velocity, source, n_train, cells)`.
    fn settings(&self) -> (String, f64, usize, f64, &'static str, usize, usize) {
        let d = &self.data;
        (d.scheme.name().to_string(), d.courant, d.steps, d.velocity, d.source.name(), d.n_train, d.cells)
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

#[pymethods]
impl PyHybridModel {
    /// A seeded model: `form` `alpha` or `state`, two hidden ReLU layers of `width`.
    #[new]
    fn new(form: &str, width: usize, seed: u64) -> PyResult<Self> {
        let form: SourceForm = form.parse().map_err(to_py_err)?;
        Ok(Self { model: HybridModel::new(form, width, seed).map_err(to_py_err)? })
    }
    /// The source form's name.
    #[getter]
    fn form(&self) -> &'static str {
        self.model.form.name()
    }
    /// `[(name, shape, values)]` of the network's parameters (PyTorch names).
    fn params(&self) -> Vec<(String, Vec<usize>, Vec<f64>)> {
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
        let idx = indices(d, idx.or_else(|| Some((0..d.len()).collect())))?;
        interrupt::run(py, || {
            let t = d.transport()?;
            let u = |i: usize| match self.model.form {
                SourceForm::Alpha => None,
                SourceForm::State => Some(d.beta[i].as_slice()),
            };
            idx.iter().map(|&i| self.model.source(&t, d.alpha[i], u(i))).collect()
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
        let idx = indices(d, idx.or_else(|| Some((0..d.len()).collect())))?;
        interrupt::run(py, || {
            let t = d.transport()?;
            idx.iter().map(|&i| self.model.simulate(d, &t, i)).collect()
        })
    }
    /// Relative L2 error of the learned source against the library's true source on `idx`.
    #[pyo3(signature = (data, idx=None))]
    fn source_rel_l2(&self, py: Python<'_>, data: PyRef<'_, PyHybridData>, idx: Option<Vec<usize>>) -> PyResult<f64> {
        let d = &data.data;
        let idx = indices(d, idx.or_else(|| Some(d.test_indices())))?;
        interrupt::run(py, || self.model.source_rel_l2(d, &idx))
    }
    /// Adam on the training split (a fresh optimiser): every iteration, and the run's certificate.
    #[pyo3(signature = (data, iterations, lr, batch, eval_every, mode, seed, convention, relu_at_zero, max_ties, kink_rule, representation, schedule, shuffle_seed))]
    #[allow(clippy::too_many_arguments)]
    fn train(
        &mut self,
        py: Python<'_>,
        data: PyRef<'_, PyHybridData>,
        iterations: usize,
        lr: f64,
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
    ) -> PyResult<(Vec<StepTuple>, (String, String))> {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(invalid("lr", format!("{lr}: must be a positive number")));
        }
        let d = &data.data;
        let cfg = TrainConfig {
            iterations,
            lr,
            batch,
            eval_every,
            mode: crate::mode(mode, seed, None)?,
            rep: crate::representation(convention, relu_at_zero, max_ties, kink_rule, representation)?,
            schedule: schedule.parse().map_err(to_py_err)?,
            seed: shuffle_seed,
        };
        let model = &mut self.model;
        let mut opt = hybrid::adam(model, lr);
        let run = interrupt::run(py, || hybrid::train(model, &mut opt, d, &cfg, 0, &mut |_| {}))?;
        let steps = run
            .steps
            .iter()
            .map(|s| (s.iteration, s.train_loss, s.test_loss, crate::certificate(&s.certificate)))
            .collect();
        Ok((steps, crate::certificate(&run.certificate)))
    }
}

/// Adds the hybrid classes and functions to the native module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyHybridData>()?;
    m.add_class::<PyHybridModel>()?;
    m.add_function(wrap_pyfunction!(hybrid_generate, m)?)?;
    Ok(())
}
