//! One step's linearisation: the selected pieces of every face, in the form the kernels read.
//!
//! [`StepPieces::select`] decides the pieces of every face of one step at the state `u`: by the
//! representation's rules, and, given tangents along `k` directions, locked lexicographically at the
//! kink faces by [`super::lock::lock_faces`]. For a constant velocity `a != 0` the upwind side is
//! hoisted and the pieces are kept as the limiter's value, code and partials per face (the kernels
//! form the face partials on the fly, [`OnTheFly`]); otherwise (a velocity per face, `a = 0`, Burgers)
//! the face partials are materialised in a [`Linearization`].

use super::face::{flux_da, jumps, partials, slope_coef, Neg, Pos};
use super::forward::{extend, slopes_coded, SlopeKernel};
use super::kernel::{self, CoefView, FaceCoefs, OnTheFly};
use super::limiter::{Limiter, PieceTable};
use super::lock::{is_kink_code, lock_faces, select_face, Decide, Tangents};
use super::rules::Rules;
use crate::primitive::godunov::Godunov;

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
}

impl FaceCoefs for Linearization {
    const M1: bool = true;
    const P2: bool = true;
    type View<'a> = LinView<'a>;
    #[inline(always)]
    fn view(&self, start: usize, len: usize) -> LinView<'_> {
        let r = start..start + len;
        LinView { cm1: &self.cm1[r.clone()], c0: &self.c0[r.clone()], cp1: &self.cp1[r.clone()], cp2: &self.cp2[r] }
    }
}

/// A run of faces of a [`Linearization`].
pub(crate) struct LinView<'a> {
    cm1: &'a [f64],
    c0: &'a [f64],
    cp1: &'a [f64],
    cp2: &'a [f64],
}

impl CoefView for LinView<'_> {
    #[inline(always)]
    fn cm1(&self, k: usize) -> f64 {
        self.cm1[k]
    }
    #[inline(always)]
    fn c0(&self, k: usize) -> f64 {
        self.c0[k]
    }
    #[inline(always)]
    fn cp1(&self, k: usize) -> f64 {
        self.cp1[k]
    }
    #[inline(always)]
    fn cp2(&self, k: usize) -> f64 {
        self.cp2[k]
    }
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
    pub(crate) fn set(&mut self, j: usize, c: &[f64; 5]) {
        self.ca[j] = c[0];
        self.cm1[j] = c[1];
        self.c0[j] = c[2];
        self.cp1[j] = c[3];
        self.cp2[j] = c[4];
    }
    /// Tangent of the update from a tangent `h` of `u`: `h_j - lambda (dF_j - dF_{j-1})`.
    pub fn tan_u(&self, h: &[f64], out: &mut [f64]) {
        kernel::tangent(self.lambda, self, h, &mut Vec::new(), out);
    }
    /// Tangent of the update from a tangent `h` of the velocity (length `a_len`).
    pub fn tan_a(&self, h: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        kernel::add_velocity_tangent(self.lambda, &self.ca[..self.n], h, out);
    }
    /// Adjoint with respect to `u`: `out = J_u^T g` (`fb` receives the face cotangents).
    pub fn adj_u(&self, g: &[f64], out: &mut [f64], fb: &mut Vec<f64>) {
        kernel::adjoint(self.lambda, self, g, fb, out);
    }
    /// Adjoint with respect to the velocity: `out = J_a^T g` (length `a_len`).
    pub fn adj_a(&self, g: &[f64], out: &mut [f64], fb: &mut Vec<f64>) {
        kernel::face_cotangent(self.lambda, g, fb);
        kernel::velocity_adjoint(fb, &self.ca[..self.n], out, &mut Vec::new());
    }
}

/// The selected pieces of one step.
#[derive(Default)]
pub(crate) struct StepPieces {
    /// Constant velocity `a != 0` (side hoisted): the fields below; otherwise [`Self::lin`].
    hoisted: bool,
    a: f64,
    lambda: f64,
    /// Periodic extension of the state.
    pub ext: Vec<f64>,
    /// Per face: the upwind side's slope value, its code (selected pieces), their partials.
    pub b: Vec<f64>,
    pub codes: Vec<u8>,
    pub gx: Vec<f64>,
    pub gy: Vec<f64>,
    /// The materialised partials (velocity per face, `a = 0`, Burgers).
    pub lin: Linearization,
    /// Faces on a kink.
    pub kink_faces: Vec<usize>,
    ca: Vec<f64>,
    scratch: Vec<f64>,
    pub fb: Vec<f64>,
}

impl StepPieces {
    /// Decide the pieces of every face at `u` (velocity `a`: one value, one per face, or none for
    /// Burgers) by the rules, locking the kink faces along `lock`'s tangents when given. Returns
    /// `(kinks, unresolved ties)`.
    #[inline(always)]
    pub(crate) fn select(
        &mut self,
        rules: &Rules,
        lambda: f64,
        u: &[f64],
        a: &[f64],
        lock: Option<Tangents>,
    ) -> (usize, usize) {
        let n = u.len();
        extend(u, &mut self.ext);
        self.lambda = lambda;
        self.kink_faces.clear();
        self.hoisted = a.len() == 1 && a[0] != 0.0 && rules.slope.is_some();
        if !self.hoisted {
            let kinks = self.linearize(rules, lambda, a);
            let mut unresolved = 0;
            if let Some(tan) = lock {
                let lin = &mut self.lin;
                unresolved =
                    lock_faces(rules, lambda, u, a, self.kink_faces.iter().copied(), tan, |j, s| lin.set(j, &s.c));
            }
            return (kinks, unresolved);
        }
        let slope = rules.slope.expect("a linear scheme");
        self.a = a[0];
        for v in [&mut self.b, &mut self.gx, &mut self.gy] {
            v.resize(n, 0.0);
        }
        self.codes.resize(n, 0);
        let kinks;
        let mut unresolved = 0;
        if rules.coded() {
            kinks = with_slope_kernel!(slope, k => with_side!(self.a, S => slopes_coded::<S, _>(k, &self.ext, &mut self.b, &mut self.codes)));
            if kinks > 0 {
                let codes = &mut self.codes;
                self.kink_faces.extend((0..n).filter(|&j| is_kink_code(codes[j])));
                if let Some(tan) = lock {
                    let faces = self.kink_faces.iter().copied();
                    unresolved = lock_faces(rules, lambda, u, a, faces, tan, |j, s| codes[j] = s.code);
                }
            }
            lookup(&self.codes, &rules.table, &mut self.gx, &mut self.gy);
        } else {
            // van Leer: its rule per face (not coded)
            let mut k = 0;
            for j in 0..n {
                let e = &self.ext[j..j + 4];
                let (x, y) = if self.a > 0.0 {
                    jumps::<Pos>(e[0], e[1], e[2], e[3])
                } else {
                    jumps::<Neg>(e[0], e[1], e[2], e[3])
                };
                let r = Limiter::VanLeer.select(x, y, 0, |_, _| {}, &rules.limiter);
                (self.b[j], self.gx[j], self.gy[j]) = (r.value, r.gx, r.gy);
                if r.kink {
                    k += 1;
                    self.kink_faces.push(j);
                }
            }
            kinks = k;
            if let Some(tan) = lock {
                let (gx, gy) = (&mut self.gx, &mut self.gy);
                unresolved = lock_faces(rules, lambda, u, a, self.kink_faces.iter().copied(), tan, |j, s| {
                    (gx[j], gy[j]) = (s.gx, s.gy);
                });
            }
        }
        (kinks, unresolved)
    }

    /// The materialised linearisation by the rules; kink faces noted. Returns the kinks.
    fn linearize(&mut self, rules: &Rules, lambda: f64, a: &[f64]) -> usize {
        let n = self.ext.len() - 3;
        self.lin.resize(n, lambda, a.len());
        let (ext, lin, faces) = (&self.ext, &mut self.lin, &mut self.kink_faces);
        let window = |j: usize| [ext[j], ext[j + 1], ext[j + 2], ext[j + 3]];
        let mut kinks = 0;
        match rules.slope {
            // Burgers: the branch-free tied set, the rule at its kinks
            None => {
                for j in 0..n {
                    let (ul, ur) = (ext[j + 1], ext[j + 2]);
                    let (_, code) = Godunov::value_and_pieces(ul, ur);
                    let c = match code {
                        0b001 => [0.0, 0.0, ul, 0.0, 0.0],
                        0b010 => [0.0, 0.0, 0.0, ur, 0.0],
                        0b100 => [0.0; 5],
                        _ => {
                            let s = select_face(rules, 0.0, lambda, &window(j), Decide::Rule);
                            kinks += s.kinks as usize;
                            faces.push(j);
                            s.c
                        }
                    };
                    lin.set(j, &c);
                }
            }
            // a velocity per face (coded slopes): both sides from the table, the upwind one kept; the
            // faces with a_j = 0 by the rule
            Some(slope) if a.len() == n && rules.coded() => with_slope_kernel!(slope, k => {
                let t = &rules.table;
                for j in 0..n {
                    let w = window(j);
                    let aj = a[j];
                    if aj == 0.0 {
                        let s = select_face(rules, aj, lambda, &w, Decide::Rule);
                        lin.set(j, &s.c);
                        kinks += s.kinks as usize;
                        faces.push(j);
                        continue;
                    }
                    let code = if aj > 0.0 {
                        let (x, y) = jumps::<Pos>(w[0], w[1], w[2], w[3]);
                        let (b, c) = k.value_code(x, y);
                        lin.set(j, &partials::<Pos>(aj, lambda, &w, b, t.gx[c as usize], t.gy[c as usize]));
                        c
                    } else {
                        let (x, y) = jumps::<Neg>(w[0], w[1], w[2], w[3]);
                        let (b, c) = k.value_code(x, y);
                        lin.set(j, &partials::<Neg>(aj, lambda, &w, b, t.gx[c as usize], t.gy[c as usize]));
                        c
                    };
                    if is_kink_code(code) {
                        kinks += 1;
                        faces.push(j);
                    }
                }
            }),
            // anything else (van Leer per face, a constant a = 0): the rule face by face
            Some(_) => {
                for j in 0..n {
                    let aj = if a.len() == 1 { a[0] } else { a[j] };
                    let s = select_face(rules, aj, lambda, &window(j), Decide::Rule);
                    lin.set(j, &s.c);
                    if s.kinks > 0 {
                        kinks += s.kinks as usize;
                        faces.push(j);
                    }
                }
            }
        }
        kinks
    }

    /// `out = J_u^T g` on the selected pieces; the face cotangents stay in `self.fb`.
    #[inline(always)]
    pub(crate) fn adjoint(&mut self, g: &[f64], out: &mut [f64]) {
        if !self.hoisted {
            return kernel::adjoint(self.lambda, &self.lin, g, &mut self.fb, out);
        }
        let (a, lambda) = (self.a, self.lambda);
        with_side!(a, S => {
            let c = OnTheFly::<S>::new(a, slope_coef::<S>(a, lambda), &self.gx, &self.gy);
            kernel::adjoint(lambda, &c, g, &mut self.fb, out)
        })
    }

    /// `out = J_u h` on the selected pieces.
    #[inline(always)]
    pub(crate) fn tangent(&mut self, h: &[f64], out: &mut [f64]) {
        if !self.hoisted {
            return kernel::tangent(self.lambda, &self.lin, h, &mut self.scratch, out);
        }
        let (a, lambda) = (self.a, self.lambda);
        with_side!(a, S => {
            let c = OnTheFly::<S>::new(a, slope_coef::<S>(a, lambda), &self.gx, &self.gy);
            kernel::tangent(lambda, &c, h, &mut self.scratch, out)
        })
    }

    /// `dF_j/da` per face.
    #[inline(always)]
    pub(crate) fn velocity_partials(&mut self) -> &[f64] {
        if !self.hoisted {
            return &self.lin.ca[..self.lin.n];
        }
        let n = self.b.len();
        let (a, lambda, e) = (self.a, self.lambda, &self.ext);
        self.ca.resize(n, 0.0);
        let (ca, b) = (&mut self.ca[..n], &self.b[..n]);
        let (e1, e2) = (&e[1..n + 1], &e[2..n + 2]);
        with_side!(a, S => {
            for j in 0..n {
                ca[j] = flux_da::<S>(a, lambda, e1[j], e2[j], b[j]);
            }
        });
        &self.ca[..n]
    }

    /// `J_a^T g` after [`Self::adjoint`] (its face cotangents): one value for a constant velocity,
    /// one per face otherwise.
    #[inline(always)]
    pub(crate) fn velocity_adjoint(&mut self, out: &mut [f64]) {
        self.velocity_partials();
        let mut scratch = std::mem::take(&mut self.scratch);
        let ca = if self.hoisted { &self.ca[..self.b.len()] } else { &self.lin.ca[..self.lin.n] };
        kernel::velocity_adjoint(&self.fb, ca, out, &mut scratch);
        self.scratch = scratch;
    }

    /// Adds the velocity tangent's share `-λ (ca_j ha_j - ca_{j-1} ha_{j-1})` to `out`.
    pub(crate) fn add_velocity_tangent(&mut self, ha: &[f64], out: &mut [f64]) {
        let lambda = self.lambda;
        let ca = self.velocity_partials();
        kernel::add_velocity_tangent(lambda, ca, ha, out);
    }

    /// A copy of the materialised linearisation (for the tape's recorded linear maps): the hoisted
    /// pieces are written out by the same face formula.
    pub(crate) fn to_linearization(&self, a_len: usize) -> Linearization {
        if !self.hoisted {
            return self.lin.clone();
        }
        let n = self.b.len();
        let mut lin = Linearization::default();
        lin.resize(n, self.lambda, a_len);
        let (a, lambda, e) = (self.a, self.lambda, &self.ext);
        with_side!(a, S => {
            for j in 0..n {
                let w = [e[j], e[j + 1], e[j + 2], e[j + 3]];
                lin.set(j, &partials::<S>(a, lambda, &w, self.b[j], self.gx[j], self.gy[j]));
            }
        });
        lin
    }

    /// The per-face codes of a hoisted step (constant velocity `a != 0`); `None` otherwise.
    pub(crate) fn hoisted_codes(&self) -> Option<&[u8]> {
        self.hoisted.then(|| &self.codes[..self.b.len()])
    }

    /// Bytes of the buffers held.
    pub(crate) fn bytes(&self) -> usize {
        let l = &self.lin;
        8 * [
            &self.ext,
            &self.b,
            &self.gx,
            &self.gy,
            &self.ca,
            &self.scratch,
            &self.fb,
            &l.ca,
            &l.cm1,
            &l.c0,
            &l.cp1,
            &l.cp2,
        ]
        .iter()
        .map(|v| v.capacity())
        .sum::<usize>()
            + self.codes.capacity()
            + 8 * self.kink_faces.capacity()
    }
}

/// `gx_j = table.gx[codes_j]`, `gy_j = table.gy[codes_j]`.
#[inline(always)]
pub(crate) fn lookup(codes: &[u8], table: &PieceTable, gx: &mut Vec<f64>, gy: &mut Vec<f64>) {
    let n = codes.len();
    gx.resize(n, 0.0);
    gy.resize(n, 0.0);
    let (gx, gy) = (&mut gx[..n], &mut gy[..n]);
    #[cfg(target_arch = "x86_64")]
    {
        if table.len <= 8 && crate::simd::simd_level() == crate::simd::Simd::Avx512 {
            // SAFETY: the CPU supports AVX-512F (`simd_level` checked it); the slices have equal lengths.
            unsafe { lookup8_avx512(codes, &table.gx, &table.gy, gx, gy) };
            return;
        }
        if table.len <= 8 && crate::simd::simd_level() == crate::simd::Simd::Avx2 {
            // SAFETY: the CPU supports AVX2 (`simd_level` checked it); the slices have equal lengths.
            unsafe { lookup8_avx2(codes, &table.gx, &table.gy, gx, gy) };
            return;
        }
    }
    for j in 0..n {
        let c = codes[j] as usize & 31;
        gx[j] = table.gx[c];
        gy[j] = table.gy[c];
    }
}

/// [`lookup`] for codes below 8: the tables sit in one register each, and eight codes are widened to
/// indices and permuted at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn lookup8_avx512(codes: &[u8], tx: &[f64; 32], ty: &[f64; 32], gx: &mut [f64], gy: &mut [f64]) {
    use std::arch::x86_64::*;
    let n = codes.len();
    assert!(gx.len() == n && gy.len() == n);
    let (vx, vy) = (_mm512_loadu_pd(tx.as_ptr()), _mm512_loadu_pd(ty.as_ptr()));
    let chunks = n / 8;
    for c in 0..chunks {
        // SAFETY: 8 c + 8 <= n for the loads from codes and the stores to gx, gy
        let b = _mm_loadl_epi64(codes.as_ptr().add(8 * c) as *const __m128i);
        let idx = _mm512_cvtepu8_epi64(b);
        _mm512_storeu_pd(gx.as_mut_ptr().add(8 * c), _mm512_permutexvar_pd(idx, vx));
        _mm512_storeu_pd(gy.as_mut_ptr().add(8 * c), _mm512_permutexvar_pd(idx, vy));
    }
    for j in 8 * chunks..n {
        gx[j] = tx[codes[j] as usize & 7];
        gy[j] = ty[codes[j] as usize & 7];
    }
}

/// [`lookup`] for codes below 8 with AVX2: each half of a table (entries 0-3 and 4-7) sits in one
/// register as eight 32-bit lanes (entry `c` in lanes `2c`, `2c + 1`); four codes at a time pick their
/// entry from both halves (`vpermps`) and bit 2 of the code selects the half. Copies table entries
/// only: the same bits as the scalar loop.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn lookup8_avx2(codes: &[u8], tx: &[f64; 32], ty: &[f64; 32], gx: &mut [f64], gy: &mut [f64]) {
    use std::arch::x86_64::*;
    let n = codes.len();
    assert!(gx.len() == n && gy.len() == n);
    let half = |t: &[f64; 32], at: usize| _mm256_loadu_ps(t[at..at + 4].as_ptr() as *const f32);
    let (xl, xh, yl, yh) = (half(tx, 0), half(tx, 4), half(ty, 0), half(ty, 4));
    let (three, four, one_high) = (_mm256_set1_epi64x(3), _mm256_set1_epi64x(4), _mm256_set1_epi64x(1 << 32));
    let chunks = n / 4;
    for c in 0..chunks {
        // SAFETY: 4 c + 4 <= n bytes of codes
        let b = _mm_cvtsi32_si128(codes.as_ptr().add(4 * c).cast::<i32>().read_unaligned());
        let idx = _mm256_cvtepu8_epi64(b);
        // 64-bit lane: low 32 bits 2 (c & 3), high 32 bits 2 (c & 3) + 1
        let lo = _mm256_slli_epi64(_mm256_and_si256(idx, three), 1);
        let perm = _mm256_or_si256(lo, _mm256_add_epi64(_mm256_slli_epi64(lo, 32), one_high));
        let high = _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(idx, four), four));
        let pick = |l: __m256, h: __m256| {
            _mm256_blendv_pd(
                _mm256_castps_pd(_mm256_permutevar8x32_ps(l, perm)),
                _mm256_castps_pd(_mm256_permutevar8x32_ps(h, perm)),
                high,
            )
        };
        // SAFETY: as above, for the stores to gx and gy
        _mm256_storeu_pd(gx.as_mut_ptr().add(4 * c), pick(xl, xh));
        _mm256_storeu_pd(gy.as_mut_ptr().add(4 * c), pick(yl, yh));
    }
    for j in 4 * chunks..n {
        gx[j] = tx[codes[j] as usize & 7];
        gy[j] = ty[codes[j] as usize & 7];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX-512 and AVX2 table lookups and the scalar one agree (codes below 8, lengths around the
    /// vector widths): each entry is the table's, read back by index.
    #[test]
    fn table_lookup_paths_agree() {
        let mut t = PieceTable::single(0.0);
        for m in 0..8 {
            t.gx[m] = m as f64 + 0.25;
            t.gy[m] = -(m as f64) - 0.5;
        }
        t.len = 8;
        for n in [1, 7, 8, 9, 17, 100] {
            let codes: Vec<u8> = (0..n).map(|j| ((j * 5 + 3) % 8) as u8).collect();
            let (mut gx, mut gy) = (Vec::new(), Vec::new());
            lookup(&codes, &t, &mut gx, &mut gy);
            for j in 0..n {
                assert_eq!(gx[j], t.gx[codes[j] as usize]);
                assert_eq!(gy[j], t.gy[codes[j] as usize]);
            }
            // the AVX2 path directly (`lookup` takes AVX-512 where present)
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                let (mut ax, mut ay) = (vec![f64::NAN; n], vec![f64::NAN; n]);
                // SAFETY: AVX2 is present; the slices have equal lengths
                unsafe { lookup8_avx2(&codes, &t.gx, &t.gy, &mut ax, &mut ay) };
                assert_eq!((ax, ay), (gx.clone(), gy.clone()));
            }
        }
    }
}
