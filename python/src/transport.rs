//! `kinkgrad.transport`: finite-volume transport on a periodic grid, its simulation and the gradient
//! of `J = sum_j (u_j(T) - target_j)^2 dx` with a checkpoint schedule and a mode. The work runs off
//! the GIL and stops on Ctrl-C ([`crate::interrupt`]).

use crate::{interrupt, to_py_err};
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::pde::gradient::{GradientRequest, Wanted};
use kinkgrad::pde::grid::Grid;
use kinkgrad::pde::scheme::{Scheme, Transport};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A float64 vector from NumPy: one copy of its values (the GIL is released while the library
/// works, so it keeps no borrow of an array Python code could change meanwhile).
fn values(a: &PyReadonlyArray1<'_, f64>) -> Vec<f64> {
    match a.as_slice() {
        Ok(s) => s.to_vec(),
        Err(_) => a.as_array().to_vec(),
    }
}

/// The scheme on `cells` cells of a periodic domain of length `length` with time step `dt`.
pub(crate) fn transport(scheme: &str, cells: usize, length: f64, dt: f64, force: bool) -> PyResult<Transport> {
    let scheme: Scheme = scheme.parse().map_err(to_py_err)?;
    let grid = Grid::new(cells, length).map_err(to_py_err)?;
    let mut t = Transport::new(grid, scheme, dt).map_err(to_py_err)?;
    t.force = force;
    Ok(t)
}

/// The gradients named in `wanted` (`u0`, `velocity`, `source`); another name is an error.
pub(crate) fn wanted_set(wanted: &[String]) -> PyResult<Wanted> {
    let mut w = Wanted { u0: false, velocity: false, source: false };
    for name in wanted {
        match name.as_str() {
            "u0" => w.u0 = true,
            "velocity" => w.velocity = true,
            "source" => w.source = true,
            other => {
                return Err(PyValueError::new_err(format!(
                    "invalid wanted gradient: '{other}' (expected u0, velocity or source)"
                )))
            }
        }
    }
    Ok(w)
}

/// `u(T)` after `steps` steps from `u0` (velocity: one value or one per face; empty for Burgers).
#[pyfunction]
#[pyo3(signature = (u0, velocity, *, dt, steps, scheme="lw-minmod", length=1.0, source=None, force=false))]
#[allow(clippy::too_many_arguments)]
fn simulate<'py>(
    py: Python<'py>,
    u0: PyReadonlyArray1<'py, f64>,
    velocity: PyReadonlyArray1<'py, f64>,
    dt: f64,
    steps: usize,
    scheme: &str,
    length: f64,
    source: Option<PyReadonlyArray1<'py, f64>>,
    force: bool,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (u0, velocity, source) = (values(&u0), values(&velocity), source.as_ref().map(values));
    let t = transport(scheme, u0.len(), length, dt, force)?;
    Ok(interrupt::run(py, || t.simulate(&u0, &velocity, source.as_deref(), steps))?.into_pyarray(py))
}

/// The loss alone (no gradient): the forward run and the sum, as the library's `Transport::loss`.
#[pyfunction]
#[pyo3(signature = (u0, target, velocity, *, dt, steps, scheme="lw-minmod", length=1.0, source=None, force=false))]
#[allow(clippy::too_many_arguments)]
fn loss<'py>(
    py: Python<'py>,
    u0: PyReadonlyArray1<'py, f64>,
    target: PyReadonlyArray1<'py, f64>,
    velocity: PyReadonlyArray1<'py, f64>,
    dt: f64,
    steps: usize,
    scheme: &str,
    length: f64,
    source: Option<PyReadonlyArray1<'py, f64>>,
    force: bool,
) -> PyResult<f64> {
    let (u0, target, velocity) = (values(&u0), values(&target), values(&velocity));
    let source = source.as_ref().map(values);
    let t = transport(scheme, u0.len(), length, dt, force)?;
    interrupt::run(py, || t.loss(&u0, &target, &velocity, source.as_deref(), steps))
}

/// Loss, gradients (`u0`, `velocity`, `source`: empty unless wanted), LD-derivative, certificate
/// (JSON, line), path and schedule names, peak bytes.
type LossGradient<'py> = (
    f64,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Option<Vec<f64>>,
    (String, String),
    String,
    String,
    usize,
);

/// The loss and its gradient, by the path the library picks for the mode and schedule.
#[pyfunction]
#[pyo3(signature = (u0, target, velocity, *, dt, steps, scheme="lw-minmod", length=1.0, source=None, wanted=vec!["u0".to_string()], mode="safe", schedule="all", seed=None, directions=None, convention=None, relu_at_zero=None, max_ties=None, kink_rule=None, representation=None, force=false))]
#[allow(clippy::too_many_arguments)]
fn loss_gradient<'py>(
    py: Python<'py>,
    u0: PyReadonlyArray1<'py, f64>,
    target: PyReadonlyArray1<'py, f64>,
    velocity: PyReadonlyArray1<'py, f64>,
    dt: f64,
    steps: usize,
    scheme: &str,
    length: f64,
    source: Option<PyReadonlyArray1<'py, f64>>,
    wanted: Vec<String>,
    mode: &str,
    schedule: &str,
    seed: Option<u64>,
    directions: Option<&str>,
    convention: Option<&str>,
    relu_at_zero: Option<f64>,
    max_ties: Option<&str>,
    kink_rule: Option<&str>,
    representation: Option<&str>,
    force: bool,
) -> PyResult<LossGradient<'py>> {
    let (u0, target, velocity) = (values(&u0), values(&target), values(&velocity));
    let source = source.as_ref().map(values);
    let t = transport(scheme, u0.len(), length, dt, force)?;
    let rep = crate::representation(convention, relu_at_zero, max_ties, kink_rule, representation)?;
    let mode = crate::mode(mode, seed, directions)?;
    let schedule: Schedule = schedule.parse().map_err(to_py_err)?;
    let w = wanted_set(&wanted)?;
    let req = GradientRequest {
        u0: &u0,
        target: &target,
        velocity: &velocity,
        source: source.as_deref(),
        steps,
        mode: &mode,
        representation: &rep,
        schedule,
        wanted: w,
    };
    let r = interrupt::run(py, || t.loss_gradient(&req))?;
    Ok((
        r.loss,
        r.u0.into_pyarray(py),
        r.velocity.into_pyarray(py),
        r.source.into_pyarray(py),
        r.ld_derivative,
        crate::certificate(&r.certificate),
        r.path.name().to_string(),
        r.schedule.to_string(),
        r.peak_bytes,
    ))
}

/// Adds the transport functions to the native module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(loss, m)?)?;
    m.add_function(wrap_pyfunction!(loss_gradient, m)?)?;
    Ok(())
}
