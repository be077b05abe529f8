//! The one piece selection of a face, and the one branch-locking routine built on it.
//!
//! [`select_face`] decides the pieces of one face, either by the representation's rules (the
//! associated gradient: tie weights at a kink) or lexicographically along `k` tangent directions:
//! each switching function (the velocity `a` for the upwind side, the limiter's on the upwind side(s),
//! Godunov's for Burgers) takes the sign of the first non-zero of (its value, its derivatives along
//! the directions in order), through [`crate::primitive::lex_select_by`]. A tie that survives every
//! direction gives the whole weight to its first tied piece: the tied pieces agree along every
//! direction probed, so the result does not depend on the representation, bit for bit; it is counted
//! as unresolved when the pieces' partials differ (another choice would give another derivative).
//!
//! [`lock_faces`] applies the lexicographic selection to the kink faces of one step from the tangents
//! of the state (and of the velocity) along the directions. Every path that locks pieces calls it:
//! the tape's step op ([`super::tape_op`]), the locked stepper ([`super::stepper::LockedStepper`]), the
//! piece tape and the time-loop op ([`super::piece_tape`], [`super::loop_op`]).

use super::face::{flux, jumps, partials, Neg, Pos, Side, Slope};
use super::limiter::{first_piece, Limiter};
use super::rules::Rules;
use crate::primitive::godunov::Godunov;
use crate::primitive::upwind::Upwind;
use crate::primitive::{active, lex_select_by, tie_weights, Piecewise};

/// How the pieces of a face are decided.
#[derive(Clone, Copy)]
pub(crate) enum Decide<'a> {
    /// The representation's rules (associated gradient).
    Rule,
    /// Lexicographically along `k` directions; `dir(c)` gives the tangents of
    /// `(a_j, u_{j-1}, u_j, u_{j+1}, u_{j+2})` along direction `c`.
    Lex { k: usize, dir: &'a dyn Fn(usize) -> [f64; 5] },
}

/// The selected pieces of a face and what they imply.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FaceSel {
    /// The flux.
    pub flux: f64,
    /// Its partials `(dF/da, dF/du_{j-1}, dF/du_j, dF/du_{j+1}, dF/du_{j+2})`.
    pub c: [f64; 5],
    /// The upwind side's slope code (the limiter's selected pieces; one piece after locking).
    pub code: u8,
    /// The upwind side's limiter partials `(dB/dx, dB/dy)` for those pieces.
    pub gx: f64,
    /// See [`Self::gx`].
    pub gy: f64,
    /// Kinks met at this face (limiter evaluations on a switching surface, `a = 0`, Godunov ties).
    pub kinks: u32,
    /// Ties that survived every direction with differing partials.
    pub unresolved: u32,
}

/// A slope evaluated on one side: value, the selected pieces' partials, their code.
#[derive(Clone, Copy)]
struct SlopeSel {
    b: f64,
    gx: f64,
    gy: f64,
    code: u8,
    kink: bool,
    unresolved: bool,
}

/// The slope on side `S` at the window `w`.
fn slope_sel<S: Side>(rules: &Rules, slope: Slope, w: &[f64; 4], decide: Decide) -> SlopeSel {
    let (x, y) = jumps::<S>(w[0], w[1], w[2], w[3]);
    let plain = |b: f64, gx: f64| SlopeSel { b, gx, gy: 0.0, code: 1, kink: false, unresolved: false };
    // the tangents of (x, y) along direction c
    let dirs = |c: usize, t: &mut [f64]| {
        if let Decide::Lex { dir, .. } = decide {
            let d = dir(c);
            let (dx, dy) = jumps::<S>(d[1], d[2], d[3], d[4]);
            t[0] = dx;
            t[1] = dy;
        }
    };
    let k = match decide {
        Decide::Rule => 0,
        Decide::Lex { k, .. } => k,
    };
    match slope {
        Slope::Zero => plain(0.0, 0.0),
        Slope::Unlimited => plain(x, 1.0),
        Slope::Limited(Limiter::VanLeer) => {
            let e = Limiter::VanLeer.select(x, y, k, dirs, &rules.limiter);
            SlopeSel { b: e.value, gx: e.gx, gy: e.gy, code: 0, kink: e.kink, unresolved: e.unresolved }
        }
        Slope::Limited(l) => {
            let p = l.piecewise().expect("an affine limiter");
            let b = l.value(x, y);
            let tied = active(p, &[x, y]);
            let kink = tied.count_ones() > 1;
            let (code, unresolved) =
                if kink && k > 0 { first_piece(p, lex_select_by(p, &[x, y], k, dirs)) } else { (tied, false) };
            let t = &rules.table;
            SlopeSel { b, gx: t.gx[code as usize], gy: t.gy[code as usize], code: code as u8, kink, unresolved }
        }
    }
}

/// Decide the pieces of face `j` with velocity `a` (`0` for Burgers) at the window `w`.
pub(crate) fn select_face(rules: &Rules, a: f64, lambda: f64, w: &[f64; 4], decide: Decide) -> FaceSel {
    let Some(slope) = rules.slope else {
        return select_burgers(rules, w, decide);
    };
    let mut sel = FaceSel::default();
    let none = SlopeSel { b: 0.0, gx: 0.0, gy: 0.0, code: 0, kink: false, unresolved: false };
    let left = if a >= 0.0 { slope_sel::<Pos>(rules, slope, w, decide) } else { none };
    let right = if a <= 0.0 { slope_sel::<Neg>(rules, slope, w, decide) } else { none };
    sel.kinks = left.kink as u32 + right.kink as u32;
    let (wp, wm) = if a > 0.0 {
        sel.flux = flux::<Pos>(a, lambda, w[1], w[2], left.b);
        (sel.code, sel.gx, sel.gy) = (left.code, left.gx, left.gy);
        (1.0, 0.0)
    } else if a < 0.0 {
        sel.flux = flux::<Neg>(a, lambda, w[1], w[2], right.b);
        (sel.code, sel.gx, sel.gy) = (right.code, right.gx, right.gy);
        (0.0, 1.0)
    } else {
        // a = 0: the upwind flux's pieces tie, with the reconstructed face states as u_l, u_r
        sel.kinks += 1;
        let x = [a, w[1] + 0.5 * left.b, w[2] - 0.5 * right.b];
        match decide {
            Decide::Rule => {
                let mut wt = [0.0; 2];
                tie_weights(&Upwind, &x, 0b11, &rules.flux, &mut wt);
                (wt[0], wt[1])
            }
            Decide::Lex { k, dir } => {
                let m = lex_select_by(&Upwind, &x, k, |c, t| t.copy_from_slice(&[dir(c)[0], 0.0, 0.0]));
                let first = m & m.wrapping_neg();
                if m != first && x[1] != x[2] {
                    sel.unresolved += 1;
                }
                if first == 1 {
                    (1.0, 0.0)
                } else {
                    (0.0, 1.0)
                }
            }
        }
    };
    // a surviving tie counts where its side carries weight (at a = 0 the other side's does not)
    sel.unresolved += (wp != 0.0 && left.unresolved) as u32 + (wm != 0.0 && right.unresolved) as u32;
    if wp != 0.0 {
        let p = partials::<Pos>(a, lambda, w, left.b, left.gx, left.gy);
        sel.c.iter_mut().zip(p).for_each(|(c, v)| *c += wp * v);
    }
    if wm != 0.0 {
        let p = partials::<Neg>(a, lambda, w, right.b, right.gx, right.gy);
        sel.c.iter_mut().zip(p).for_each(|(c, v)| *c += wm * v);
    }
    sel
}

fn select_burgers(rules: &Rules, w: &[f64; 4], decide: Decide) -> FaceSel {
    let x = [w[1], w[2]];
    let mut sel = FaceSel { flux: Godunov::value(x[0], x[1]), ..FaceSel::default() };
    let tied = active(&Godunov, &x);
    let mut wt = [0.0; 3];
    if tied.count_ones() > 1 {
        sel.kinks = 1;
        match decide {
            Decide::Rule => tie_weights(&Godunov, &x, tied, &rules.flux, &mut wt),
            Decide::Lex { k, dir } => {
                let m = lex_select_by(&Godunov, &x, k, |c, t| {
                    let d = dir(c);
                    t.copy_from_slice(&[d[2], d[3]]);
                });
                let first = m & m.wrapping_neg();
                let g = |q: usize| {
                    let mut g = [0.0; 2];
                    Godunov.piece_partials(q, &x, &mut g);
                    g
                };
                let g0 = g(first.trailing_zeros() as usize);
                if (0..3).filter(|q| m >> q & 1 == 1).any(|q| g(q) != g0) {
                    sel.unresolved = 1;
                }
                wt[first.trailing_zeros() as usize] = 1.0;
            }
        }
    } else {
        wt[tied.trailing_zeros() as usize] = 1.0;
    }
    for (q, &wq) in wt.iter().enumerate() {
        if wq != 0.0 {
            let mut g = [0.0; 2];
            Godunov.piece_partials(q, &x, &mut g);
            sel.c[2] += wq * g[0];
            sel.c[3] += wq * g[1];
        }
    }
    sel
}

/// Tangents along `k` directions, direction-major: `t[c * len + i]`.
#[derive(Clone, Copy)]
pub(crate) struct Tangents<'a> {
    /// Of the state (`k n` values; empty: zero).
    pub u: &'a [f64],
    /// Of the velocity (`k` or `k n` values; empty: zero).
    pub a: &'a [f64],
    /// Number of directions.
    pub k: usize,
}

/// The branch-locking routine: decide the pieces of the kink faces `faces` of one step (state `u`,
/// velocity `a`: one value or one per face, empty for Burgers) lexicographically along the tangents,
/// calling `emit(j, &sel)` for each. Returns the number of unresolved ties.
pub(crate) fn lock_faces(
    rules: &Rules,
    lambda: f64,
    u: &[f64],
    a: &[f64],
    faces: impl Iterator<Item = usize>,
    tan: Tangents,
    mut emit: impl FnMut(usize, &FaceSel),
) -> usize {
    let n = u.len();
    let a_len = a.len();
    let mut unresolved = 0;
    for j in faces {
        // periodic neighbours without a division (a grid has at least 3 cells: j + 2 < 2 n)
        let wrap = |i: usize| if i >= n { i - n } else { i };
        let idx = [if j == 0 { n - 1 } else { j - 1 }, j, wrap(j + 1), wrap(j + 2)];
        let w = idx.map(|i| u[i]);
        let aj = match a_len {
            0 => 0.0,
            1 => a[0],
            _ => a[j],
        };
        let dir = |c: usize| {
            let at = if tan.a.is_empty() {
                0.0
            } else if a_len == 1 {
                tan.a[c]
            } else {
                tan.a[c * n + j]
            };
            let ut = |i: usize| if tan.u.is_empty() { 0.0 } else { tan.u[c * n + i] };
            [at, ut(idx[0]), ut(idx[1]), ut(idx[2]), ut(idx[3])]
        };
        let sel = select_face(rules, aj, lambda, &w, Decide::Lex { k: tan.k, dir: &dir });
        unresolved += sel.unresolved as usize;
        emit(j, &sel);
    }
    unresolved
}

/// A code naming more than one piece: a kink.
#[inline(always)]
pub(crate) fn is_kink_code(c: u8) -> bool {
    c & c.wrapping_sub(1) != 0
}
