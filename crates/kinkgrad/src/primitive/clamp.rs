//! `clamp(x, lo, hi) = min(max(x, lo), hi)` (with `lo <= hi`) and `hardtanh(x) = clamp(x, -1, 1)`.
//!
//! clamp pieces (in tie order): `x`, `lo`, `hi`; switching functions `x - lo`, `x - hi`.
//! Kinks: `x = lo` or `x = hi`, a tie between `x` and a bound, resolved by
//! family [`CLAMP`] (`first`: x gets 1, as PyTorch and TensorFlow; `mean`: ½ each, as
//! JAX). When `lo = hi` the value is `lo` (the bound pieces win over `x`).
//!
//! hardtanh pieces: `x`, `-1`, `1` with constant bounds; at `x = ±1` the weight on `x` is
//! family [`HARDTANH`] (PyTorch 0, JAX 1).

use super::{apply, Piecewise, Signature};
use crate::error::Result;
use crate::repr::{Convention, Family, Representation, Rule};
use crate::reverse::var::ok;
use crate::reverse::Var;
use crate::scalar::Real;

/// `clamp(x, lo, hi)`; arguments `(x, lo, hi)`.
pub struct Clamp;

fn clamp_select(signs: &[i8]) -> u32 {
    // piece bits: 0 = x, 1 = lo, 2 = hi
    let (a, b) = (signs[0], signs[1]); // sign(x - lo), sign(x - hi)
    let mut m = 0;
    if a >= 0 && b <= 0 {
        m |= 0b001;
    }
    if a <= 0 && b <= 0 {
        m |= 0b010;
    }
    if b >= 0 {
        m |= 0b100;
    }
    if a < 0 && b > 0 {
        // lo > hi cannot happen for valid bounds; fall back to hi as the value
        m = 0b100;
    }
    if m & 0b110 == 0b110 {
        m &= !0b010; // x = lo = hi: hi and lo coincide, keep one bound piece
    }
    m
}

impl Piecewise for Clamp {
    fn name(&self) -> &'static str {
        "clamp"
    }
    fn arity(&self) -> usize {
        3
    }
    fn pieces(&self) -> &'static [&'static str] {
        &["x", "lo", "hi"]
    }
    fn switches(&self) -> usize {
        2
    }
    fn switching(&self, x: &[f64], s: &mut [f64]) {
        s[0] = x[0] - x[1];
        s[1] = x[0] - x[2];
    }
    fn switching_linear(&self, t: &[f64], ds: &mut [f64]) {
        s_lin(t, ds)
    }
    fn select(&self, signs: &[i8]) -> u32 {
        clamp_select(signs)
    }
    fn piece_value(&self, p: usize, x: &[f64]) -> f64 {
        x[p]
    }
    fn piece_partials(&self, p: usize, _x: &[f64], out: &mut [f64]) {
        out[..3].iter_mut().enumerate().for_each(|(j, o)| *o = if j == p { 1.0 } else { 0.0 });
    }
    fn family(&self) -> &'static Family {
        &CLAMP
    }
    fn signature(&self) -> Signature {
        Signature { args: &["x", "lo", "hi"], params: &[], doc: "min(max(x, lo), hi), lo <= hi", ordered: &[(1, 2)] }
    }
}

/// Ties between `x` and a bound of `clamp(x, lo, hi)`, over the pieces `(x, bound)`.
pub const CLAMP: Family = Family {
    key: "clamp",
    what: "ties of clamp(x, lo, hi) between x and a bound",
    value_range: None,
    minnorm: Rule::MinNorm,
    conventions: &[
        Convention {
            framework: "pytorch",
            rule: Rule::First,
            note: "torch.clamp: clamp_backward where(self >= min && self <= max, grad, 0), so x gets 1 at both bounds; tensor bounds get 0 at a tie [P15]",
        },
        Convention {
            framework: "jax",
            rule: Rule::Mean,
            note: "jnp.clip: maximum(min, arr) then minimum(max, arr), and lax.max/min split a tie in half (_balanced_eq) [J11, J4]; lax.clamp gives every operand 0 at a tie (weights summing to 0: not offered) [J12]",
        },
        Convention { framework: "tensorflow", rule: Rule::First, note: "tf.clip_by_value: maximum(minimum(t, clip_value_max), clip_value_min), and tf.minimum/maximum give a tie to their first argument, the value path [T8, T4]" },
    ],
};

/// `hardtanh` at `x = ±1`: the weight on the identity piece, any real.
pub const HARDTANH: Family = Family {
    key: "hardtanh",
    what: "the weight on the identity piece of hardtanh at x = -1 or 1",
    value_range: Some((f64::NEG_INFINITY, f64::INFINITY)),
    minnorm: Rule::Value(0.0),
    conventions: &[
        Convention { framework: "pytorch", rule: Rule::Value(0.0), note: "F.hardtanh: hardtanh_backward (self <= min_val || self >= max_val) ? 0 : grad, unlike torch.clamp [P16-P18]" },
        Convention {
            framework: "jax",
            rule: Rule::Value(1.0),
            note: "jax.nn.hard_tanh: where(x > 1, 1, where(x < -1, -1, x)), the identity at -1 and 1 [J13]",
        },
        Convention {
            framework: "tensorflow",
            rule: Rule::Value(0.0),
            note: "no hardtanh in TensorFlow: 0 as tf.nn.relu6 at its kinks, (features > 0) * (features < 6) [T2]; tf.clip_by_value(x, -1, 1) would give 1",
        },
    ],
};

fn s_lin(t: &[f64], ds: &mut [f64]) {
    ds[0] = t[0] - t[1];
    ds[1] = t[0] - t[2];
}

/// `hardtanh(x) = clamp(x, -1, 1)` with constant bounds.
pub struct HardTanh;

impl Piecewise for HardTanh {
    fn name(&self) -> &'static str {
        "hardtanh"
    }
    fn arity(&self) -> usize {
        1
    }
    fn pieces(&self) -> &'static [&'static str] {
        &["x", "lo", "hi"]
    }
    fn switches(&self) -> usize {
        2
    }
    fn switching(&self, x: &[f64], s: &mut [f64]) {
        s[0] = x[0] + 1.0;
        s[1] = x[0] - 1.0;
    }
    fn switching_linear(&self, t: &[f64], ds: &mut [f64]) {
        ds[0] = t[0];
        ds[1] = t[0];
    }
    fn select(&self, signs: &[i8]) -> u32 {
        clamp_select(signs)
    }
    fn piece_value(&self, p: usize, x: &[f64]) -> f64 {
        [x[0], -1.0, 1.0][p]
    }
    fn piece_partials(&self, p: usize, _x: &[f64], out: &mut [f64]) {
        out[0] = if p == 0 { 1.0 } else { 0.0 };
    }
    fn family(&self) -> &'static Family {
        &HARDTANH
    }
    fn signature(&self) -> Signature {
        Signature { args: &["x"], params: &[], doc: "clamp(x, -1, 1)", ordered: &[] }
    }
    fn kink_weights(&self, tied: u32, rep: &Representation, out: &mut [f64]) {
        out.iter_mut().for_each(|w| *w = 0.0);
        let bound = if tied & 0b010 != 0 { 1 } else { 2 };
        let z = rep.value(&HARDTANH);
        out[0] = z;
        out[bound] = 1.0 - z;
    }
}

impl<'t, T: Real> Var<'t, T> {
    /// `clamp(x, lo, hi)` with variable (broadcast) bounds.
    pub fn clamp(self, lo: Var<'t, T>, hi: Var<'t, T>) -> Result<Var<'t, T>> {
        apply(Clamp, &[self, lo, hi])
    }
    /// `hardtanh(x) = clamp(x, -1, 1)`.
    pub fn hardtanh(self) -> Var<'t, T> {
        ok(apply(HardTanh, &[self]))
    }
}
