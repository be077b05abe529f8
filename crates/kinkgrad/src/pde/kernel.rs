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

/// The per-face partials of a step as the kernels read them: views over runs of faces, so that the
/// kernels' loops run over equal-length slices (no bounds checks; they vectorise).
pub(crate) trait FaceCoefs {
    /// Whether `cm1` (the partial on `u_{j-1}`) can be non-zero.
    const M1: bool;
    /// Whether `cp2` (the partial on `u_{j+2}`) can be non-zero.
    const P2: bool;
    /// A view of faces `start..start + len`.
    type View<'a>: CoefView
    where
        Self: 'a;
    /// The faces `start..start + len` (panics if they are not all available).
    fn view(&self, start: usize, len: usize) -> Self::View<'_>;
}

/// The partials of a run of faces, indexed from 0.
pub(crate) trait CoefView {
    /// `dF_j/du_{j-1}`.
    fn cm1(&self, k: usize) -> f64;
    /// `dF_j/du_j`.
    fn c0(&self, k: usize) -> f64;
    /// `dF_j/du_{j+1}`.
    fn cp1(&self, k: usize) -> f64;
    /// `dF_j/du_{j+2}`.
    fn cp2(&self, k: usize) -> f64;
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
    fn cells(&self, k: usize) -> (f64, f64, f64) {
        cell_partials::<S>(self.a, self.c, self.gx[k], self.gy[k])
    }
}

impl<'b, S: Side> FaceCoefs for OnTheFly<'b, S> {
    const M1: bool = S::POS;
    const P2: bool = !S::POS;
    type View<'a>
        = OnTheFly<'a, S>
    where
        Self: 'a;
    #[inline(always)]
    fn view(&self, start: usize, len: usize) -> OnTheFly<'_, S> {
        OnTheFly::new(self.a, self.c, &self.gx[start..start + len], &self.gy[start..start + len])
    }
}

impl<S: Side> CoefView for OnTheFly<'_, S> {
    #[inline(always)]
    fn cm1(&self, k: usize) -> f64 {
        if S::POS {
            self.cells(k).0
        } else {
            0.0
        }
    }
    #[inline(always)]
    fn c0(&self, k: usize) -> f64 {
        if S::POS {
            self.cells(k).1
        } else {
            self.cells(k).2
        }
    }
    #[inline(always)]
    fn cp1(&self, k: usize) -> f64 {
        if S::POS {
            self.cells(k).2
        } else {
            self.cells(k).1
        }
    }
    #[inline(always)]
    fn cp2(&self, k: usize) -> f64 {
        if S::POS {
            0.0
        } else {
            self.cells(k).0
        }
    }
}

/// The cell partials of a hoisted side `S` per piece code, formed once per code by the face formula
/// ([`cell_partials`]) from the code's limiter partials: the values [`OnTheFly`] forms per face, so
/// reading them gives the same bits. `taps` are the three partials that can be non-zero, in the order
/// the adjoint sums them: `(cm1, c0, cp1)` for `a > 0`, `(c0, cp1, cp2)` for `a < 0`.
pub(crate) struct CellTable {
    /// The three taps per code.
    pub taps: [[f64; 32]; 3],
    /// Number of codes.
    pub len: usize,
}

impl CellTable {
    /// The taps of side `S` for the velocity `a`, `c = dF/dB` ([`super::face::slope_coef`]) and the
    /// limiter partials per code.
    pub(crate) fn new<S: Side>(a: f64, c: f64, table: &super::limiter::PieceTable) -> Self {
        let mut taps = [[0.0; 32]; 3];
        for code in 0..table.len {
            let (far, up, down) = cell_partials::<S>(a, c, table.gx[code], table.gy[code]);
            let t = if S::POS { [far, up, down] } else { [down, up, far] };
            for (tap, v) in taps.iter_mut().zip(t) {
                tap[code] = v;
            }
        }
        Self { taps, len: table.len }
    }

    /// The taps of one code (every face of a one-piece slope: upwind, Lax-Wendroff).
    pub(crate) fn code(&self, code: u8) -> [f64; 3] {
        self.taps.map(|t| t[code as usize])
    }
}

/// The tap holding a partial of side `S`: `cm1` (0), `c0` (1), `cp1` (2), `cp2` (3) among the
/// [`CellTable`] order; `None` for the structural zero.
#[inline(always)]
const fn tap<S: Side>(partial: usize) -> Option<usize> {
    if S::POS {
        if partial <= 2 {
            Some(partial)
        } else {
            None
        }
    } else if partial >= 1 {
        Some(partial - 1)
    } else {
        None
    }
}

/// The partials of side `S` per face as three materialised taps (a [`CellTable`] looked up by the
/// faces' codes).
pub(crate) struct Tabled<'a, S: Side> {
    taps: [&'a [f64]; 3],
    side: PhantomData<S>,
}

impl<'a, S: Side> Tabled<'a, S> {
    /// The taps per face, in the [`CellTable`] order.
    pub(crate) fn new(taps: [&'a [f64]; 3]) -> Self {
        Self { taps, side: PhantomData }
    }
    #[inline(always)]
    fn get(&self, partial: usize, k: usize) -> f64 {
        match tap::<S>(partial) {
            Some(t) => self.taps[t][k],
            None => 0.0,
        }
    }
}

impl<'b, S: Side> FaceCoefs for Tabled<'b, S> {
    const M1: bool = S::POS;
    const P2: bool = !S::POS;
    type View<'a>
        = Tabled<'a, S>
    where
        Self: 'a;
    #[inline(always)]
    fn view(&self, start: usize, len: usize) -> Tabled<'_, S> {
        Tabled::new(self.taps.map(|t| &t[start..start + len]))
    }
}

impl<S: Side> CoefView for Tabled<'_, S> {
    #[inline(always)]
    fn cm1(&self, k: usize) -> f64 {
        self.get(0, k)
    }
    #[inline(always)]
    fn c0(&self, k: usize) -> f64 {
        self.get(1, k)
    }
    #[inline(always)]
    fn cp1(&self, k: usize) -> f64 {
        self.get(2, k)
    }
    #[inline(always)]
    fn cp2(&self, k: usize) -> f64 {
        self.get(3, k)
    }
}

/// The same partials at every face (a one-piece slope: upwind, Lax-Wendroff), in the [`CellTable`]
/// order.
pub(crate) struct Uniform<S: Side> {
    taps: [f64; 3],
    side: PhantomData<S>,
}

impl<S: Side> Clone for Uniform<S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S: Side> Copy for Uniform<S> {}

impl<S: Side> Uniform<S> {
    /// The taps of every face.
    pub(crate) fn new(taps: [f64; 3]) -> Self {
        Self { taps, side: PhantomData }
    }
    #[inline(always)]
    fn get(&self, partial: usize) -> f64 {
        match tap::<S>(partial) {
            Some(t) => self.taps[t],
            None => 0.0,
        }
    }
}

impl<S: Side> FaceCoefs for Uniform<S> {
    const M1: bool = S::POS;
    const P2: bool = !S::POS;
    type View<'a>
        = Uniform<S>
    where
        Self: 'a;
    #[inline(always)]
    fn view(&self, _: usize, _: usize) -> Uniform<S> {
        *self
    }
}

impl<S: Side> CoefView for Uniform<S> {
    #[inline(always)]
    fn cm1(&self, _: usize) -> f64 {
        self.get(0)
    }
    #[inline(always)]
    fn c0(&self, _: usize) -> f64 {
        self.get(1)
    }
    #[inline(always)]
    fn cp1(&self, _: usize) -> f64 {
        self.get(2)
    }
    #[inline(always)]
    fn cp2(&self, _: usize) -> f64 {
        self.get(3)
    }
}

/// One face's cotangent `λ (g_{j+1} - g_j)`.
#[inline(always)]
pub(crate) fn face_cotangent_of(lambda: f64, g1: f64, g0: f64) -> f64 {
    lambda * (g1 - g0)
}

/// Face cotangents `fb_j = λ (g_{j+1} - g_j)` (periodic).
#[inline(always)]
pub(crate) fn face_cotangent(lambda: f64, g: &[f64], fb: &mut Vec<f64>) {
    let n = g.len();
    fb.resize(n, 0.0);
    let (f, g0, g1) = (&mut fb[..n - 1], &g[..n - 1], &g[1..n]);
    for j in 0..n - 1 {
        f[j] = face_cotangent_of(lambda, g1[j], g0[j]);
    }
    fb[n - 1] = face_cotangent_of(lambda, g[0], g[n - 1]);
}

/// `g_i + fb_{i+1} cm1_{i+1} + fb_i c0_i + fb_{i-1} cp1_{i-1} + fb_{i-2} cp2_{i-2}` from the views at
/// the four faces (index `k` in each), the structural zeros skipped.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn adjoint_term<V: CoefView>(
    m1: bool,
    p2: bool,
    g: f64,
    (f1, v1, k1): (f64, &V, usize),
    (f0, v0, k0): (f64, &V, usize),
    (fm, vm, km): (f64, &V, usize),
    (fmm, vmm, kmm): (f64, &V, usize),
) -> f64 {
    let mut s = g;
    if m1 {
        s += f1 * v1.cm1(k1);
    }
    s += f0 * v0.c0(k0);
    s += fm * vm.cp1(km);
    if p2 {
        s += fmm * vmm.cp2(kmm);
    }
    s
}

/// The adjoint of a step with respect to `u`: `out = J_u^T g`. Leaves the face cotangents of `g` in
/// `fb` (the velocity's adjoint reads them).
#[inline(always)]
pub(crate) fn adjoint<C: FaceCoefs>(lambda: f64, c: &C, g: &[f64], fb: &mut Vec<f64>, out: &mut [f64]) {
    let n = g.len();
    face_cotangent(lambda, g, fb);
    let (fb, out) = (&fb[..n], &mut out[..n]);
    // cell i is read by faces i+1 (as u_{j-1}), i (u_j), i-1 (u_{j+1}) and i-2 (u_{j+2})
    let all = c.view(0, n);
    let at = |j: usize| (fb[j], &all, j);
    out[0] = adjoint_term(C::M1, C::P2, g[0], at(1), at(0), at(n - 1), at(n - 2));
    out[1] = adjoint_term(C::M1, C::P2, g[1], at(2), at(1), at(0), at(n - 1));
    out[n - 1] = adjoint_term(C::M1, C::P2, g[n - 1], at(0), at(n - 1), at(n - 2), at(n - 3));
    // the interior i = 2..n-1 on equal-length runs (vectorises)
    let m = n - 3;
    let (v1, v0, vm, vmm) = (c.view(3, m), c.view(2, m), c.view(1, m), c.view(0, m));
    let (f1, f0, fm, fmm) = (&fb[3..n], &fb[2..n - 1], &fb[1..n - 2], &fb[..m]);
    let (o, gg) = (&mut out[2..n - 1], &g[2..n - 1]);
    for k in 0..m {
        o[k] = adjoint_term(C::M1, C::P2, gg[k], (f1[k], &v1, k), (f0[k], &v0, k), (fm[k], &vm, k), (fmm[k], &vmm, k));
    }
}

/// `dF_j = cm1_j h_{j-1} + c0_j h_j + cp1_j h_{j+1} + cp2_j h_{j+2}`, the structural zeros skipped.
#[inline(always)]
fn tangent_term<V: CoefView>(m1: bool, p2: bool, v: &V, k: usize, [hm, h0, hp, hpp]: [f64; 4]) -> f64 {
    let mut s = if m1 { v.cm1(k) * hm + v.c0(k) * h0 } else { v.c0(k) * h0 };
    s += v.cp1(k) * hp;
    if p2 {
        s += v.cp2(k) * hpp;
    }
    s
}

/// The face tangents of a step: `df_j = cm1_j h_{j-1} + c0_j h_j + cp1_j h_{j+1} + cp2_j h_{j+2}`.
#[inline(always)]
fn face_tangents<C: FaceCoefs>(c: &C, h: &[f64], df: &mut Vec<f64>) {
    let n = h.len();
    df.resize(n, 0.0);
    let d = &mut df[..n];
    let all = c.view(0, n);
    let (m1, p2) = (C::M1, C::P2);
    d[0] = tangent_term(m1, p2, &all, 0, [h[n - 1], h[0], h[1], h[2]]);
    d[n - 2] = tangent_term(m1, p2, &all, n - 2, [h[n - 3], h[n - 2], h[n - 1], h[0]]);
    d[n - 1] = tangent_term(m1, p2, &all, n - 1, [h[n - 2], h[n - 1], h[0], h[1]]);
    // the interior j = 1..n-2 on equal-length runs (vectorises)
    let m = n - 3;
    let v = c.view(1, m);
    let (hm, h0, hp, hpp) = (&h[..m], &h[1..m + 1], &h[2..m + 2], &h[3..m + 3]);
    let di = &mut d[1..m + 1];
    for k in 0..m {
        di[k] = tangent_term(m1, p2, &v, k, [hm[k], h0[k], hp[k], hpp[k]]);
    }
}

/// A cell's new tangent from its old one and its two faces' tangents: `h_i - λ (df_i - df_{i-1})`.
#[inline(always)]
fn cell_tangent(lambda: f64, h: f64, d1: f64, d0: f64) -> f64 {
    h - lambda * (d1 - d0)
}

/// The tangent of a step with respect to `u`: `out = J_u h` (`df` is scratch for the face tangents).
#[inline(always)]
pub(crate) fn tangent<C: FaceCoefs>(lambda: f64, c: &C, h: &[f64], df: &mut Vec<f64>, out: &mut [f64]) {
    let n = h.len();
    face_tangents(c, h, df);
    let (d, out) = (&df[..n], &mut out[..n]);
    out[0] = cell_tangent(lambda, h[0], d[0], d[n - 1]);
    let (o, hh, d1, d0) = (&mut out[1..n], &h[1..n], &d[1..n], &d[..n - 1]);
    for j in 0..n - 1 {
        o[j] = cell_tangent(lambda, hh[j], d1[j], d0[j]);
    }
}

/// [`tangent`] in place: `h <- J_u h`, the same operations (the face tangents read `h` before any
/// cell is written), so the same bits, without a copy of `h`.
#[inline(always)]
pub(crate) fn tangent_in_place<C: FaceCoefs>(lambda: f64, c: &C, h: &mut [f64], df: &mut Vec<f64>) {
    let n = h.len();
    face_tangents(c, h, df);
    let d = &df[..n];
    h[0] = cell_tangent(lambda, h[0], d[0], d[n - 1]);
    let (hh, d1, d0) = (&mut h[1..n], &d[1..n], &d[..n - 1]);
    for j in 0..n - 1 {
        hh[j] = cell_tangent(lambda, hh[j], d1[j], d0[j]);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pde::face::{slope_coef, Neg, Pos};
    use crate::pde::limiter::PieceTable;
    use crate::pde::lookup::lookup;

    /// The adjoint read from a [`CellTable`] (three looked-up taps, or one code's taps at every face)
    /// equals, bit for bit, the adjoint with the partials formed on the fly from the limiter partials
    /// ([`OnTheFly`], the reference): both sides, every code of an 8-code table with partials that are
    /// not exact in binary, on a cotangent with mixed signs.
    #[test]
    fn tabled_adjoint_equals_on_the_fly() {
        fn check<S: Side>() {
            let (a, lambda) = (if S::POS { 0.9 } else { -0.7 }, 0.55);
            let mut t = PieceTable::single(0.0);
            for m in 0..8 {
                (t.gx[m], t.gy[m]) = (0.1 * m as f64 + 1.0 / 3.0, 0.7 - 0.3 * m as f64);
            }
            t.len = 8;
            let c = slope_coef::<S>(a, lambda);
            let cells = CellTable::new::<S>(a, c, &t);
            let n = 37;
            let codes: Vec<u8> = (0..n).map(|j| ((j * 5 + 1) % 8) as u8).collect();
            let g: Vec<f64> = (0..n).map(|j| (j as f64 * 0.77).sin() - 0.2).collect();
            let (mut gx, mut gy, mut fb) = (vec![], vec![], vec![]);
            lookup(&codes, t.len, [&t.gx, &t.gy], [&mut gx, &mut gy]);
            let mut want = vec![0.0; n];
            adjoint(lambda, &OnTheFly::<S>::new(a, c, &gx, &gy), &g, &mut fb, &mut want);
            let [t0, t1, t2] = &cells.taps;
            let (mut p0, mut p1, mut p2) = (vec![], vec![], vec![]);
            lookup(&codes, cells.len, [t0, t1, t2], [&mut p0, &mut p1, &mut p2]);
            let mut got = vec![0.0; n];
            adjoint(lambda, &Tabled::<S>::new([&p0, &p1, &p2]), &g, &mut fb, &mut got);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "tabled, a = {a}");
            // one code everywhere: the uniform taps
            let ones = vec![3u8; n];
            lookup(&ones, t.len, [&t.gx, &t.gy], [&mut gx, &mut gy]);
            adjoint(lambda, &OnTheFly::<S>::new(a, c, &gx, &gy), &g, &mut fb, &mut want);
            adjoint(lambda, &Uniform::<S>::new(cells.code(3)), &g, &mut fb, &mut got);
            assert_eq!(bits(&got), bits(&want), "uniform, a = {a}");
        }
        check::<Pos>();
        check::<Neg>();
    }
}
