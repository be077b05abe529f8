//! The minmod Lax-Wendroff flux loop of a constant velocity in explicit AVX-512 and AVX2 code, with
//! the faces' piece codes written in the same pass (or without codes: the value step).
//!
//! The portable loop ([`super::forward::fluxes_const_coded`] with [`Minmod::value_and_pieces`]) builds
//! each code in `f64` lanes and narrows it to a byte per face: on AVX2 that narrowing and the tied-set
//! logic made the coded step about 1.8x the value step. Here the value and the tied set come from
//! fewer operations, with the same bits:
//!
//! * value: `minmod(x, y) = max(min(x, y), 0) + min(max(x, y), 0)` with the instructions' own
//!   `min`/`max` (`vminpd(p, q)` is `p < q ? p : q`). For `x, y > 0` the sum is `min(x, y) + 0`, for
//!   `x, y < 0` it is `0 + max(x, y)`, otherwise both terms are `+0` (a zero operand compared with `+0`
//!   yields the second operand, `+0`): the values `m`, `-m` and `+0` of the declared kernel exactly.
//! * tied set: a piece of minmod is active exactly where its value equals the result (piece `a`
//!   where `v == x`, `b` where `v == y`, zero where `v == 0`; `-0 == 0`): on a common strict sign
//!   `v = ±min(|x|, |y|)` equals `x` iff `|x| <= |y|`; on opposite strict signs only `0` equals
//!   `v = 0`; where one argument is `±0` that piece ties with the zero piece. This is the declared
//!   tied set ([`Minmod::value_and_pieces`], tested equal on every sign pattern, tie, signed zero and
//!   subnormal; with a NaN argument the codes may differ, and such a run ends in the non-finite error).
//!
//! The three comparisons become one byte per face in vector registers (AVX-512: byte-masked moves of
//! the pieces' bits from the mask registers; AVX2: the masks packed and their bytes gathered), stored
//! 8 faces at a time. Faces past the
//! last full vector take the portable loop. No fused multiply-add: the jumps and the flux
//! `a (u_U + (s k) B)` are evaluated as `face::jumps` and `face::flux` write them.

use super::face::Side;
use super::forward::{fluxes_const, fluxes_const_coded, MinmodK};
#[cfg(doc)]
use crate::primitive::minmod::Minmod;

/// The minmod Lax-Wendroff fluxes of the constant velocity `a` on side `S` over the faces of `ext`
/// ([`super::forward::extend`]), with every face's code written into `codes` when given. Returns
/// `false` (writing nothing) when the CPU level has no explicit loop here (the caller takes the
/// portable one).
#[inline(always)]
pub(crate) fn fluxes<S: Side>(a: f64, lambda: f64, ext: &[f64], out: &mut [f64], codes: Option<&mut [u8]>) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::simd::{simd_level, Simd};
        let n = ext.len() - 3;
        assert!(out.len() >= n && codes.as_ref().is_none_or(|c| c.len() >= n));
        let mut codes = codes;
        let done = match simd_level() {
            // SAFETY: the CPU supports every feature of the variant (`simd_level` checked them); the
            // lengths are checked above
            Simd::Avx512 => unsafe { fluxes_avx512::<S>(a, lambda, ext, out, codes.as_deref_mut()) },
            // SAFETY: as above
            Simd::Avx2 => unsafe { fluxes_avx2::<S>(a, lambda, ext, out, codes.as_deref_mut()) },
            Simd::Baseline => return false,
        };
        tail::<S>(done, a, lambda, ext, out, codes);
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (a, lambda, ext, out, codes);
        false
    }
}

/// Faces `from..n` by the portable loop (the same bits).
#[inline(always)]
fn tail<S: Side>(from: usize, a: f64, lambda: f64, ext: &[f64], out: &mut [f64], codes: Option<&mut [u8]>) {
    let n = ext.len() - 3;
    if from < n {
        let ext = &ext[from..];
        match codes {
            Some(c) => {
                fluxes_const_coded::<S, _>(MinmodK, a, lambda, ext, &mut out[from..n], &mut c[from..n]);
            }
            None => fluxes_const::<S, _>(MinmodK, a, lambda, ext, &mut out[from..n]),
        }
    }
}

/// The faces `0..8 floor(n / 8)` with AVX-512; returns the number of faces done.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn fluxes_avx512<S: Side>(a: f64, lambda: f64, ext: &[f64], out: &mut [f64], codes: Option<&mut [u8]>) -> usize {
    use std::arch::x86_64::*;
    let n = ext.len() - 3;
    let k = 0.5 * (1.0 - S::S * a * lambda);
    let (va, vk, z) = (_mm512_set1_pd(a), _mm512_set1_pd(S::S * k), _mm512_setzero_pd());
    let p = ext.as_ptr();
    let (o, c) = (out.as_mut_ptr(), codes.map(|c| c.as_mut_ptr()));
    for j in (0..n / 8).map(|c| 8 * c) {
        // SAFETY: j + 8 + 3 <= ext.len(), j + 8 <= n <= out.len(), codes.len()
        let w = [p.add(j), p.add(j + 1), p.add(j + 2), p.add(j + 3)].map(|q| _mm512_loadu_pd(q));
        let (x, y) = if S::POS {
            (_mm512_sub_pd(w[2], w[1]), _mm512_sub_pd(w[1], w[0]))
        } else {
            (_mm512_sub_pd(w[2], w[1]), _mm512_sub_pd(w[3], w[2]))
        };
        let v = _mm512_add_pd(_mm512_max_pd(_mm512_min_pd(x, y), z), _mm512_min_pd(_mm512_max_pd(x, y), z));
        let uu = if S::POS { w[1] } else { w[2] };
        _mm512_storeu_pd(o.add(j), _mm512_mul_pd(va, _mm512_add_pd(uu, _mm512_mul_pd(vk, v))));
        if let Some(c) = c {
            // byte l of each term: the piece's bit where lane l's mask is set
            let bit = |m: __mmask8, b: i8| _mm_maskz_mov_epi8(m as __mmask16, _mm_set1_epi8(b));
            let pa = bit(_mm512_cmp_pd_mask::<_CMP_EQ_OQ>(v, x), 1);
            let pb = bit(_mm512_cmp_pd_mask::<_CMP_EQ_OQ>(v, y), 2);
            let pz = bit(_mm512_cmp_pd_mask::<_CMP_EQ_OQ>(v, z), 4);
            _mm_storel_epi64(c.add(j) as *mut __m128i, _mm_or_si128(_mm_or_si128(pa, pb), pz));
        }
    }
    8 * (n / 8)
}

/// The faces `0..8 floor(n / 8)` with AVX2, as two vectors of four; returns the number of faces
/// done. The codes are narrowed in vector registers: the three masks of the eight faces packed to
/// 16-bit lanes (`vpackssdw` keeps all-ones and zero), combined with the pieces' bits, and their low
/// bytes gathered into face order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fluxes_avx2<S: Side>(a: f64, lambda: f64, ext: &[f64], out: &mut [f64], codes: Option<&mut [u8]>) -> usize {
    use std::arch::x86_64::*;
    let n = ext.len() - 3;
    let k = 0.5 * (1.0 - S::S * a * lambda);
    let (va, vk, z) = (_mm256_set1_pd(a), _mm256_set1_pd(S::S * k), _mm256_setzero_pd());
    let p = ext.as_ptr();
    let (o, c) = (out.as_mut_ptr(), codes.map(|c| c.as_mut_ptr()));
    // after the packs, 128-bit lane 0 holds faces 0 0 1 1 4 4 5 5 and lane 1 faces 2 2 3 3 6 6 7 7
    // (16-bit lanes): bytes 0, 4, 8, 12 of each lane are faces 0 1 4 5 and 2 3 6 7
    let pick = _mm256_setr_epi8(
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, //
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    );
    for j in (0..n / 8).map(|c| 8 * c) {
        let mut masks = [[_mm256_setzero_si256(); 2]; 3];
        for h in 0..2 {
            let q = j + 4 * h;
            // SAFETY: q + 4 + 3 <= ext.len(), q + 4 <= n <= out.len()
            let w = [p.add(q), p.add(q + 1), p.add(q + 2), p.add(q + 3)].map(|r| _mm256_loadu_pd(r));
            let (x, y) = if S::POS {
                (_mm256_sub_pd(w[2], w[1]), _mm256_sub_pd(w[1], w[0]))
            } else {
                (_mm256_sub_pd(w[2], w[1]), _mm256_sub_pd(w[3], w[2]))
            };
            let v = _mm256_add_pd(_mm256_max_pd(_mm256_min_pd(x, y), z), _mm256_min_pd(_mm256_max_pd(x, y), z));
            let uu = if S::POS { w[1] } else { w[2] };
            _mm256_storeu_pd(o.add(q), _mm256_mul_pd(va, _mm256_add_pd(uu, _mm256_mul_pd(vk, v))));
            if c.is_some() {
                for (t, r) in [x, y, z].into_iter().enumerate() {
                    masks[t][h] = _mm256_castpd_si256(_mm256_cmp_pd::<_CMP_EQ_OQ>(v, r));
                }
            }
        }
        if let Some(c) = c {
            let term =
                |t: usize, b: i16| _mm256_and_si256(_mm256_packs_epi32(masks[t][0], masks[t][1]), _mm256_set1_epi16(b));
            let code = _mm256_or_si256(_mm256_or_si256(term(0, 1), term(1, 2)), term(2, 4));
            let b = _mm256_shuffle_epi8(code, pick);
            let bytes = _mm_unpacklo_epi16(_mm256_castsi256_si128(b), _mm256_extracti128_si256::<1>(b));
            // SAFETY: j + 8 <= n <= codes.len()
            _mm_storel_epi64(c.add(j) as *mut __m128i, bytes);
        }
    }
    8 * (n / 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pde::face::{Neg, Pos};

    /// Data with many ties: small integers and halves (equal jumps, zero jumps), signed zeros and
    /// subnormals, from a fixed LCG.
    fn data(len: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                match s >> 60 {
                    0 => -0.0,
                    1 => 5e-324,
                    2 => -1e-310,
                    r => ((s >> 40) % 7) as f64 * 0.5 - 1.5 + (r == 15) as u8 as f64 * 1e-3,
                }
            })
            .collect()
    }

    /// Each explicit loop (AVX-512, AVX2, as the CPU has them) gives the portable loop's fluxes and
    /// codes bit for bit, on both sides, with and without codes, at lengths around the vector widths.
    #[test]
    fn explicit_loops_equal_the_portable_loop() {
        type Loop = unsafe fn(f64, f64, &[f64], &mut [f64], Option<&mut [u8]>) -> usize;
        fn check<S: Side>(level: &str, f: Loop) {
            let (a, lambda) = (if S::POS { 0.8 } else { -0.6 }, 0.7);
            let mut kinks = 0;
            for n in (1..=19).chain([64, 333]) {
                let ext = data(n + 3, n as u64 * 31 + S::POS as u64);
                let (mut f0, mut c0) = (vec![0.0; n], vec![0u8; n]);
                kinks += fluxes_const_coded::<S, _>(MinmodK, a, lambda, &ext, &mut f0, &mut c0);
                let (mut f1, mut c1, mut f2) = (vec![f64::NAN; n], vec![99u8; n], vec![f64::NAN; n]);
                // SAFETY: the caller checked the CPU features; the lengths are n
                let done = unsafe { f(a, lambda, &ext, &mut f1, Some(&mut c1)) };
                tail::<S>(done, a, lambda, &ext, &mut f1, Some(&mut c1));
                // SAFETY: as above
                let done = unsafe { f(a, lambda, &ext, &mut f2, None) };
                tail::<S>(done, a, lambda, &ext, &mut f2, None);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&f1), bits(&f0), "{level} fluxes, n = {n}");
                assert_eq!(bits(&f2), bits(&f0), "{level} value-only fluxes, n = {n}");
                assert_eq!(c1, c0, "{level} codes, n = {n}");
            }
            // the data must put many faces on kinks, or the check of the codes would be vacuous
            assert!(kinks > 100, "{level}: only {kinks} kink faces");
        }
        #[cfg(target_arch = "x86_64")]
        {
            use crate::simd::{detected, Simd};
            if detected() >= Simd::Avx2 {
                check::<Pos>("avx2", fluxes_avx2::<Pos>);
                check::<Neg>("avx2", fluxes_avx2::<Neg>);
            }
            if detected() >= Simd::Avx512 {
                check::<Pos>("avx512", fluxes_avx512::<Pos>);
                check::<Neg>("avx512", fluxes_avx512::<Neg>);
            }
        }
    }
}
