//! The adjoint of a taped step (a constant velocity, a slope of at most 8 piece codes: minmod,
//! superbee, MC) in explicit AVX-512 and AVX2 code: one pass over the cells that reads the codes as
//! lanes and the cotangent `g`, and writes only the result.
//!
//! The portable route ([`super::kernel::adjoint`] over taps looked up by [`super::lookup::lookup`])
//! writes the three taps and the face cotangents of every face to memory and reads them back at
//! shifted positions; on AVX2 its stores bounded the reverse sweep. Here, for cell `i` and `o = i + 1`
//! (`a > 0`) or `o = i` (`a < 0`),
//!
//! ```text
//! out_i = ((g_i + fb_o T0[c_o]) + fb_{o-1} T1[c_{o-1}]) + fb_{o-2} T2[c_{o-2}],   fb_j = λ (g_{j+1} - g_j)
//! ```
//!
//! with the taps `T0, T1, T2` of [`CellTable`] (`(cm1, c0, cp1)` for `a > 0`, `(c0, cp1, cp2)` for
//! `a < 0`) and the codes `c_j` of the faces: the sum [`super::kernel::adjoint`] forms, term for term
//! in the same order (the same bits). Each tap is read from registers by the codes of its faces (AVX-512:
//! one `vpermpd` of the eight-entry table per eight faces; AVX2: the table's low and high 32-bit
//! halves permuted by `vpermd` and interleaved, as [`super::lookup`] does), no gather, no table
//! written per face. The face cotangents are formed where they are used (from shifted loads of `g`).
//! Cells `0`, `1` and those past the last full vector take the scalar form of the same sum.

use super::face::Side;
use super::kernel::CellTable;

/// `out = J_u^T g` for the faces' `codes` and the taps of side `S` in `cells`. Returns `false`
/// (writing nothing) when there is no explicit loop for the CPU level or the table has more than 8
/// codes (the caller takes the portable route).
#[inline(always)]
pub(crate) fn adjoint<S: Side>(lambda: f64, cells: &CellTable, codes: &[u8], g: &[f64], out: &mut [f64]) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::simd::{simd_level, Simd};
        let n = g.len();
        assert!(codes.len() == n && out.len() == n);
        if cells.len > 8 {
            return false;
        }
        let done = match simd_level() {
            // SAFETY: the CPU supports every feature of the variant (`simd_level` checked them); the
            // lengths are checked above
            Simd::Avx512 => unsafe { adjoint_avx512::<S>(lambda, &cells.taps, codes, g, out) },
            // SAFETY: as above
            Simd::Avx2 => unsafe { adjoint_avx2::<S>(lambda, &cells.taps, codes, g, out) },
            Simd::Baseline => return false,
        };
        tail::<S>(done, lambda, &cells.taps, codes, g, out);
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (lambda, cells, codes, g, out);
        false
    }
}

/// The offset `o - i` of the face of tap `T0`: `1` for `a > 0`, `0` for `a < 0`.
#[inline(always)]
const fn offset<S: Side>() -> usize {
    S::POS as usize
}

/// Cells `0`, `1` and `done..n` (those the vector loops left) by the scalar form.
#[inline(always)]
fn tail<S: Side>(done: usize, lambda: f64, taps: &[[f64; 32]; 3], codes: &[u8], g: &[f64], out: &mut [f64]) {
    let n = g.len();
    for i in (0..n.min(2)).chain(done.max(2)..n) {
        out[i] = cell::<S>(lambda, taps, codes, g, i);
    }
}

/// Cell `i` by the scalar form of the sum (periodic indices).
#[inline(always)]
fn cell<S: Side>(lambda: f64, taps: &[[f64; 32]; 3], codes: &[u8], g: &[f64], i: usize) -> f64 {
    let n = g.len();
    // face `i + d` (d in -2..=1), wrapped
    let face = |d: isize| (i as isize + d).rem_euclid(n as isize) as usize;
    let fb = |j: usize| lambda * (g[(j + 1) % n] - g[j]);
    let term = |t: usize, j: usize| fb(j) * taps[t][codes[j] as usize & 7];
    let o = offset::<S>() as isize;
    let mut s = g[i];
    s += term(0, face(o));
    s += term(1, face(o - 1));
    s += term(2, face(o - 2));
    s
}

/// The vector cells `2..end` with AVX-512 (`end` returned): eight cells at a time while every read
/// stays inside `g` and `codes` (`g_{o+8}`, `c_{o+7}` the last).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn adjoint_avx512<S: Side>(
    lambda: f64,
    taps: &[[f64; 32]; 3],
    codes: &[u8],
    g: &[f64],
    out: &mut [f64],
) -> usize {
    use std::arch::x86_64::*;
    let n = g.len();
    let d = offset::<S>();
    let regs = taps.each_ref().map(|t| _mm512_loadu_pd(t.as_ptr()));
    let vl = _mm512_set1_pd(lambda);
    let (gp, cp, op) = (g.as_ptr(), codes.as_ptr(), out.as_mut_ptr());
    let mut i = 2;
    while i + d + 9 <= n {
        let o = i + d;
        // SAFETY: the loads read g[o-2..o+9) and codes[o-2..o+8), inside the slices by the loop
        // condition (o - 2 >= 0 as i >= 2); the store writes out[i..i+8)
        let w = [gp.add(o - 2), gp.add(o - 1), gp.add(o), gp.add(o + 1)].map(|p| _mm512_loadu_pd(p));
        let fb = |k: usize| _mm512_mul_pd(vl, _mm512_sub_pd(w[k + 1], w[k]));
        let tap = |t: usize, f: usize| {
            let idx = _mm512_cvtepu8_epi64(_mm_loadl_epi64(cp.add(f) as *const __m128i));
            _mm512_permutexvar_pd(idx, regs[t])
        };
        let gi = w[2 - d];
        let mut s = _mm512_add_pd(gi, _mm512_mul_pd(fb(2), tap(0, o)));
        s = _mm512_add_pd(s, _mm512_mul_pd(fb(1), tap(1, o - 1)));
        s = _mm512_add_pd(s, _mm512_mul_pd(fb(0), tap(2, o - 2)));
        _mm512_storeu_pd(op.add(i), s);
        i += 8;
    }
    i
}

/// The vector cells `2..end` with AVX2 (`end` returned), eight cells at a time as two vectors of
/// four, while every read stays inside `g` and `codes`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn adjoint_avx2<S: Side>(lambda: f64, taps: &[[f64; 32]; 3], codes: &[u8], g: &[f64], out: &mut [f64]) -> usize {
    use std::arch::x86_64::*;
    let n = g.len();
    let d = offset::<S>();
    // entry c's low (high) 32 bits in lane c
    let halves = |t: &[f64; 32], shift: u32| {
        let h: [u32; 8] = std::array::from_fn(|c| (t[c].to_bits() >> shift) as u32);
        _mm256_loadu_si256(h.as_ptr() as *const __m256i)
    };
    let (lows, highs) = (taps.each_ref().map(|t| halves(t, 0)), taps.each_ref().map(|t| halves(t, 32)));
    // codes in the order 0 1 4 5 2 3 6 7: the in-lane interleaves then give faces 0..4 and 4..8
    let order = _mm_setr_epi8(0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let vl = _mm256_set1_pd(lambda);
    let (gp, cp, op) = (g.as_ptr(), codes.as_ptr(), out.as_mut_ptr());
    let mut i = 2;
    while i + d + 9 <= n {
        let o = i + d;
        // SAFETY: the loads read g[o-2..o+9) and codes[o-2..o+8), inside the slices by the loop
        // condition (o - 2 >= 0 as i >= 2); the stores write out[i..i+8)
        let tap = |t: usize, f: usize| {
            let b = _mm_loadl_epi64(cp.add(f) as *const __m128i);
            let idx = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(b, order));
            let (lo, hi) = (_mm256_permutevar8x32_epi32(lows[t], idx), _mm256_permutevar8x32_epi32(highs[t], idx));
            [_mm256_castsi256_pd(_mm256_unpacklo_epi32(lo, hi)), _mm256_castsi256_pd(_mm256_unpackhi_epi32(lo, hi))]
        };
        let (t0, t1, t2) = (tap(0, o), tap(1, o - 1), tap(2, o - 2));
        for h in 0..2 {
            let q = o + 4 * h;
            let w = [gp.add(q - 2), gp.add(q - 1), gp.add(q), gp.add(q + 1)].map(|p| _mm256_loadu_pd(p));
            let fb = |k: usize| _mm256_mul_pd(vl, _mm256_sub_pd(w[k + 1], w[k]));
            let mut s = _mm256_add_pd(w[2 - d], _mm256_mul_pd(fb(2), t0[h]));
            s = _mm256_add_pd(s, _mm256_mul_pd(fb(1), t1[h]));
            s = _mm256_add_pd(s, _mm256_mul_pd(fb(0), t2[h]));
            _mm256_storeu_pd(op.add(i + 4 * h), s);
        }
        i += 8;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pde::face::{slope_coef, Neg, Pos};
    use crate::pde::kernel::{self, Tabled};
    use crate::pde::limiter::PieceTable;
    use crate::pde::lookup::lookup;

    /// Each explicit loop (AVX-512, AVX2, as the CPU has them) gives, bit for bit, the portable route:
    /// the taps looked up per face and [`kernel::adjoint`] over them (itself tested equal to the
    /// partials formed on the fly, `kernel::tests`). Both sides, every code below 8 (tables with
    /// partials not exact in binary), a cotangent with mixed signs, signed zeros and subnormals, at
    /// lengths (from 3, a grid's least) around the vector widths and the loops' bounds.
    #[test]
    fn explicit_loops_equal_the_portable_route() {
        type Loop = unsafe fn(f64, &[[f64; 32]; 3], &[u8], &[f64], &mut [f64]) -> usize;
        fn check<S: Side>(level: &str, f: Loop) {
            let (a, lambda) = (if S::POS { 0.9 } else { -0.7 }, 0.55);
            let mut t = PieceTable::single(0.0);
            for m in 0..8 {
                (t.gx[m], t.gy[m]) = (0.1 * m as f64 + 1.0 / 3.0, 0.7 - 0.3 * m as f64);
            }
            t.len = 8;
            let cells = CellTable::new::<S>(a, slope_coef::<S>(a, lambda), &t);
            let mut vector_cells = 0;
            for n in (3..=27).chain([64, 333]) {
                let codes: Vec<u8> = (0..n).map(|j| ((j * 5 + n) % 8) as u8).collect();
                let g: Vec<f64> = (0..n)
                    .map(|j| match j % 11 {
                        3 => -0.0,
                        5 => 0.0,
                        7 => 5e-324,
                        9 => -1e-310,
                        _ => (j as f64 * 0.77).sin() - 0.2,
                    })
                    .collect();
                // the portable route
                let [t0, t1, t2] = &cells.taps;
                let (mut p0, mut p1, mut p2, mut fb) = (vec![], vec![], vec![], vec![]);
                lookup(&codes, cells.len, [t0, t1, t2], [&mut p0, &mut p1, &mut p2]);
                let mut want = vec![0.0; n];
                kernel::adjoint(lambda, &Tabled::<S>::new([&p0, &p1, &p2]), &g, &mut fb, &mut want);
                let mut got = vec![f64::NAN; n];
                // SAFETY: the caller checked the CPU features; the lengths are n
                let done = unsafe { f(lambda, &cells.taps, &codes, &g, &mut got) };
                vector_cells += done.saturating_sub(2);
                tail::<S>(done, lambda, &cells.taps, &codes, &g, &mut got);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{level}, a = {a}, n = {n}");
            }
            // the vector loops must have run, or the comparison would test the scalar tail only
            assert!(vector_cells > 300, "{level}: {vector_cells} vector cells");
        }
        #[cfg(target_arch = "x86_64")]
        {
            use crate::simd::{detected, Simd};
            if detected() >= Simd::Avx2 {
                check::<Pos>("avx2", adjoint_avx2::<Pos>);
                check::<Neg>("avx2", adjoint_avx2::<Neg>);
            }
            if detected() >= Simd::Avx512 {
                check::<Pos>("avx512", adjoint_avx512::<Pos>);
                check::<Neg>("avx512", adjoint_avx512::<Neg>);
            }
        }
    }
}
