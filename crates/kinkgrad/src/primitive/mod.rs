//! Non-smooth primitives, each declared in one place.
//!
//! An element-wise primitive implements [`Piecewise`]: its **pieces** (affine functions of its
//! arguments), its **switching functions** (affine; their signs choose the piece), each piece's
//! partial derivatives, and its kink rule. Everything else is generic and shared:
//! the forward pass with kink counting, the associated gradient (`assoc`), the lexicographic
//! selection (`lex`, `safe`), and the tests driven by [`registry`]. Max-like reductions over windows
//! (n-ary max, max along an axis, max-pooling) share one op in [`window`].
//!
//! Adding a primitive: one file with its `Piecewise` impl (and its [`Signature`] and
//! [`Family`]) and `Var` method, its `mod` line here, one line in [`registry`]. Its name in
//! expressions ([`functions`]), its row in the presets and the conventions table, and the generic
//! tests follow from the registry.

pub mod abs;
pub mod cases;
pub mod clamp;
mod elementwise;
pub mod flux;
pub mod functions;
pub mod godunov;
pub mod leaky;
pub mod maxmin;
pub mod mc;
pub mod minmod;
pub mod pool;
pub mod registry;
pub mod relu;
pub mod softshrink;
pub mod sort;
pub mod superbee;
pub mod upwind;
pub mod window;
mod window_grid;
mod window_scan;
mod window_scan16;
mod window_scan_grid;

pub use elementwise::apply;

use crate::error::{Error, Result};
use crate::repr::{Family, Representation, TieRule};

/// At most this many pieces per element-wise primitive (tied sets are bit masks).
pub const MAX_PIECES: usize = 8;
/// At most this many arguments.
pub const MAX_ARITY: usize = 4;
/// At most this many switching functions.
pub const MAX_SWITCHES: usize = 8;

/// A constant parameter of a primitive (leaky_relu's slope), passed after its arguments.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Param {
    /// Its name in messages and signatures (`slope`).
    pub name: &'static str,
    /// The closed interval it must lie in (infinite ends allowed).
    pub range: (f64, f64),
    /// A value for generated tests: dyadic, so that piece values at dyadic points are exact.
    pub sample: f64,
}

impl Param {
    /// `"any finite number"`, `">= 0"`, `"in [0, 1]"`.
    pub fn describe_range(&self) -> String {
        match self.range {
            (lo, hi) if lo == f64::NEG_INFINITY && hi == f64::INFINITY => "any finite number".into(),
            (lo, hi) if hi == f64::INFINITY => format!(">= {lo}"),
            (lo, hi) if lo == f64::NEG_INFINITY => format!("<= {hi}"),
            (lo, hi) => format!("in [{lo}, {hi}]"),
        }
    }
}

/// How a primitive is called by name (the expression language of `kinkgrad grad`, generated tests).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Signature {
    /// Names of the variable arguments, [`Piecewise::arity`] of them.
    pub args: &'static [&'static str],
    /// Constant parameters, passed after the arguments ([`Piecewise::with_params`] builds with them).
    pub params: &'static [Param],
    /// One line: what the primitive computes (empty: the function registry lists its pieces).
    pub doc: &'static str,
    /// Pairs `(i, j)`: the primitive is meant for `x_i <= x_j` only (clamp's `lo <= hi`).
    pub ordered: &'static [(usize, usize)],
}

static DEFAULT_ARGS: [&str; MAX_ARITY] = ["x", "y", "z", "w"];

/// Check constant parameters against their declarations (number, finiteness, range).
pub fn check_params(name: &str, decl: &[Param], values: &[f64]) -> Result<()> {
    if values.len() != decl.len() {
        return Err(Error::invalid(name, format!("takes {} constant parameters, got {}", decl.len(), values.len())));
    }
    for (p, &v) in decl.iter().zip(values) {
        if !v.is_finite() || v < p.range.0 || v > p.range.1 {
            return Err(Error::invalid(name, format!("the {} must be {}, got {v}", p.name, p.describe_range())));
        }
    }
    Ok(())
}

/// A piecewise-affine element-wise primitive: `f(x) = f_p(x)` where the piece `p` is chosen by the
/// signs of the switching functions `s_i(x)`.
pub trait Piecewise: Send + Sync + 'static {
    /// Name in kink logs.
    fn name(&self) -> &'static str;
    /// Number of arguments.
    fn arity(&self) -> usize;
    /// Names of the pieces, in the order tie rules `first`/`last` use.
    fn pieces(&self) -> &'static [&'static str];
    /// Number of switching functions.
    fn switches(&self) -> usize;
    /// The switching functions at `x` (affine in `x`).
    fn switching(&self, x: &[f64], s: &mut [f64]);
    /// Their linear parts applied to a tangent `t` (their directional derivatives along `t`).
    fn switching_linear(&self, t: &[f64], ds: &mut [f64]);
    /// The pieces consistent with the given signs (-1, 0, +1), as a bit mask; a zero sign leaves both
    /// sides of that switching surface open, so more than one bit means a kink.
    fn select(&self, signs: &[i8]) -> u32;
    /// The value of piece `p` at `x`.
    fn piece_value(&self, p: usize, x: &[f64]) -> f64;
    /// The partial derivatives of piece `p` at `x`: constant for a piecewise-affine primitive (every
    /// one the generic element-wise op records); they depend on `x` for a piecewise-smooth one (the
    /// Godunov flux of Burgers' equation).
    fn piece_partials(&self, p: usize, x: &[f64], out: &mut [f64]);
    /// True (the default) when every piece is affine, so its partials are the same everywhere and the
    /// generic element-wise op reads them once; false for a piecewise-smooth primitive whose partials
    /// depend on the point (the upwind flux `a u_l`, Godunov's `u^2/2`): the op then keeps each
    /// element's arguments and weighs its ties at the point with [`tie_weights`].
    fn affine(&self) -> bool {
        true
    }
    /// Weights (summing to 1) of the tied pieces `tied` under the representation; `out[p]` for each
    /// piece. The default applies the tie rule of [`Piecewise::tie_rule`] to the partials at the
    /// origin, which is exact for piecewise-affine primitives; a primitive whose partials depend on
    /// `x` is weighted at its point with [`tie_weights`].
    fn kink_weights(&self, tied: u32, rep: &Representation, out: &mut [f64]) {
        tie_weights(self, &[0.0; MAX_ARITY][..self.arity()], tied, &self.tie_rule(rep), out)
    }
    /// True for a one-argument primitive with two pieces and the single switching function `s = x`
    /// (piece 0 for `x < 0`, piece 1 for `x > 0`, both at 0): relu, leaky relu, abs. Such primitives
    /// take a vectorised forward path; the generic tests check it against the declaration.
    fn sign_of_argument(&self) -> bool {
        false
    }
    /// The family of kinks this primitive belongs to: the key of its rule in a [`Representation`],
    /// with its minimum-norm rule and the frameworks' conventions.
    fn family(&self) -> &'static Family;
    /// The tie rule that applies to this primitive's kinks (the representation's rule for its
    /// family, unless the call fixed one).
    fn tie_rule(&self, rep: &Representation) -> TieRule {
        rep.ties(self.family())
    }
    /// How it is called by name: argument names, constant parameters, doc, domain. The default:
    /// arguments `x, y, ...`, no parameters, no doc.
    fn signature(&self) -> Signature {
        Signature { args: &DEFAULT_ARGS[..self.arity().min(MAX_ARITY)], params: &[], doc: "", ordered: &[] }
    }
    /// The same primitive with the constant parameters `params` (checked against
    /// [`Signature::params`]). The default refuses: the primitive has none.
    fn with_params(&self, params: &[f64]) -> Result<Box<dyn Piecewise>> {
        Err(Error::invalid(self.name(), format!("takes no constant parameters, got {}", params.len())))
    }
}

/// A boxed primitive (as returned by [`registry::all`]) is a primitive: every method forwards, so
/// `apply(boxed, args)` records it on a tape exactly like the concrete type.
impl Piecewise for Box<dyn Piecewise> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn arity(&self) -> usize {
        (**self).arity()
    }
    fn pieces(&self) -> &'static [&'static str] {
        (**self).pieces()
    }
    fn switches(&self) -> usize {
        (**self).switches()
    }
    fn switching(&self, x: &[f64], s: &mut [f64]) {
        (**self).switching(x, s)
    }
    fn switching_linear(&self, t: &[f64], ds: &mut [f64]) {
        (**self).switching_linear(t, ds)
    }
    fn select(&self, signs: &[i8]) -> u32 {
        (**self).select(signs)
    }
    fn piece_value(&self, p: usize, x: &[f64]) -> f64 {
        (**self).piece_value(p, x)
    }
    fn piece_partials(&self, p: usize, x: &[f64], out: &mut [f64]) {
        (**self).piece_partials(p, x, out)
    }
    fn affine(&self) -> bool {
        (**self).affine()
    }
    fn kink_weights(&self, tied: u32, rep: &Representation, out: &mut [f64]) {
        (**self).kink_weights(tied, rep, out)
    }
    fn sign_of_argument(&self) -> bool {
        (**self).sign_of_argument()
    }
    fn family(&self) -> &'static Family {
        (**self).family()
    }
    fn tie_rule(&self, rep: &Representation) -> TieRule {
        (**self).tie_rule(rep)
    }
    fn signature(&self) -> Signature {
        (**self).signature()
    }
    fn with_params(&self, params: &[f64]) -> Result<Box<dyn Piecewise>> {
        (**self).with_params(params)
    }
}

/// Sign with `-0.0` treated as zero (a kink is exact equality).
pub(crate) fn sign(v: f64) -> i8 {
    if v > 0.0 {
        1
    } else if v < 0.0 {
        -1
    } else {
        0
    }
}

/// The active pieces at `x`.
pub fn active<P: Piecewise + ?Sized>(p: &P, x: &[f64]) -> u32 {
    let mut s = [0.0; MAX_SWITCHES];
    let n = p.switches();
    p.switching(x, &mut s[..n]);
    let mut sg = [0i8; MAX_SWITCHES];
    for i in 0..n {
        sg[i] = sign(s[i]);
    }
    p.select(&sg[..n])
}

/// Value of the primitive at `x` (any active piece: they agree on kinks).
pub fn value<P: Piecewise + ?Sized>(p: &P, x: &[f64]) -> f64 {
    p.piece_value(active(p, x).trailing_zeros() as usize, x)
}

/// Lexicographic selection: the pieces active along the directions `t[c]` (each of length arity),
/// narrowing the tie at `x` one direction at a time.
pub fn lex_select<P: Piecewise + ?Sized>(p: &P, x: &[f64], dirs: &[&[f64]]) -> u32 {
    lex_select_by(p, x, dirs.len(), |c, t| t.copy_from_slice(dirs[c]))
}

/// [`lex_select`] with `k` directions written on demand: `dir(c, t)` fills `t` (length arity) with
/// direction `c`. Directions after the one that resolves the tie are not asked for.
pub fn lex_select_by<P: Piecewise + ?Sized>(p: &P, x: &[f64], k: usize, mut dir: impl FnMut(usize, &mut [f64])) -> u32 {
    let n = p.switches();
    let mut s = [0.0; MAX_SWITCHES];
    p.switching(x, &mut s[..n]);
    let mut sg = [0i8; MAX_SWITCHES];
    for i in 0..n {
        sg[i] = sign(s[i]);
    }
    let mut mask = p.select(&sg[..n]);
    let mut t = [0.0; MAX_ARITY];
    for c in 0..k {
        if mask.count_ones() <= 1 {
            break;
        }
        let t = &mut t[..p.arity()];
        dir(c, t);
        let mut ds = [0.0; MAX_SWITCHES];
        p.switching_linear(t, &mut ds[..n]);
        for i in 0..n {
            if sg[i] == 0 {
                sg[i] = sign(ds[i]);
            }
        }
        mask = p.select(&sg[..n]);
    }
    mask
}

/// Weights (summing to 1) of a tie rule over the tied pieces of `p` at `x` (bits of `tied`), one per
/// piece in `out` (0 off the tied set): [`rule_weights`] applied to the tied pieces' partials at `x`.
pub fn tie_weights<P: Piecewise + ?Sized>(p: &P, x: &[f64], tied: u32, rule: &TieRule, out: &mut [f64]) {
    out.iter_mut().for_each(|w| *w = 0.0);
    let idx: Vec<usize> = (0..p.pieces().len()).filter(|i| tied >> i & 1 == 1).collect();
    if idx.is_empty() {
        return;
    }
    let a = p.arity();
    let pts: Vec<Vec<f64>> = idx
        .iter()
        .map(|&q| {
            let mut g = vec![0.0; a];
            p.piece_partials(q, x, &mut g);
            g
        })
        .collect();
    for (k, w) in rule_weights(rule, &idx, &pts).into_iter().enumerate() {
        out[idx[k]] = w;
    }
}

/// The one tie-weight function: convex weights of `rule` over tied pieces (their indices `idx` in
/// declared order, their partials `grads`). [`TieRule::MinNorm`] takes the minimum-norm point of the
/// convex hull of the partials, the other rules their own weights. When the partials are all equal
/// every rule gives the same derivative, and the first tied piece gets the whole weight (no rounding
/// from splitting equal values). Every offered rule's weights sum to 1 (admissible); `beta:`/`signed:`
/// may be negative (not convex, not minimum-norm: see [`TieRule::Beta`]).
pub fn rule_weights(rule: &TieRule, idx: &[usize], grads: &[Vec<f64>]) -> Vec<f64> {
    if grads.iter().all(|g| g == &grads[0]) {
        let mut w = vec![0.0; grads.len()];
        w[0] = 1.0;
        return w;
    }
    if let TieRule::MinNorm = rule {
        return min_norm_weights(grads);
    }
    let mut w = Vec::new();
    rule.weights(idx, &mut w);
    w
}

/// Barycentric weights of the minimum-norm point of the convex hull of `pts` (few points, exact by
/// enumerating faces). Ties between faces are broken towards the larger face (the even split).
pub fn min_norm_weights(pts: &[Vec<f64>]) -> Vec<f64> {
    let m = pts.len();
    let mut best: Option<(f64, Vec<f64>)> = None;
    for subset in 1u32..(1 << m) {
        let idx: Vec<usize> = (0..m).filter(|i| subset >> i & 1 == 1).collect();
        let Some(lam) = affine_min_norm(pts, &idx) else { continue };
        if lam.iter().any(|&l| l < -1e-12) {
            continue;
        }
        let dim = pts[0].len();
        let norm: f64 = (0..dim).map(|d| idx.iter().zip(&lam).map(|(&i, l)| l * pts[i][d]).sum::<f64>().powi(2)).sum();
        let better = match &best {
            None => true,
            Some((bn, bw)) => {
                norm < bn - 1e-12 || (norm <= bn + 1e-12 && idx.len() > bw.iter().filter(|w| **w > 0.0).count())
            }
        };
        if better {
            let mut w = vec![0.0; m];
            for (k, &i) in idx.iter().enumerate() {
                w[i] = lam[k].max(0.0);
            }
            let s: f64 = w.iter().sum();
            w.iter_mut().for_each(|v| *v /= s);
            best = Some((norm, w));
        }
    }
    best.map(|b| b.1).unwrap_or_else(|| vec![1.0 / m as f64; m])
}

/// Minimum-norm point of the affine hull of the points `idx`: weights summing to 1.
fn affine_min_norm(pts: &[Vec<f64>], idx: &[usize]) -> Option<Vec<f64>> {
    let k = idx.len();
    if k == 1 {
        return Some(vec![1.0]);
    }
    // KKT: [G 1; 1^T 0] [l; mu] = [0; 1], G the Gram matrix.
    let n = k + 1;
    let mut a = vec![vec![0.0; n + 1]; n];
    for i in 0..k {
        for j in 0..k {
            a[i][j] = pts[idx[i]].iter().zip(&pts[idx[j]]).map(|(x, y)| x * y).sum();
        }
        a[i][k] = 1.0;
        a[k][i] = 1.0;
    }
    a[k][n] = 1.0;
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() < 1e-14 {
            return None;
        }
        a.swap(c, p);
        for r in 0..n {
            if r != c {
                let f = a[r][c] / a[c][c];
                for q in c..=n {
                    a[r][q] -= f * a[c][q];
                }
            }
        }
    }
    Some((0..k).map(|i| a[i][n] / a[i][i]).collect())
}

/// The check every fast limiter kernel passes: on every pair of arguments drawn from signed zeros,
/// subnormals and normal numbers and their multiples by 2, 3 and 1/2 (so that every switching surface
/// `x = y`, `2x = y`, `3x = y`, ... is hit exactly, on both signs), the kernel's tied set is the
/// declared [`active`] set and its value equals the declared value and every tied piece's value
/// (`==`: a tie between the pieces `x` and `0` at `x = -0.0` may give either zero).
#[cfg(test)]
pub(crate) mod fast_kernel_tests {
    use super::{active, value, Piecewise};

    pub(crate) fn assert_fast_equals_declared(p: &dyn Piecewise, fast: impl Fn(f64, f64) -> (f64, u32)) {
        let mut vals = vec![0.0, -0.0];
        for b in [5e-324, 1e-310, 0.5, 1.0, 1.5, 3.0] {
            for m in [1.0, 2.0, 3.0, 0.5] {
                vals.push(b * m);
                vals.push(-b * m);
            }
        }
        let mut kinks = 0;
        for &x in &vals {
            for &y in &vals {
                let (v, mask) = fast(x, y);
                assert_eq!(mask, active(p, &[x, y]), "{}: tied set at ({x:e}, {y:e})", p.name());
                assert!(v == value(p, &[x, y]), "{}: value at ({x:e}, {y:e}): {v:e}", p.name());
                for q in (0..p.pieces().len()).filter(|q| mask >> q & 1 == 1) {
                    assert!(v == p.piece_value(q, &[x, y]), "{}: piece {q} at ({x:e}, {y:e})", p.name());
                }
                kinks += (mask.count_ones() > 1) as usize;
            }
        }
        // the grid must put many pairs on switching surfaces, or the check would be vacuous
        assert!(kinks > vals.len(), "{}: only {kinks} kinks on the grid", p.name());
    }
}
