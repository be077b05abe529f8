//! The linear kernels of one step over all faces, written once: the adjoint (transpose) and the
//! tangent (linearised step), both reading the faces' partials through [`FaceCoefs`].
//!
//! One step is `u'_i = u_i - λ (F_i - F_{i-1}) + dt s_i`; with the partials `cm1, c0, cp1, cp2` of
//! `F_j` on `u_{j-1}, u_j, u_{j+1}, u_{j+2}`:
//!
//! ```text
//! tangent:  h'_i = h_i - λ (dF_i - dF_{i-1}),   dF_j = cm1_j h_{j-1} + c0_j h_j + cp1_j h_{j+1} + cp2_j h_{j+2}
//! adjoint:  ḡ_i = g_i + fb_{i+1} cm1_{i+1} + fb_i c0_i + fb_{i-1} cp1_{i-1} + fb_{i-2} cp2_{i-2},
//!           fb_j = λ (g_{j+1} - g_j)   (the face cotangents)
//! ```
//!
//! The partials come from one source per path: computed on the fly from the selected limiter pieces
//! for a hoisted upwind side ([`OnTheFly`], three taps: the fourth is structurally zero and skipped at
//! compile time), or materialised per face ([`super::linearize::Linearization`], four taps). The sums
//! run in the order written above on every path, so the paths agree bit for bit wherever their
//! partials do (a skipped structural zero can only change the sign of a zero sum).

use super::face::{cell_partials, Side};
use std::marker::PhantomData;

/// The per-face partials of a step as the kernels read them.
pub(crate) trait FaceCoefs {
    /// Whether `cm1` (the partial on `u_{j-1}`) can be non-zero.
    const M1: bool;
    /// Whether `cp2` (the partial on `u_{j+2}`) can be non-zero.
    const P2: bool;
    /// Panics unless partials of `n` faces are available (lets the compiler drop bounds checks).
    fn check(&self, n: usize);
    /// `dF_j/du_{j-1}`.
    fn cm1(&self, j: usize) -> f64;
    /// `dF_j/du_j`.
    fn c0(&self, j: usize) -> f64;
    /// `dF_j/du_{j+1}`.
    fn cp1(&self, j: usize) -> f64;
    /// `dF_j/du_{j+2}`.
    fn cp2(&self, j: usize) -> f64;
}

/// The partials of a hoisted side `S` (constant velocity `a`) from the selected limiter pieces'
/// partials `(gx_j, gy_j)` per face, by the face formula ([`cell_partials`]).
pub(crate) struct OnTheFly<'a, S: Side> {
    a: f64,
    c: f64,
    gx: &'a [f64],
    gy: &'a [f64],
    side: PhantomData<S>,
}

impl<'a, S: Side> OnTheFly<'a, S> {
    /// `a`, `c = dF/dB` ([`super::face::slope_coef`]) and the limiter partials per face.
    pub(crate) fn new(a: f64, c: f64, gx: &'a [f64], gy: &'a [f64]) -> Self {
        Self { a, c, gx, gy, side: PhantomData }
    }
    #[inline(always)]
    fn cells(&self, j: usize) -> (f64, f64, f64) {
        cell_partials::<S>(self.a, self.c, self.gx[j], self.gy[j])
    }
}

impl<S: Side> FaceCoefs for OnTheFly<'_, S> {
    const M1: bool = S::POS;
    const P2: bool = !S::POS;
    #[inline(always)]
    fn check(&self, n: usize) {
        assert!(self.gx.len() >= n && self.gy.len() >= n);
    }
    #[inline(always)]
    fn cm1(&self, j: usize) -> f64 {
        if S::POS {
            self.cells(j).0
        } else {
            0.0
        }
    }
    #[inline(always)]
    fn c0(&self, j: usize) -> f64 {
        if S::POS {
            self.cells(j).1
        } else {
            self.cells(j).2
        }
    }
    #[inline(always)]
    fn cp1(&self, j: usize) -> f64 {
        if S::POS {
            self.cells(j).2
        } else {
            self.cells(j).1
        }
    }
    #[inline(always)]
    fn cp2(&self, j: usize) -> f64 {
        if S::POS {
            0.0
        } else {
            self.cells(j).0
        }
    }
}

/// Face cotangents `fb_j = λ (g_{j+1} - g_j)` (periodic).
#[inline(always)]
pub(crate) fn face_cotangent(lambda: f64, g: &[f64], fb: &mut Vec<f64>) {
    let n = g.len();
    fb.resize(n, 0.0);
    let (f, g0, g1) = (&mut fb[..n - 1], &g[..n - 1], &g[1..n]);
    for j in 0..n - 1 {
        f[j] = lambda * (g1[j] - g0[j]);
    }
    fb[n - 1] = lambda * (g[0] - g[n - 1]);
}

/// The adjoint of a step with respect to `u`: `out = J_u^T g`. Leaves the face cotangents of `g` in
/// `fb` (the velocity's adjoint reads them).
#[inline(always)]
pub(crate) fn adjoint<C: FaceCoefs>(lambda: f64, c: &C, g: &[f64], fb: &mut Vec<f64>, out: &mut [f64]) {
    let n = g.len();
    face_cotangent(lambda, g, fb);
    let (fb, out) = (&fb[..n], &mut out[..n]);
    c.check(n);
    // cell i is read by faces i+1 (as u_{j-1}), i (u_j), i-1 (u_{j+1}) and i-2 (u_{j+2})
    let term = |i: usize, ip1: usize, im1: usize, im2: usize| {
        let mut s = g[i];
        if C::M1 {
            s += fb[ip1] * c.cm1(ip1);
        }
        s += fb[i] * c.c0(i);
        s += fb[im1] * c.cp1(im1);
        if C::P2 {
            s += fb[im2] * c.cp2(im2);
        }
        s
    };
    out[0] = term(0, 1, n - 1, n - 2);
    out[1] = term(1, 2, 0, n - 1);
    out[n - 1] = term(n - 1, 0, n - 2, n - 3);
    for i in 2..n - 1 {
        out[i] = term(i, i + 1, i - 1, i - 2);
    }
}

/// The tangent of a step with respect to `u`: `out = J_u h` (`df` is scratch for the face tangents).
#[inline(always)]
pub(crate) fn tangent<C: FaceCoefs>(lambda: f64, c: &C, h: &[f64], df: &mut Vec<f64>, out: &mut [f64]) {
    let n = h.len();
    df.resize(n, 0.0);
    let (d, out) = (&mut df[..n], &mut out[..n]);
    c.check(n);
    let term = |j: usize, jm1: usize, jp1: usize, jp2: usize| {
        let mut s = if C::M1 { c.cm1(j) * h[jm1] + c.c0(j) * h[j] } else { c.c0(j) * h[j] };
        s += c.cp1(j) * h[jp1];
        if C::P2 {
            s += c.cp2(j) * h[jp2];
        }
        s
    };
    d[0] = term(0, n - 1, 1, 2);
    for j in 1..n - 2 {
        d[j] = term(j, j - 1, j + 1, j + 2);
    }
    d[n - 2] = term(n - 2, n - 3, n - 1, 0);
    d[n - 1] = term(n - 1, n - 2, 0, 1);
    out[0] = h[0] - lambda * (d[0] - d[n - 1]);
    for j in 1..n {
        out[j] = h[j] - lambda * (d[j] - d[j - 1]);
    }
}

/// The velocity's share of a step's tangent, added to `out`: `out_j -= λ (ca_j ha_j - ca_{j-1} ha_{j-1})`
/// with `ha` one value (a constant velocity) or one per face.
pub(crate) fn add_velocity_tangent(lambda: f64, ca: &[f64], ha: &[f64], out: &mut [f64]) {
    let n = out.len();
    let df = |j: usize| ca[j] * if ha.len() == 1 { ha[0] } else { ha[j] };
    let mut prev = df(n - 1);
    for j in 0..n {
        let cur = df(j);
        out[j] += -lambda * (cur - prev);
        prev = cur;
    }
}

/// The velocity's adjoint from the face cotangents `fb` and `ca_j = dF_j/da`: one value
/// `sum_j fb_j ca_j` (a constant velocity, `out.len() == 1`; summed by [`sum8`]) or `fb_j ca_j` per face.
pub(crate) fn velocity_adjoint(fb: &[f64], ca: &[f64], out: &mut [f64], scratch: &mut Vec<f64>) {
    let n = ca.len();
    if out.len() == 1 {
        scratch.clear();
        scratch.extend(fb[..n].iter().zip(ca).map(|(f, c)| f * c));
        out[0] = sum8(scratch);
    } else {
        for j in 0..n {
            out[j] = fb[j] * ca[j];
        }
    }
}

/// A sum in a fixed order (eight interleaved partial sums, then a fixed tree): deterministic, and
/// it vectorises.
#[inline(always)]
pub(crate) fn sum8(p: &[f64]) -> f64 {
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
