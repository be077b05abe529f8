//! `abs(x) = |x|`.
//!
//! Pieces: `-x` (piece 0), `x` (piece 1); switching function `x`. Kink: `x = 0`. Rule:
//! `abs'(0) = a` (family [`ABS`], in `[-1, 1]`): weights `(1 - a)/2` and `(1 + a)/2`.
//! PyTorch and TensorFlow use `a = 0` (`sign(0) = 0`), JAX uses `a = 1` (`select(x >= 0, g, -g)`).

use super::{apply, Piecewise, Signature};
use crate::repr::{Convention, Family, Representation, Rule};
use crate::reverse::var::ok;
use crate::reverse::Var;
use crate::scalar::Real;

/// The absolute value primitive.
pub struct Abs;

impl Piecewise for Abs {
    fn name(&self) -> &'static str {
        "abs"
    }
    fn arity(&self) -> usize {
        1
    }
    fn pieces(&self) -> &'static [&'static str] {
        &["negate", "identity"]
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
            -x[0]
        }
    }
    fn piece_partials(&self, p: usize, _x: &[f64], out: &mut [f64]) {
        out[0] = if p == 1 { 1.0 } else { -1.0 };
    }
    fn family(&self) -> &'static Family {
        &ABS
    }
    fn signature(&self) -> Signature {
        Signature { args: &["x"], params: &[], doc: "|x|", ordered: &[] }
    }
    fn kink_weights(&self, _tied: u32, rep: &Representation, out: &mut [f64]) {
        let a = rep.value(&ABS);
        out[0] = (1.0 - a) / 2.0;
        out[1] = (1.0 + a) / 2.0;
    }
}

/// `abs'(0) = a`, a convex combination of the pieces' slopes `-1` and `1`: `a` in `[-1, 1]`.
pub const ABS: Family = Family {
    key: "abs",
    what: "abs'(0)",
    value_range: Some((-1.0, 1.0)),
    minnorm: Rule::Value(0.0),
    conventions: &[
        Convention {
            framework: "pytorch",
            rule: Rule::Value(0.0),
            note: "torch.abs: grad * self.sgn(), sgn(0) = 0 [P4]",
        },
        Convention {
            framework: "jax",
            rule: Rule::Value(1.0),
            note: "jnp.abs = lax.abs: JVP select(ge(x, 0), g, neg(g)) [J2, J3]",
        },
        Convention { framework: "tensorflow", rule: Rule::Value(0.0), note: "tf.abs: grad * sign(x) [T3]" },
    ],
};

impl<'t, T: Real> Var<'t, T> {
    /// `|x|` element-wise.
    pub fn abs(self) -> Var<'t, T> {
        ok(apply(Abs, &[self]))
    }
}
