//! Finite-volume schemes on a periodic grid, each time step one fused, differentiable op.
//!
//! # The update
//! Conservative form with an optional source `s` (constant in time):
//! `u_j^{n+1} = u_j - lambda (F_{j+1/2} - F_{j-1/2}) + dt s_j`, `lambda = dt / dx`. Face `j` is
//! `x_{j+1/2}`, between cells `j` and `j + 1`; its flux reads `u_{j-1}, u_j, u_{j+1}, u_{j+2}`.
//! Mass `sum_j u_j dx` changes only by `dt sum_j s_j dx` (telescoping: conserved to round-off).
//!
//! # Linear transport `u_t + (a u)_x = 0`
//! The velocity is one constant or one value per face (`a_j` at `x_{j+1/2}`; it may change sign,
//! so the upwind side switches from face to face). With `nu = |a| lambda` the flux is the talk's upwind
//! flux `F(a, u_l, u_r) = R(a) u_l - R(-a) u_r` applied to reconstructed states:
//!
//! ```text
//! F = R(a) (u_j     + (1 - nu)/2 sigma_L)  -  R(-a) (u_{j+1} - (1 - nu)/2 sigma_R)
//! sigma_L = B(u_{j+1} - u_j, u_j - u_{j-1})        slope of cell j   (upwind when a > 0)
//! sigma_R = B(u_{j+1} - u_j, u_{j+2} - u_{j+1})    slope of cell j+1 (upwind when a < 0)
//! ```
//!
//! `B = 0` is first-order upwind; `B(x, y) = x` is the unlimited Lax-Wendroff scheme (its flux is
//! `a (u_j + u_{j+1})/2 - a^2 lambda (u_{j+1} - u_j)/2` for either sign of `a`); a [`Limiter`] gives
//! the limited (TVD for `nu <= 1`) Lax-Wendroff scheme.
//!
//! **The `a < 0` branch of the talk's slide.** The slide writes, for `a < 0`,
//! `u_{j+1/2} = u_{j+1} + (1 - nu)/2 minmod(u_{j+1} - u_j, u_j - u_{j-1})`. Deriving it from
//! Lax-Wendroff (`F = a (u_j + u_{j+1})/2 - a^2 lambda (u_{j+1} - u_j)/2`, and for `a < 0`
//! `a/2 + a^2 lambda/2 = a (1 - nu)/2`) gives
//! `u_{j+1/2} = u_{j+1} - (1 - nu)/2 (u_{j+1} - u_j)`: the correction has a **minus** sign (one
//! reconstructs cell `j+1`'s value half a cell to its left), and its limited slope is that of the
//! upwind cell `j + 1`, `minmod(u_{j+1} - u_j, u_{j+2} - u_{j+1})`, not cell `j`'s. Both are typos
//! on the slide: with the slide's sign the scheme is not consistent with Lax-Wendroff (it equals
//! `u_{j+1} + (1 - nu)/2 (u_{j+1} - u_j)` on smooth data, first order with a wrong sign of the
//! correction) and it is not the mirror image of the `a > 0` branch. The test
//! `negative_velocity_is_the_mirror_image` checks the mirror symmetry of the formula used here, and
//! `slide_formula_for_negative_velocity_is_inconsistent` that the slide's version is not.
//!
//! # Burgers `u_t + (u^2/2)_x = 0`, Godunov flux
//! The exact Riemann solution at the face gives `F(u_l, u_r) = max(f(max(u_l, 0)), f(min(u_r, 0)))`,
//! `f(u) = u^2/2`: pieces `u_l^2/2` (L), `u_r^2/2` (R), `0` (Z); switching functions `u_l`, `u_r`,
//! `u_l + u_r` (a stationary shock `u_l = -u_r > 0` ties L and R).
//!
//! # Kinks and representations
//! Kinks counted per step (exact floating-point equality, `-0.0` is 0): every limiter evaluation on
//! a switching surface (a slope exactly 0, equal slopes, ...), every face with `a = 0` exactly (the
//! pieces `a > 0` and `a < 0` of the flux tie; they have the same value 0 and the same
//! `u`-derivatives 0 but `dF/da` is `u_j + sigma_L/2` on one and `u_{j+1} - sigma_R/2` on the other),
//! and every Burgers face on a switching surface. Limiter ties follow
//! the representation's rule for the family `limiter`, flux ties (`a = 0`, Burgers) that for `flux`, over the
//! pieces in the order (left, right[, zero]). Every rule gives convex weights over the tied pieces
//! (admissible). The lexicographic rule (modes `lex`, `safe`) decides each switching function by the
//! sign of the first non-zero of (its value, its derivatives along the tangent directions in order).
//!
//! # Two differentiation paths, same numbers
//! [`Transport::step_var`] records one fused op per step on a [`Tape`] (VJP, JVP with
//! lexicographic locking, kink log: all modes work). Its VJP records linear ops built from the
//! step's per-face derivative coefficients ([`Linearization`]), so gradients of gradients see the
//! adjoint's dependence on the cotangent; the coefficients themselves are constants there (their
//! dependence on `u` and `a` is not differentiated: exact for the `u`-part of the linear schemes,
//! whose pieces are linear in `u`). [`TransportStepper`] implements the checkpoint [`Stepper`] with
//! a hand-written adjoint on the same per-face coefficients (no tape; for a constant velocity fused
//! into one pass without materialising the [`Linearization`]), for long runs; the test
//! `stepper_adjoint_equals_tape_vjp_and_checkpoints_are_bitwise` (tests/transport.rs) checks that they
//! give equal numbers.

use super::checkpoint::{self, RunStats, Schedule, Stepper};
use super::grid::{check_cfl, Grid};
use super::limiter::{rule_weights, Limiter, RuledLimiter};
use super::piece_tape::{self, Pieces};
use crate::error::{Error, Result};
use crate::primitive::{flux::FLUX, minmod::LIMITER};
use crate::repr::Representation;
use crate::reverse::{JvpCx, Op, OpCx, Tape, Var};
use crate::scalar::Real;
use crate::tensor::Tensor;
use std::sync::Arc;

/// A finite-volume scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// First-order upwind for linear transport (the talk's flux).
    Upwind,
    /// Unlimited Lax-Wendroff for linear transport (second order, oscillates at discontinuities).
    LaxWendroff,
    /// Lax-Wendroff with a slope limiter for linear transport (TVD for Courant numbers up to 1).
    Limited(Limiter),
    /// Godunov's scheme for Burgers' equation with the exact Riemann flux.
    BurgersGodunov,
}

impl std::str::FromStr for Scheme {
    type Err = Error;
    /// `upwind`, `lw`, `lw-minmod`, `lw-superbee`, `lw-mc`, `lw-vanleer`, `burgers-godunov`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "upwind" => Ok(Scheme::Upwind),
            "lw" => Ok(Scheme::LaxWendroff),
            "burgers-godunov" | "burgers" => Ok(Scheme::BurgersGodunov),
            _ => match s.strip_prefix("lw-") {
                Some(l) => Ok(Scheme::Limited(l.parse()?)),
                None => Err(Error::invalid(
                    "scheme",
                    format!("'{s}', expected upwind, lw, lw-minmod, lw-superbee, lw-mc, lw-vanleer or burgers-godunov"),
                )),
            },
        }
    }
}

impl Scheme {
    /// The name used on the command line and in kink logs.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Upwind => "upwind",
            Scheme::LaxWendroff => "lw",
            Scheme::Limited(Limiter::Minmod) => "lw-minmod",
            Scheme::Limited(Limiter::Superbee) => "lw-superbee",
            Scheme::Limited(Limiter::Mc) => "lw-mc",
            Scheme::Limited(Limiter::VanLeer) => "lw-vanleer",
            Scheme::BurgersGodunov => "burgers-godunov",
        }
    }
    /// Largest stable Courant number (1 for all of these explicit schemes).
    pub fn cfl_bound(self) -> f64 {
        1.0
    }
    /// True for the linear-transport schemes (they take a velocity).
    pub fn is_linear(self) -> bool {
        !matches!(self, Scheme::BurgersGodunov)
    }
}

/// Per-face derivative coefficients of one step: `dF_j/da_j` and `dF_j/du_{j-1..j+2}`. The step's
/// Jacobian is `d u^{n+1}_j = d u_j - lambda (dF_j - dF_{j-1}) + dt d s_j`.
#[derive(Clone, Debug, Default)]
pub struct Linearization {
    /// Number of cells.
    pub n: usize,
    /// `dt / dx`.
    pub lambda: f64,
    /// Length of the velocity (1 for a constant, `n` per face; 0 for Burgers).
    pub a_len: usize,
    /// `dF_j / da_j`.
    pub ca: Vec<f64>,
    /// `dF_j / du_{j-1}`.
    pub cm1: Vec<f64>,
    /// `dF_j / du_j`.
    pub c0: Vec<f64>,
    /// `dF_j / du_{j+1}`.
    pub cp1: Vec<f64>,
    /// `dF_j / du_{j+2}`.
    pub cp2: Vec<f64>,
    /// Scratch: kink flag per face.
    flags: Vec<f64>,
}

impl Linearization {
    fn resize(&mut self, n: usize, lambda: f64, a_len: usize) {
        self.n = n;
        self.lambda = lambda;
        self.a_len = a_len;
        for v in [&mut self.ca, &mut self.cm1, &mut self.c0, &mut self.cp1, &mut self.cp2] {
            v.resize(n, 0.0);
        }
    }
    fn set(&mut self, j: usize, c: &[f64; 5]) {
        self.ca[j] = c[0];
        self.cm1[j] = c[1];
        self.c0[j] = c[2];
        self.cp1[j] = c[3];
        self.cp2[j] = c[4];
    }
    /// Tangent of the update from a tangent `h` of `u`: `h_j - lambda (dF_j - dF_{j-1})`.
    pub fn tan_u(&self, h: &[f64], out: &mut [f64]) {
        let n = self.n;
        let df = |j: usize, hm: f64, h0: f64, hp: f64, hpp: f64| {
            self.cm1[j] * hm + self.c0[j] * h0 + self.cp1[j] * hp + self.cp2[j] * hpp
        };
        let mut prev = df(n - 1, h[n - 2], h[n - 1], h[0], h[1]);
        let first = df(0, h[n - 1], h[0], h[1], h[2]);
        out[0] = h[0] - self.lambda * (first - prev);
        prev = first;
        for j in 1..n - 2 {
            let cur = df(j, h[j - 1], h[j], h[j + 1], h[j + 2]);
            out[j] = h[j] - self.lambda * (cur - prev);
            prev = cur;
        }
        for j in n - 2..n {
            let cur = df(j, h[j - 1], h[j], h[(j + 1) % n], h[(j + 2) % n]);
            out[j] = h[j] - self.lambda * (cur - prev);
            prev = cur;
        }
    }
    /// Tangent of the update from a tangent `h` of the velocity (length `a_len`).
    pub fn tan_a(&self, h: &[f64], out: &mut [f64]) {
        let n = self.n;
        let df = |j: usize| self.ca[j] * if self.a_len == 1 { h[0] } else { h[j] };
        let mut prev = df(n - 1);
        for j in 0..n {
            let cur = df(j);
            out[j] = -self.lambda * (cur - prev);
            prev = cur;
        }
    }
    /// Face cotangents `fb_j = lambda (g_{j+1} - g_j)`.
    fn face_cotangent(&self, g: &[f64], fb: &mut Vec<f64>) {
        let n = self.n;
        fb.clear();
        fb.extend(g.windows(2).map(|w| self.lambda * (w[1] - w[0])));
        fb.push(self.lambda * (g[0] - g[n - 1]));
    }
    /// Adjoint with respect to `u`: `out = J_u^T g`.
    #[inline(always)]
    pub fn adj_u(&self, g: &[f64], out: &mut [f64], fb: &mut Vec<f64>) {
        let n = self.n;
        self.face_cotangent(g, fb);
        let fb = &fb[..];
        // gather form: u_i is read by faces i+1 (as u_{j-1}), i (u_j), i-1 (u_{j+1}), i-2 (u_{j+2})
        let term = |i: usize, ip1: usize, im1: usize, im2: usize| {
            g[i] + fb[ip1] * self.cm1[ip1] + fb[i] * self.c0[i] + fb[im1] * self.cp1[im1] + fb[im2] * self.cp2[im2]
        };
        out[0] = term(0, 1, n - 1, n - 2);
        out[1] = term(1, 2, 0, n - 1);
        out[n - 1] = term(n - 1, 0, n - 2, n - 3);
        // interior i = 2..n-1 on equal-length slices (no bounds checks; vectorises)
        let m = n - 3;
        let (o, gg) = (&mut out[2..n - 1], &g[2..n - 1]);
        let (f1, c1) = (&fb[3..n], &self.cm1[3..n]);
        let (f0, c0) = (&fb[2..n - 1], &self.c0[2..n - 1]);
        let (fm, cm) = (&fb[1..n - 2], &self.cp1[1..n - 2]);
        let (fmm, cmm) = (&fb[..m], &self.cp2[..m]);
        for k in 0..m {
            o[k] = gg[k] + f1[k] * c1[k] + f0[k] * c0[k] + fm[k] * cm[k] + fmm[k] * cmm[k];
        }
    }
    /// Adjoint with respect to the velocity: `out = J_a^T g` (length `a_len`).
    pub fn adj_a(&self, g: &[f64], out: &mut [f64], fb: &mut Vec<f64>) {
        self.face_cotangent(g, fb);
        self.adj_a_from_faces(fb, out);
    }
    /// [`Self::adj_a`] from the face cotangents `fb_j = lambda (g_{j+1} - g_j)`.
    pub fn adj_a_from_faces(&self, fb: &[f64], out: &mut [f64]) {
        if self.a_len == 1 {
            let p: Vec<f64> = fb[..self.n].iter().zip(&self.ca[..self.n]).map(|(f, c)| f * c).collect();
            out[0] = sum8(&p);
        } else {
            for j in 0..self.n {
                out[j] = fb[j] * self.ca[j];
            }
        }
    }
}

/// A sum in a fixed order (eight interleaved partial sums, then a fixed tree): deterministic, and
/// it vectorises.
fn sum8(p: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let m = p.len() / 8 * 8;
    for c in p[..m].chunks_exact(8) {
        for l in 0..8 {
            acc[l] += c[l];
        }
    }
    for j in m..p.len() {
        acc[j - m] += p[j];
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// Scratch buffers of the stepper's fused adjoint.
#[derive(Default)]
struct AdjScratch {
    fb: Vec<f64>,
    pa: Vec<f64>,
    pl: Vec<f64>,
    p0: Vec<f64>,
    pr: Vec<f64>,
    kf: Vec<f64>,
}

/// How ties are decided while linearising a face.
enum Choose<'a> {
    /// The representation's rules.
    Rule,
    /// Lexicographically along the tangents of the velocity (`da`, one per direction) and of the
    /// four cell values (`du`).
    Lex { da: &'a [f64], du: &'a [[f64; 4]] },
}

/// The representation with its limiter rule tabulated.
struct LinCtx {
    rep: Representation,
    ruled: Option<RuledLimiter>,
}

impl LinCtx {
    fn new(scheme: Scheme, rep: &Representation) -> Self {
        let ruled = match scheme {
            Scheme::Limited(l) => Some(RuledLimiter::new(l, &rep.ties(&LIMITER))),
            _ => None,
        };
        Self { rep: rep.clone(), ruled }
    }
}

/// Result of linearising one face.
struct Face {
    flux: f64,
    kinks: u32,
    unresolved: u32,
}

/// A scheme with its time step on a grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Transport {
    /// The grid.
    pub grid: Grid,
    /// The scheme.
    pub scheme: Scheme,
    /// The time step.
    pub dt: f64,
    /// Run even above the stability bound.
    pub force: bool,
}

#[inline]
fn flux_linear(a: f64, lambda: f64, u0: f64, up1: f64, sl: f64, sr: f64) -> f64 {
    if a > 0.0 {
        a * (u0 + 0.5 * (1.0 - a * lambda) * sl)
    } else if a < 0.0 {
        a * (up1 - 0.5 * (1.0 + a * lambda) * sr)
    } else {
        0.0
    }
}

#[inline]
fn flux_burgers(ul: f64, ur: f64) -> f64 {
    let l = ul.max(0.0);
    let r = ur.min(0.0);
    0.5 * (l * l).max(r * r)
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

/// Burgers' Godunov pieces consistent with the signs of (u_l, u_r, u_l + u_r): bits L, R, Z.
fn burgers_mask(sl: i8, sr: i8, ss: i8) -> u32 {
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

impl Transport {
    /// A scheme with time step `dt` (positive, finite).
    pub fn new(grid: Grid, scheme: Scheme, dt: f64) -> Result<Self> {
        if !(dt.is_finite() && dt > 0.0) {
            return Err(Error::invalid("time step", format!("{dt}: expected a positive finite number")));
        }
        Ok(Self { grid, scheme, dt, force: false })
    }
    /// The time step of Courant number `courant` for the largest speed `max_speed`; refused above
    /// the scheme's stability bound unless `force`.
    ///
    /// ```
    /// use kinkgrad::pde::{grid::Grid, scheme::{Scheme, Transport}};
    /// let g = Grid::unit(100).unwrap();
    /// let t = Transport::from_courant(g, "lw-minmod".parse().unwrap(), 1.0, 0.5, false).unwrap();
    /// assert!((t.dt - 0.005).abs() < 1e-15);
    /// assert!(Transport::from_courant(g, Scheme::Upwind, 1.0, 1.5, false).is_err());
    /// assert!(Transport::from_courant(g, Scheme::Upwind, 1.0, 1.5, true).is_ok());
    /// ```
    pub fn from_courant(grid: Grid, scheme: Scheme, max_speed: f64, courant: f64, force: bool) -> Result<Self> {
        let dt = super::grid::courant_dt(&grid, max_speed, courant)?;
        check_cfl(courant, scheme.cfl_bound(), force, scheme.name())?;
        Ok(Self { grid, scheme, dt, force })
    }
    /// `dt / dx`.
    pub fn lambda(&self) -> f64 {
        self.dt / self.grid.dx()
    }
    /// The Courant number `max|speed| dt / dx` for the speeds `v` (the velocity of linear transport,
    /// the state itself for Burgers).
    pub fn courant(&self, v: &[f64]) -> f64 {
        v.iter().fold(0.0f64, |m, x| m.max(x.abs())) * self.lambda()
    }
    /// Refuse a step whose Courant number exceeds the stability bound (unless forced).
    pub fn check_cfl(&self, v: &[f64]) -> Result<()> {
        check_cfl(self.courant(v), self.scheme.cfl_bound(), self.force, self.scheme.name())
    }
    fn check_shapes(&self, u: usize, a: Option<usize>, s: Option<usize>) -> Result<()> {
        let n = self.grid.cells;
        if u != n {
            return Err(Error::shape("transport step", format!("the state has {u} cells, the grid {n}")));
        }
        match (self.scheme.is_linear(), a) {
            (true, None) => return Err(Error::invalid("velocity", "linear transport needs a velocity")),
            (false, Some(_)) => {
                return Err(Error::invalid("velocity", "Burgers' equation carries its own speed u: give no velocity"))
            }
            (true, Some(l)) if l != 1 && l != n => {
                return Err(Error::shape(
                    "transport step",
                    format!("the velocity has {l} values: expected 1 (constant) or {n} (one per face)"),
                ))
            }
            _ => {}
        }
        if let Some(l) = s {
            if l != n {
                return Err(Error::shape("transport step", format!("the source has {l} values, the grid {n} cells")));
            }
        }
        Ok(())
    }

    /// Periodic extension `ext[i] = u[(i - 1) mod n]`, `i = 0..n+3`: face `j` reads `ext[j..j+4]`.
    pub(crate) fn extend(u: &[f64], ext: &mut Vec<f64>) {
        let n = u.len();
        ext.clear();
        ext.push(u[n - 1]);
        ext.extend_from_slice(u);
        ext.push(u[0]);
        ext.push(u[1]);
    }

    /// The flux at face `j` from `w = (u_{j-1}, u_j, u_{j+1}, u_{j+2})`: value only.
    #[inline]
    fn face_flux(&self, a: f64, w: &[f64]) -> f64 {
        let lambda = self.lambda();
        match self.scheme {
            Scheme::Upwind => flux_linear(a, lambda, w[1], w[2], 0.0, 0.0),
            Scheme::LaxWendroff => {
                let d = w[2] - w[1];
                flux_linear(a, lambda, w[1], w[2], d, d)
            }
            Scheme::Limited(l) => {
                let d = w[2] - w[1];
                let sl = if a >= 0.0 { l.value(d, w[1] - w[0]) } else { 0.0 };
                let sr = if a <= 0.0 { l.value(d, w[3] - w[2]) } else { 0.0 };
                flux_linear(a, lambda, w[1], w[2], sl, sr)
            }
            Scheme::BurgersGodunov => flux_burgers(w[1], w[2]),
        }
    }

    /// The flux at face `j` and its derivative coefficients `c = (dF/da, dF/du_{j-1..j+2})`.
    fn face_lin(&self, a: f64, w: &[f64], cx: &LinCtx, ch: &Choose, c: &mut [f64; 5]) -> Face {
        let rep = &cx.rep;
        *c = [0.0; 5];
        let lambda = self.lambda();
        let (mut kinks, mut unresolved) = (0u32, 0u32);
        if let Scheme::BurgersGodunov = self.scheme {
            let (ul, ur) = (w[1], w[2]);
            let flux = flux_burgers(ul, ur);
            let (mut sl, mut sr, mut ss) = (sgn(ul), sgn(ur), sgn(ul + ur));
            let mut mask = burgers_mask(sl, sr, ss);
            if mask.count_ones() > 1 {
                kinks += 1;
                if let Choose::Lex { du, .. } = ch {
                    for d in du.iter() {
                        if mask.count_ones() <= 1 {
                            break;
                        }
                        let (dl, dr) = (d[1], d[2]);
                        if sl == 0 {
                            sl = sgn(dl);
                        }
                        if sr == 0 {
                            sr = sgn(dr);
                        }
                        if ss == 0 {
                            ss = sgn(dl + dr);
                        }
                        mask = burgers_mask(sl, sr, ss);
                    }
                }
            }
            if mask.count_ones() == 1 {
                // one piece (no tie left): its partials, without the tie machinery
                match mask {
                    0b001 => c[2] += ul,
                    0b010 => c[3] += ur,
                    _ => {}
                }
                return Face { flux, kinks, unresolved };
            }
            let grads = [vec![ul, 0.0], vec![0.0, ur], vec![0.0, 0.0]];
            let idx: Vec<usize> = (0..3).filter(|i| mask >> i & 1 == 1).collect();
            let g: Vec<Vec<f64>> = idx.iter().map(|&i| grads[i].clone()).collect();
            if idx.len() > 1 && matches!(ch, Choose::Lex { .. }) && g.iter().any(|x| x != &g[0]) {
                unresolved += 1;
            }
            let same = g.iter().all(|x| x == &g[0]);
            let wts = if same {
                let mut w = vec![0.0; g.len()];
                w[0] = 1.0;
                w
            } else {
                rule_weights(&rep.ties(&FLUX), &idx, &g)
            };
            for (wq, gq) in wts.iter().zip(&g) {
                c[2] += wq * gq[0];
                c[3] += wq * gq[1];
            }
            return Face { flux, kinks, unresolved };
        }
        // linear transport: slopes with their gradients (gx: d/d(u_{j+1} - u_j), gy: the other jump)
        let d0 = w[2] - w[1];
        let (dm, dp) = (w[1] - w[0], w[3] - w[2]);
        let lim_rule = &rep.ties(&LIMITER);
        let mut slope = |y: f64, upwind_left: bool| -> (f64, f64, f64) {
            match self.scheme {
                Scheme::Upwind => (0.0, 0.0, 0.0),
                Scheme::LaxWendroff => (d0, 1.0, 0.0),
                Scheme::Limited(l) => {
                    let e = match ch {
                        Choose::Rule => match &cx.ruled {
                            Some(r) => r.eval(d0, y),
                            None => l.eval(d0, y, lim_rule),
                        },
                        Choose::Lex { du, .. } => {
                            let dirs: Vec<[f64; 2]> = du
                                .iter()
                                .map(|d| [d[2] - d[1], if upwind_left { d[1] - d[0] } else { d[3] - d[2] }])
                                .collect();
                            l.eval_lex(d0, y, &dirs, lim_rule)
                        }
                    };
                    kinks += e.kink as u32;
                    unresolved += e.unresolved as u32;
                    (e.value, e.gx, e.gy)
                }
                Scheme::BurgersGodunov => unreachable!(),
            }
        };
        let (sl, glx, gly) = if a >= 0.0 { slope(dm, true) } else { (0.0, 0.0, 0.0) };
        let (sr, grx, gry) = if a <= 0.0 { slope(dp, false) } else { (0.0, 0.0, 0.0) };
        let flux = flux_linear(a, lambda, w[1], w[2], sl, sr);
        // piece a > 0: F = a u_j + a (1 - a lambda)/2 sigma_L
        let plus = |c: &mut [f64; 5], wt: f64| {
            let cl = 0.5 * a * (1.0 - a * lambda);
            c[0] += wt * (w[1] + 0.5 * (1.0 - 2.0 * a * lambda) * sl);
            c[1] += wt * (-cl * gly);
            c[2] += wt * (a + cl * (gly - glx));
            c[3] += wt * (cl * glx);
        };
        // piece a < 0: F = a u_{j+1} - a (1 + a lambda)/2 sigma_R
        let minus = |c: &mut [f64; 5], wt: f64| {
            let cr = -0.5 * a * (1.0 + a * lambda);
            c[0] += wt * (w[2] - 0.5 * (1.0 + 2.0 * a * lambda) * sr);
            c[2] += wt * (-cr * grx);
            c[3] += wt * (a + cr * (grx - gry));
            c[4] += wt * (cr * gry);
        };
        if a > 0.0 {
            plus(c, 1.0);
        } else if a < 0.0 {
            minus(c, 1.0);
        } else {
            kinks += 1;
            // tie between the pieces a > 0 and a < 0; at a = 0 only dF/da differs
            let gp = w[1] + 0.5 * sl;
            let gm = w[2] - 0.5 * sr;
            let side = match ch {
                Choose::Rule => 0,
                Choose::Lex { da, .. } => da.iter().map(|&d| sgn(d)).find(|&s| s != 0).unwrap_or(0),
            };
            let (wp, wm) = match side {
                1 => (1.0, 0.0),
                -1 => (0.0, 1.0),
                _ => {
                    if matches!(ch, Choose::Lex { .. }) && gp != gm {
                        unresolved += 1;
                    }
                    let wts = rule_weights(&rep.ties(&FLUX), &[0, 1], &[vec![gp], vec![gm]]);
                    (wts[0], wts[1])
                }
            };
            plus(c, wp);
            minus(c, wm);
        }
        Face { flux, kinks, unresolved }
    }

    /// Velocity of face `j` (constant or per face).
    #[inline]
    fn vel(a: &[f64], j: usize) -> f64 {
        if a.len() == 1 {
            a[0]
        } else {
            a[j]
        }
    }

    /// One step, value only: `out = u^{n+1}`. `a`: velocity (empty for Burgers), `s`: source.
    /// No CFL check here (see [`Transport::check_cfl`]); shapes must fit (checked by the public
    /// entry points).
    pub fn step_values(
        &self,
        u: &[f64],
        a: &[f64],
        s: Option<&[f64]>,
        ext: &mut Vec<f64>,
        flux: &mut Vec<f64>,
        out: &mut [f64],
    ) {
        // the same arithmetic compiled for the CPU's vector units (same bits on every path)
        step_values_wide(self, u, a, s, ext, flux, out)
    }

    #[inline(always)]
    fn step_values_body(
        &self,
        u: &[f64],
        a: &[f64],
        s: Option<&[f64]>,
        ext: &mut Vec<f64>,
        flux: &mut Vec<f64>,
        out: &mut [f64],
    ) {
        let n = u.len();
        Self::extend(u, ext);
        flux.clear();
        // constant velocity and a limiter: the hot loop, with the branches hoisted (same arithmetic
        // as `face_flux`, so the same bits)
        if let (Scheme::Limited(l), 1) = (self.scheme, a.len()) {
            match l {
                Limiter::Minmod => self.flux_const(a[0], ext, flux, |x, y| Limiter::Minmod.value(x, y)),
                Limiter::Superbee => self.flux_const(a[0], ext, flux, |x, y| Limiter::Superbee.value(x, y)),
                Limiter::Mc => self.flux_const(a[0], ext, flux, |x, y| Limiter::Mc.value(x, y)),
                Limiter::VanLeer => self.flux_const(a[0], ext, flux, |x, y| Limiter::VanLeer.value(x, y)),
            }
            self.update(u, flux, s, out);
            return;
        }
        if let Scheme::BurgersGodunov = self.scheme {
            let (e1, e2) = (&ext[1..n + 1], &ext[2..n + 2]);
            flux.extend(e1.iter().zip(e2).map(|(&l, &r)| flux_burgers(l, r)));
            self.update(u, flux, s, out);
            return;
        }
        if a.len() == n && n > 1 {
            // a velocity per face: both upwind sides computed, one selected (branch-free; the same
            // arithmetic as `face_flux`)
            match self.scheme {
                Scheme::Upwind => self.flux_faces(a, ext, flux, |_, _| 0.0),
                Scheme::LaxWendroff => self.flux_faces(a, ext, flux, |x, _| x),
                Scheme::Limited(l) => match l {
                    Limiter::Minmod => self.flux_faces(a, ext, flux, |x, y| Limiter::Minmod.value(x, y)),
                    Limiter::Superbee => self.flux_faces(a, ext, flux, |x, y| Limiter::Superbee.value(x, y)),
                    Limiter::Mc => self.flux_faces(a, ext, flux, |x, y| Limiter::Mc.value(x, y)),
                    Limiter::VanLeer => self.flux_faces(a, ext, flux, |x, y| Limiter::VanLeer.value(x, y)),
                },
                Scheme::BurgersGodunov => unreachable!("handled above"),
            }
            self.update(u, flux, s, out);
            return;
        }
        if let (Scheme::Upwind, 1) = (self.scheme, a.len()) {
            // flux_linear with zero slopes, the sign of a hoisted: a (u + k 0), the same bits
            self.flux_const(a[0], ext, flux, |_, _| 0.0);
            self.update(u, flux, s, out);
            return;
        }
        for j in 0..n {
            let aj = if a.is_empty() { 0.0 } else { Self::vel(a, j) };
            flux.push(self.face_flux(aj, &ext[j..j + 4]));
        }
        self.update(u, flux, s, out);
    }

    /// [`Transport::face_lin`] for a constant velocity `a != 0` and the representation's rules, with
    /// the branches hoisted out of the loop (the same arithmetic, so the same bits). `fast` is a
    /// branch-free slope `(value, d/dx, d/dy, kink)` valid off kinks; faces it flags as kinks are
    /// redone with `slow` (the representation's rule) in a second pass.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn lin_const(
        &self,
        a: f64,
        ext: &[f64],
        lin: &mut Linearization,
        flux: &mut Vec<f64>,
        want_flux: bool,
        fast: impl Fn(f64, f64) -> (f64, f64, f64, bool),
        slow: impl Fn(f64, f64) -> (f64, f64, f64),
    ) -> usize {
        let lambda = self.lambda();
        let n = ext.len() - 3;
        let (e0, e1, e2, e3) = (&ext[..n], &ext[1..n + 1], &ext[2..n + 2], &ext[3..n + 3]);
        lin.flags.resize(n, 0.0);
        let (ca, cm1, c0, cp1, cp2, kf) = (
            &mut lin.ca[..n],
            &mut lin.cm1[..n],
            &mut lin.c0[..n],
            &mut lin.cp1[..n],
            &mut lin.cp2[..n],
            &mut lin.flags[..n],
        );
        // first pass: branch-free over every face (vectorises); second pass: the kink faces only
        if a > 0.0 {
            let cl = 0.5 * a * (1.0 - a * lambda);
            let k = 0.5 * (1.0 - 2.0 * a * lambda);
            for j in 0..n {
                let (sl, glx, gly, kink) = fast(e2[j] - e1[j], e1[j] - e0[j]);
                kf[j] = if kink { 1.0 } else { 0.0 };
                ca[j] = e1[j] + k * sl;
                cm1[j] = -cl * gly;
                c0[j] = a + cl * (gly - glx);
                cp1[j] = cl * glx;
                cp2[j] = 0.0;
            }
            for j in 0..n {
                if kf[j] != 0.0 {
                    let (sl, glx, gly) = slow(e2[j] - e1[j], e1[j] - e0[j]);
                    ca[j] = e1[j] + k * sl;
                    cm1[j] = -cl * gly;
                    c0[j] = a + cl * (gly - glx);
                    cp1[j] = cl * glx;
                }
            }
        } else {
            let cr = -0.5 * a * (1.0 + a * lambda);
            let k = 0.5 * (1.0 + 2.0 * a * lambda);
            for j in 0..n {
                let (sr, grx, gry, kink) = fast(e2[j] - e1[j], e3[j] - e2[j]);
                kf[j] = if kink { 1.0 } else { 0.0 };
                ca[j] = e2[j] - k * sr;
                cm1[j] = 0.0;
                c0[j] = -cr * grx;
                cp1[j] = a + cr * (grx - gry);
                cp2[j] = cr * gry;
            }
            for j in 0..n {
                if kf[j] != 0.0 {
                    let (sr, grx, gry) = slow(e2[j] - e1[j], e3[j] - e2[j]);
                    ca[j] = e2[j] - k * sr;
                    c0[j] = -cr * grx;
                    cp1[j] = a + cr * (grx - gry);
                    cp2[j] = cr * gry;
                }
            }
        }
        let kinks = sum8(kf) as usize;
        if want_flux {
            let lim = |x: f64, y: f64| if fast(x, y).3 { slow(x, y).0 } else { fast(x, y).0 };
            if a > 0.0 {
                flux.extend(
                    (0..n).map(|j| flux_linear(a, lambda, e1[j], e2[j], lim(e2[j] - e1[j], e1[j] - e0[j]), 0.0)),
                );
            } else {
                flux.extend(
                    (0..n).map(|j| flux_linear(a, lambda, e1[j], e2[j], 0.0, lim(e2[j] - e1[j], e3[j] - e2[j]))),
                );
            }
        }
        kinks
    }

    /// The stepper's fused adjoint for a constant velocity `a != 0` with the representation's rules:
    /// `out = J_u^T g` and the return value `(J_a^T g, kinks)`, without materialising the
    /// [`Linearization`]. Same products and the same summation order as
    /// [`Linearization::adj_u`] / [`Linearization::adj_a_from_faces`] (the structurally zero terms
    /// are left out), so the same numbers as the tape's VJP.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn adjoint_const(
        &self,
        a: f64,
        ext: &[f64],
        g: &[f64],
        sc: &mut AdjScratch,
        out: &mut [f64],
        fast: impl Fn(f64, f64) -> (f64, f64, f64, bool),
        slow: impl Fn(f64, f64) -> (f64, f64, f64),
    ) -> (f64, usize) {
        let lambda = self.lambda();
        let n = ext.len() - 3;
        let (e0, e1, e2, e3) = (&ext[..n], &ext[1..n + 1], &ext[2..n + 2], &ext[3..n + 3]);
        for v in [&mut sc.fb, &mut sc.pa, &mut sc.pl, &mut sc.p0, &mut sc.pr, &mut sc.kf] {
            v.resize(n, 0.0);
        }
        // face cotangents fb_j = lambda (g_{j+1} - g_j)
        {
            let (fb, g0, g1) = (&mut sc.fb[..n - 1], &g[..n - 1], &g[1..n]);
            for j in 0..n - 1 {
                fb[j] = lambda * (g1[j] - g0[j]);
            }
            sc.fb[n - 1] = lambda * (g[0] - g[n - 1]);
        }
        let (fb, pa, pl, p0, pr, kf) =
            (&sc.fb[..n], &mut sc.pa[..n], &mut sc.pl[..n], &mut sc.p0[..n], &mut sc.pr[..n], &mut sc.kf[..n]);
        // products fb_j * c_j: pl the coefficient on the face's left neighbour (u_{j-1} for a > 0,
        // none for a < 0), p0 on u_j, pr on u_{j+1} (a > 0) or u_{j+2} (a < 0), and p0/pr shift
        // for a < 0 (see the gather below)
        if a > 0.0 {
            let cl = 0.5 * a * (1.0 - a * lambda);
            let k = 0.5 * (1.0 - 2.0 * a * lambda);
            for j in 0..n {
                let (sl, glx, gly, kink) = fast(e2[j] - e1[j], e1[j] - e0[j]);
                kf[j] = if kink { 1.0 } else { 0.0 };
                let f = fb[j];
                pa[j] = f * (e1[j] + k * sl);
                pl[j] = f * (-cl * gly);
                p0[j] = f * (a + cl * (gly - glx));
                pr[j] = f * (cl * glx);
            }
            let has_kinks = sum8(kf) > 0.0;
            for j in 0..n {
                if has_kinks && kf[j] != 0.0 {
                    let (sl, glx, gly) = slow(e2[j] - e1[j], e1[j] - e0[j]);
                    let f = fb[j];
                    pa[j] = f * (e1[j] + k * sl);
                    pl[j] = f * (-cl * gly);
                    p0[j] = f * (a + cl * (gly - glx));
                    pr[j] = f * (cl * glx);
                }
            }
            // out_i = g_i + fb_{i+1} cm1_{i+1} + fb_i c0_i + fb_{i-1} cp1_{i-1}
            out[0] = g[0] + pl[1] + p0[0] + pr[n - 1];
            out[n - 1] = g[n - 1] + pl[0] + p0[n - 1] + pr[n - 2];
            let (o, gg, l1, c0, r1) = (&mut out[1..n - 1], &g[1..n - 1], &pl[2..n], &p0[1..n - 1], &pr[..n - 2]);
            for k in 0..n - 2 {
                o[k] = gg[k] + l1[k] + c0[k] + r1[k];
            }
        } else {
            let cr = -0.5 * a * (1.0 + a * lambda);
            let k = 0.5 * (1.0 + 2.0 * a * lambda);
            for j in 0..n {
                let (sr, grx, gry, kink) = fast(e2[j] - e1[j], e3[j] - e2[j]);
                kf[j] = if kink { 1.0 } else { 0.0 };
                let f = fb[j];
                pa[j] = f * (e2[j] - k * sr);
                pl[j] = f * (-cr * grx);
                p0[j] = f * (a + cr * (grx - gry));
                pr[j] = f * (cr * gry);
            }
            let has_kinks = sum8(kf) > 0.0;
            for j in 0..n {
                if has_kinks && kf[j] != 0.0 {
                    let (sr, grx, gry) = slow(e2[j] - e1[j], e3[j] - e2[j]);
                    let f = fb[j];
                    pa[j] = f * (e2[j] - k * sr);
                    pl[j] = f * (-cr * grx);
                    p0[j] = f * (a + cr * (grx - gry));
                    pr[j] = f * (cr * gry);
                }
            }
            // out_i = g_i + fb_i c0_i + fb_{i-1} cp1_{i-1} + fb_{i-2} cp2_{i-2}
            out[0] = g[0] + pl[0] + p0[n - 1] + pr[n - 2];
            out[1] = g[1] + pl[1] + p0[0] + pr[n - 1];
            let (o, gg, c0, c1, c2) = (&mut out[2..n], &g[2..n], &pl[2..n], &p0[1..n - 1], &pr[..n - 2]);
            for k in 0..n - 2 {
                o[k] = gg[k] + c0[k] + c1[k] + c2[k];
            }
        }
        let kinks = sum8(kf) as usize;
        (sum8(pa), kinks)
    }

    /// Fluxes for a velocity per face (`a.len() == n`): `face_flux`'s arithmetic, branch-free.
    #[inline(always)]
    fn flux_faces(&self, a: &[f64], ext: &[f64], flux: &mut Vec<f64>, lim: impl Fn(f64, f64) -> f64) {
        let n = ext.len() - 3;
        let lambda = self.lambda();
        let (e0, e1, e2, e3) = (&ext[..n], &ext[1..n + 1], &ext[2..n + 2], &ext[3..n + 3]);
        let a = &a[..n];
        flux.resize(n, 0.0);
        let f = &mut flux[..n];
        for j in 0..n {
            let aj = a[j];
            let d = e2[j] - e1[j];
            let (sl, sr) = (lim(d, e1[j] - e0[j]), lim(d, e3[j] - e2[j]));
            let plus = aj * (e1[j] + 0.5 * (1.0 - aj * lambda) * sl);
            let minus = aj * (e2[j] - 0.5 * (1.0 + aj * lambda) * sr);
            f[j] = if aj > 0.0 {
                plus
            } else if aj < 0.0 {
                minus
            } else {
                0.0
            };
        }
    }

    /// [`Transport::face_lin`] for a velocity per face with the representation's rules, branch-free
    /// over every face (`fast` as in [`Transport::lin_const`]); faces on a kink (a limiter kink on the
    /// upwind side, or `a_j = 0`) are redone by `face_lin`. Same arithmetic (`0 + expr`, as `face_lin`
    /// accumulates into zeros), so the same bits.
    #[inline(always)]
    fn lin_faces(
        &self,
        a: &[f64],
        ext: &[f64],
        cx: &LinCtx,
        lin: &mut Linearization,
        fast: impl Fn(f64, f64) -> (f64, f64, f64, bool),
    ) -> usize {
        let lambda = self.lambda();
        let n = ext.len() - 3;
        let (e0, e1, e2, e3) = (&ext[..n], &ext[1..n + 1], &ext[2..n + 2], &ext[3..n + 3]);
        let a = &a[..n];
        lin.flags.resize(n, 0.0);
        let (ca, cm1, c0, cp1, cp2, kf) = (
            &mut lin.ca[..n],
            &mut lin.cm1[..n],
            &mut lin.c0[..n],
            &mut lin.cp1[..n],
            &mut lin.cp2[..n],
            &mut lin.flags[..n],
        );
        for j in 0..n {
            let aj = a[j];
            let d = e2[j] - e1[j];
            let (sl, glx, gly, kl) = fast(d, e1[j] - e0[j]);
            let (sr, grx, gry, kr) = fast(d, e3[j] - e2[j]);
            let pos = aj > 0.0;
            // piece a > 0: F = a u_j + a (1 - a lambda)/2 sigma_L
            let cl = 0.5 * aj * (1.0 - aj * lambda);
            let p = [
                0.0 + (e1[j] + 0.5 * (1.0 - 2.0 * aj * lambda) * sl),
                0.0 + (-cl * gly),
                0.0 + (aj + cl * (gly - glx)),
                0.0 + (cl * glx),
                0.0,
            ];
            // piece a < 0: F = a u_{j+1} - a (1 + a lambda)/2 sigma_R
            let cr = -0.5 * aj * (1.0 + aj * lambda);
            let m = [
                0.0 + (e2[j] - 0.5 * (1.0 + 2.0 * aj * lambda) * sr),
                0.0,
                0.0 + (-cr * grx),
                0.0 + (aj + cr * (grx - gry)),
                0.0 + (cr * gry),
            ];
            let c = if pos { p } else { m };
            ca[j] = c[0];
            cm1[j] = c[1];
            c0[j] = c[2];
            cp1[j] = c[3];
            cp2[j] = c[4];
            kf[j] = if (pos & kl) | ((aj < 0.0) & kr) | (aj == 0.0) { 1.0 } else { 0.0 };
        }
        let mut kinks = 0;
        let mut c = [0.0; 5];
        for j in 0..n {
            if lin.flags[j] != 0.0 {
                let f = self.face_lin(a[j], &ext[j..j + 4], cx, &Choose::Rule, &mut c);
                lin.set(j, &c);
                kinks += f.kinks as usize;
            }
        }
        kinks
    }

    #[inline(always)]
    fn flux_const(&self, a: f64, ext: &[f64], flux: &mut Vec<f64>, lim: impl Fn(f64, f64) -> f64) {
        let n = ext.len() - 3;
        let lambda = self.lambda();
        let (e0, e1, e2, e3) = (&ext[..n], &ext[1..n + 1], &ext[2..n + 2], &ext[3..n + 3]);
        flux.resize(n, 0.0);
        let f = &mut flux[..n];
        if a > 0.0 {
            let k = 0.5 * (1.0 - a * lambda);
            for j in 0..n {
                f[j] = a * (e1[j] + k * lim(e2[j] - e1[j], e1[j] - e0[j]));
            }
        } else if a < 0.0 {
            let k = 0.5 * (1.0 + a * lambda);
            for j in 0..n {
                f[j] = a * (e2[j] - k * lim(e2[j] - e1[j], e3[j] - e2[j]));
            }
        }
    }

    #[inline(always)]
    pub(crate) fn update(&self, u: &[f64], flux: &[f64], s: Option<&[f64]>, out: &mut [f64]) {
        let n = u.len();
        let lambda = self.lambda();
        out[0] = u[0] - lambda * (flux[0] - flux[n - 1]);
        let (o, uu, f1, f0) = (&mut out[1..n], &u[1..n], &flux[1..n], &flux[..n - 1]);
        for j in 0..n - 1 {
            o[j] = uu[j] - lambda * (f1[j] - f0[j]);
        }
        if let Some(s) = s {
            for j in 0..n {
                out[j] += self.dt * s[j];
            }
        }
    }

    /// One step with its linearization (representation's rules at kinks). Returns the kink count and
    /// the faces that hit kinks. Inlined so that the stepper's vector-unit variants compile it too.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn step_lin(
        &self,
        u: &[f64],
        a: &[f64],
        s: Option<&[f64]>,
        cx: &LinCtx,
        lin: &mut Linearization,
        ext: &mut Vec<f64>,
        flux: &mut Vec<f64>,
        out: Option<&mut [f64]>,
        kink_faces: Option<&mut Vec<usize>>,
    ) -> usize {
        let n = u.len();
        Self::extend(u, ext);
        lin.resize(n, self.lambda(), a.len());
        flux.clear();
        if a.len() == 1 && a[0] != 0.0 && kink_faces.is_none() {
            // constant non-zero velocity (the hot loop of the stepper's adjoint)
            let wf = out.is_some();
            let kinks = match (self.scheme, &cx.ruled) {
                (Scheme::Upwind, _) => {
                    self.lin_const(a[0], ext, lin, flux, wf, |_, _| (0.0, 0.0, 0.0, false), |_, _| (0.0, 0.0, 0.0))
                }
                (Scheme::LaxWendroff, _) => {
                    self.lin_const(a[0], ext, lin, flux, wf, |x, _| (x, 1.0, 0.0, false), |x, _| (x, 1.0, 0.0))
                }
                (Scheme::Limited(Limiter::Minmod), Some(r)) => {
                    self.lin_const(a[0], ext, lin, flux, wf, super::limiter::minmod_branch_free, |x, y| {
                        let e = r.eval(x, y);
                        (e.value, e.gx, e.gy)
                    })
                }
                (Scheme::Limited(_), Some(r)) => self.lin_const(
                    a[0],
                    ext,
                    lin,
                    flux,
                    wf,
                    |x, y| {
                        let e = r.eval(x, y);
                        (e.value, e.gx, e.gy, e.kink)
                    },
                    |x, y| {
                        let e = r.eval(x, y);
                        (e.value, e.gx, e.gy)
                    },
                ),
                _ => unreachable!("a limited scheme always has a tabulated limiter"),
            };
            if let Some(out) = out {
                self.update(u, flux, s, out);
            }
            return kinks;
        }
        if a.len() == n && n > 1 && kink_faces.is_none() {
            let kinks = match (self.scheme, &cx.ruled) {
                (Scheme::Upwind, _) => self.lin_faces(a, ext, cx, lin, |_, _| (0.0, 0.0, 0.0, false)),
                (Scheme::LaxWendroff, _) => self.lin_faces(a, ext, cx, lin, |x, _| (x, 1.0, 0.0, false)),
                (Scheme::Limited(Limiter::Minmod), Some(_)) => {
                    self.lin_faces(a, ext, cx, lin, super::limiter::minmod_branch_free)
                }
                (Scheme::Limited(_), Some(r)) => self.lin_faces(a, ext, cx, lin, |x, y| {
                    let e = r.eval(x, y);
                    (e.value, e.gx, e.gy, e.kink)
                }),
                _ => unreachable!("a limited scheme always has a tabulated limiter"),
            };
            if let Some(out) = out {
                self.step_values_body(u, a, s, ext, flux, out);
            }
            return kinks;
        }
        if let (Scheme::BurgersGodunov, None) = (self.scheme, &kink_faces) {
            // Burgers off its switching surfaces: one piece per face, c0 = u_l (left piece) or
            // cp1 = u_r (right piece), written as face_lin does (0 + u, so the same bits); faces on a
            // switching surface (u_l, u_r or u_l + u_r exactly 0) get face_lin's tie rule
            let (e1, e2) = (&ext[1..n + 1], &ext[2..n + 2]);
            lin.flags.resize(n, 0.0);
            lin.ca[..n].fill(0.0);
            lin.cm1[..n].fill(0.0);
            lin.cp2[..n].fill(0.0);
            let (c0, cp1, fl) = (&mut lin.c0[..n], &mut lin.cp1[..n], &mut lin.flags[..n]);
            for j in 0..n {
                let (ul, ur) = (e1[j], e2[j]);
                let sum = ul + ur;
                let left = (ul > 0.0) & ((ur > 0.0) | (sum > 0.0));
                let right = (ur < 0.0) & ((ul < 0.0) | (sum < 0.0));
                c0[j] = if left { 0.0 + ul } else { 0.0 };
                cp1[j] = if right { 0.0 + ur } else { 0.0 };
                fl[j] = if (ul == 0.0) | (ur == 0.0) | (sum == 0.0) { 1.0 } else { 0.0 };
            }
            let mut kinks = 0;
            let mut c = [0.0; 5];
            for j in 0..n {
                if lin.flags[j] != 0.0 {
                    let f = self.face_lin(0.0, &ext[j..j + 4], cx, &Choose::Rule, &mut c);
                    lin.set(j, &c);
                    kinks += f.kinks as usize;
                }
            }
            if let Some(out) = out {
                flux.extend(e1.iter().zip(e2).map(|(&l, &r)| flux_burgers(l, r)));
                self.update(u, flux, s, out);
            }
            return kinks;
        }
        let mut kinks = 0;
        let mut faces = kink_faces;
        let mut c = [0.0; 5];
        for j in 0..n {
            let aj = if a.is_empty() { 0.0 } else { Self::vel(a, j) };
            let f = self.face_lin(aj, &ext[j..j + 4], cx, &Choose::Rule, &mut c);
            lin.set(j, &c);
            flux.push(f.flux);
            if f.kinks > 0 {
                kinks += f.kinks as usize;
                if let Some(fs) = faces.as_deref_mut() {
                    fs.push(j);
                }
            }
        }
        if let Some(out) = out {
            self.update(u, flux, s, out);
        }
        kinks
    }

    /// Run `steps` steps from `u0` (value only); checks shapes and the CFL bound (on the velocity,
    /// or for Burgers on the initial state: Godunov's scheme does not increase `max|u|`).
    ///
    /// ```
    /// use kinkgrad::pde::{grid::Grid, scheme::{Scheme, Transport}};
    /// let g = Grid::unit(50).unwrap();
    /// let t = Transport::from_courant(g, Scheme::Upwind, 1.0, 1.0, false).unwrap();
    /// let u0: Vec<f64> = (0..50).map(|j| j as f64).collect();
    /// // Courant number 1: upwind is the exact shift by one cell
    /// let u = t.simulate(&u0, &[1.0], None, 3).unwrap();
    /// assert_eq!(u[5], 2.0);
    /// ```
    pub fn simulate(&self, u0: &[f64], a: &[f64], s: Option<&[f64]>, steps: usize) -> Result<Vec<f64>> {
        let a_opt = if self.scheme.is_linear() { Some(a.len()) } else { None };
        if !self.scheme.is_linear() && !a.is_empty() {
            return Err(Error::invalid("velocity", "Burgers' equation carries its own speed u: give no velocity"));
        }
        self.check_shapes(u0.len(), a_opt, s.map(|s| s.len()))?;
        self.check_cfl(if self.scheme.is_linear() { a } else { u0 })?;
        let (mut ext, mut flux) = (Vec::new(), Vec::new());
        let mut u = u0.to_vec();
        let mut next = vec![0.0; u.len()];
        for _ in 0..steps {
            self.step_values(&u, a, s, &mut ext, &mut flux, &mut next);
            std::mem::swap(&mut u, &mut next);
        }
        Ok(u)
    }

    /// One time step recorded on the tape as one fused op: `u^{n+1}` from `u` (shape `[cells]`), the
    /// velocity `a` (shape `[]`, `[1]` or `[cells]`; `None` for Burgers) and the source `s`
    /// (`[cells]`, optional). Kinks go to the tape's kink log under the op name
    /// `transport-<scheme>`. Refuses a Courant number above the bound unless forced.
    ///
    /// ```
    /// use kinkgrad::pde::{grid::Grid, scheme::{Scheme, Transport}};
    /// use kinkgrad::{Mode, Tape, Tensor};
    /// let g = Grid::unit(20).unwrap();
    /// let t = Transport::from_courant(g, "lw-minmod".parse().unwrap(), 1.0, 0.5, false).unwrap();
    /// let tape = Tape::<f64>::new();
    /// let u0 = tape.var(Tensor::vector(g.cell_averages(|x| (6.0 * x).sin())));
    /// let a = tape.var(Tensor::scalar(1.0));
    /// let mut u = u0;
    /// for _ in 0..5 {
    ///     u = t.step_var(u, Some(a), None).unwrap();
    /// }
    /// let j = u.square().sum();
    /// let gr = tape.gradient(j, &[u0, a], &Mode::Assoc).unwrap();
    /// assert_eq!(gr.values[0].shape(), &[20]);
    /// ```
    pub fn step_var<'t, T: Real>(
        &self,
        u: Var<'t, T>,
        a: Option<Var<'t, T>>,
        s: Option<Var<'t, T>>,
    ) -> Result<Var<'t, T>> {
        let tape = u.tape();
        let uv = u.value().to_f64_vec();
        let ushape = u.shape();
        if ushape.len() != 1 {
            return Err(Error::shape("transport step", format!("the state must be 1-d, its shape is {ushape:?}")));
        }
        let av = a.map(|a| a.value().to_f64_vec());
        let ashape = a.map(|a| a.shape());
        if let Some(sh) = &ashape {
            if sh.len() > 1 {
                return Err(Error::shape("transport step", format!("the velocity must be 0-d or 1-d, got {sh:?}")));
            }
        }
        let sv = s.map(|s| s.value().to_f64_vec());
        self.check_shapes(uv.len(), av.as_ref().map(|v| v.len()), sv.as_ref().map(|v| v.len()))?;
        let a_slice: &[f64] = av.as_deref().unwrap_or(&[]);
        self.check_cfl(if self.scheme.is_linear() { a_slice } else { &uv })?;
        let ctx = LinCtx::new(self.scheme, tape.representation());
        let mut lin = Linearization::default();
        let (mut ext, mut flux) = (Vec::new(), Vec::new());
        let mut out = vec![0.0; uv.len()];
        let mut kink_faces = Vec::new();
        let kinks = self.step_lin(
            &uv,
            a_slice,
            sv.as_deref(),
            &ctx,
            &mut lin,
            &mut ext,
            &mut flux,
            Some(&mut out),
            Some(&mut kink_faces),
        );
        let mut inputs = vec![u];
        let a_idx = a.map(|a| {
            inputs.push(a);
            inputs.len() - 1
        });
        let s_idx = s.map(|s| {
            inputs.push(s);
            inputs.len() - 1
        });
        let op = StepOp {
            transport: self.clone(),
            ctx,
            lin: Arc::new(lin),
            locked: None,
            kink_faces,
            kinks,
            unresolved: 0,
            a_idx,
            s_idx,
            a_shape: ashape.unwrap_or_default(),
            name: op_name(self.scheme),
        };
        let value = Tensor::from_f64(ushape, &out)?;
        Ok(tape.push(Box::new(op), &inputs, value))
    }
}

fn op_name(s: Scheme) -> &'static str {
    match s {
        Scheme::Upwind => "transport-upwind",
        Scheme::LaxWendroff => "transport-lw",
        Scheme::Limited(Limiter::Minmod) => "transport-lw-minmod",
        Scheme::Limited(Limiter::Superbee) => "transport-lw-superbee",
        Scheme::Limited(Limiter::Mc) => "transport-lw-mc",
        Scheme::Limited(Limiter::VanLeer) => "transport-lw-vanleer",
        Scheme::BurgersGodunov => "transport-burgers-godunov",
    }
}

/// The fused step op.
struct StepOp {
    transport: Transport,
    ctx: LinCtx,
    lin: Arc<Linearization>,
    locked: Option<Arc<Linearization>>,
    kink_faces: Vec<usize>,
    kinks: usize,
    unresolved: usize,
    a_idx: Option<usize>,
    s_idx: Option<usize>,
    a_shape: Vec<usize>,
    name: &'static str,
}

fn tensor<T: Real>(shape: Vec<usize>, data: &[f64]) -> Tensor<T> {
    crate::reverse::var::ok(Tensor::from_f64(shape, data))
}

impl<T: Real> Op<T> for StepOp {
    fn name(&self) -> &'static str {
        self.name
    }
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let lin = self.locked.clone().unwrap_or_else(|| self.lin.clone());
        let mut out = vec![None; cx.inputs.len()];
        if cx.wanted[0] {
            out[0] = Some(LinOp::apply(cx.tape, lin.clone(), LinKind::AdjU, g, &self.a_shape));
        }
        if let Some(i) = self.a_idx {
            if cx.wanted[i] {
                out[i] = Some(LinOp::apply(cx.tape, lin.clone(), LinKind::AdjA, g, &self.a_shape));
            }
        }
        if let Some(i) = self.s_idx {
            if cx.wanted[i] {
                out[i] = Some(g.scale(self.transport.dt));
            }
        }
        out
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let k = cx.k;
        let u = cx.inputs[0].to_f64_vec();
        let n = u.len();
        let a_len = self.lin.a_len;
        let ut = cx.tangents[0].map(|t| t.to_f64_vec());
        let at = self.a_idx.and_then(|i| cx.tangents[i]).map(|t| t.to_f64_vec());
        let st = self.s_idx.and_then(|i| cx.tangents[i]).map(|t| t.to_f64_vec());
        // lexicographic selection at the kink faces, locked for the next VJP
        if !self.kink_faces.is_empty() {
            let a = self.a_idx.map(|i| cx.inputs[i].to_f64_vec()).unwrap_or_default();
            let mut lin = (*self.lin).clone();
            let mut unresolved = 0;
            let mut c = [0.0; 5];
            for &j in &self.kink_faces {
                let idx = [(j + n - 1) % n, j, (j + 1) % n, (j + 2) % n];
                let w = [u[idx[0]], u[idx[1]], u[idx[2]], u[idx[3]]];
                let aj = if a.is_empty() { 0.0 } else { Transport::vel(&a, j) };
                let da: Vec<f64> = (0..k)
                    .map(|c| at.as_ref().map_or(0.0, |t| t[c * a_len + if a_len == 1 { 0 } else { j }]))
                    .collect();
                let du: Vec<[f64; 4]> = (0..k)
                    .map(|c| match &ut {
                        Some(t) => [t[c * n + idx[0]], t[c * n + idx[1]], t[c * n + idx[2]], t[c * n + idx[3]]],
                        None => [0.0; 4],
                    })
                    .collect();
                let f = self.transport.face_lin(aj, &w, &self.ctx, &Choose::Lex { da: &da, du: &du }, &mut c);
                lin.set(j, &c);
                unresolved += f.unresolved as usize;
            }
            self.unresolved = unresolved;
            self.locked = Some(Arc::new(lin));
        }
        let lin = self.locked.clone().unwrap_or_else(|| self.lin.clone());
        let mut out = vec![0.0; k * n];
        let mut tmp = vec![0.0; n];
        for c in 0..k {
            let o = &mut out[c * n..(c + 1) * n];
            if let Some(t) = &ut {
                lin.tan_u(&t[c * n..(c + 1) * n], &mut tmp);
                o.iter_mut().zip(&tmp).for_each(|(o, v)| *o += v);
            }
            if let Some(t) = &at {
                lin.tan_a(&t[c * a_len..(c + 1) * a_len], &mut tmp);
                o.iter_mut().zip(&tmp).for_each(|(o, v)| *o += v);
            }
            if let Some(t) = &st {
                o.iter_mut().zip(&t[c * n..(c + 1) * n]).for_each(|(o, v)| *o += self.transport.dt * v);
            }
        }
        tensor(vec![k, n], &out)
    }
    fn kinks(&self) -> usize {
        self.kinks
    }
    fn unresolved(&self) -> usize {
        self.unresolved
    }
    fn unlock(&mut self) {
        self.locked = None;
        self.unresolved = 0;
    }
}

/// The linear maps of a step's linearization, recorded by the VJP (so gradients of gradients work):
/// `AdjU: g -> J_u^T g`, `AdjA: g -> J_a^T g` and their transposes `TanU: h -> J_u h`,
/// `TanA: h -> J_a h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LinKind {
    AdjU,
    AdjA,
    TanU,
    TanA,
}

struct LinOp {
    lin: Arc<Linearization>,
    kind: LinKind,
    a_shape: Vec<usize>,
}

impl LinOp {
    fn eval(&self, x: &[f64]) -> Vec<f64> {
        let l = &self.lin;
        let mut fb = Vec::new();
        match self.kind {
            LinKind::AdjU => {
                let mut o = vec![0.0; l.n];
                l.adj_u(x, &mut o, &mut fb);
                o
            }
            LinKind::AdjA => {
                let mut o = vec![0.0; l.a_len];
                l.adj_a(x, &mut o, &mut fb);
                o
            }
            LinKind::TanU => {
                let mut o = vec![0.0; l.n];
                l.tan_u(x, &mut o);
                o
            }
            LinKind::TanA => {
                let mut o = vec![0.0; l.n];
                l.tan_a(x, &mut o);
                o
            }
        }
    }
    fn out_shape(&self) -> Vec<usize> {
        match self.kind {
            LinKind::AdjA => self.a_shape.clone(),
            _ => vec![self.lin.n],
        }
    }
    fn apply<'t, T: Real>(
        tape: &'t Tape<T>,
        lin: Arc<Linearization>,
        kind: LinKind,
        x: Var<'t, T>,
        a_shape: &[usize],
    ) -> Var<'t, T> {
        let op = LinOp { lin, kind, a_shape: a_shape.to_vec() };
        let v = op.eval(&x.value().to_f64_vec());
        let value = tensor(op.out_shape(), &v);
        tape.push(Box::new(op), &[x], value)
    }
}

impl<T: Real> Op<T> for LinOp {
    fn name(&self) -> &'static str {
        match self.kind {
            LinKind::AdjU => "transport-adjoint-u",
            LinKind::AdjA => "transport-adjoint-a",
            LinKind::TanU => "transport-tangent-u",
            LinKind::TanA => "transport-tangent-a",
        }
    }
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        if !cx.wanted[0] {
            return vec![None];
        }
        let t = match self.kind {
            LinKind::AdjU => LinKind::TanU,
            LinKind::TanU => LinKind::AdjU,
            LinKind::AdjA => LinKind::TanA,
            LinKind::TanA => LinKind::AdjA,
        };
        vec![Some(LinOp::apply(cx.tape, self.lin.clone(), t, g, &self.a_shape))]
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let k = cx.k;
        let out_shape = self.out_shape();
        let m: usize = out_shape.iter().product();
        let Some(t) = cx.tangents[0] else {
            return Tensor::zeros(&[&[k][..], &out_shape[..]].concat());
        };
        let t = t.to_f64_vec();
        let per = t.len() / k.max(1);
        let mut out = Vec::with_capacity(k * m);
        for c in 0..k {
            out.extend(self.eval(&t[c * per..(c + 1) * per]));
        }
        tensor([&[k][..], &out_shape[..]].concat(), &out)
    }
}

/// The checkpoint [`Stepper`] of a scheme with a hand-written adjoint (no tape), for long runs.
///
/// Parameters: the velocity (1 value or one per face; empty for Burgers) and an optional source.
/// [`Stepper::step_adjoint`] linearises the step at the given state with the representation's
/// rules (the same [`Linearization`] as the tape op, so the same numbers), returns `J_u^T g`, and
/// accumulates `J_a^T g` into [`TransportStepper::grad_velocity`] and `dt g` into
/// [`TransportStepper::grad_source`]. Kinks are counted in the adjoint sweep (once per step,
/// whatever the schedule recomputes).
pub struct TransportStepper {
    /// The scheme, grid and time step.
    pub transport: Transport,
    /// The velocity: one value, or one per face; empty for Burgers.
    pub velocity: Vec<f64>,
    /// The source per cell, if any.
    pub source: Option<Vec<f64>>,
    /// The representation used at kinks.
    pub rep: Representation,
    /// Accumulated `dJ/da` (length of the velocity).
    pub grad_velocity: Vec<f64>,
    /// Accumulated `dJ/ds` (empty without a source).
    pub grad_source: Vec<f64>,
    /// Kinks met by the adjoint sweep.
    pub kinks: usize,
    /// Kinks whose tie survived every probe direction ([`Self::loss_gradient_safe`] only).
    pub unresolved: usize,
    /// Accumulate [`Self::grad_velocity`] (default `true`). Without it, a store-all gradient of a
    /// constant-velocity scheme with a piecewise-affine limiter (or none) keeps a *piece tape*, one byte
    /// per face and step naming the limiter's selected pieces, instead of the states: the same bits,
    /// an eighth of the memory, and no slopes recomputed in the reverse sweep (see `pde/piece_tape.rs`).
    pub velocity_gradient: bool,
    codes: Vec<u8>,
    tape_scratch: piece_tape::Scratch,
    lin: Linearization,
    ext: Vec<f64>,
    flux: Vec<f64>,
    fb: Vec<f64>,
    ga: Vec<f64>,
    scratch: AdjScratch,
    /// Released state buffers, reused by `step` (at most the schedule's peak number of states).
    pool: Vec<Vec<f64>>,
    /// The previous adjoint's buffer, reused for the next one.
    spare: Vec<f64>,
    ctx: Option<LinCtx>,
}

impl TransportStepper {
    /// A stepper; checks the shapes and the CFL bound (on the velocity; for Burgers call
    /// [`Transport::check_cfl`] on the initial state).
    pub fn new(
        transport: Transport,
        velocity: Vec<f64>,
        source: Option<Vec<f64>>,
        rep: Representation,
    ) -> Result<Self> {
        let n = transport.grid.cells;
        let a_opt = if transport.scheme.is_linear() { Some(velocity.len()) } else { None };
        if !transport.scheme.is_linear() && !velocity.is_empty() {
            return Err(Error::invalid("velocity", "Burgers' equation carries its own speed u: give no velocity"));
        }
        transport.check_shapes(n, a_opt, source.as_ref().map(|s| s.len()))?;
        if transport.scheme.is_linear() {
            transport.check_cfl(&velocity)?;
        }
        let grad_source = if source.is_some() { vec![0.0; n] } else { vec![] };
        Ok(Self {
            grad_velocity: vec![0.0; velocity.len()],
            transport,
            velocity,
            source,
            rep,
            grad_source,
            kinks: 0,
            unresolved: 0,
            velocity_gradient: true,
            codes: Vec::new(),
            tape_scratch: piece_tape::Scratch::default(),
            lin: Linearization::default(),
            ext: Vec::new(),
            flux: Vec::new(),
            fb: Vec::new(),
            ga: Vec::new(),
            scratch: AdjScratch::default(),
            pool: Vec::new(),
            spare: Vec::new(),
            ctx: None,
        })
    }

    /// Free the state buffers kept for reuse. A stepper keeps the buffers the checkpoint schedule
    /// hands back ([`Stepper::recycle`]), up to the schedule's peak number of states, so that a
    /// stepper reused across gradient calls (a training loop) does not touch fresh memory at every
    /// step.
    pub fn release_buffers(&mut self) {
        self.pool = Vec::new();
    }

    /// Reset the accumulated gradients and the kink count.
    pub fn reset(&mut self) {
        self.grad_velocity.iter_mut().for_each(|g| *g = 0.0);
        self.grad_source.iter_mut().for_each(|g| *g = 0.0);
        self.kinks = 0;
        self.unresolved = 0;
        self.ctx = None;
    }

    /// `J = sum_j (u_j(T) - target_j)^2 dx` after `steps` steps from `u0`, and `dJ/du0`
    /// (`dJ/da`, `dJ/ds` land in [`Self::grad_velocity`], [`Self::grad_source`]), with the
    /// checkpoint `schedule`. Resets the accumulators first.
    pub fn loss_gradient(
        &mut self,
        u0: &[f64],
        target: &[f64],
        steps: usize,
        schedule: &Schedule,
    ) -> Result<(f64, Vec<f64>, RunStats)> {
        let n = self.transport.grid.cells;
        if u0.len() != n || target.len() != n {
            return Err(Error::shape("transport loss", format!("state and target must have {n} cells")));
        }
        if let Schedule::Revolve { snapshots: 0 } = schedule {
            return Err(Error::invalid("checkpoint schedule", "revolve needs at least one snapshot"));
        }
        if !self.transport.scheme.is_linear() {
            self.transport.check_cfl(u0)?;
        }
        self.reset();
        if let (Schedule::StoreAll, false, 1, true) =
            (schedule, self.velocity_gradient, self.velocity.len(), self.velocity.first().is_some_and(|&a| a != 0.0))
        {
            if let Some(r) = self.loss_gradient_taped(u0, target, steps) {
                return Ok(r);
            }
        }
        let dx = self.transport.grid.dx();
        let mut j = 0.0;
        let (_, g0, stats) = checkpoint::gradient(self, &u0.to_vec(), steps, schedule, |u: &Vec<f64>| {
            j = u.iter().zip(target).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() * dx;
            u.iter().zip(target).map(|(a, b)| 2.0 * (a - b) * dx).collect()
        });
        Ok((j, g0, stats))
    }
}

impl TransportStepper {
    /// `J = sum_j (u_j(T) - target_j)^2 dx` and `dJ/du0` in mode `safe` (branch-locked reverse mode),
    /// through a piece tape: the forward sweep carries the tangents of `u` along `directions` probe
    /// directions in `u0`-space (standard normal from `crate::Rng::new(seed)`, direction by direction,
    /// component by component), locks the limiter's piece at
    /// every kink face lexicographically along them, and the reverse sweep differentiates the locked
    /// pieces. The result is the gradient of one smooth piece-composition that agrees with `J` on a
    /// cone around the first direction, so it does not depend on the representation (ties that
    /// survive every direction keep the rule's weights and are counted in [`Self::unresolved`]); its
    /// dot product with the first direction is the one-sided directional derivative `J'(u0; d_1)`.
    /// [`Self::grad_source`] accumulates with the locked pieces; the velocity gradient is not formed.
    ///
    /// Needs a constant velocity `a != 0` and an upwind, Lax-Wendroff or piecewise-affine limited
    /// scheme (not van Leer, not Burgers); other cases are an error (the tape path,
    /// [`Transport::step_var`] with [`crate::Mode::safe`], handles them). Memory: one byte per face
    /// and step plus the tangents.
    pub fn loss_gradient_safe(
        &mut self,
        u0: &[f64],
        target: &[f64],
        steps: usize,
        seed: u64,
        directions: usize,
    ) -> Result<(f64, Vec<f64>, RunStats)> {
        let n = self.transport.grid.cells;
        if u0.len() != n || target.len() != n {
            return Err(Error::shape("transport loss", format!("state and target must have {n} cells")));
        }
        if directions == 0 || directions > piece_tape::MAX_DIRECTIONS {
            return Err(Error::invalid(
                "directions",
                format!("safe mode takes 1 to {} probe directions, got {directions}", piece_tape::MAX_DIRECTIONS),
            ));
        }
        self.reset();
        let unsupported = || {
            Error::invalid(
                "safe stepper",
                "the piece tape needs a constant non-zero velocity and upwind, lw or a minmod/superbee/mc limiter",
            )
        };
        if self.velocity.len() != 1 || self.velocity[0] == 0.0 {
            return Err(unsupported());
        }
        let ctx = self.ctx.get_or_insert_with(|| LinCtx::new(self.transport.scheme, &self.rep));
        let pieces = Pieces::of(self.transport.scheme, ctx.ruled.as_ref()).ok_or_else(unsupported)?;
        let (t, a) = (&self.transport, self.velocity[0]);
        let lambda = t.lambda();
        let mut rng = crate::Rng::new(seed);
        let mut tang: Vec<Vec<f64>> = (0..directions).map(|_| (0..n).map(|_| rng.normal()).collect()).collect();
        let tape_len = steps * n;
        self.codes.resize(tape_len, 0);
        let mut u = u0.to_vec();
        let mut next = vec![0.0; n];
        let (mut text, mut tflux) = (Vec::new(), Vec::new());
        let src = self.source.as_deref();
        for k in 0..steps {
            let codes = &mut self.codes[k * n..(k + 1) * n];
            self.kinks +=
                piece_tape::step_taped(t, a, &pieces, &u, src, &mut self.ext, &mut self.flux, codes, &mut next);
            self.unresolved +=
                piece_tape::lock_step(lambda, a, &pieces, &self.ext, codes, &mut tang, &mut text, &mut tflux);
            std::mem::swap(&mut u, &mut next);
        }
        let dx = t.grid.dx();
        let j = u.iter().zip(target).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() * dx;
        let mut g: Vec<f64> = u.iter().zip(target).map(|(a, b)| 2.0 * (a - b) * dx).collect();
        let mut out = next;
        for k in (0..steps).rev() {
            let codes = &self.codes[k * n..(k + 1) * n];
            piece_tape::adjoint_taped(lambda, a, &pieces, codes, &g, &mut self.tape_scratch, &mut out);
            if src.is_some() {
                for (acc, v) in self.grad_source.iter_mut().zip(&g) {
                    *acc += t.dt * v;
                }
            }
            std::mem::swap(&mut g, &mut out);
        }
        let stats = RunStats {
            steps,
            forward_steps: steps,
            recomputed_steps: 0,
            total_forward_steps: steps,
            adjoint_steps: steps,
            peak_stored_states: 0,
            peak_bytes: tape_len + directions * n * std::mem::size_of::<f64>(),
        };
        Ok((j, g, stats))
    }

    /// [`Self::loss_gradient`] with the store-all schedule through a piece tape (`None` when the
    /// scheme has none). Velocity `a = velocity[0] != 0`.
    fn loss_gradient_taped(&mut self, u0: &[f64], target: &[f64], steps: usize) -> Option<(f64, Vec<f64>, RunStats)> {
        let ctx = self.ctx.get_or_insert_with(|| LinCtx::new(self.transport.scheme, &self.rep));
        let pieces = Pieces::of(self.transport.scheme, ctx.ruled.as_ref())?;
        let (t, a, n) = (&self.transport, self.velocity[0], u0.len());
        let taped = matches!(pieces, Pieces::Limited { .. });
        let tape_len = if taped { steps * n } else { 0 };
        self.codes.resize(tape_len, 0);
        let mut u = u0.to_vec();
        let mut next = std::mem::take(&mut self.spare);
        next.resize(n, 0.0);
        let src = self.source.as_deref();
        for k in 0..steps {
            let codes = if taped { &mut self.codes[k * n..(k + 1) * n] } else { &mut [][..] };
            self.kinks +=
                piece_tape::step_taped(t, a, &pieces, &u, src, &mut self.ext, &mut self.flux, codes, &mut next);
            std::mem::swap(&mut u, &mut next);
        }
        let dx = t.grid.dx();
        let j = u.iter().zip(target).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() * dx;
        let mut g: Vec<f64> = u.iter().zip(target).map(|(a, b)| 2.0 * (a - b) * dx).collect();
        let mut out = next;
        let lambda = t.lambda();
        for k in (0..steps).rev() {
            let codes = if taped { &self.codes[k * n..(k + 1) * n] } else { &[][..] };
            piece_tape::adjoint_taped(lambda, a, &pieces, codes, &g, &mut self.tape_scratch, &mut out);
            if src.is_some() {
                for (acc, v) in self.grad_source.iter_mut().zip(&g) {
                    *acc += t.dt * v;
                }
            }
            std::mem::swap(&mut g, &mut out);
        }
        self.spare = out;
        let stats = RunStats {
            steps,
            forward_steps: steps,
            recomputed_steps: 0,
            total_forward_steps: steps,
            adjoint_steps: steps,
            peak_stored_states: 0,
            peak_bytes: tape_len,
        };
        Some((j, g, stats))
    }
}

impl Stepper for TransportStepper {
    type State = Vec<f64>;
    type Adjoint = Vec<f64>;
    fn step(&mut self, _n: usize, u: &Vec<f64>) -> Vec<f64> {
        let mut out = match self.pool.pop() {
            Some(mut v) => {
                v.resize(u.len(), 0.0);
                v
            }
            None => vec![0.0; u.len()],
        };
        self.transport.step_values(u, &self.velocity, self.source.as_deref(), &mut self.ext, &mut self.flux, &mut out);
        out
    }
    fn step_adjoint(&mut self, _n: usize, u: &Vec<f64>, g: Vec<f64>) -> Vec<f64> {
        // the same arithmetic compiled for the CPU's vector units (same bits on every path)
        step_adjoint_wide(self, u, g)
    }
    fn state_bytes(&self, u: &Vec<f64>) -> usize {
        u.len() * std::mem::size_of::<f64>()
    }
    fn recycle(&mut self, state: Vec<f64>) {
        self.pool.push(state);
    }
}

impl TransportStepper {
    #[inline(always)]
    fn step_adjoint_body(&mut self, u: &[f64], g: Vec<f64>) -> Vec<f64> {
        let n = u.len();
        let ctx = self.ctx.get_or_insert_with(|| LinCtx::new(self.transport.scheme, &self.rep));
        let a = &self.velocity;
        if a.len() == 1 && a[0] != 0.0 {
            // fused adjoint: no Linearization materialised; the output reuses a spare buffer
            let mut out = std::mem::take(&mut self.spare);
            out.resize(n, 0.0);
            Transport::extend(u, &mut self.ext);
            let t = &self.transport;
            let (ext, sc) = (&self.ext, &mut self.scratch);
            let slow_of = |r: &RuledLimiter, x: f64, y: f64| {
                let e = r.eval(x, y);
                (e.value, e.gx, e.gy)
            };
            let (ga, kinks) = match (t.scheme, &ctx.ruled) {
                (Scheme::Upwind, _) => {
                    t.adjoint_const(a[0], ext, &g, sc, &mut out, |_, _| (0.0, 0.0, 0.0, false), |_, _| (0.0, 0.0, 0.0))
                }
                (Scheme::LaxWendroff, _) => {
                    t.adjoint_const(a[0], ext, &g, sc, &mut out, |x, _| (x, 1.0, 0.0, false), |x, _| (x, 1.0, 0.0))
                }
                (Scheme::Limited(Limiter::Minmod), Some(r)) => {
                    t.adjoint_const(a[0], ext, &g, sc, &mut out, super::limiter::minmod_branch_free, |x, y| {
                        slow_of(r, x, y)
                    })
                }
                (Scheme::Limited(_), Some(r)) => t.adjoint_const(
                    a[0],
                    ext,
                    &g,
                    sc,
                    &mut out,
                    |x, y| {
                        let e = r.eval(x, y);
                        (e.value, e.gx, e.gy, e.kink)
                    },
                    |x, y| slow_of(r, x, y),
                ),
                _ => unreachable!("a limited scheme always has a tabulated limiter"),
            };
            self.kinks += kinks;
            self.grad_velocity[0] += ga;
            if self.source.is_some() {
                let dt = self.transport.dt;
                for (acc, v) in self.grad_source.iter_mut().zip(&g) {
                    *acc += dt * v;
                }
            }
            self.spare = g;
            return out;
        }
        self.kinks += self.transport.step_lin(
            u,
            &self.velocity,
            self.source.as_deref(),
            ctx,
            &mut self.lin,
            &mut self.ext,
            &mut self.flux,
            None,
            None,
        );
        let mut out = std::mem::take(&mut self.spare);
        out.resize(n, 0.0);
        self.lin.adj_u(&g, &mut out, &mut self.fb);
        if !self.velocity.is_empty() {
            // adj_u left the face cotangents of g in fb
            self.ga.resize(self.velocity.len(), 0.0);
            self.lin.adj_a_from_faces(&self.fb, &mut self.ga);
            for (acc, v) in self.grad_velocity.iter_mut().zip(&self.ga) {
                *acc += v;
            }
        }
        if self.source.is_some() {
            let dt = self.transport.dt;
            for (acc, v) in self.grad_source.iter_mut().zip(&g) {
                *acc += dt * v;
            }
        }
        self.spare = g;
        out
    }
}

#[inline(always)]
fn step_values_free(
    t: &Transport,
    u: &[f64],
    a: &[f64],
    s: Option<&[f64]>,
    ext: &mut Vec<f64>,
    flux: &mut Vec<f64>,
    out: &mut [f64],
) {
    t.step_values_body(u, a, s, ext, flux, out)
}

wide_fn! {
    /// [`Transport::step_values`] compiled for the CPU's vector units.
    fn step_values_wide(
        t: &Transport,
        u: &[f64],
        a: &[f64],
        s: Option<&[f64]>,
        ext: &mut Vec<f64>,
        flux: &mut Vec<f64>,
        out: &mut [f64],
    ) = step_values_free;
}

#[inline(always)]
fn step_adjoint_free(st: &mut TransportStepper, u: &[f64], g: Vec<f64>) -> Vec<f64> {
    st.step_adjoint_body(u, g)
}

wide_fn! {
    /// The stepper's adjoint step compiled for the CPU's vector units.
    fn step_adjoint_wide(st: &mut TransportStepper, u: &[f64], g: Vec<f64>) -> Vec<f64> = step_adjoint_free;
}
