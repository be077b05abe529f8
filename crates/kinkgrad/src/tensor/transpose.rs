//! Out-of-place transposition of a matrix of 4-byte values (the bits are moved, never computed on),
//! in 8 x 8 tiles of AVX2 shuffles where the CPU has AVX2, else element by element.
//!
//! The matrix products use it for a right-hand operand read transposed (`X W^T`, `G W^T`): `gemm`
//! packs such an operand with a strided scalar gather whose 64-row panels at a power-of-two stride
//! thrash the L1 cache, while a copy transposed here and read contiguously multiplies at the speed
//! of the untransposed product; and for a linear layer's forward product `X W^T`, which `gemm`
//! computes column-major (reading the rows of `W` in place instead of packing them) into a scratch
//! that is transposed here into the row-major result (scalar.rs, `native_gemm`).

use crate::simd::{simd_level, Simd};

/// `dst[c * rows + r] = src[r * src_rs + c]` for `r < rows`, `c < cols`: `dst` becomes the
/// `cols x rows` row-major transpose of the `rows x cols` matrix at `src` with row stride `src_rs`.
///
/// # Safety
/// `src` is valid for reads of every `src[r * src_rs + c]` above.
pub(crate) unsafe fn transpose32(src: *const u32, rows: usize, cols: usize, src_rs: usize, dst: &mut [u32]) {
    assert!(dst.len() >= rows * cols, "transpose32: output too small");
    // SAFETY: forwarded; `dst` holds the `cols` rows of `rows` values
    unsafe { transpose32_into(src, rows, cols, src_rs, dst.as_mut_ptr(), rows) }
}

/// [`transpose32`] into rows `dst_rs` values apart: `dst[c * dst_rs + r] = src[r * src_rs + c]`
/// (the packing of a matrix product's operand panels, `crate::sgemm`).
///
/// # Safety
/// `src` as in [`transpose32`]; `dst` is valid for writes of every `dst[c * dst_rs + r]`.
pub(crate) unsafe fn transpose32_into(
    src: *const u32,
    rows: usize,
    cols: usize,
    src_rs: usize,
    d: *mut u32,
    dst_rs: usize,
) {
    let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
    if simd_level() >= Simd::Avx2 {
        // SAFETY: the CPU has AVX2 (checked by `simd_level`); every tile lies inside `src` and `dst`
        #[cfg(target_arch = "x86_64")]
        unsafe {
            tiles_avx2(src, r8, c8, src_rs, d, dst_rs)
        };
    } else {
        // SAFETY: as below, for the tiled part
        unsafe { scalar(src, 0..r8, 0..c8, src_rs, d, dst_rs) };
    }
    // SAFETY: the edges (rows past `r8`, columns past `c8`) lie inside `src` and `dst` by the contract
    unsafe {
        scalar(src, r8..rows, 0..cols, src_rs, d, dst_rs);
        scalar(src, 0..r8, c8..cols, src_rs, d, dst_rs);
    }
}

/// The element-by-element transpose of the block `rows x cols` (see [`transpose32`]).
///
/// # Safety
/// The block lies inside `src` (row stride `src_rs`) and `dst` (row stride `dst_rs`, transposed).
unsafe fn scalar(
    src: *const u32,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    src_rs: usize,
    dst: *mut u32,
    dst_rs: usize,
) {
    for r in rows {
        for c in cols.clone() {
            // SAFETY: forwarded from the caller
            unsafe { *dst.add(c * dst_rs + r) = *src.add(r * src_rs + c) };
        }
    }
}

/// The `rows x cols` block (both multiples of 8) transposed in 8 x 8 tiles, row strip by row strip.
///
/// # Safety
/// The CPU has AVX2; the block lies inside `src` and `dst` as in [`scalar`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tiles_avx2(src: *const u32, rows: usize, cols: usize, src_rs: usize, dst: *mut u32, dst_rs: usize) {
    use std::arch::x86_64::*;
    let (s, d) = (src.cast::<f32>(), dst.cast::<f32>());
    for r in (0..rows).step_by(8) {
        for c in (0..cols).step_by(8) {
            // SAFETY: rows r..r+8, columns c..c+8 lie inside the block (the caller's contract)
            unsafe {
                let at = |i: usize| _mm256_loadu_ps(s.add((r + i) * src_rs + c));
                let (r0, r1, r2, r3) = (at(0), at(1), at(2), at(3));
                let (r4, r5, r6, r7) = (at(4), at(5), at(6), at(7));
                // pairs of rows interleaved, then pairs of pairs: u0 holds column 0 (rows 0-3) and
                // column 4 (rows 0-3), u4 the same of rows 4-7; the lane permutes join them
                let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
                let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
                let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
                let (t6, t7) = (_mm256_unpacklo_ps(r6, r7), _mm256_unpackhi_ps(r6, r7));
                let (u0, u1) = (_mm256_shuffle_ps::<0x44>(t0, t2), _mm256_shuffle_ps::<0xEE>(t0, t2));
                let (u2, u3) = (_mm256_shuffle_ps::<0x44>(t1, t3), _mm256_shuffle_ps::<0xEE>(t1, t3));
                let (u4, u5) = (_mm256_shuffle_ps::<0x44>(t4, t6), _mm256_shuffle_ps::<0xEE>(t4, t6));
                let (u6, u7) = (_mm256_shuffle_ps::<0x44>(t5, t7), _mm256_shuffle_ps::<0xEE>(t5, t7));
                let put = |j: usize, v: __m256| _mm256_storeu_ps(d.add((c + j) * dst_rs + r), v);
                put(0, _mm256_permute2f128_ps::<0x20>(u0, u4));
                put(1, _mm256_permute2f128_ps::<0x20>(u1, u5));
                put(2, _mm256_permute2f128_ps::<0x20>(u2, u6));
                put(3, _mm256_permute2f128_ps::<0x20>(u3, u7));
                put(4, _mm256_permute2f128_ps::<0x31>(u0, u4));
                put(5, _mm256_permute2f128_ps::<0x31>(u1, u5));
                put(6, _mm256_permute2f128_ps::<0x31>(u2, u6));
                put(7, _mm256_permute2f128_ps::<0x31>(u3, u7));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape class (tiles only, edges only, both), against the definition element by element.
    #[test]
    fn transpose_matches_the_definition() {
        for &(rows, cols, rs) in &[(8, 8, 8), (16, 24, 24), (13, 21, 21), (5, 3, 7), (24, 17, 40), (1, 9, 9)] {
            let src: Vec<u32> = (0..rows * rs).map(|i| i as u32 * 7 + 1).collect();
            let mut dst = vec![0u32; rows * cols];
            // SAFETY: `src` holds rows x rs values
            unsafe { transpose32(src.as_ptr(), rows, cols, rs, &mut dst) };
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(dst[c * rows + r], src[r * rs + c], "{rows}x{cols} (stride {rs}) at {r},{c}");
                }
            }
        }
    }
}
