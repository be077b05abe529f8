//! Slope limiters in slope form `B(x, y)`: `x` is the jump across the face being fluxed (the
//! "local" jump), `y` the jump on the far side of the upwind cell. The flux-limiter form
//! `phi(theta) x` with `theta = y / x` is the same function, written without dividing by a slope, so
//! a flat state (`x = y = 0`) gives `0`, never NaN. All four limiters are symmetric,
//! `B(x, y) = B(y, x)`, and odd, `B(-x, -y) = -B(x, y)`; each is `0` when `x y <= 0`.
//!
//! | limiter | `B(x, y)` for `x, y > 0` | pieces | switching functions |
//! |---|---|---|---|
//! | minmod | `min(x, y)` | `x`, `y`, `0` | `x`, `y`, `x - y` |
//! | superbee | `max(min(2x, y), min(x, 2y))` | `2y`, `x`, `y`, `2x`, `0` | `x`, `y`, `2y - x`, `x - y`, `y - 2x` |
//! | MC | `min(2x, (x + y)/2, 2y)` | `2y`, `(x+y)/2`, `2x`, `0` | `x`, `y`, `3y - x`, `y - 3x` |
//! | van Leer | `2xy / (x + y)` | harmonic, `0` | `x`, `y` |
//!
//! A **kink** is an evaluation exactly on a switching surface where two pieces meet (a slope exactly
//! 0, equal slopes, ...). The representation's rule for the `limiter` family gives convex weights over the
//! tied pieces (default minimum norm: at `(0, 0)` the zero piece, at `x = y > 0` for minmod half each),
//! so every offered rule is admissible. The lexicographic rule picks the pieces active along the
//! first direction whose switching derivatives break the tie.
//!
//! minmod, superbee and MC are piecewise affine and implement [`Piecewise`], so they share the
//! library's generic selection and tie machinery. Van Leer's harmonic piece is rational: its
//! gradient `(2y^2, 2x^2) / (x + y)^2` is homogeneous of degree 0 and has no limit at `(0, 0)`; there
//! the lexicographic rule takes its limit along the first non-zero direction `d`
//! (`(2 d_y^2, 2 d_x^2) / (d_x + d_y)^2`) and a rule that weights the harmonic piece without a
//! direction takes the diagonal limit `(1/2, 1/2)`.

use crate::error::{Error, Result};
use crate::primitive::minmod::Minmod;
use crate::primitive::{active, lex_select, min_norm_weights, Piecewise};
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

/// Superbee as a piecewise primitive (see the module table).
pub struct Superbee;
/// MC as a piecewise primitive (see the module table).
pub struct Mc;

impl Piecewise for Superbee {
    fn family(&self) -> &'static crate::repr::Family {
        &crate::primitive::minmod::LIMITER
    }
    fn name(&self) -> &'static str {
        "superbee"
    }
    fn arity(&self) -> usize {
        2
    }
    fn pieces(&self) -> &'static [&'static str] {
        &["2y", "x", "y", "2x", "zero"]
    }
    fn switches(&self) -> usize {
        5
    }
    fn switching(&self, x: &[f64], s: &mut [f64]) {
        s[0] = x[0];
        s[1] = x[1];
        s[2] = 2.0 * x[1] - x[0];
        s[3] = x[0] - x[1];
        s[4] = x[1] - 2.0 * x[0];
    }
    fn switching_linear(&self, t: &[f64], ds: &mut [f64]) {
        self.switching(t, ds)
    }
    fn select(&self, sg: &[i8]) -> u32 {
        let (sx, sy, s2, s3, s4) = (sg[0], sg[1], sg[2], sg[3], sg[4]);
        let mut m = 0;
        if sx * sy <= 0 {
            m |= 0b10000;
        }
        // positive quadrant: r = y / x; 2y for r <= 1/2, x for 1/2 <= r <= 1, y for 1 <= r <= 2, 2x for r >= 2
        if sx >= 0 && sy >= 0 {
            if s2 <= 0 {
                m |= 0b0001;
            }
            if s2 >= 0 && s3 >= 0 {
                m |= 0b0010;
            }
            if s3 <= 0 && s4 <= 0 {
                m |= 0b0100;
            }
            if s4 >= 0 {
                m |= 0b1000;
            }
        }
        // negative quadrant: B(x, y) = -B(-x, -y), every switching function flips sign
        if sx <= 0 && sy <= 0 {
            if s2 >= 0 {
                m |= 0b0001;
            }
            if s2 <= 0 && s3 <= 0 {
                m |= 0b0010;
            }
            if s3 >= 0 && s4 >= 0 {
                m |= 0b0100;
            }
            if s4 <= 0 {
                m |= 0b1000;
            }
        }
        m
    }
    fn piece_value(&self, p: usize, x: &[f64]) -> f64 {
        match p {
            0 => 2.0 * x[1],
            1 => x[0],
            2 => x[1],
            3 => 2.0 * x[0],
            _ => 0.0,
        }
    }
    fn piece_partials(&self, p: usize, out: &mut [f64]) {
        let g = [[0.0, 2.0], [1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 0.0]][p];
        out[0] = g[0];
        out[1] = g[1];
    }
}

impl Piecewise for Mc {
    fn family(&self) -> &'static crate::repr::Family {
        &crate::primitive::minmod::LIMITER
    }
    fn name(&self) -> &'static str {
        "mc"
    }
    fn arity(&self) -> usize {
        2
    }
    fn pieces(&self) -> &'static [&'static str] {
        &["2y", "mean", "2x", "zero"]
    }
    fn switches(&self) -> usize {
        4
    }
    fn switching(&self, x: &[f64], s: &mut [f64]) {
        s[0] = x[0];
        s[1] = x[1];
        s[2] = 3.0 * x[1] - x[0];
        s[3] = x[1] - 3.0 * x[0];
    }
    fn switching_linear(&self, t: &[f64], ds: &mut [f64]) {
        self.switching(t, ds)
    }
    fn select(&self, sg: &[i8]) -> u32 {
        let (sx, sy, s2, s3) = (sg[0], sg[1], sg[2], sg[3]);
        let mut m = 0;
        if sx * sy <= 0 {
            m |= 0b1000;
        }
        // positive quadrant: 2y when 2y <= (x+y)/2 (3y <= x), 2x when 2x <= (x+y)/2 (3x <= y)
        if sx >= 0 && sy >= 0 {
            if s2 <= 0 {
                m |= 0b001;
            }
            if s2 >= 0 && s3 <= 0 {
                m |= 0b010;
            }
            if s3 >= 0 {
                m |= 0b100;
            }
        }
        if sx <= 0 && sy <= 0 {
            if s2 >= 0 {
                m |= 0b001;
            }
            if s2 <= 0 && s3 >= 0 {
                m |= 0b010;
            }
            if s3 <= 0 {
                m |= 0b100;
            }
        }
        m
    }
    fn piece_value(&self, p: usize, x: &[f64]) -> f64 {
        match p {
            0 => 2.0 * x[1],
            1 => 0.5 * (x[0] + x[1]),
            2 => 2.0 * x[0],
            _ => 0.0,
        }
    }
    fn piece_partials(&self, p: usize, out: &mut [f64]) {
        let g = [[0.0, 2.0], [0.5, 0.5], [2.0, 0.0], [0.0, 0.0]][p];
        out[0] = g[0];
        out[1] = g[1];
    }
}

/// Convex weights of a tie rule over the tied pieces `idx` (piece indices in declared order) whose
/// gradients are `grads`: the minimum-norm point of their convex hull for [`TieRule::MinNorm`], the
/// rule's own weights otherwise. Always `>= 0` and summing to 1 (admissible).
pub fn rule_weights(rule: &TieRule, idx: &[usize], grads: &[Vec<f64>]) -> Vec<f64> {
    if let TieRule::MinNorm = rule {
        return min_norm_weights(grads);
    }
    let mut w = Vec::new();
    rule.weights(idx, &mut w);
    w
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
    /// gradients differ (the representation's rule decided).
    pub unresolved: bool,
}

fn vl_harmonic_grad(x: f64, y: f64) -> (f64, f64) {
    let s = x + y;
    (2.0 * y * y / (s * s), 2.0 * x * x / (s * s))
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
    #[inline]
    pub fn value(self, x: f64, y: f64) -> f64 {
        if let Limiter::Minmod = self {
            return minmod_branch_free(x, y).0;
        }
        let same = (x > 0.0 && y > 0.0) || (x < 0.0 && y < 0.0);
        if !same {
            return 0.0;
        }
        let (ax, ay) = (x.abs(), y.abs());
        let m = match self {
            Limiter::Minmod => ax.min(ay),
            Limiter::Superbee => (2.0 * ax).min(ay).max(ax.min(2.0 * ay)),
            Limiter::Mc => (2.0 * ax).min(0.5 * (ax + ay)).min(2.0 * ay),
            Limiter::VanLeer => return 2.0 * x * y / (x + y),
        };
        if x > 0.0 {
            m
        } else {
            -m
        }
    }

    /// Value and associated gradient; at a kink the tie rule `rule` weights the tied pieces.
    pub fn eval(self, x: f64, y: f64, rule: &TieRule) -> LimiterEval {
        // fast path for minmod off its kinks (the benchmark's inner loop)
        if let Limiter::Minmod = self {
            if let Some((value, gx, gy)) = minmod_smooth(x, y) {
                return LimiterEval { value, gx, gy, kink: false, unresolved: false };
            }
        }
        self.select_eval(x, y, &[], rule)
    }

    /// Value and gradient with the pieces chosen lexicographically along `dirs` (each a tangent
    /// `(dx, dy)` of the arguments): the sign of the first non-zero of (switching value, its
    /// derivatives along the directions in order) decides each switching function. A tie that
    /// survives every direction is weighted by `rule`.
    pub fn eval_lex(self, x: f64, y: f64, dirs: &[[f64; 2]], rule: &TieRule) -> LimiterEval {
        self.select_eval(x, y, dirs, rule)
    }

    fn select_eval(self, x: f64, y: f64, dirs: &[[f64; 2]], rule: &TieRule) -> LimiterEval {
        let value = self.value(x, y);
        match self.piecewise() {
            Some(p) => {
                let kink = active(p, &[x, y]).count_ones() > 1;
                let refs: Vec<&[f64]> = dirs.iter().map(|d| d.as_slice()).collect();
                let mask = if dirs.is_empty() { active(p, &[x, y]) } else { lex_select(p, &[x, y], &refs) };
                let idx: Vec<usize> = (0..p.pieces().len()).filter(|i| mask >> i & 1 == 1).collect();
                let grads: Vec<Vec<f64>> = idx
                    .iter()
                    .map(|&q| {
                        let mut g = vec![0.0; 2];
                        p.piece_partials(q, &mut g);
                        g
                    })
                    .collect();
                let (gx, gy, unresolved) = combine(rule, &idx, &grads);
                LimiterEval { value, gx, gy, kink, unresolved: unresolved && !dirs.is_empty() }
            }
            None => {
                // van Leer: pieces harmonic (0) and zero (1); switching functions x and y
                let (mut sx, mut sy) = (sgn(x), sgn(y));
                let kink = sx == 0 || sy == 0;
                let mut first_dir: Option<[f64; 2]> = None;
                for d in dirs {
                    if sx != 0 && sy != 0 {
                        break;
                    }
                    if first_dir.is_none() && (d[0] != 0.0 || d[1] != 0.0) {
                        first_dir = Some(*d);
                    }
                    if sx == 0 {
                        sx = sgn(d[0]);
                    }
                    if sy == 0 {
                        sy = sgn(d[1]);
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
                    (true, true) => {
                        let (gx, gy, unresolved) = combine(rule, &[0, 1], &[vec![hx, hy], vec![0.0, 0.0]]);
                        LimiterEval { value, gx, gy, kink, unresolved: unresolved && !dirs.is_empty() }
                    }
                }
            }
        }
    }
}

/// A limiter with a fixed tie rule, for the inner loops: the associated gradient at a kink of an
/// affine limiter depends only on the tied set, so the rule's weights are tabulated once per tied
/// set (bit mask) instead of being recomputed at every kink. Gives exactly [`Limiter::eval`]'s numbers.
pub struct RuledLimiter {
    /// The limiter.
    pub limiter: Limiter,
    rule: TieRule,
    /// `(gx, gy)` per tied set, for the piecewise-affine limiters.
    table: Vec<(f64, f64)>,
}

impl RuledLimiter {
    /// Tabulate `rule` for `limiter`.
    pub fn new(limiter: Limiter, rule: &TieRule) -> Self {
        let table = match limiter.piecewise() {
            Some(p) => {
                let np = p.pieces().len();
                (0u32..1 << np)
                    .map(|mask| {
                        let idx: Vec<usize> = (0..np).filter(|i| mask >> i & 1 == 1).collect();
                        if idx.is_empty() {
                            return (0.0, 0.0);
                        }
                        let grads: Vec<Vec<f64>> = idx
                            .iter()
                            .map(|&q| {
                                let mut g = vec![0.0; 2];
                                p.piece_partials(q, &mut g);
                                g
                            })
                            .collect();
                        let (gx, gy, _) = combine(rule, &idx, &grads);
                        (gx, gy)
                    })
                    .collect()
            }
            None => vec![],
        };
        Self { limiter, rule: rule.clone(), table }
    }
    /// The active pieces at `(x, y)` as a bit mask (one bit off the kinks, the tied set on a kink);
    /// `0` for van Leer, which is not piecewise affine.
    pub(crate) fn mask(&self, x: f64, y: f64) -> u32 {
        self.limiter.piecewise().map_or(0, |p| active(p, &[x, y]))
    }

    /// `(∂B/∂x, ∂B/∂y)` per tied set (indexed by [`Self::mask`]'s bit mask) under this rule; empty for
    /// van Leer.
    pub(crate) fn table(&self) -> &[(f64, f64)] {
        &self.table
    }

    /// Value and associated gradient, as [`Limiter::eval`] with this rule.
    #[inline]
    pub fn eval(&self, x: f64, y: f64) -> LimiterEval {
        if let Limiter::Minmod = self.limiter {
            if let Some((value, gx, gy)) = minmod_smooth(x, y) {
                return LimiterEval { value, gx, gy, kink: false, unresolved: false };
            }
        }
        match self.limiter.piecewise() {
            Some(p) => {
                let mask = active(p, &[x, y]);
                let (gx, gy) = self.table[mask as usize];
                LimiterEval { value: self.limiter.value(x, y), gx, gy, kink: mask.count_ones() > 1, unresolved: false }
            }
            None => self.limiter.eval(x, y, &self.rule),
        }
    }
}

/// minmod without branches (vectorises): `(value, d/dx, d/dy, kink)`; the gradient is the active
/// piece's off the kinks and must be replaced by the representation's rule where `kink` is set.
#[inline(always)]
pub fn minmod_branch_free(x: f64, y: f64) -> (f64, f64, f64, bool) {
    let (ax, ay) = (x.abs(), y.abs());
    let pos = (x > 0.0) & (y > 0.0);
    let neg = (x < 0.0) & (y < 0.0);
    let same = pos | neg;
    let opp = ((x > 0.0) & (y < 0.0)) | ((x < 0.0) & (y > 0.0));
    let m = ax.min(ay);
    let v = if pos {
        m
    } else if neg {
        -m
    } else {
        0.0
    };
    let gx = if same & (ax < ay) { 1.0 } else { 0.0 };
    let gy = if same & (ay < ax) { 1.0 } else { 0.0 };
    (v, gx, gy, !(opp | (same & (ax != ay))))
}

/// minmod off its kinks: `Some((value, d/dx, d/dy))`, `None` on a kink (or where a product of signs
/// is not decided by strict comparisons).
#[inline(always)]
pub(crate) fn minmod_smooth(x: f64, y: f64) -> Option<(f64, f64, f64)> {
    if (x > 0.0 && y > 0.0) || (x < 0.0 && y < 0.0) {
        if x.abs() < y.abs() {
            Some((x, 1.0, 0.0))
        } else if y.abs() < x.abs() {
            Some((y, 0.0, 1.0))
        } else {
            None
        }
    } else if (x > 0.0 && y < 0.0) || (x < 0.0 && y > 0.0) {
        Some((0.0, 0.0, 0.0))
    } else {
        None
    }
}

fn sgn(v: f64) -> i8 {
    if v > 0.0 {
        1
    } else if v < 0.0 {
        -1
    } else {
        0
    }
}

/// Weighted gradient over the tied pieces; `unresolved` when more than one piece is tied and their
/// gradients differ.
fn combine(rule: &TieRule, idx: &[usize], grads: &[Vec<f64>]) -> (f64, f64, bool) {
    let differ = grads.iter().any(|g| g != &grads[0]);
    if idx.len() == 1 || !differ {
        // one piece, or tied pieces with one gradient: every convex weighting gives it
        return (grads[0][0], grads[0][1], false);
    }
    let w = rule_weights(rule, idx, grads);
    let gx = w.iter().zip(grads).map(|(w, g)| w * g[0]).sum();
    let gy = w.iter().zip(grads).map(|(w, g)| w * g[1]).sum();
    (gx, gy, differ)
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
}
