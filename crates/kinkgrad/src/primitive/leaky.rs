//! `leaky_relu(x; s) = x` for `x > 0`, `s x` for `x < 0` (the slope `s` is a constant parameter).
//!
//! Pieces: `s x` (piece 0), `x` (piece 1); switching function `x`. Kink: `x = 0`. Rule: weight `z` on
//! the identity piece, so `leaky_relu'(0) = s + z (1 - s)`, with `z` the rule of family
//! [`LEAKY_RELU`]. PyTorch and TensorFlow give `s` (z = 0), JAX gives 1 (z = 1).

use super::{apply, check_params, Param, Piecewise, Signature};
use crate::error::Result;
use crate::repr::{Convention, Family, Representation, Rule};
use crate::reverse::var::ok;
use crate::reverse::Var;
use crate::scalar::Real;

/// The leaky relu primitive with its negative slope.
pub struct LeakyRelu(pub f64);

impl Piecewise for LeakyRelu {
    fn name(&self) -> &'static str {
        "leaky_relu"
    }
    fn arity(&self) -> usize {
        1
    }
    fn pieces(&self) -> &'static [&'static str] {
        &["slope", "identity"]
    }
    fn switches(&self) -> usize {
        1
    }
    fn sign_of_argument(&self) -> bool {
        true
    }
    fn switching(&self, x: &[f64], s: &mut [f64]) {
        s[0] = x[0];
    }
    fn switching_linear(&self, t: &[f64], ds: &mut [f64]) {
        ds[0] = t[0];
    }
    fn select(&self, signs: &[i8]) -> u32 {
        match signs[0] {
            1 => 0b10,
            -1 => 0b01,
            _ => 0b11,
        }
    }
    fn piece_value(&self, p: usize, x: &[f64]) -> f64 {
        if p == 1 {
            x[0]
        } else {
            self.0 * x[0]
        }
    }
    fn piece_partials(&self, p: usize, _x: &[f64], out: &mut [f64]) {
        out[0] = if p == 1 { 1.0 } else { self.0 };
    }
    fn family(&self) -> &'static Family {
        &LEAKY_RELU
    }
    fn signature(&self) -> Signature {
        Signature {
            args: &["x"],
            params: &[Param { name: "slope", range: (f64::NEG_INFINITY, f64::INFINITY), sample: 0.25 }],
            doc: "x for x > 0, slope * x for x < 0",
            ordered: &[],
        }
    }
    fn with_params(&self, params: &[f64]) -> Result<Box<dyn Piecewise>> {
        check_params(self.name(), self.signature().params, params)?;
        Ok(Box::new(LeakyRelu(params[0])))
    }
    fn kink_weights(&self, _tied: u32, rep: &Representation, out: &mut [f64]) {
        let z = rep.value(&LEAKY_RELU);
        out[0] = 1.0 - z;
        out[1] = z;
    }
}

/// `leaky_relu'(0) = s + w (1 - s)`: `w` is the weight on the identity piece, any real. The
/// minimum-norm element of `conv{s, 1}` for `0 <= s < 1` is `s` (`w = 0`).
pub const LEAKY_RELU: Family = Family {
    key: "leaky_relu",
    what: "the weight w on the identity piece of leaky_relu at 0 (derivative s + w (1 - s))",
    value_range: Some((f64::NEG_INFINITY, f64::INFINITY)),
    minnorm: Rule::Value(0.0),
    conventions: &[
        Convention { framework: "pytorch", rule: Rule::Value(0.0), note: "F.leaky_relu: leaky_relu_backward a > 0 ? grad : grad * negval, a = the input [P16, P19, P20]" },
        Convention { framework: "jax", rule: Rule::Value(1.0), note: "jax.nn.leaky_relu: where(x >= 0, x, negative_slope * x), the identity at 0 [J13]" },
        Convention { framework: "tensorflow", rule: Rule::Value(0.0), note: "tf.nn.leaky_relu: LeakyReluGrad (features > 0).select(gradients, gradients * alpha), features = the input [T2, T9]" },
    ],
};

impl<'t, T: Real> Var<'t, T> {
    /// Leaky relu with negative slope `slope`.
    pub fn leaky_relu(self, slope: f64) -> Var<'t, T> {
        ok(apply(LeakyRelu(slope), &[self]))
    }
}
