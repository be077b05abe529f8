//! Godunov's flux for Burgers' equation `u_t + (u^2/2)_x = 0`: the flux of the exact Riemann
//! solution at a face, `F(u_l, u_r) = max(f(max(u_l, 0)), f(min(u_r, 0)))` with `f(u) = u^2/2`.
//!
//! Pieces (tie order): `u_l^2/2` (L: the wave leaves the face to the right), `u_r^2/2` (R: to the
//! left), `0` (Z: a transonic rarefaction or both states at rest). Switching functions: `u_l`, `u_r`,
//! `u_l + u_r` (the shock speed's sign). L is active where `u_l >= 0` and (`u_r >= 0` or
//! `u_l + u_r >= 0`), R where `u_r <= 0` and (`u_l <= 0` or `u_l + u_r <= 0`), Z where `u_l <= 0 <= u_r`.
//! Kinks: any switching function exactly 0 (a stationary shock `u_l = -u_r > 0` ties L and R).
//!
//! The pieces are quadratic, so their partials depend on the point: L has `(u_l, 0)`, R `(0, u_r)`,
//! Z `(0, 0)`. At a kink the tied pieces agree in value and, where the tie is `u_l = 0` or `u_r = 0`,
//! in partials too (every tied piece's partials vanish there); at a stationary shock L and R differ.
//! Rule: the `flux` family's ([`super::flux::FLUX`]) over the tied pieces at the point (convex, so
//! admissible).

use super::Piecewise;

/// The Godunov flux of Burgers' equation.
pub struct Godunov;

impl Piecewise for Godunov {
    fn family(&self) -> &'static crate::repr::Family {
        &super::flux::FLUX
    }
    fn name(&self) -> &'static str {
        "godunov"
    }
    fn affine(&self) -> bool {
        false
    }
    fn arity(&self) -> usize {
        2
    }
    fn pieces(&self) -> &'static [&'static str] {
        &["left", "right", "zero"]
    }
    fn switches(&self) -> usize {
        3
    }
    fn switching(&self, x: &[f64], s: &mut [f64]) {
        s[0] = x[0];
        s[1] = x[1];
        s[2] = x[0] + x[1];
    }
    fn switching_linear(&self, t: &[f64], ds: &mut [f64]) {
        self.switching(t, ds)
    }
    fn select(&self, sg: &[i8]) -> u32 {
        let (sl, sr, ss) = (sg[0], sg[1], sg[2]);
        let mut m = 0;
        if sl >= 0 && (sr >= 0 || ss >= 0) {
            m |= 1;
        }
        if sr <= 0 && (sl <= 0 || ss <= 0) {
            m |= 2;
        }
        if sl <= 0 && sr >= 0 {
            m |= 4;
        }
        m
    }
    fn piece_value(&self, p: usize, x: &[f64]) -> f64 {
        match p {
            0 => 0.5 * (x[0] * x[0]),
            1 => 0.5 * (x[1] * x[1]),
            _ => 0.0,
        }
    }
    fn piece_partials(&self, p: usize, x: &[f64], out: &mut [f64]) {
        out[0] = if p == 0 { x[0] } else { 0.0 };
        out[1] = if p == 1 { x[1] } else { 0.0 };
    }
}

impl Godunov {
    /// The flux value, branch-free (it vectorises): `max(max(u_l, 0)^2, min(u_r, 0)^2) / 2`, equal
    /// to the active piece's value.
    #[inline(always)]
    pub fn value(ul: f64, ur: f64) -> f64 {
        let l = ul.max(0.0);
        let r = ur.min(0.0);
        0.5 * (l * l).max(r * r)
    }
    /// The branch-free kernel of the hot loops: `(value, tied set)` (bits L, R, Z as declared), equal
    /// to the declared form on every sign pattern and tie (tested).
    #[inline(always)]
    pub fn value_and_pieces(ul: f64, ur: f64) -> (f64, u8) {
        let s = ul + ur;
        let l = (ul >= 0.0) & ((ur >= 0.0) | (s >= 0.0));
        let r = (ur <= 0.0) & ((ul <= 0.0) | (s <= 0.0));
        let z = (ul <= 0.0) & (ur >= 0.0);
        (Self::value(ul, ur), l as u8 | (r as u8) << 1 | (z as u8) << 2)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{active, value};
    use super::*;

    /// The branch-free value and tied set are the declared ones on every sign pattern and tie, and the pieces agree
    /// at the kinks (the flux is continuous).
    #[test]
    fn value_is_the_declared_form() {
        let vals = [-2.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, 1e-310, -1e-310];
        for &l in &vals {
            for &r in &vals {
                let (v, code) = Godunov::value_and_pieces(l, r);
                assert!(v == value(&Godunov, &[l, r]), "({l}, {r})");
                let mask = active(&Godunov, &[l, r]);
                assert_eq!(code as u32, mask, "({l}, {r})");
                assert!(mask != 0);
                for q in (0..3).filter(|q| mask >> q & 1 == 1) {
                    assert!(v == Godunov.piece_value(q, &[l, r]), "piece {q} at ({l}, {r})");
                }
            }
        }
        // a stationary shock ties L and R, a rarefaction fan around 0 ties nothing but Z
        assert_eq!(active(&Godunov, &[1.0, -1.0]), 0b011);
        assert_eq!(active(&Godunov, &[-1.0, 1.0]), 0b100);
    }
}
