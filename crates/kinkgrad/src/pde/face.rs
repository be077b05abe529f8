//! The face formula and its partials, written once.
//!
//! Face `j` sits between cells `j` and `j + 1` and reads the window
//! `w = (u_{j-1}, u_j, u_{j+1}, u_{j+2})`.
//!
//! # Linear transport
//! With the upwind sign `s = sign(a)`, the upwind cell `U` (`j` for `a > 0`, `j + 1` for `a < 0`)
//! and the limiter's arguments `x = u_{j+1} - u_j` (the jump across the face) and `y` (the jump on
//! the far side of `U`: `u_j - u_{j-1}` for `a > 0`, `u_{j+2} - u_{j+1}` for `a < 0`),
//!
//! ```text
//! F = a (u_U + s k B(x, y)),   k = (1 - s a λ) / 2 = (1 - ν) / 2
//! ```
//!
//! (`B = 0`: upwind; `B = x`: Lax-Wendroff; a limiter: limited Lax-Wendroff). The `a < 0` side is the
//! mirror image of the `a > 0` side (reflect the window and negate the jumps; `B` is odd): one formula,
//! the side a type parameter ([`Side`]: [`Pos`], [`Neg`]). Its partials, with `c = s a k`
//! (`dF/dB`) and the associated partials `(gx, gy)` of the selected limiter pieces:
//!
//! ```text
//! dF/da     = u_U + s (1 - 2 s a λ)/2 B
//! dF/du_far = -s c gy        (u_{j-1} for a > 0, u_{j+2} for a < 0)
//! dF/du_U   = a + c (gy - gx) for a > 0,  a + c (gx - gy) for a < 0
//! dF/du_D   = s c gx         (the downwind cell of the face: j + 1 for a > 0, j for a < 0)
//! ```
//!
//! Every expression is evaluated as written for each side (negation and multiplication by `1` are
//! exact), so both sides and every path (per face or hoisted, materialised or on the fly) give the
//! same bits. At `a = 0` both sides tie (the talk's upwind flux `R(a) u_l - R(-a) u_r`,
//! [`crate::primitive::upwind::Upwind`], with the reconstructed face states `u_l = u_j + B_L / 2`,
//! `u_r = u_{j+1} - B_R / 2`): the flux is `0`, the `u`-partials of both sides are `0`, and `dF/da` is
//! `u_l` or `u_r`.
//!
//! # Burgers
//! Godunov's flux of the exact Riemann solution, [`crate::primitive::godunov::Godunov`], at
//! `(u_l, u_r) = (u_j, u_{j+1})`: `dF/du_j = u_j` on the left piece, `dF/du_{j+1} = u_{j+1}` on the
//! right one, `0` on the zero piece.

use super::limiter::Limiter;

/// The upwind side of a face as a type: the `a < 0` formula is the `a > 0` one reflected.
pub(crate) trait Side {
    /// `a > 0`.
    const POS: bool;
    /// `s = sign(a)` on this side.
    const S: f64;
}

/// The side `a > 0` (upwind cell `j`).
pub(crate) struct Pos;
/// The side `a < 0` (upwind cell `j + 1`).
pub(crate) struct Neg;

impl Side for Pos {
    const POS: bool = true;
    const S: f64 = 1.0;
}
impl Side for Neg {
    const POS: bool = false;
    const S: f64 = -1.0;
}

/// The reconstruction slope `B` of a linear-transport scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slope {
    /// `B = 0` (first-order upwind).
    Zero,
    /// `B(x, y) = x` (Lax-Wendroff).
    Unlimited,
    /// A limiter.
    Limited(Limiter),
}

/// The limiter's arguments `(x, y)` on side `S` from the window.
#[inline(always)]
pub(crate) fn jumps<S: Side>(w0: f64, w1: f64, w2: f64, w3: f64) -> (f64, f64) {
    if S::POS {
        (w2 - w1, w1 - w0)
    } else {
        (w2 - w1, w3 - w2)
    }
}

/// `F = a (u_U + s k B)`, from the window's middle cells `w1 = u_j`, `w2 = u_{j+1}` and `B`.
#[inline(always)]
pub(crate) fn flux<S: Side>(a: f64, lambda: f64, w1: f64, w2: f64, b: f64) -> f64 {
    let k = 0.5 * (1.0 - S::S * a * lambda);
    let uu = if S::POS { w1 } else { w2 };
    a * (uu + (S::S * k) * b)
}

/// `c = dF/dB = s a k`.
#[inline(always)]
pub(crate) fn slope_coef<S: Side>(a: f64, lambda: f64) -> f64 {
    (S::S * 0.5 * a) * (1.0 - S::S * a * lambda)
}

/// `dF/da = u_U + s (1 - 2 s a λ)/2 B`.
#[inline(always)]
pub(crate) fn flux_da<S: Side>(a: f64, lambda: f64, w1: f64, w2: f64, b: f64) -> f64 {
    let k = 0.5 * (1.0 - S::S * 2.0 * a * lambda);
    let uu = if S::POS { w1 } else { w2 };
    uu + (S::S * k) * b
}

/// The cell partials `(dF/du_far, dF/du_U, dF/du_D)` from `c = dF/dB` ([`slope_coef`]) and the
/// limiter partials `(gx, gy)`.
#[inline(always)]
pub(crate) fn cell_partials<S: Side>(a: f64, c: f64, gx: f64, gy: f64) -> (f64, f64, f64) {
    let far = (-S::S * c) * gy;
    let up = a + c * if S::POS { gy - gx } else { gx - gy };
    let down = (S::S * c) * gx;
    (far, up, down)
}

/// The partials `(dF/da, dF/du_{j-1}, dF/du_j, dF/du_{j+1}, dF/du_{j+2})` of side `S` at the window
/// `w` with slope value `b` and limiter partials `(gx, gy)`.
#[inline(always)]
pub(crate) fn partials<S: Side>(a: f64, lambda: f64, w: &[f64; 4], b: f64, gx: f64, gy: f64) -> [f64; 5] {
    let (far, up, down) = cell_partials::<S>(a, slope_coef::<S>(a, lambda), gx, gy);
    let da = flux_da::<S>(a, lambda, w[1], w[2], b);
    if S::POS {
        [da, far, up, down, 0.0]
    } else {
        [da, 0.0, down, up, far]
    }
}
