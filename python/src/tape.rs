//! The tape API: an owned handle to the library's tape, and variables as (tape, position) pairs.
//!
//! The library's `Var<'t, T>` borrows its tape and the tape is single-threaded, so a Python `Tape`
//! owns the tape behind an `Rc` shared with its `Var`s (both `unsendable`: used from the thread
//! that made them), and an op re-borrows the tape, looks its inputs up by position
//! ([`kinkgrad::Tape::var_at`]) and records the library's op. The element type is chosen at
//! construction and dispatched once per op.

use crate::dtype::{to_tensor, Dtype};
use crate::to_py_err;
use kinkgrad::{bf16, f16, Tape, TieRule, Var};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt};
use std::rc::Rc;

/// A tape of one element type.
pub(crate) enum AnyTape {
    F64(Tape<f64>),
    F32(Tape<f32>),
    F16(Tape<f16>),
    Bf16(Tape<bf16>),
}

/// Runs `$body` with `$t` bound to the typed tape.
macro_rules! dispatch {
    ($tape:expr, $t:ident => $body:expr) => {
        match &*$tape {
            AnyTape::F64($t) => $body,
            AnyTape::F32($t) => $body,
            AnyTape::F16($t) => $body,
            AnyTape::Bf16($t) => $body,
        }
    };
}

impl AnyTape {
    fn dtype(&self) -> &'static str {
        match self {
            AnyTape::F64(_) => "float64",
            AnyTape::F32(_) => "float32",
            AnyTape::F16(_) => "float16",
            AnyTape::Bf16(_) => "bfloat16",
        }
    }
}

/// A tape: records operations on variables, then differentiates them (`kinkgrad.Tape` wraps it).
#[pyclass(unsendable, name = "Tape", module = "kinkgrad._native")]
pub(crate) struct PyTape {
    tape: Rc<AnyTape>,
}

/// A value recorded on a tape.
#[pyclass(unsendable, name = "Var", module = "kinkgrad._native")]
#[derive(Clone)]
pub(crate) struct PyVar {
    tape: Rc<AnyTape>,
    id: usize,
}

/// A one-input op.
enum Op1 {
    Relu,
    Abs,
    Neg,
    Exp,
    Log,
    Sqrt,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Softplus,
    Hardtanh,
    LeakyRelu(f64),
    Powi(i32),
    LogSoftmax,
    Sort(Option<TieRule>),
    Sum(Option<usize>, bool),
    Mean(Option<usize>, bool),
    Max(Option<usize>, bool, Option<TieRule>),
    Min(Option<usize>, bool, Option<TieRule>),
    Reshape(Vec<usize>),
    Permute(Option<Vec<usize>>),
    MaxPool1d(usize, usize, Option<TieRule>),
    MaxPool2d((usize, usize), (usize, usize), Option<TieRule>),
}

/// A two-input op.
#[derive(Clone, Copy)]
enum Op2 {
    Add,
    Sub,
    Mul,
    Div,
    Matmul,
    Maximum,
    Minimum,
    Minmod,
}

fn apply1<'t, T: Dtype>(x: Var<'t, T>, op: Op1) -> kinkgrad::Result<Var<'t, T>> {
    let along = |axis: Option<usize>, tie: &Option<TieRule>| match (axis, tie) {
        (Some(_), Some(_)) => Err(kinkgrad::Error::unsupported(
            "a tie rule for a reduction along an axis",
            "the representation's max_axis rule decides it (set it with kink_rule='max_axis=...')",
        )),
        _ => Ok(()),
    };
    Ok(match op {
        Op1::Relu => x.relu(),
        Op1::Abs => x.abs(),
        Op1::Neg => x.neg(),
        Op1::Exp => x.exp(),
        Op1::Log => x.log(),
        Op1::Sqrt => x.sqrt(),
        Op1::Sin => x.sin(),
        Op1::Cos => x.cos(),
        Op1::Tanh => x.tanh(),
        Op1::Sigmoid => x.sigmoid(),
        Op1::Softplus => x.softplus(),
        Op1::Hardtanh => x.hardtanh(),
        Op1::LeakyRelu(s) => x.leaky_relu(s),
        Op1::Powi(n) => x.powi(n),
        Op1::LogSoftmax => x.log_softmax()?,
        Op1::Sort(None) => x.sort()?,
        Op1::Sort(Some(r)) => x.sort_with(r)?,
        Op1::Sum(None, _) => x.sum(),
        Op1::Sum(Some(a), k) => x.sum_axis(a, k)?,
        Op1::Mean(None, _) => x.mean(),
        Op1::Mean(Some(a), k) => x.mean_axis(a, k)?,
        Op1::Max(axis, k, tie) => {
            along(axis, &tie)?;
            match (axis, tie) {
                (Some(a), _) => x.max_axis(a, k)?,
                (None, Some(r)) => x.max_all_with(r),
                (None, None) => x.max_all(),
            }
        }
        Op1::Min(axis, k, tie) => {
            along(axis, &tie)?;
            match (axis, tie) {
                (Some(a), _) => x.min_axis(a, k)?,
                (None, Some(r)) => x.min_all_with(r),
                (None, None) => x.min_all(),
            }
        }
        Op1::Reshape(s) => x.reshape(&s)?,
        Op1::Permute(None) => x.t()?,
        Op1::Permute(Some(p)) => x.permute(&p)?,
        Op1::MaxPool1d(k, s, None) => x.max_pool1d(k, s)?,
        Op1::MaxPool1d(k, s, Some(r)) => x.max_pool1d_with(k, s, r)?,
        Op1::MaxPool2d(k, s, None) => x.max_pool2d(k, s)?,
        Op1::MaxPool2d(k, s, Some(r)) => x.max_pool2d_with(k, s, r)?,
    })
}

fn apply2<'t, T: Dtype>(a: Var<'t, T>, b: Var<'t, T>, op: Op2) -> kinkgrad::Result<Var<'t, T>> {
    match op {
        Op2::Add => a.add(b),
        Op2::Sub => a.sub(b),
        Op2::Mul => a.mul(b),
        Op2::Div => a.div(b),
        Op2::Matmul => a.matmul(b),
        Op2::Maximum => a.maximum(b),
        Op2::Minimum => a.minimum(b),
        Op2::Minmod => a.minmod(b),
    }
}

/// The operand `obj` on tape `t`: a `Var` of the same tape, or a number or array recorded as a
/// constant (never differentiated).
fn operand<'t, T: Dtype>(t: &'t Tape<T>, rc: &Rc<AnyTape>, obj: &Bound<'_, PyAny>) -> PyResult<Var<'t, T>> {
    if let Ok(v) = obj.cast::<PyVar>() {
        let v = v.borrow();
        if !Rc::ptr_eq(&v.tape, rc) {
            return Err(PyValueError::new_err("the variables live on different tapes"));
        }
        return t.var_at(v.id).map_err(to_py_err);
    }
    // a Python number (a NumPy float64 is one) is a 0-d constant; anything else an array
    if obj.is_instance_of::<PyFloat>() || obj.is_instance_of::<PyInt>() {
        return Ok(t.scalar(obj.extract::<f64>()?));
    }
    Ok(t.constant(to_tensor::<T>(obj)?))
}

fn tie(rule: Option<&str>) -> PyResult<Option<TieRule>> {
    rule.map(|r| r.parse().map_err(to_py_err)).transpose()
}

impl PyVar {
    fn op1(&self, op: Op1) -> PyResult<PyVar> {
        let id = dispatch!(self.tape, t => {
            let x = t.var_at(self.id).map_err(to_py_err)?;
            apply1(x, op).map_err(to_py_err)?.id()
        });
        Ok(PyVar { tape: self.tape.clone(), id })
    }

    fn op2(&self, other: &Bound<'_, PyAny>, op: Op2, reflected: bool) -> PyResult<PyVar> {
        let id = dispatch!(self.tape, t => {
            let a = t.var_at(self.id).map_err(to_py_err)?;
            let b = operand(t, &self.tape, other)?;
            let (a, b) = if reflected { (b, a) } else { (a, b) };
            apply2(a, b, op).map_err(to_py_err)?.id()
        });
        Ok(PyVar { tape: self.tape.clone(), id })
    }
}

#[pymethods]
impl PyVar {
    /// The value as a NumPy array (bfloat16 as float32).
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        dispatch!(self.tape, t => Dtype::array(py, &t.var_at(self.id).map_err(to_py_err)?.value()))
    }
    /// The shape.
    #[getter]
    fn shape(&self) -> PyResult<Vec<usize>> {
        dispatch!(self.tape, t => Ok(t.var_at(self.id).map_err(to_py_err)?.shape().into_vec()))
    }
    /// The element type's name.
    #[getter]
    fn dtype(&self) -> &'static str {
        self.tape.dtype()
    }
    /// The single value of a one-element variable, as a float.
    fn item(&self) -> PyResult<f64> {
        dispatch!(self.tape, t => t.var_at(self.id).and_then(|v| v.item()).map_err(to_py_err))
    }
    fn __repr__(&self) -> PyResult<String> {
        Ok(format!("Var(shape={:?}, dtype={}, node={})", self.shape()?, self.tape.dtype(), self.id))
    }
    fn __add__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyVar> {
        self.op2(o, Op2::Add, false)
    }
    fn __radd__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyVar> {
        self.op2(o, Op2::Add, true)
    }
    fn __sub__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyVar> {
        self.op2(o, Op2::Sub, false)
    }
    fn __rsub__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyVar> {
        self.op2(o, Op2::Sub, true)
    }
    fn __mul__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyVar> {
        self.op2(o, Op2::Mul, false)
    }
    fn __rmul__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyVar> {
        self.op2(o, Op2::Mul, true)
    }
    fn __truediv__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyVar> {
        self.op2(o, Op2::Div, false)
    }
    fn __rtruediv__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyVar> {
        self.op2(o, Op2::Div, true)
    }
    fn __matmul__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyVar> {
        self.op2(o, Op2::Matmul, false)
    }
    fn __rmatmul__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyVar> {
        self.op2(o, Op2::Matmul, true)
    }
    fn __neg__(&self) -> PyResult<PyVar> {
        self.op1(Op1::Neg)
    }
    fn __pow__(&self, n: &Bound<'_, PyAny>, modulo: Option<&Bound<'_, PyAny>>) -> PyResult<PyVar> {
        if modulo.is_some() {
            return Err(PyTypeError::new_err("pow() with a modulus is not defined for variables"));
        }
        let n: i32 = n.extract().map_err(|_| PyTypeError::new_err("a variable's power must be an integer"))?;
        self.op1(Op1::Powi(n))
    }
    /// `max(x, 0)` element-wise (kink family `relu`).
    fn relu(&self) -> PyResult<PyVar> {
        self.op1(Op1::Relu)
    }
    /// `x` for `x >= 0`, `slope * x` below (kink family `leaky_relu`).
    #[pyo3(signature = (slope=0.01))]
    fn leaky_relu(&self, slope: f64) -> PyResult<PyVar> {
        self.op1(Op1::LeakyRelu(slope))
    }
    /// `|x|` element-wise (kink family `abs`).
    fn abs(&self) -> PyResult<PyVar> {
        self.op1(Op1::Abs)
    }
    /// `clamp(x, -1, 1)` element-wise (kink family `hardtanh`).
    fn hardtanh(&self) -> PyResult<PyVar> {
        self.op1(Op1::Hardtanh)
    }
    /// `exp(x)`.
    fn exp(&self) -> PyResult<PyVar> {
        self.op1(Op1::Exp)
    }
    /// `log(x)`.
    fn log(&self) -> PyResult<PyVar> {
        self.op1(Op1::Log)
    }
    /// `sqrt(x)`.
    fn sqrt(&self) -> PyResult<PyVar> {
        self.op1(Op1::Sqrt)
    }
    /// `sin(x)`.
    fn sin(&self) -> PyResult<PyVar> {
        self.op1(Op1::Sin)
    }
    /// `cos(x)`.
    fn cos(&self) -> PyResult<PyVar> {
        self.op1(Op1::Cos)
    }
    /// `tanh(x)`.
    fn tanh(&self) -> PyResult<PyVar> {
        self.op1(Op1::Tanh)
    }
    /// `1 / (1 + exp(-x))`.
    fn sigmoid(&self) -> PyResult<PyVar> {
        self.op1(Op1::Sigmoid)
    }
    /// `log(1 + exp(x))`.
    fn softplus(&self) -> PyResult<PyVar> {
        self.op1(Op1::Softplus)
    }
    /// `log_softmax` along the last axis.
    fn log_softmax(&self) -> PyResult<PyVar> {
        self.op1(Op1::LogSoftmax)
    }
    /// Sorted ascending along the last axis (kink family `sort`; `tie` fixes this call's tie rule).
    #[pyo3(signature = (tie=None))]
    fn sort(&self, tie: Option<&str>) -> PyResult<PyVar> {
        self.op1(Op1::Sort(self::tie(tie)?))
    }
    /// The sum of all elements, or along `axis`.
    #[pyo3(signature = (axis=None, keepdims=false))]
    fn sum(&self, axis: Option<usize>, keepdims: bool) -> PyResult<PyVar> {
        self.op1(Op1::Sum(axis, keepdims))
    }
    /// The mean of all elements, or along `axis`.
    #[pyo3(signature = (axis=None, keepdims=false))]
    fn mean(&self, axis: Option<usize>, keepdims: bool) -> PyResult<PyVar> {
        self.op1(Op1::Mean(axis, keepdims))
    }
    /// The maximum of all elements (`tie`: this call's tie rule), or along `axis`.
    #[pyo3(signature = (axis=None, keepdims=false, tie=None))]
    fn max(&self, axis: Option<usize>, keepdims: bool, tie: Option<&str>) -> PyResult<PyVar> {
        self.op1(Op1::Max(axis, keepdims, self::tie(tie)?))
    }
    /// The minimum of all elements (`tie`: this call's tie rule), or along `axis`.
    #[pyo3(signature = (axis=None, keepdims=false, tie=None))]
    fn min(&self, axis: Option<usize>, keepdims: bool, tie: Option<&str>) -> PyResult<PyVar> {
        self.op1(Op1::Min(axis, keepdims, self::tie(tie)?))
    }
    /// The same values in a new shape.
    fn reshape(&self, shape: Vec<usize>) -> PyResult<PyVar> {
        self.op1(Op1::Reshape(shape))
    }
    /// The axes permuted (`axes`), or a matrix transposed.
    #[pyo3(signature = (axes=None))]
    fn transpose(&self, axes: Option<Vec<usize>>) -> PyResult<PyVar> {
        self.op1(Op1::Permute(axes))
    }
    /// 1-d max-pooling over the last axis (stride defaults to the kernel).
    #[pyo3(signature = (kernel, stride=None, tie=None))]
    fn max_pool1d(&self, kernel: usize, stride: Option<usize>, tie: Option<&str>) -> PyResult<PyVar> {
        self.op1(Op1::MaxPool1d(kernel, stride.unwrap_or(kernel), self::tie(tie)?))
    }
    /// 2-d max-pooling over the last two axes (stride defaults to the kernel).
    #[pyo3(signature = (kernel, stride=None, tie=None))]
    fn max_pool2d(&self, kernel: (usize, usize), stride: Option<(usize, usize)>, tie: Option<&str>) -> PyResult<PyVar> {
        self.op1(Op1::MaxPool2d(kernel, stride.unwrap_or(kernel), self::tie(tie)?))
    }
    /// `max(x, y)` element-wise (kink family `max`).
    fn maximum(&self, o: &Bound<'_, PyAny>) -> PyResult<PyVar> {
        self.op2(o, Op2::Maximum, false)
    }
    /// `min(x, y)` element-wise (kink family `max`).
    fn minimum(&self, o: &Bound<'_, PyAny>) -> PyResult<PyVar> {
        self.op2(o, Op2::Minimum, false)
    }
    /// The minmod limiter of `x` and `y` element-wise (kink family `limiter`).
    fn minmod(&self, o: &Bound<'_, PyAny>) -> PyResult<PyVar> {
        self.op2(o, Op2::Minmod, false)
    }
    /// `x` clamped to `[lo, hi]` element-wise (kink family `clamp`).
    fn clamp(&self, lo: &Bound<'_, PyAny>, hi: &Bound<'_, PyAny>) -> PyResult<PyVar> {
        let id = dispatch!(self.tape, t => {
            let x = t.var_at(self.id).map_err(to_py_err)?;
            let (lo, hi) = (operand(t, &self.tape, lo)?, operand(t, &self.tape, hi)?);
            x.clamp(lo, hi).map_err(to_py_err)?.id()
        });
        Ok(PyVar { tape: self.tape.clone(), id })
    }
}

/// Gradients as NumPy arrays, lex's LD-derivative, and the certificate (JSON, line).
type GradientTuple<'py> = (Vec<Bound<'py, PyAny>>, Option<Vec<f64>>, (String, String));

/// Recorded gradients (variables) and their certificate (JSON, line).
type RecordedTuple = (Vec<PyVar>, (String, String));

impl PyTape {
    fn vars<'t, T: Dtype>(&self, t: &'t Tape<T>, wrt: &[PyRef<'_, PyVar>]) -> PyResult<Vec<Var<'t, T>>> {
        wrt.iter()
            .map(|v| {
                if !Rc::ptr_eq(&v.tape, &self.tape) {
                    return Err(PyValueError::new_err("the variables live on different tapes"));
                }
                t.var_at(v.id).map_err(to_py_err)
            })
            .collect()
    }
}

#[pymethods]
impl PyTape {
    #[new]
    #[pyo3(signature = (dtype="float64", convention=None, relu_at_zero=None, max_ties=None, kink_rule=None, representation=None))]
    fn new(
        dtype: &str,
        convention: Option<&str>,
        relu_at_zero: Option<f64>,
        max_ties: Option<&str>,
        kink_rule: Option<&str>,
        representation: Option<&str>,
    ) -> PyResult<Self> {
        let rep = crate::representation(convention, relu_at_zero, max_ties, kink_rule, representation)?;
        let tape = match dtype {
            "float64" | "f64" => AnyTape::F64(Tape::with_representation(rep)),
            "float32" | "f32" => AnyTape::F32(Tape::with_representation(rep)),
            "float16" | "f16" => AnyTape::F16(Tape::with_representation(rep)),
            "bfloat16" | "bf16" => AnyTape::Bf16(Tape::with_representation(rep)),
            other => {
                return Err(PyValueError::new_err(format!(
                    "invalid dtype: '{other}' (expected float64, float32, float16 or bfloat16)"
                )))
            }
        };
        Ok(PyTape { tape: Rc::new(tape) })
    }
    /// The element type's name.
    #[getter]
    fn dtype(&self) -> &'static str {
        self.tape.dtype()
    }
    /// The representation's name, as certificates print it.
    #[getter]
    fn representation(&self) -> String {
        dispatch!(self.tape, t => t.representation().name.clone())
    }
    /// The number of recorded nodes.
    fn __len__(&self) -> usize {
        dispatch!(self.tape, t => t.len())
    }
    /// A variable (a leaf gradients are taken with respect to) holding `value`.
    fn var(&self, value: &Bound<'_, PyAny>) -> PyResult<PyVar> {
        let id = dispatch!(self.tape, t => t.var(to_tensor(value)?).id());
        Ok(PyVar { tape: self.tape.clone(), id })
    }
    /// A constant (never differentiated) holding `value`.
    fn constant(&self, value: &Bound<'_, PyAny>) -> PyResult<PyVar> {
        let id = dispatch!(self.tape, t => t.constant(to_tensor(value)?).id());
        Ok(PyVar { tape: self.tape.clone(), id })
    }
    /// The gradients of the scalar `y` with respect to `wrt` in `mode`.
    #[pyo3(signature = (y, wrt, mode="safe", seed=None, directions=None))]
    fn gradient<'py>(
        &self,
        py: Python<'py>,
        y: PyRef<'_, PyVar>,
        wrt: Vec<PyRef<'_, PyVar>>,
        mode: &str,
        seed: Option<u64>,
        directions: Option<&str>,
    ) -> PyResult<GradientTuple<'py>> {
        let mode = crate::mode(mode, seed, directions)?;
        dispatch!(self.tape, t => {
            let yv = self.vars(t, std::slice::from_ref(&y))?[0];
            let g = t.gradient(yv, &self.vars(t, &wrt)?, &mode).map_err(to_py_err)?;
            let arrays = g.values.iter().map(|v| Dtype::array(py, v)).collect::<PyResult<Vec<_>>>()?;
            Ok((arrays, g.ld_derivative, crate::certificate(&g.certificate)))
        })
    }
    /// The gradients of `y` with respect to `wrt`, recorded on the tape as variables (to be
    /// differentiated again), in `mode`.
    #[pyo3(signature = (y, wrt, mode="safe", seed=None, directions=None))]
    fn grad_vars(
        &self,
        y: PyRef<'_, PyVar>,
        wrt: Vec<PyRef<'_, PyVar>>,
        mode: &str,
        seed: Option<u64>,
        directions: Option<&str>,
    ) -> PyResult<RecordedTuple> {
        let mode = crate::mode(mode, seed, directions)?;
        dispatch!(self.tape, t => {
            let yv = self.vars(t, std::slice::from_ref(&y))?[0];
            let g = t.grad_vars(yv, &self.vars(t, &wrt)?, &mode).map_err(to_py_err)?;
            let vars = g.vars.iter().map(|v| PyVar { tape: self.tape.clone(), id: v.id() }).collect();
            Ok((vars, crate::certificate(&g.certificate)))
        })
    }
}
