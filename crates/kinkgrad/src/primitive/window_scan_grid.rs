//! The 2x2 stride-2 max scan ([`super::window_scan`]'s `scan_grid2`) of `f32` with AVX-512, in one
//! pass: each row pair's windows sixteen at a time (a row's tail by masked loads and stores, so rows
//! of 12 or 4 windows, LeNet's, take one step), the four entries deinterleaved from the two rows,
//! the maximum by the same strict comparisons in window order, the selection, NaN and ties from
//! lane masks; a tie's positions pushed as they are met (ascending windows). The same results as
//! the scalar scan (exact comparisons and selects: tested, `grid_scan_equals_the_general_scan`).

use super::window::Grid2;
use super::window_scan::Scan;
use crate::scalar::Real;

/// Scan `d` (`f32` values: `T` is `f32`) over the windows of `g` for their maxima into `s` (empty,
/// with room for every window). Needs AVX-512 F, BW, VL and DQ.
///
/// # Safety
/// The CPU supports those features, and `T` is `f32`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn max_f32_avx512<T: Real>(d: &[T], g: &Grid2, s: &mut Scan<T>) {
    use std::arch::x86_64::*;
    let nw = g.lead * g.oh * g.ow;
    assert!(d.len() >= g.lead * g.h * g.w && s.out.capacity() >= nw && s.sel.len() == nw && s.out.is_empty());
    let (d, out, sel) = (d.as_ptr() as *const f32, s.out.as_mut_ptr() as *mut f32, s.sel.as_mut_ptr() as *mut i32);
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    let nan_value = _mm512_set1_ps(<f32 as Real>::from_f64(f64::NAN));
    let (zero, one, two, three) =
        (_mm512_setzero_si512(), _mm512_set1_epi32(1), _mm512_set1_epi32(2), _mm512_set1_epi32(3));
    let mut k = 0; // the first window of the step
    for l in 0..g.lead {
        for i in 0..g.oh {
            let top = d.add(l * g.h * g.w + 2 * i * g.w);
            let bottom = top.add(g.w);
            for j in (0..g.ow).step_by(16) {
                let n = (g.ow - j).min(16);
                let lanes: __mmask16 = if n == 16 { !0 } else { (1 << n) - 1 };
                // the row's 2n values from column 2j, in two halves of sixteen
                let (lo, hi) = if n >= 8 { (!0, lanes_of(2 * n - 16)) } else { (lanes_of(2 * n), 0) };
                // SAFETY: the masked loads read only columns 2j .. 2j + 2n <= w of the two rows
                // (the masked-off lanes are not accessed)
                let pair = |row: *const f32| {
                    let a = _mm512_maskz_loadu_ps(lo, row.add(2 * j));
                    let b = _mm512_maskz_loadu_ps(hi, row.wrapping_add(2 * j + 16));
                    (_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b))
                };
                let ((v0, v1), (v2, v3)) = (pair(top), pair(bottom));
                // the maximum: entry after entry, replaced only by a strictly greater one (ordered:
                // never by a NaN), so its bits are those of the first maximal entry
                let mut best = v0;
                for v in [v1, v2, v3] {
                    best = _mm512_mask_mov_ps(best, _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best), v);
                }
                let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v0, v1) | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v2, v3);
                let e = [v0, v1, v2, v3].map(|v| _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(v, best));
                _mm512_mask_storeu_ps(out.add(k), lanes, _mm512_mask_mov_ps(best, nan, nan_value));
                // the selection: the first entry equal to the maximum; 0 for a NaN window
                let mut s3 = three;
                s3 = _mm512_mask_mov_epi32(s3, e[2], two);
                s3 = _mm512_mask_mov_epi32(s3, e[1], one);
                s3 = _mm512_mask_mov_epi32(s3, e[0] | nan, zero);
                _mm512_mask_storeu_epi32(sel.add(k), lanes, s3);
                // ties: two or more entries equal to the maximum, no NaN
                let mut ties = ((e[0] & e[1]) | (e[2] & e[3]) | ((e[0] | e[1]) & (e[2] | e[3]))) & !nan & lanes;
                while ties != 0 {
                    let b = ties.trailing_zeros();
                    s.tied.extend((0..4u32).filter(|&p| e[p as usize] >> b & 1 == 1));
                    s.tied_start.push(s.tied.len() as u32);
                    s.kink_at.push(k + b as usize);
                    ties &= ties - 1;
                }
                k += n;
            }
        }
    }
    // SAFETY: the steps above stored all `nw` outputs (`lead * oh` rows of `ow`, in order)
    s.out.set_len(nw);
}

/// The mask of the first `n` of sixteen lanes.
#[inline(always)]
fn lanes_of(n: usize) -> u16 {
    if n >= 16 {
        !0
    } else {
        (1u16 << n) - 1
    }
}
