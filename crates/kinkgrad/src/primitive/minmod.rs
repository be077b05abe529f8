//! `minmod(a, b)`: `min(a, b)` if both are positive, `max(a, b)` if both are negative, `0` otherwise.
//! The talk writes it `R(-max(-a, -b)) - R(-max(a, b))`.
//!
//! Pieces (tie order): `a`, `b`, `0`. Switching functions: `a`, `b`, `a - b`.
//! Kinks: `a = 0`, `b = 0`, or `a = b` with a common sign. Rule: family [`LIMITER`]
//! (default minimum norm: at `(0, 0)` the zero piece, so `d minmod(0, 0) = (0, 0)`; at `a = b > 0`
//! half each). Every offered rule is a convex combination of the tied pieces, so no representation can
//! give the talk's composite formula's `d minmod(0,0) = (2, 0)` (with `R'(0) = 1`), which lies
//! outside Clarke's generalized gradient `conv{(1,0), (0,1), (0,0)}`.

use super::{apply, Piecewise, Signature};
use crate::error::Result;
use crate::repr::{Family, Rule};
use crate::reverse::Var;
use crate::scalar::Real;

/// The minmod limiter.
pub struct Minmod;

impl Piecewise for Minmod {
    fn name(&self) -> &'static str {
        "minmod"
    }
    fn arity(&self) -> usize {
        2
    }
    fn pieces(&self) -> &'static [&'static str] {
        &["a", "b", "zero"]
    }
    fn switches(&self) -> usize {
        3
    }
    fn switching(&self, x: &[f64], s: &mut [f64]) {
        s[0] = x[0];
        s[1] = x[1];
        s[2] = x[0] - x[1];
    }
    fn switching_linear(&self, t: &[f64], ds: &mut [f64]) {
        ds[0] = t[0];
        ds[1] = t[1];
        ds[2] = t[0] - t[1];
    }
    fn select(&self, sg: &[i8]) -> u32 {
        let (sa, sb, sd) = (sg[0], sg[1], sg[2]);
        let mut m = 0;
        // zero piece: the signs of a and b can differ (or one vanishes)
        if sa * sb <= 0 {
            m |= 0b100;
        }
        // both non-negative: min(a, b); a piece if a <= b
        if sa >= 0 && sb >= 0 {
            if sd <= 0 {
                m |= 0b001;
            }
            if sd >= 0 {
                m |= 0b010;
            }
        }
        // both non-positive: max(a, b); a piece if a >= b
        if sa <= 0 && sb <= 0 {
            if sd >= 0 {
                m |= 0b001;
            }
            if sd <= 0 {
                m |= 0b010;
            }
        }
        // where a = 0 the a piece equals 0 too, so it stays in the tied set with the zero piece
        m
    }
    fn piece_value(&self, p: usize, x: &[f64]) -> f64 {
        match p {
            0 => x[0],
            1 => x[1],
            _ => 0.0,
        }
    }
    fn piece_partials(&self, p: usize, _x: &[f64], out: &mut [f64]) {
        out[0] = if p == 0 { 1.0 } else { 0.0 };
        out[1] = if p == 1 { 1.0 } else { 0.0 };
    }
    fn family(&self) -> &'static Family {
        &LIMITER
    }
    fn signature(&self) -> Signature {
        Signature {
            args: &["a", "b"],
            params: &[],
            doc: "min(a, b) if both > 0, max(a, b) if both < 0, else 0",
            ordered: &[],
        }
    }
}

impl Minmod {
    /// The branch-free kernel of the hot loops (it vectorises): `(value, tied set)`, the set's bits
    /// naming the active pieces `a` (`0b001`), `b` (`0b010`) and `0` (`0b100`), more than one bit on a
    /// kink. Equal to the declared form ([`super::value`], [`super::active`]) on every sign pattern,
    /// tie, signed zero and subnormal (tested; a signed zero's sign may differ where the tied pieces'
    /// values are `0` and `-0`): the zero piece is active unless `a` and `b` have the same strict sign;
    /// on `a, b >= 0` the piece `a` is active where `a - b <= 0` and `b` where `a - b >= 0`, mirrored on
    /// `a, b <= 0`, which off opposite strict signs is `|a| <= |b|` (a difference of finite doubles is
    /// 0 only when they are equal).
    #[inline(always)]
    pub fn value_and_pieces(a: f64, b: f64) -> (f64, u8) {
        let (aa, ab) = (a.abs(), b.abs());
        let pos = (a > 0.0) & (b > 0.0);
        let neg = (a < 0.0) & (b < 0.0);
        let m = aa.min(ab);
        let v = if pos {
            m
        } else if neg {
            -m
        } else {
            0.0
        };
        let opp = ((a > 0.0) & (b < 0.0)) | ((a < 0.0) & (b > 0.0));
        let pa = !opp & (aa <= ab);
        let pb = !opp & (ab <= aa);
        // the code summed in f64 lanes and converted once: built from bytes, every mask was narrowed
        // to bytes on its own (AVX2 has no mask registers), the costliest part of the coded step
        let bit = |on: bool, w: f64| if on { w } else { 0.0 };
        let code = (bit(pa, 1.0) + bit(pb, 2.0)) + bit(!(pos | neg), 4.0);
        // SAFETY: `code` is an integer in 0..=7
        (v, unsafe { code.to_int_unchecked::<u8>() })
    }
}

/// Ties of slope limiters (minmod, superbee, MC) over their pieces in declared order. The
/// frameworks have no limiter primitive (a limiter written with their max/min inherits those ops'
/// rules, a different representation), so every preset uses the minimum-norm rule.
pub const LIMITER: Family = Family {
    key: "limiter",
    what: "ties of slope limiters (minmod, superbee, MC)",
    value_range: None,
    minnorm: Rule::MinNorm,
    conventions: &[],
};

impl<'t, T: Real> Var<'t, T> {
    /// `minmod(self, other)` element-wise with broadcasting.
    pub fn minmod(self, other: Var<'t, T>) -> Result<Var<'t, T>> {
        apply(Minmod, &[self, other])
    }
}

#[cfg(test)]
mod tests {
    use super::super::fast_kernel_tests::assert_fast_equals_declared;
    use super::*;

    #[test]
    fn fast_kernel_is_the_declared_form() {
        assert_fast_equals_declared(&Minmod, |x, y| {
            let (v, m) = Minmod::value_and_pieces(x, y);
            (v, m as u32)
        });
    }
}
