//! `relu(x) = max(x, 0)`.
//!
//! Pieces: `0` (piece 0, `x < 0`) and `x` (piece 1, `x > 0`); switching function `s = x`.
//! Kink: `x = 0` (or `-0.0`). Rule: `relu'(0) = z`, any real (family [`RELU`]): the
//! weights are `1 - z` on the zero piece and `z` on the identity. Lexicographic rule: the sign of the
//! first non-zero directional derivative of `x` picks the piece.

use super::{apply, Piecewise, Signature};
use crate::repr::{Convention, Family, Representation, Rule};
use crate::reverse::var::ok;
use crate::reverse::Var;
use crate::scalar::Real;

/// The relu primitive.
pub struct Relu;

/// `relu'(0) = z`: the weight on the identity piece at `x = 0`; any real (the kink of relu is one
/// point of its argument, so every `z` is an associated gradient).
pub const RELU: Family = Family {
    key: "relu",
    what: "relu'(0)",
    value_range: Some((f64::NEG_INFINITY, f64::INFINITY)),
    minnorm: Rule::Value(0.0),
    conventions: &[
        Convention { framework: "pytorch", rule: Rule::Value(0.0), note: "torch.relu: threshold_backward(grad, result, 0) zeroes the gradient where the output result <= 0 [P1-P3]" },
        Convention { framework: "jax", rule: Rule::Value(0.0), note: "jax.nn.relu: custom JVP select(x > 0, g, 0) on the input [J1]; a hand-written jnp.maximum(x, 0) gives 1/2 (family max)" },
        Convention { framework: "tensorflow", rule: Rule::Value(0.0), note: "tf.nn.relu: ReluGrad gradients * (features > 0), features = the relu output [T1, T2]" },
    ],
};

impl Piecewise for Relu {
    fn name(&self) -> &'static str {
        "relu"
    }
    fn arity(&self) -> usize {
        1
    }
    fn pieces(&self) -> &'static [&'static str] {
        &["zero", "identity"]
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
            0.0
        }
    }
    fn piece_partials(&self, p: usize, _x: &[f64], out: &mut [f64]) {
        out[0] = if p == 1 { 1.0 } else { 0.0 };
    }
    fn family(&self) -> &'static Family {
        &RELU
    }
    fn signature(&self) -> Signature {
        Signature { args: &["x"], params: &[], doc: "max(x, 0)", ordered: &[] }
    }
    fn kink_weights(&self, _tied: u32, rep: &Representation, out: &mut [f64]) {
        let z = rep.value(&RELU);
        out[0] = 1.0 - z;
        out[1] = z;
    }
}

impl<'t, T: Real> Var<'t, T> {
    /// `max(x, 0)` element-wise.
    pub fn relu(self) -> Var<'t, T> {
        ok(apply(Relu, &[self]))
    }
}
