//! `softshrink(x; lambda) = x - lambda` for `x > lambda`, `x + lambda` for `x < -lambda`, `0`
//! otherwise (the constant `lambda >= 0`; the proximal map of `lambda |x|`).
//!
//! Pieces (in order): `x + lambda` (below), `0` (zero), `x - lambda` (above); switching functions
//! `x + lambda` and `x - lambda`. Kinks: `x = -lambda` (below and zero tied) and `x = lambda` (zero
//! and above tied). Rule (family [`SOFTSHRINK`]): the weight `w` on the shifted-identity piece, so
//! `softshrink'(±lambda) = w` (any real: each kink is one point of the argument); minimum norm and
//! PyTorch and TensorFlow Addons give `w = 0`. With `lambda = 0` the function is the identity: at
//! `x = 0` both switching functions vanish, the zero piece is active on no open set and is left
//! out of the tie (below and above, both of slope 1, stay tied), so every rule gives 1.

use super::{apply, check_params, Param, Piecewise, Signature};
use crate::error::Result;
use crate::repr::{Convention, Family, Representation, Rule};
use crate::reverse::Var;
use crate::scalar::Real;

/// The soft-shrinkage primitive with its threshold `lambda >= 0`.
pub struct Softshrink(pub f64);

/// At `x = ±lambda`: the weight `w` on the shifted-identity piece (the derivative there), any real.
pub const SOFTSHRINK: Family = Family {
    key: "softshrink",
    what: "the weight w on the identity-slope piece of softshrink at x = -lambda or lambda (derivative w)",
    value_range: Some((f64::NEG_INFINITY, f64::INFINITY)),
    minnorm: Rule::Value(0.0),
    conventions: &[
        Convention {
            framework: "pytorch",
            rule: Rule::Value(0.0),
            note: "F.softshrink: shrink_backward_kernel (self_val >= -lambd && self_val <= lambd) ? \
                   scalar_t(0) : grad_val, 0 at both kinks (CUDA kernel read through an index excerpt \
                   without repository name; the CPU kernel was not read)",
        },
        Convention {
            framework: "tensorflow",
            rule: Rule::Value(0.0),
            note: "no core op; tfa.activations.softshrink (tensorflow/addons, \
                   custom_ops/activations/cc/kernels/softshrink_op.h @ f4033c6): SoftshrinkGrad \
                   (features < lower || features > upper).select(gradients, 0), 0 at both kinks",
        },
    ],
};

impl Piecewise for Softshrink {
    fn name(&self) -> &'static str {
        "softshrink"
    }
    fn arity(&self) -> usize {
        1
    }
    fn pieces(&self) -> &'static [&'static str] {
        &["below", "zero", "above"]
    }
    fn switches(&self) -> usize {
        2
    }
    fn switching(&self, x: &[f64], s: &mut [f64]) {
        s[0] = x[0] + self.0;
        s[1] = x[0] - self.0;
    }
    fn switching_linear(&self, t: &[f64], ds: &mut [f64]) {
        ds[0] = t[0];
        ds[1] = t[0];
    }
    fn select(&self, sg: &[i8]) -> u32 {
        match (sg[0], sg[1]) {
            // lambda = 0 and x = 0: the zero piece is active at that point only
            (0, 0) => 0b101,
            (-1, _) => 0b001,
            (0, _) => 0b011,
            (1, -1) => 0b010,
            (1, 0) => 0b110,
            _ => 0b100,
        }
    }
    fn piece_value(&self, p: usize, x: &[f64]) -> f64 {
        match p {
            0 => x[0] + self.0,
            1 => 0.0,
            _ => x[0] - self.0,
        }
    }
    fn piece_partials(&self, p: usize, _x: &[f64], out: &mut [f64]) {
        out[0] = if p == 1 { 0.0 } else { 1.0 };
    }
    fn family(&self) -> &'static Family {
        &SOFTSHRINK
    }
    fn kink_weights(&self, tied: u32, rep: &Representation, out: &mut [f64]) {
        out.iter_mut().for_each(|w| *w = 0.0);
        if tied & 0b010 == 0 {
            // below and above (lambda = 0): equal slopes, any split
            out[0] = 0.5;
            out[2] = 0.5;
            return;
        }
        let w = rep.value(&SOFTSHRINK);
        out[1] = 1.0 - w;
        out[if tied & 0b001 != 0 { 0 } else { 2 }] = w;
    }
    fn signature(&self) -> Signature {
        Signature {
            args: &["x"],
            params: &[Param { name: "lambda", range: (0.0, f64::INFINITY), sample: 1.0 }],
            doc: "x - lambda for x > lambda, x + lambda for x < -lambda, else 0",
            ordered: &[],
        }
    }
    fn with_params(&self, params: &[f64]) -> Result<Box<dyn Piecewise>> {
        check_params(self.name(), self.signature().params, params)?;
        Ok(Box::new(Softshrink(params[0])))
    }
}

impl<'t, T: Real> Var<'t, T> {
    /// Soft shrinkage with threshold `lambda >= 0` (an error otherwise).
    pub fn softshrink(self, lambda: f64) -> Result<Var<'t, T>> {
        let p = Softshrink(lambda);
        check_params(p.name(), p.signature().params, &[lambda])?;
        apply(p, &[self])
    }
}
