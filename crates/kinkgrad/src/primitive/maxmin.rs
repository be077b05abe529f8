//! Binary element-wise `max(a, b)` and `min(a, b)`.
//!
//! max pieces: `a` (piece 0), `b` (piece 1); switching function `a - b`. Kink: `a = b`, a tie
//! resolved by the rule of family [`MAX`] (or the rule fixed by the call, e.g. `max_first`).
//! Admissible weights are `>= 0` and sum to 1, so `d/dx max(x, x) = 1` under every rule.
//! min is the same with the sign of the switching function reversed.

use super::{apply, Piecewise, Signature};
use crate::error::Result;
use crate::repr::{Convention, Family, Representation, Rule, TieRule};
use crate::reverse::Var;
use crate::scalar::Real;

/// `max(a, b)` (or `min` when `min` is set), with an optional fixed tie rule.
pub struct MaxMin2 {
    /// Minimum instead of maximum.
    pub min: bool,
    /// Tie rule fixed by the call (`None`: the representation's rule for [`MAX`]).
    pub rule: Option<TieRule>,
}

impl Piecewise for MaxMin2 {
    fn name(&self) -> &'static str {
        if self.min {
            "min"
        } else {
            "max"
        }
    }
    fn arity(&self) -> usize {
        2
    }
    fn pieces(&self) -> &'static [&'static str] {
        &["a", "b"]
    }
    fn switches(&self) -> usize {
        1
    }
    fn switching(&self, x: &[f64], s: &mut [f64]) {
        s[0] = if self.min { x[1] - x[0] } else { x[0] - x[1] };
    }
    fn switching_linear(&self, t: &[f64], ds: &mut [f64]) {
        ds[0] = if self.min { t[1] - t[0] } else { t[0] - t[1] };
    }
    fn select(&self, signs: &[i8]) -> u32 {
        match signs[0] {
            1 => 0b01,
            -1 => 0b10,
            _ => 0b11,
        }
    }
    fn piece_value(&self, p: usize, x: &[f64]) -> f64 {
        x[p]
    }
    fn piece_partials(&self, p: usize, _x: &[f64], out: &mut [f64]) {
        out[0] = if p == 0 { 1.0 } else { 0.0 };
        out[1] = if p == 1 { 1.0 } else { 0.0 };
    }
    fn family(&self) -> &'static Family {
        &MAX
    }
    fn signature(&self) -> Signature {
        Signature {
            args: &["a", "b"],
            params: &[],
            doc: if self.min { "min(a, b)" } else { "max(a, b)" },
            ordered: &[],
        }
    }
    fn tie_rule(&self, rep: &Representation) -> TieRule {
        self.rule.clone().unwrap_or_else(|| rep.ties(&MAX))
    }
}

/// Ties of element-wise `max`/`min` (binary and n-ary), over the arguments in order.
pub const MAX: Family = Family {
    key: "max",
    what: "ties of element-wise maximum and minimum (binary and n-ary)",
    value_range: None,
    minnorm: Rule::MinNorm,
    conventions: &[
        Convention { framework: "pytorch", rule: Rule::Mean, note: "torch.maximum/minimum: where(self == other, grad / 2, grad) (before about 1.10: all to other) [P5, P6, H1, H5]" },
        Convention { framework: "jax", rule: Rule::Mean, note: "jnp.maximum/minimum = lax.max/min: JVP _balanced_eq, half each [J4, J5]" },
        Convention { framework: "tensorflow", rule: Rule::First, note: "tf.maximum/minimum: selector greater_equal / less_equal, a tie goes to the first argument [T4]" },
    ],
};

impl<'t, T: Real> Var<'t, T> {
    /// Element-wise `max(self, other)` with broadcasting; ties by the representation.
    pub fn maximum(self, other: Var<'t, T>) -> Result<Var<'t, T>> {
        apply(MaxMin2 { min: false, rule: None }, &[self, other])
    }
    /// Element-wise `min(self, other)` with broadcasting; ties by the representation.
    pub fn minimum(self, other: Var<'t, T>) -> Result<Var<'t, T>> {
        apply(MaxMin2 { min: true, rule: None }, &[self, other])
    }
}
