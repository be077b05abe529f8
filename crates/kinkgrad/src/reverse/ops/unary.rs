//! Smooth unary functions. Each is computed in `f64` and rounded to the tensor's precision.
//!
//! | function | derivative used by the VJP (in tape ops) |
//! |---|---|
//! | `-x` | `-g` |
//! | `exp x` | `g exp x` |
//! | `log x` | `g / x` |
//! | `sqrt x` | `g / (2 sqrt x)` |
//! | `sin x` | `g cos x` |
//! | `cos x` | `-g sin x` |
//! | `tanh x` | `g (1 - tanh² x)` |
//! | `sigmoid x = 1/(1+e^-x)` | `g σ (1 - σ)` |
//! | `softplus x = log(1+e^x)` | `g σ(x)` |
//! | `x^n` (integer n) | `g n x^(n-1)` |
//! | `c x` | `c g` |
//! | `x + c` | `g` |

use super::tangent;
use crate::reverse::var::ok;
use crate::reverse::{JvpCx, Op, OpCx, Var};
use crate::scalar::Real;
use crate::tensor::Tensor;

/// The smooth unary functions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryKind {
    /// `-x`
    Neg,
    /// `e^x`
    Exp,
    /// natural logarithm
    Log,
    /// square root
    Sqrt,
    /// sine
    Sin,
    /// cosine
    Cos,
    /// hyperbolic tangent
    Tanh,
    /// logistic sigmoid
    Sigmoid,
    /// `log(1 + e^x)`
    Softplus,
    /// integer power
    Powi(i32),
    /// multiplication by a constant
    Scale(f64),
    /// addition of a constant
    AddScalar(f64),
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

impl UnaryKind {
    /// The function's value.
    pub fn eval(self, x: f64) -> f64 {
        match self {
            Self::Neg => -x,
            Self::Exp => x.exp(),
            Self::Log => x.ln(),
            Self::Sqrt => x.sqrt(),
            Self::Sin => x.sin(),
            Self::Cos => x.cos(),
            Self::Tanh => x.tanh(),
            Self::Sigmoid => sigmoid(x),
            Self::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
            Self::Powi(n) => x.powi(n),
            Self::Scale(c) => c * x,
            Self::AddScalar(c) => x + c,
        }
    }
    /// The derivative at `x`.
    pub fn deriv(self, x: f64) -> f64 {
        match self {
            Self::Neg => -1.0,
            Self::Exp => x.exp(),
            Self::Log => 1.0 / x,
            Self::Sqrt => 0.5 / x.sqrt(),
            Self::Sin => x.cos(),
            Self::Cos => -x.sin(),
            Self::Tanh => 1.0 - x.tanh().powi(2),
            Self::Sigmoid => sigmoid(x) * (1.0 - sigmoid(x)),
            Self::Softplus => sigmoid(x),
            Self::Powi(0) => 0.0,
            Self::Powi(n) => n as f64 * x.powi(n - 1),
            Self::Scale(c) => c,
            Self::AddScalar(_) => 1.0,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Self::Neg => "neg",
            Self::Exp => "exp",
            Self::Log => "log",
            Self::Sqrt => "sqrt",
            Self::Sin => "sin",
            Self::Cos => "cos",
            Self::Tanh => "tanh",
            Self::Sigmoid => "sigmoid",
            Self::Softplus => "softplus",
            Self::Powi(_) => "powi",
            Self::Scale(_) => "scale",
            Self::AddScalar(_) => "add_scalar",
        }
    }
}

struct Unary(UnaryKind);

impl<T: Real> Op<T> for Unary {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let (x, y) = (cx.inputs[0], cx.out);
        let r = match self.0 {
            UnaryKind::Neg => g.neg(),
            UnaryKind::Exp => ok(g.mul(y)),
            UnaryKind::Log => ok(g.div(x)),
            UnaryKind::Sqrt => ok(g.div(y)).scale(0.5),
            UnaryKind::Sin => ok(g.mul(x.cos())),
            UnaryKind::Cos => ok(g.mul(x.sin())).neg(),
            UnaryKind::Tanh => ok(g.mul(y.square().neg().add_scalar(1.0))),
            UnaryKind::Sigmoid => ok(ok(g.mul(y)).mul(y.neg().add_scalar(1.0))),
            UnaryKind::Softplus => ok(g.mul(x.sigmoid())),
            UnaryKind::Powi(0) => g.scale(0.0),
            UnaryKind::Powi(1) => g,
            UnaryKind::Powi(n) => ok(g.mul(x.powi(n - 1))).scale(n as f64),
            UnaryKind::Scale(c) => g.scale(c),
            UnaryKind::AddScalar(_) => g,
        };
        crate::reverse::cotangents([Some(r)])
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let t = cx.tangents[0].expect("tangent");
        let kind = self.0;
        let d = cx.inputs[0].map(|x| x.map_f64(|v| kind.deriv(v)));
        let _ = tangent::tshape(cx.k, d.shape());
        ok(t.zip(&d, "jvp", |a, b| a * b))
    }
}

impl<'t, T: Real> Var<'t, T> {
    /// Apply a smooth unary function.
    pub fn unary(self, kind: UnaryKind) -> Var<'t, T> {
        let value = self.value().map(|x| x.map_f64(|v| kind.eval(v)));
        self.tape.push(Unary(kind), &[self], value)
    }
    /// `-x`
    pub fn neg(self) -> Var<'t, T> {
        self.unary(UnaryKind::Neg)
    }
    /// `e^x`
    pub fn exp(self) -> Var<'t, T> {
        self.unary(UnaryKind::Exp)
    }
    /// `ln x`
    pub fn log(self) -> Var<'t, T> {
        self.unary(UnaryKind::Log)
    }
    /// `sqrt x`
    pub fn sqrt(self) -> Var<'t, T> {
        self.unary(UnaryKind::Sqrt)
    }
    /// `sin x`
    pub fn sin(self) -> Var<'t, T> {
        self.unary(UnaryKind::Sin)
    }
    /// `cos x`
    pub fn cos(self) -> Var<'t, T> {
        self.unary(UnaryKind::Cos)
    }
    /// `tanh x`
    pub fn tanh(self) -> Var<'t, T> {
        self.unary(UnaryKind::Tanh)
    }
    /// `1 / (1 + e^-x)`
    pub fn sigmoid(self) -> Var<'t, T> {
        self.unary(UnaryKind::Sigmoid)
    }
    /// `log(1 + e^x)`
    pub fn softplus(self) -> Var<'t, T> {
        self.unary(UnaryKind::Softplus)
    }
    /// `x^n`
    pub fn powi(self, n: i32) -> Var<'t, T> {
        self.unary(UnaryKind::Powi(n))
    }
    /// `x^2`
    pub fn square(self) -> Var<'t, T> {
        self.unary(UnaryKind::Powi(2))
    }
    /// `c x`
    pub fn scale(self, c: f64) -> Var<'t, T> {
        self.unary(UnaryKind::Scale(c))
    }
    /// `x + c`
    pub fn add_scalar(self, c: f64) -> Var<'t, T> {
        self.unary(UnaryKind::AddScalar(c))
    }
}
