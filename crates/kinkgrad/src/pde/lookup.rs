//! Per-face table lookups by piece code: `out_t[j] = tables[t][codes[j]]` for `N` tables at once
//! (the limiter partials `(gx, gy)` of [`super::limiter::PieceTable`], or the three cell partials of
//! [`super::kernel::CellTable`]). The lookups copy table entries only, so every path (AVX-512, AVX2,
//! scalar) gives the same bits.

/// `outs[t][j] = tables[t][codes[j] & 31]` for `j < codes.len()`, each output resized to
/// `codes.len()`. Tables of at most 8 codes (`len <= 8`: minmod, superbee, MC, upwind, Lax-Wendroff)
/// take the vector paths.
#[inline(always)]
pub(crate) fn lookup<const N: usize>(codes: &[u8], len: usize, tables: [&[f64; 32]; N], outs: [&mut Vec<f64>; N]) {
    let n = codes.len();
    let mut outs = outs.map(|o| {
        o.resize(n, 0.0);
        &mut o[..n]
    });
    #[cfg(target_arch = "x86_64")]
    {
        use crate::simd::{simd_level, Simd};
        if len <= 8 && simd_level() == Simd::Avx512 {
            // SAFETY: the CPU supports AVX-512F (`simd_level` checked it); every output has n entries.
            unsafe { lookup8_avx512(codes, tables, &mut outs) };
            return;
        }
        if len <= 8 && simd_level() == Simd::Avx2 {
            // SAFETY: the CPU supports AVX2 (`simd_level` checked it); every output has n entries.
            unsafe { lookup8_avx2(codes, tables, &mut outs) };
            return;
        }
    }
    let _ = len;
    lookup_scalar(codes, 0, tables, &mut outs, 31);
}

/// The scalar lookup from face `from` on, codes masked with `mask`.
#[inline(always)]
fn lookup_scalar<const N: usize>(
    codes: &[u8],
    from: usize,
    tables: [&[f64; 32]; N],
    outs: &mut [&mut [f64]; N],
    mask: usize,
) {
    for j in from..codes.len() {
        let c = codes[j] as usize & mask;
        for t in 0..N {
            outs[t][j] = tables[t][c];
        }
    }
}

/// [`lookup`] for codes below 8: each table sits in one register, and eight codes are widened to
/// indices and permuted at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn lookup8_avx512<const N: usize>(codes: &[u8], tables: [&[f64; 32]; N], outs: &mut [&mut [f64]; N]) {
    use std::arch::x86_64::*;
    let n = codes.len();
    assert!(outs.iter().all(|o| o.len() == n));
    let regs = tables.map(|t| _mm512_loadu_pd(t.as_ptr()));
    let chunks = n / 8;
    for c in 0..chunks {
        // SAFETY: 8 c + 8 <= n for the load from codes and the stores to the outputs
        let b = _mm_loadl_epi64(codes.as_ptr().add(8 * c) as *const __m128i);
        let idx = _mm512_cvtepu8_epi64(b);
        for t in 0..N {
            _mm512_storeu_pd(outs[t].as_mut_ptr().add(8 * c), _mm512_permutexvar_pd(idx, regs[t]));
        }
    }
    lookup_scalar(codes, 8 * chunks, tables, outs, 7);
}

/// [`lookup`] for codes below 8 with AVX2: each table is split into its entries' low and high 32-bit
/// halves, eight lanes each (one register per half); eight codes at a time index both halves
/// (`vpermd`), and the halves are interleaved back into 64-bit entries. The codes are loaded in the
/// order `0 1 4 5 2 3 6 7`, so that the in-lane interleaves give faces `0..4` and `4..8` in order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn lookup8_avx2<const N: usize>(codes: &[u8], tables: [&[f64; 32]; N], outs: &mut [&mut [f64]; N]) {
    use std::arch::x86_64::*;
    let n = codes.len();
    assert!(outs.iter().all(|o| o.len() == n));
    let halves = |t: &[f64; 32], shift: u32| {
        let h: [u32; 8] = std::array::from_fn(|c| (t[c].to_bits() >> shift) as u32);
        _mm256_loadu_si256(h.as_ptr() as *const __m256i)
    };
    let (lows, highs) = (tables.map(|t| halves(t, 0)), tables.map(|t| halves(t, 32)));
    let order = _mm_setr_epi8(0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let chunks = n / 8;
    for c in 0..chunks {
        // SAFETY: 8 c + 8 <= n bytes of codes; `vpermd` reads the low 3 bits of each index
        let b = _mm_loadl_epi64(codes.as_ptr().add(8 * c) as *const __m128i);
        let idx = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(b, order));
        for t in 0..N {
            let (lo, hi) = (_mm256_permutevar8x32_epi32(lows[t], idx), _mm256_permutevar8x32_epi32(highs[t], idx));
            let o = outs[t].as_mut_ptr().add(8 * c);
            // SAFETY: as above, for the stores to the outputs
            _mm256_storeu_si256(o as *mut __m256i, _mm256_unpacklo_epi32(lo, hi));
            _mm256_storeu_si256(o.add(4) as *mut __m256i, _mm256_unpackhi_epi32(lo, hi));
        }
    }
    lookup_scalar(codes, 8 * chunks, tables, outs, 7);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX-512, AVX2 and scalar lookups agree with reading the tables back by index (codes below
    /// 8, lengths around the vector widths, one to three tables).
    #[test]
    fn table_lookup_paths_agree() {
        let mut t = [[0.0; 32]; 3];
        for m in 0..8 {
            t[0][m] = m as f64 + 0.25;
            t[1][m] = -(m as f64) - 0.5;
            t[2][m] = 1.0 / (m as f64 + 3.0);
        }
        for n in [1, 7, 8, 9, 17, 100] {
            let codes: Vec<u8> = (0..n).map(|j| ((j * 5 + 3) % 8) as u8).collect();
            let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
            lookup(&codes, 8, [&t[0], &t[1], &t[2]], [&mut a, &mut b, &mut c]);
            for j in 0..n {
                let k = codes[j] as usize;
                assert_eq!([a[j], b[j], c[j]], [t[0][k], t[1][k], t[2][k]]);
            }
            let mut one = Vec::new();
            lookup(&codes, 8, [&t[1]], [&mut one]);
            assert_eq!(one, b);
            // the AVX2 path directly (`lookup` takes AVX-512 where present)
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                let (mut x, mut y) = (vec![f64::NAN; n], vec![f64::NAN; n]);
                // SAFETY: AVX2 is present; the outputs have n entries
                unsafe { lookup8_avx2(&codes, [&t[0], &t[1]], &mut [&mut x[..], &mut y[..]]) };
                assert_eq!((x, y), (a.clone(), b.clone()));
            }
        }
    }
}
