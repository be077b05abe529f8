//! The talk's upwind flux `F(a, u_l, u_r) = R(a) u_l - R(-a) u_r` (`R` the ramp): `a u_l` where the
//! velocity `a > 0` (the wave comes from the left), `a u_r` where `a < 0`.
//!
//! Pieces (tie order): `a u_l` ("a>0"), `a u_r` ("a<0"). Switching function: `a`. Kink: `a = 0`
//! exactly, where both pieces are 0 and their partials `(u_l, a, 0)` and `(u_r, 0, a)` differ only in
//! `dF/da` (`u_l` against `u_r`). Rule: the `flux` family's ([`super::flux::FLUX`]) over the two pieces (convex, so
//! admissible: the composite `R(a) u_l - R(-a) u_r` differentiated with `relu'(0) = z` gives
//! `z (u_l + u_r)`, which is outside `conv{u_l, u_r}` unless `z = 1/2`). The finite-volume schemes
//! use it at `a = 0` with their reconstructed face states as `u_l`, `u_r`.

use super::Piecewise;

/// The upwind flux.
pub struct Upwind;

impl Piecewise for Upwind {
    fn family(&self) -> &'static crate::repr::Family {
        &super::flux::FLUX
    }
    fn name(&self) -> &'static str {
        "upwind"
    }
    fn affine(&self) -> bool {
        false
    }
    fn arity(&self) -> usize {
        3
    }
    fn pieces(&self) -> &'static [&'static str] {
        &["a>0", "a<0"]
    }
    fn switches(&self) -> usize {
        1
    }
    fn switching(&self, x: &[f64], s: &mut [f64]) {
        s[0] = x[0];
    }
    fn switching_linear(&self, t: &[f64], ds: &mut [f64]) {
        ds[0] = t[0];
    }
    fn select(&self, sg: &[i8]) -> u32 {
        match sg[0] {
            1 => 0b01,
            -1 => 0b10,
            _ => 0b11,
        }
    }
    fn piece_value(&self, p: usize, x: &[f64]) -> f64 {
        if p == 0 {
            x[0] * x[1]
        } else {
            x[0] * x[2]
        }
    }
    fn piece_partials(&self, p: usize, x: &[f64], out: &mut [f64]) {
        if p == 0 {
            out.copy_from_slice(&[x[1], x[0], 0.0]);
        } else {
            out.copy_from_slice(&[x[2], 0.0, x[0]]);
        }
    }
}
