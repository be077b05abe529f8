//! Slope limiters in slope form `B(x, y)`: `x` is the jump across the face being fluxed (the
//! "local" jump), `y` the jump on the far side of the upwind cell. The flux-limiter form
//! `phi(theta) x` with `theta = y / x` is the same function, written without dividing by a slope, so
//! a flat state (`x = y = 0`) gives `0`, never NaN. All four limiters are symmetric,
//! `B(x, y) = B(y, x)`, and odd, `B(-x, -y) = -B(x, y)`; each is `0` when `x y <= 0`.
//!
//! | limiter | `B(x, y)` for `x, y > 0` | pieces | switching functions | declared in |
//! |---|---|---|---|---|
//! | minmod | `min(x, y)` | `x`, `y`, `0` | `x`, `y`, `x - y` | `primitive/minmod.rs` |
//! | superbee | `max(min(2x, y), min(x, 2y))` | `2y`, `x`, `y`, `2x`, `0` | `x`, `y`, `2y - x`, `x - y`, `y - 2x` | `primitive/superbee.rs` |
//! | MC | `min(2x, (x + y)/2, 2y)` | `2y`, `(x+y)/2`, `2x`, `0` | `x`, `y`, `3y - x`, `y - 3x` | `primitive/mc.rs` |
//! | van Leer | `2xy / (x + y)` | harmonic, `0` | `x`, `y` | here (not piecewise C^1) |
//!
//! minmod, superbee and MC are piecewise affine: each is one [`Piecewise`] declaration plus one
//! branch-free kernel (`value_and_pieces`, tested equal to the declaration), and everything here is
//! derived from those two: values, tied sets, the rule's partials per tied set ([`PieceTable`]) and
//! the lexicographic selection ([`crate::primitive::lex_select`]).
//!
//! A **kink** is an evaluation exactly on a switching surface where two pieces meet (a slope exactly
//! 0, equal slopes, ...). The representation's limiter tie rule gives convex weights over the tied
//! pieces (default minimum norm: at `(0, 0)` the zero piece, at `x = y > 0` for minmod half each), so
//! every offered rule is admissible. The lexicographic rule keeps the pieces active along the first
//! direction whose switching derivatives break the tie; a tie that survives every direction gives the
//! whole weight to its first piece (the pieces agree along every direction probed; the result does
//! not depend on the representation) and is counted as unresolved when the pieces' partials differ.
//!
//! # Van Leer
//! `B(x, y) = 2xy / (x + y)` for `x y > 0`, else `0`: pieces harmonic (0) and zero (1), switching
//! functions `x` and `y`. It is **not** piecewise C^1 at `(0, 0)`: the harmonic piece's gradient
//! `(2y^2, 2x^2) / (x + y)^2` is homogeneous of degree 0 and has no limit there (every
//! `(2t^2, 2) / (1 + t)^2`, `t >= 0`, is a limit along some ray), so it does not fit the
//! [`Piecewise`] contract (constant or continuous partials per piece) and stays special here.
//! Its rules:
//! * off the origin (`x = 0` or `y = 0`, not both) the harmonic and zero pieces tie with gradients
//!   `(2, 0)` or `(0, 2)` and `(0, 0)`: the tie rule weights them (minimum norm: the zero piece);
//! * at the origin a rule that weights the harmonic piece without a direction uses its diagonal limit
//!   `(1/2, 1/2)` (the gradient along `x = y`);
//! * `lex` and `safe` decide `x` and `y` by the signs along the directions; if the harmonic piece is
//!   kept at the origin its gradient is the limit along the first non-zero direction `d`,
//!   `(2 d_y^2, 2 d_x^2) / (d_x + d_y)^2`, whose product with `d` is the one-sided directional
//!   derivative `B'(0; d) = 2 d_x d_y / (d_x + d_y)` (an element of Clarke's generalized gradient: a
//!   limit of gradients along the ray). A tie surviving every direction at the origin keeps the
//!   first piece, harmonic, with the diagonal limit `(1/2, 1/2)`, and is counted as unresolved.

use crate::error::{Error, Result};
use crate::primitive::mc::Mc;
use crate::primitive::minmod::Minmod;
use crate::primitive::superbee::Superbee;
use crate::primitive::{lex_select_by, sign, tie_weights, Piecewise};
use crate::repr::TieRule;

/// A slope limiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limiter {
    /// `minmod(x, y)`: the most dissipative TVD limiter.
    Minmod,
    /// Roe's superbee: the least dissipative TVD limiter.
    Superbee,
    /// van Leer's monotonized central limiter.
    Mc,
    /// van Leer's harmonic-mean limiter (smooth away from the axes).
    VanLeer,
}

impl std::str::FromStr for Limiter {
    type Err = Error;
    /// `minmod`, `superbee`, `mc`, `vanleer`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "minmod" => Ok(Limiter::Minmod),
            "superbee" => Ok(Limiter::Superbee),
            "mc" => Ok(Limiter::Mc),
            "vanleer" | "van-leer" => Ok(Limiter::VanLeer),
            _ => Err(Error::invalid("limiter", format!("'{s}', expected minmod, superbee, mc or vanleer"))),
        }
    }
}

/// A limiter evaluation: value, gradient `(d/dx, d/dy)`, and whether it sat on a kink.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LimiterEval {
    /// `B(x, y)`.
    pub value: f64,
    /// `dB/dx` (associated gradient).
    pub gx: f64,
    /// `dB/dy` (associated gradient).
    pub gy: f64,
    /// The evaluation sat exactly on a kink (two or more pieces tied).
    pub kink: bool,
    /// After a lexicographic selection: the tie survived every direction and the tied pieces'
    /// gradients differ (the first tied piece was taken).
    pub unresolved: bool,
}

impl Limiter {
    /// Name in kink logs: `minmod`, `superbee`, `mc`, `vanleer`.
    pub fn name(self) -> &'static str {
        match self {
            Limiter::Minmod => "minmod",
            Limiter::Superbee => "superbee",
            Limiter::Mc => "mc",
            Limiter::VanLeer => "vanleer",
        }
    }
    /// The declared piecewise-affine form (`None` for van Leer).
    pub(crate) fn piecewise(self) -> Option<&'static dyn Piecewise> {
        match self {
            Limiter::Minmod => Some(&Minmod),
            Limiter::Superbee => Some(&Superbee),
            Limiter::Mc => Some(&Mc),
            Limiter::VanLeer => None,
        }
    }
    /// `B(x, y)` (value only; no division by a slope).
    ///
    /// ```
    /// use kinkgrad::pde::limiter::Limiter;
    /// assert_eq!(Limiter::Minmod.value(1.0, 3.0), 1.0);
    /// assert_eq!(Limiter::Superbee.value(1.0, 3.0), 2.0);
    /// assert_eq!(Limiter::Mc.value(1.0, 3.0), 2.0);
    /// assert_eq!(Limiter::VanLeer.value(1.0, 3.0), 1.5);
    /// assert_eq!(Limiter::VanLeer.value(0.0, 0.0), 0.0); // no NaN on a flat state
    /// ```
    #[inline(always)]
    pub fn value(self, x: f64, y: f64) -> f64 {
        match self {
            Limiter::Minmod => Minmod::value_and_pieces(x, y).0,
            Limiter::Superbee => Superbee::value_and_pieces(x, y).0,
            Limiter::Mc => Mc::value_and_pieces(x, y).0,
            Limiter::VanLeer => vanleer_value(x, y),
        }
    }

    /// Value and associated gradient; at a kink the tie rule `rule` weights the tied pieces.
    pub fn eval(self, x: f64, y: f64, rule: &TieRule) -> LimiterEval {
        self.select(x, y, 0, |_, _| {}, rule)
    }

    /// Value and gradient with the pieces chosen lexicographically along `dirs` (each a tangent
    /// `(dx, dy)` of the arguments): the sign of the first non-zero of (switching value, its
    /// derivatives along the directions in order) decides each switching function. A tie that
    /// survives every direction takes its first piece (flagged `unresolved` when the tied pieces'
    /// gradients differ); `rule` is not used then.
    pub fn eval_lex(self, x: f64, y: f64, dirs: &[[f64; 2]], rule: &TieRule) -> LimiterEval {
        self.select(x, y, dirs.len(), |c, t| t.copy_from_slice(&dirs[c]), rule)
    }

    /// The one selection behind [`Self::eval`] (`k = 0`: the rule decides ties) and
    /// [`Self::eval_lex`] (`k` directions written by `dir`).
    pub(crate) fn select(
        self,
        x: f64,
        y: f64,
        k: usize,
        dir: impl FnMut(usize, &mut [f64]),
        rule: &TieRule,
    ) -> LimiterEval {
        let Some(p) = self.piecewise() else {
            return vanleer_select(x, y, k, dir, rule);
        };
        let value = self.value(x, y);
        let tied = crate::primitive::active(p, &[x, y]);
        let kink = tied.count_ones() > 1;
        if !kink {
            let (gx, gy) = piece_partials(p, tied);
            return LimiterEval { value, gx, gy, kink, unresolved: false };
        }
        if k == 0 {
            let (gx, gy) = rule_partials(p, tied, rule);
            return LimiterEval { value, gx, gy, kink, unresolved: false };
        }
        let mask = lex_select_by(p, &[x, y], k, dir);
        let (first, unresolved) = first_piece(p, mask);
        let (gx, gy) = piece_partials(p, first);
        LimiterEval { value, gx, gy, kink, unresolved }
    }
}

/// `(dB/dx, dB/dy)` of the single piece `mask` (one bit).
pub(crate) fn piece_partials(p: &dyn Piecewise, mask: u32) -> (f64, f64) {
    let mut g = [0.0; 2];
    p.piece_partials(mask.trailing_zeros() as usize, &[0.0, 0.0], &mut g);
    (g[0], g[1])
}

/// The rule's associated partials over the tied set `mask`: the tie weights of
/// [`crate::primitive::tie_weights`] applied to the tied pieces' partials (summed in piece order).
pub(crate) fn rule_partials(p: &dyn Piecewise, mask: u32, rule: &TieRule) -> (f64, f64) {
    let mut w = [0.0; crate::primitive::MAX_PIECES];
    let np = p.pieces().len();
    tie_weights(p, &[0.0, 0.0], mask, rule, &mut w[..np]);
    let (mut gx, mut gy) = (0.0, 0.0);
    for q in (0..np).filter(|q| mask >> q & 1 == 1) {
        let mut g = [0.0; 2];
        p.piece_partials(q, &[0.0, 0.0], &mut g);
        gx += w[q] * g[0];
        gy += w[q] * g[1];
    }
    (gx, gy)
}

/// The first piece of a tied set that survived every direction, and whether the tie is unresolved
/// (the survivors' partials differ, so another choice would change the derivative).
pub(crate) fn first_piece(p: &dyn Piecewise, mask: u32) -> (u32, bool) {
    let first = mask & mask.wrapping_neg();
    if mask == first {
        return (mask, false);
    }
    let g0 = piece_partials(p, first);
    let differ = (0..p.pieces().len()).filter(|q| mask >> q & 1 == 1).any(|q| piece_partials(p, 1 << q) != g0);
    (first, differ)
}

/// The partials of a slope per tied set of its pieces under one tie rule, indexed by the set's bit
/// mask (the 1-byte code of the piece tape): the associated partials the kernels read. A single
/// piece's entry is its partials; a tied set's entry is the rule's weighted partials.
pub(crate) struct PieceTable {
    /// `dB/dx` per code (32 entries: at most 5 pieces).
    pub gx: [f64; 32],
    /// `dB/dy` per code.
    pub gy: [f64; 32],
    /// Number of codes (`2^pieces`).
    pub len: usize,
}

impl PieceTable {
    /// Tabulate `rule` over the tied sets of `p`.
    pub(crate) fn new(p: &dyn Piecewise, rule: &TieRule) -> Self {
        let len = 1usize << p.pieces().len();
        debug_assert!(len <= 32);
        let (mut gx, mut gy) = ([0.0; 32], [0.0; 32]);
        for m in 1..len as u32 {
            (gx[m as usize], gy[m as usize]) =
                if m.count_ones() == 1 { piece_partials(p, m) } else { rule_partials(p, m, rule) };
        }
        Self { gx, gy, len }
    }
    /// A slope with one piece of partials `(gx, 0)` (upwind: 0, unlimited Lax-Wendroff: 1), code 1.
    pub(crate) fn single(gx: f64) -> Self {
        let mut t = Self { gx: [0.0; 32], gy: [0.0; 32], len: 2 };
        t.gx[1] = gx;
        t
    }
}

#[inline(always)]
fn vanleer_value(x: f64, y: f64) -> f64 {
    if (x > 0.0 && y > 0.0) || (x < 0.0 && y < 0.0) {
        2.0 * x * y / (x + y)
    } else {
        0.0
    }
}

fn vl_harmonic_grad(x: f64, y: f64) -> (f64, f64) {
    let s = x + y;
    (2.0 * y * y / (s * s), 2.0 * x * x / (s * s))
}

/// Van Leer's selection (see the module docs): the rule at kinks when `k = 0`, else the signs of `x`
/// and `y` along the directions, the harmonic gradient's limit along the first non-zero direction at
/// the origin, and the first piece (harmonic) for a tie that survives every direction.
fn vanleer_select(x: f64, y: f64, k: usize, mut dir: impl FnMut(usize, &mut [f64]), rule: &TieRule) -> LimiterEval {
    let value = vanleer_value(x, y);
    let (mut sx, mut sy) = (sign(x), sign(y));
    let kink = sx == 0 || sy == 0;
    let mut first_dir: Option<[f64; 2]> = None;
    let mut d = [0.0; 2];
    for c in 0..k {
        if sx != 0 && sy != 0 {
            break;
        }
        dir(c, &mut d);
        if first_dir.is_none() && (d[0] != 0.0 || d[1] != 0.0) {
            first_dir = Some(d);
        }
        if sx == 0 {
            sx = sign(d[0]);
        }
        if sy == 0 {
            sy = sign(d[1]);
        }
    }
    let harmonic = sx * sy >= 0;
    let zero = sx * sy <= 0;
    // the harmonic piece's gradient at (x, y), or its limit along the first direction
    let (hx, hy) = if x != 0.0 || y != 0.0 {
        vl_harmonic_grad(x, y)
    } else {
        match first_dir {
            Some(d) if d[0] + d[1] != 0.0 => vl_harmonic_grad(d[0], d[1]),
            _ => (0.5, 0.5),
        }
    };
    match (harmonic, zero) {
        (true, false) => LimiterEval { value, gx: hx, gy: hy, kink, unresolved: false },
        (false, _) => LimiterEval { value, gx: 0.0, gy: 0.0, kink, unresolved: false },
        (true, true) if k > 0 => {
            // a tie that survived every direction: the first piece (harmonic)
            LimiterEval { value, gx: hx, gy: hy, kink, unresolved: hx != 0.0 || hy != 0.0 }
        }
        (true, true) => {
            let (gx, gy) = if hx == 0.0 && hy == 0.0 {
                (0.0, 0.0)
            } else {
                let w = crate::primitive::rule_weights(rule, &[0, 1], &[vec![hx, hy], vec![0.0, 0.0]]);
                (w[0] * hx, w[0] * hy)
            };
            LimiterEval { value, gx, gy, kink, unresolved: false }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    const ALL: [Limiter; 4] = [Limiter::Minmod, Limiter::Superbee, Limiter::Mc, Limiter::VanLeer];

    /// phi(theta) in flux-limiter form, from Sweby (1984) / LeVeque, "Finite Volume Methods for
    /// Hyperbolic Problems" (2002), eq. 6.39-6.41: B(x, y) = phi(y / x) x.
    fn phi(l: Limiter, t: f64) -> f64 {
        match l {
            Limiter::Minmod => t.clamp(0.0, 1.0),
            Limiter::Superbee => 0.0f64.max((2.0 * t).min(1.0)).max(t.min(2.0)),
            Limiter::Mc => 0.0f64.max((2.0 * t).min(0.5 * (1.0 + t)).min(2.0)),
            Limiter::VanLeer => (t + t.abs()) / (1.0 + t.abs()),
        }
    }

    #[test]
    fn slope_form_equals_flux_limiter_form_and_is_symmetric() {
        let mut rng = Rng::new(3);
        for _ in 0..2000 {
            let x = rng.range(-2.0, 2.0);
            let y = rng.range(-2.0, 2.0);
            for l in ALL {
                let b = l.value(x, y);
                assert!((b - phi(l, y / x) * x).abs() < 1e-12, "{l:?} {x} {y}");
                assert!((b - l.value(y, x)).abs() < 1e-12);
                assert_eq!(l.value(-x, -y), -b);
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences_off_kinks() {
        let mut rng = Rng::new(5);
        let h = 1e-6;
        for _ in 0..500 {
            let (x, y) = (rng.range(-2.0, 2.0), rng.range(-2.0, 2.0));
            for l in ALL {
                let e = l.eval(x, y, &TieRule::MinNorm);
                assert!(!e.kink);
                let fx = (l.value(x + h, y) - l.value(x - h, y)) / (2.0 * h);
                let fy = (l.value(x, y + h) - l.value(x, y - h)) / (2.0 * h);
                // a random point can sit within h of a switching surface: skip those
                if (fx - e.gx).abs() > 1e-5 || (fy - e.gy).abs() > 1e-5 {
                    let near = [x, y, x - y, 2.0 * x - y, x - 2.0 * y, 3.0 * x - y, x - 3.0 * y]
                        .iter()
                        .any(|s| s.abs() < 4.0 * h);
                    assert!(near, "{l:?} at ({x}, {y}): ({}, {}) vs fd ({fx}, {fy})", e.gx, e.gy);
                }
            }
        }
    }

    #[test]
    fn kinks_and_their_rules() {
        // minmod at (0, 0): pieces x (1,0), y (0,1), zero (0,0): the minimum-norm point is the zero piece
        let e = Limiter::Minmod.eval(0.0, 0.0, &TieRule::MinNorm);
        assert!(e.kink);
        assert_eq!((e.value, e.gx, e.gy), (0.0, 0.0, 0.0));
        // minmod at x = y > 0: pieces x and y tie; min norm of conv{(1,0),(0,1)} is (1/2, 1/2)
        let e = Limiter::Minmod.eval(1.0, 1.0, &TieRule::MinNorm);
        assert!(e.kink && (e.gx - 0.5).abs() < 1e-12 && (e.gy - 0.5).abs() < 1e-12);
        // `first` over {x, y, zero} at (0,0) picks the x piece: still a convex combination
        let e = Limiter::Minmod.eval(0.0, 0.0, &TieRule::First);
        assert_eq!((e.gx, e.gy), (1.0, 0.0));
        // superbee at (0, 1): pieces 2x (gradient (2, 0)) and zero tie; min norm: zero
        let e = Limiter::Superbee.eval(0.0, 1.0, &TieRule::MinNorm);
        assert!(e.kink);
        assert_eq!((e.gx, e.gy), (0.0, 0.0));
        // MC at y = 3x > 0: pieces mean (1/2, 1/2) and 2x (2, 0); the segment's min-norm point is
        // (1/2, 1/2) itself (its projection parameter is negative)
        let e = Limiter::Mc.eval(1.0, 3.0, &TieRule::MinNorm);
        assert!(e.kink && (e.gx - 0.5).abs() < 1e-12 && (e.gy - 0.5).abs() < 1e-12);
        // van Leer at (0, 1): harmonic gradient (2y^2, 2x^2)/(x+y)^2 = (2, 0) vs zero; min norm: 0
        let e = Limiter::VanLeer.eval(0.0, 1.0, &TieRule::MinNorm);
        assert!(e.kink);
        assert_eq!((e.gx, e.gy), (0.0, 0.0));
        let e = Limiter::VanLeer.eval(0.0, 1.0, &TieRule::First);
        assert_eq!((e.gx, e.gy), (2.0, 0.0));
        // van Leer at the origin: `first` weights the harmonic piece with its diagonal limit
        let e = Limiter::VanLeer.eval(0.0, 0.0, &TieRule::First);
        assert_eq!((e.gx, e.gy), (0.5, 0.5));
    }

    #[test]
    fn lexicographic_selection_is_the_one_sided_derivative() {
        // For every limiter and kink point p, and direction d, eval_lex(p; d) . d equals the one-sided
        // directional derivative (B(p + h d) - B(p)) / h (exact for piecewise-affine B, small h).
        let pts = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [-1.0, -1.0], [1.0, 2.0], [2.0, 1.0], [1.0, 3.0]];
        let mut rng = Rng::new(9);
        for l in ALL {
            for p in pts {
                for _ in 0..20 {
                    let d = [rng.range(-1.0, 1.0), rng.range(-1.0, 1.0)];
                    let e = l.eval_lex(p[0], p[1], &[d], &TieRule::MinNorm);
                    let h = 1e-7;
                    let one_sided = (l.value(p[0] + h * d[0], p[1] + h * d[1]) - l.value(p[0], p[1])) / h;
                    let lin = e.gx * d[0] + e.gy * d[1];
                    assert!((one_sided - lin).abs() < 1e-5, "{l:?} at {p:?} along {d:?}: {lin} vs {one_sided}");
                    assert!(!e.unresolved);
                }
            }
        }
    }

    /// A tie that survives every direction takes its first piece whatever the rule, and is counted
    /// when the tied pieces' partials differ: minmod at (0, 0) along a zero direction keeps all three
    /// pieces and returns the x piece's (1, 0).
    #[test]
    fn surviving_ties_take_the_first_piece() {
        for rule in [TieRule::MinNorm, TieRule::Mean, TieRule::Last] {
            let e = Limiter::Minmod.eval_lex(0.0, 0.0, &[[0.0, 0.0], [0.0, 0.0]], &rule);
            assert_eq!((e.gx, e.gy, e.unresolved), (1.0, 0.0, true));
            let e = Limiter::VanLeer.eval_lex(0.0, 0.0, &[[0.0, 0.0]], &rule);
            assert_eq!((e.gx, e.gy, e.unresolved), (0.5, 0.5, true));
        }
    }
}
