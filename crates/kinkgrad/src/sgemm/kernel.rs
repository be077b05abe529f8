//! The micro-kernel: one `MR x 2W` tile of `c` from packed panels of `a` and `b`, written against
//! [`Lanes`] (`W` lanes per vector: 8 for AVX2's `__m256`).
//!
//! Every value of the tile is one chain of fused multiply-adds over the block's `kc` terms in order
//! of `p`, starting from zero; the tile's shape never enters a value, which is what makes both
//! orientations of a product, and every split of it, give the same bits.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// One SIMD vector of `f32` lanes: the operations the kernel and the packing need. Every method is
/// `#[inline(always)]` and is only called from functions compiled with the vector's features.
pub(super) trait Lanes: Copy {
    /// Lanes per vector.
    const W: usize;
    /// All lanes zero.
    unsafe fn zero() -> Self;
    /// `W` values from `p` (any alignment).
    unsafe fn load(p: *const f32) -> Self;
    /// `W` values to `p` (any alignment).
    unsafe fn store(p: *mut f32, v: Self);
    /// The value at `p` in every lane.
    unsafe fn splat(p: *const f32) -> Self;
    /// `a * b + c`, rounded once.
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self;
    /// `a + b`.
    unsafe fn add(a: Self, b: Self) -> Self;
}

#[cfg(target_arch = "x86_64")]
impl Lanes for __m256 {
    const W: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> Self {
        _mm256_setzero_ps()
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        _mm256_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: Self) {
        _mm256_storeu_ps(p, v)
    }
    #[inline(always)]
    unsafe fn splat(p: *const f32) -> Self {
        _mm256_broadcast_ss(&*p)
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        _mm256_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn add(a: Self, b: Self) -> Self {
        _mm256_add_ps(a, b)
    }
}

/// The largest tile, in values (6 x 16): the stack buffers of a partial or strided tile.
pub(super) const TILE_MAX: usize = 6 * 16;

/// Where a tile's values go, and what it does with them once its block's sums are done.
#[derive(Clone, Copy)]
pub(super) struct Epilogue {
    /// Strides of `c` between the tile's rows and between its columns, in values.
    pub c_rs: usize,
    pub c_cs: usize,
    /// The first block of `k`: store the sums (else add them to what `c` holds).
    pub first: bool,
    /// The last block of `k` with a bias: add `bias[i * bias_rs + j * bias_cs]` to the value of row
    /// `i`, column `j` after the sums (null: none).
    pub bias: *const f32,
    pub bias_rs: usize,
    pub bias_cs: usize,
}

/// `c[i][j] (<-|+=) sum_p a[p][i] b[p][j]` for the tile's `rows x cols` values (at most `MR x 2W`),
/// then `+ bias[i][j]` when the epilogue has one: [`tile_rows`] with the rows it needs, the full
/// tile's `MR` or, for the last tile of a block, the fewest of 2 or 4 that cover `rows` (a 2-row
/// tile at the foot of 128 rows then costs a third of a full one; the sums are the same).
///
/// # Safety
/// As [`tile_rows`].
#[inline(always)]
pub(super) unsafe fn tile<V: Lanes, const MR: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rows: usize,
    cols: usize,
    epi: Epilogue,
) {
    if rows > 4 {
        tile_rows::<V, MR, MR>(kc, a, b, c, rows, cols, epi)
    } else if rows > 2 {
        tile_rows::<V, MR, 4>(kc, a, b, c, rows, cols, epi)
    } else {
        tile_rows::<V, MR, 2>(kc, a, b, c, rows, cols, epi)
    }
}

/// The tile's first `R` rows (`rows <= R <= MR`): `c[i][j] (<-|+=) sum_p a[p][i] b[p][j]` for its
/// `rows x cols` values, then `+ bias[i][j]` when the epilogue has one.
///
/// `a` is a packed panel of `kc x MR` values (`p`-major), `b` one of `kc x 2W`; rows and columns
/// beyond `rows`, `cols` are padding whose sums are dropped. A full tile with contiguous rows is
/// stored straight from the registers, any other through stack copies; both round the same sums.
///
/// # Safety
/// Compiled into a caller with `V`'s features; `a`, `b` hold their panels; `c` and a non-null
/// `bias` reach every value the strides address for `rows x cols`.
#[inline(always)]
unsafe fn tile_rows<V: Lanes, const MR: usize, const R: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rows: usize,
    cols: usize,
    epi: Epilogue,
) {
    let w = V::W;
    let mut acc = [[V::zero(); 2]; R];
    let (mut a, mut b) = (a, b);
    for _ in 0..kc {
        let b0 = V::load(b);
        let b1 = V::load(b.add(w));
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = V::splat(a.add(i));
            row[0] = V::fma(ai, b0, row[0]);
            row[1] = V::fma(ai, b1, row[1]);
        }
        a = a.add(MR);
        b = b.add(2 * w);
    }
    let finish = |dst: *mut f32, old: *const f32, bias: *const f32, v: V| {
        let mut v = if epi.first { v } else { V::add(V::load(old), v) };
        if !bias.is_null() {
            v = V::add(v, V::load(bias));
        }
        V::store(dst, v);
    };
    let row_bias = epi.bias.is_null() || (epi.bias_rs == 0 && epi.bias_cs == 1);
    if rows == R && cols == 2 * w && epi.c_cs == 1 && row_bias {
        for (i, row) in acc.iter().enumerate() {
            let ci = c.add(i * epi.c_rs);
            for (h, &v) in row.iter().enumerate() {
                let bias = if epi.bias.is_null() { epi.bias } else { epi.bias.add(h * w) };
                finish(ci.add(h * w), ci.add(h * w), bias, v);
            }
        }
        return;
    }
    // any other tile: the old values and the bias gathered into full-width stack tiles, the values
    // computed there as above and scattered
    let bw = 2 * w;
    let at = |i: usize, j: usize| i * epi.c_rs + j * epi.c_cs;
    let mut old = [0f32; TILE_MAX];
    let mut bias = [0f32; TILE_MAX];
    let mut out = [0f32; TILE_MAX];
    for i in 0..rows {
        for j in 0..cols {
            if !epi.first {
                old[i * bw + j] = *c.add(at(i, j));
            }
            if !epi.bias.is_null() {
                bias[i * bw + j] = *epi.bias.add(i * epi.bias_rs + j * epi.bias_cs);
            }
        }
    }
    for (i, row) in acc.iter().enumerate().take(rows) {
        for (h, &v) in row.iter().enumerate() {
            let t = i * bw + h * w;
            let bp = if epi.bias.is_null() { std::ptr::null() } else { bias.as_ptr().add(t) };
            finish(out.as_mut_ptr().add(t), old.as_ptr().add(t), bp, v);
        }
    }
    for i in 0..rows {
        for j in 0..cols {
            *c.add(at(i, j)) = out[i * bw + j];
        }
    }
}
