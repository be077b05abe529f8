//! `kinkgrad._native`: the Rust half of the Python package `kinkgrad` (the Python half, in
//! `python/kinkgrad/`, wraps it in documented classes). Built by maturin with the feature `python`;
//! without it this crate is empty, so the workspace builds and tests on machines without Python.
//!
//! Every library error becomes a Python exception carrying the library's one-line message
//! ([`to_py_err`]); long work releases the GIL and turns Ctrl-C into `KeyboardInterrupt` through the
//! library's cancellation token ([`interrupt`]).
#![cfg(feature = "python")]

mod dtype;
mod hybrid;
mod interrupt;
mod nn;
mod tape;
mod transport;
mod xla_ffi;

use kinkgrad::{ErrorKind, Mode, Representation};
use pyo3::exceptions::{PyFloatingPointError, PyKeyboardInterrupt, PyOSError, PyValueError};
use pyo3::prelude::*;

/// A library error as the Python exception of its class, with the library's one-line message:
/// bad input -> `ValueError`, files -> `OSError`, NaN/inf -> `FloatingPointError`, cancelled (Ctrl-C)
/// -> `KeyboardInterrupt`.
pub(crate) fn to_py_err(e: kinkgrad::Error) -> PyErr {
    let msg = e.to_string();
    match e.kind() {
        ErrorKind::Input => PyValueError::new_err(msg),
        ErrorKind::Io => PyOSError::new_err(msg),
        ErrorKind::Numeric => PyFloatingPointError::new_err(msg),
        ErrorKind::Cancelled => PyKeyboardInterrupt::new_err(msg),
    }
}

/// The mode from the front ends' words (`assoc`, `lex`, `safe`), lex's direction matrix and safe's
/// seed (the library refuses a seed outside safe and directions outside lex).
pub(crate) fn mode(name: &str, seed: Option<u64>, directions: Option<&str>) -> PyResult<Mode> {
    Mode::parse(name, seed, directions).map_err(to_py_err)
}

/// The representation: either a preset with options (`convention`, `relu_at_zero`, `max_ties`,
/// `kink_rule`, as the command line's flags) or a full name as certificates print it
/// (`pytorch[relu=0.5]`); both at once is an error, never a silent choice.
pub(crate) fn representation(
    convention: Option<&str>,
    relu_at_zero: Option<f64>,
    max_ties: Option<&str>,
    kink_rule: Option<&str>,
    name: Option<&str>,
) -> PyResult<Representation> {
    if let Some(name) = name {
        let given = [convention.is_some(), relu_at_zero.is_some(), max_ties.is_some(), kink_rule.is_some()];
        if given.iter().any(|g| *g) {
            return Err(PyValueError::new_err(
                "give either representation= or convention=/relu_at_zero=/max_ties=/kink_rule=, not both",
            ));
        }
        return name.parse().map_err(to_py_err);
    }
    let default = Representation::default();
    Representation::from_options(convention.unwrap_or(&default.name), relu_at_zero, max_ties, kink_rule)
        .map_err(to_py_err)
}

/// A certificate as JSON text (the object `kinkgrad grad --json` prints under `certificate`) and its
/// one-line display; the Python half turns them into a `Certificate`.
pub(crate) fn certificate(c: &kinkgrad::Certificate) -> (String, String) {
    (serde_json::to_string(c).unwrap_or_default(), c.to_string())
}

/// The result of [`grad`]: value, variable names, partials, LD-derivative, certificate (JSON, line).
type GradTuple = (f64, Vec<String>, Vec<f64>, Option<Vec<f64>>, (String, String));

/// Differentiates an expression of the `kinkgrad grad` language at a point (`kinkgrad.grad`).
#[pyfunction]
#[pyo3(signature = (expr, at, mode="safe", seed=None, directions=None, convention=None, relu_at_zero=None, max_ties=None, kink_rule=None, representation=None))]
#[allow(clippy::too_many_arguments)]
fn grad(
    expr: &str,
    at: Vec<(String, f64)>,
    mode: &str,
    seed: Option<u64>,
    directions: Option<&str>,
    convention: Option<&str>,
    relu_at_zero: Option<f64>,
    max_ties: Option<&str>,
    kink_rule: Option<&str>,
    representation: Option<&str>,
) -> PyResult<GradTuple> {
    let rep = self::representation(convention, relu_at_zero, max_ties, kink_rule, representation)?;
    let mode = self::mode(mode, seed, directions)?;
    let g = kinkgrad::expr::differentiate(expr, &at, rep, &mode).map_err(to_py_err)?;
    Ok((g.value, g.names, g.gradient, g.ld_derivative, certificate(&g.certificate)))
}

/// The functions an expression may call, one line each (as `kinkgrad grad --help` lists them).
#[pyfunction]
fn functions_help() -> String {
    kinkgrad::expr::functions_help()
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(grad, m)?)?;
    m.add_function(wrap_pyfunction!(functions_help, m)?)?;
    m.add_class::<tape::PyTape>()?;
    m.add_class::<tape::PyVar>()?;
    transport::register(m)?;
    nn::register(m)?;
    hybrid::register(m)?;
    xla_ffi::register(m)?;
    Ok(())
}
