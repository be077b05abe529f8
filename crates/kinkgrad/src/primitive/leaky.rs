//! `leaky_relu(x; s) = x` for `x > 0`, `s x` for `x < 0` (the slope `s` is a constant parameter).
//!
//! Pieces: `s x` (piece 0), `x` (piece 1); switching function `x`. Kink: `x = 0`. Rule: weight `z` on
//! the identity piece, so `leaky_relu'(0) = s + z (1 - s)`, with `z = Representation::leaky_at_zero`
//! (or `relu_at_zero` when unset). PyTorch and TensorFlow give `s` (z = 0), JAX gives 1 (z = 1).

use super::{apply, Piecewise};
use crate::repr::Representation;
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
    fn kink_weights(&self, _tied: u32, rep: &Representation, out: &mut [f64]) {
        let z = rep.leaky_at_zero.unwrap_or(rep.relu_at_zero);
        out[0] = 1.0 - z;
        out[1] = z;
    }
}

impl<'t, T: Real> Var<'t, T> {
    /// Leaky relu with negative slope `slope`.
    pub fn leaky_relu(self, slope: f64) -> Var<'t, T> {
        ok(apply(LeakyRelu(slope), &[self]))
    }
}
