//! kinkgrad's own `f32` matrix product for x86-64 with AVX2 + FMA: the products of every `f32` (and,
//! widened, `f16`/`bf16`) network step where the products do not run on AVX-512 ([`in_use`]). It
//! takes the 128 x 784 x 512 product of the MLP benchmark at about 60 GFLOP/s on one core, against
//! about 43 for the `gemm` crate's AVX2 kernel (docs/benchmarks.md). `f64`, CPUs without FMA and
//! AVX-512 products use the `gemm` crate (scalar.rs), whose AVX-512 kernel was faster than an
//! AVX-512 build of this one.
//!
//! The layout is BLIS's: `c`'s columns in blocks of [`NC`], `k` in blocks (`kc`, a function of `k`
//! alone: [`k_blocks`]), `c`'s rows in blocks of [`MC`]; each block of `b` and of `a` is packed
//! into panels (`kc x 2W` of `b`, kept in L1 by the inner loop; `kc x MR` of `a`, streamed from L2),
//! and the micro-kernel ([`kernel::tile`]) computes one 6 x 16 tile of `c` from a pair of panels.
//!
//! **The bits.** Each value of `c` is, for each block of `k` in order, one chain of fused
//! multiply-adds over the block's terms in order, starting from zero, added to the previous blocks'
//! total (the first block stores its chain); then `+ bias` when there is one (the bits of the product
//! followed by a broadcast add). Neither the tile shape, nor the orientation ([`run`]), nor the split
//! across threads enters that order, so every thread count gives the same bits, and [`reference`]
//! (plain scalar code) gives them too (tested).

mod kernel;
mod pack;
#[cfg(test)]
mod tests;

use crate::tensor::balance;
use kernel::{tile, Epilogue, Lanes};
use std::sync::OnceLock;

/// The most `k` values one block sums before adding to `c`; `k` is cut into equal blocks of at most
/// this many ([`k_blocks`]).
const KC_MAX: usize = 256;
/// Rows of a tile (both kernels).
const MR: usize = 6;
/// Rows of `c` per packed block of `a` (a multiple of [`MR`]).
const MC: usize = 144;
/// Columns of `c` per packed block of `b` (a multiple of the tile's 16).
const NC: usize = 2048;
/// Below this many multiply-adds a product runs on one thread.
const SPLIT_MIN: usize = 2 * 64 * 64 * 64;

/// The blocks of `k`: `(count, kc)`, `count` blocks of `kc` values (the last one shorter when `kc`
/// does not divide `k`). A function of `k` alone, so it fixes the order of every sum.
pub fn k_blocks(k: usize) -> (usize, usize) {
    let count = k.div_ceil(KC_MAX).max(1);
    let kc = k.div_ceil(count);
    (k.div_ceil(kc.max(1)), kc)
}

/// Allocates this thread's packing buffers once any thread has run a product on this kernel (see
/// [`crate::scalar`]'s `sync_thread_buffers`).
pub(crate) fn sync_thread_buffers() {
    pack::sync_thread_buffers()
}

/// True when this process's `f32` products run on this kernel: the CPU has AVX2 and FMA, and the
/// products are not on AVX-512 (the build's [`crate::simd::GEMM_AVX512`] with
/// [`crate::simd::simd_level`] at AVX-512; `KINKGRAD_SIMD=avx2` or the `--no-default-features` build
/// take this kernel on an AVX-512 machine). Detected once.
pub fn in_use() -> bool {
    use crate::simd::{simd_level, Simd, GEMM_AVX512};
    static USE: OnceLock<bool> = OnceLock::new();
    *USE.get_or_init(|| available() && !(GEMM_AVX512 && simd_level() == Simd::Avx512))
}

/// True when the CPU can run the kernel: AVX2 ([`crate::simd::simd_level`], so `KINKGRAD_SIMD=baseline`
/// turns it off) and FMA.
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::simd::simd_level() >= crate::simd::Simd::Avx2 && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The operands of one product: `c (m x n, rows ldc apart) = a (m x k) b (k x n) [+ bias]`, `a` and
/// `b` read through strides in elements.
#[derive(Clone, Copy)]
pub(crate) struct Product {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: *const f32,
    pub a_rs: isize,
    pub a_cs: isize,
    pub b: *const f32,
    pub b_rs: isize,
    pub b_cs: isize,
    pub c: *mut f32,
    pub ldc: usize,
    /// `n` values added to every row after the product, or null.
    pub bias: *const f32,
}
// SAFETY: a `Product` is handed to rayon tasks that write disjoint parts of `c` and only read the rest
unsafe impl Send for Product {}
unsafe impl Sync for Product {}

impl Product {
    /// The columns `from..from + n` of this product.
    fn columns(self, from: usize, n: usize) -> Product {
        // SAFETY (of the offsets): inside the operands the caller vouched for
        unsafe {
            Product {
                n,
                b: self.b.offset(from as isize * self.b_cs),
                c: self.c.add(from),
                bias: if self.bias.is_null() { self.bias } else { self.bias.add(from) },
                ..self
            }
        }
    }
    /// The rows `from..from + m` of this product.
    fn rows(self, from: usize, m: usize) -> Product {
        // SAFETY: as in `columns`
        unsafe { Product { m, a: self.a.offset(from as isize * self.a_rs), c: self.c.add(from * self.ldc), ..self } }
    }
}

/// Runs the product, split across rayon's threads: halves of `c` with as even tile counts as the
/// tiles allow (`split`), recursively, while a part has at least [`SPLIT_MIN`] multiply-adds; on a
/// pool of two threads the one cut falls at a tile boundary where the threads' measured speeds say
/// both parts finish together ([`crate::tensor::balance`]). The split never changes a value's sums
/// (module doc). Writes every value of `c` without reading it.
///
/// # Safety
/// `a` and `b` reach every element their strides address for `m x k` and `k x n`; `c` holds `m`
/// rows of `n` values `ldc` apart, none shared with `a`, `b` or `bias`; `k > 0`; [`available`].
pub(crate) unsafe fn product(p: Product) {
    let depth = usize::BITS - (rayon::current_num_threads().max(1) - 1).leading_zeros();
    split(p, depth);
}

unsafe fn split(p: Product, depth: u32) {
    if depth == 0 || p.m * p.n * p.k < SPLIT_MIN || p.m.max(p.n) < 64 {
        run(p);
        return;
    }
    // the halves at tile boundaries (`tiles` rows of tiles, `panels` columns): across the side
    // whose larger half has fewer tiles, the longer side when equal (the weight gradient 512 x 784:
    // 43 x 49 tiles per half by rows, against 86 x 25 by columns)
    let (tiles, panels) = (p.m.div_ceil(MR), p.n.div_ceil(16));
    let (by_rows, by_columns) = (tiles.div_ceil(2) * panels, tiles * panels.div_ceil(2));
    // SAFETY: the parts write disjoint parts of `c` (on a pool of two threads the cut follows the
    // threads' speeds, at tile boundaries: `tensor::balance`)
    if by_columns < by_rows || (by_columns == by_rows && p.m < p.n) {
        let h = (panels.div_ceil(2) * 16).min(p.n);
        balance::join_split(p.n, h, 16, |from, to| unsafe { split(p.columns(from, to - from), depth - 1) });
    } else {
        let h = (tiles.div_ceil(2) * MR).min(p.m);
        balance::join_split(p.m, h, MR, |from, to| unsafe { split(p.rows(from, to - from), depth - 1) });
    }
}

/// One thread's product, in the orientation that fills the tiles better: `c` itself, or `c^T = b^T
/// a^T` when `c` is narrower than a tile and taller than wide (e.g. a weight gradient with 6 output
/// channels, `[150, 6]`: its transpose fills the 16 columns of a tile). The choice depends on the
/// shape alone and no value's sums depend on it (module doc).
unsafe fn run(p: Product) {
    if p.m == 0 || p.n == 0 {
        return;
    }
    let nr = 16;
    let fill = |rows: usize, cols: usize| {
        (rows as f64 / rows.next_multiple_of(MR) as f64) * (cols as f64 / cols.next_multiple_of(nr) as f64)
    };
    let job = if p.n < nr && fill(p.n, p.m) > 1.25 * fill(p.m, p.n) {
        // c^T = b^T a^T: `c` and the bias (one value per column of `c`, now per row) through strides
        Job {
            m: p.n,
            n: p.m,
            a: p.b,
            a_rs: p.b_cs,
            a_cs: p.b_rs,
            b: p.a,
            b_rs: p.a_cs,
            b_cs: p.a_rs,
            c_rs: 1,
            c_cs: p.ldc,
            bias_rs: 1,
            bias_cs: 0,
            ..Job::of(p)
        }
    } else {
        Job::of(p)
    };
    pack::with_buffers(|abuf, bbuf| {
        #[cfg(target_arch = "x86_64")]
        avx2(job, abuf, bbuf)
    })
}

/// A product as the blocked loops take it: `c` and the bias through strides in both directions.
#[derive(Clone, Copy)]
struct Job {
    m: usize,
    n: usize,
    k: usize,
    a: *const f32,
    a_rs: isize,
    a_cs: isize,
    b: *const f32,
    b_rs: isize,
    b_cs: isize,
    c: *mut f32,
    c_rs: usize,
    c_cs: usize,
    bias: *const f32,
    bias_rs: usize,
    bias_cs: usize,
}

impl Job {
    /// The product as given (`c` row-major, the bias along its columns).
    fn of(p: Product) -> Job {
        Job {
            m: p.m,
            n: p.n,
            k: p.k,
            a: p.a,
            a_rs: p.a_rs,
            a_cs: p.a_cs,
            b: p.b,
            b_rs: p.b_rs,
            b_cs: p.b_cs,
            c: p.c,
            c_rs: p.ldc,
            c_cs: 1,
            bias: p.bias,
            bias_rs: 0,
            bias_cs: 1,
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2(p: Job, abuf: &mut pack::Buf, bbuf: &mut pack::Buf) {
    blocked::<std::arch::x86_64::__m256>(p, abuf, bbuf)
}

/// The blocked loops around the micro-kernel (module doc), for one vector type.
#[inline(always)]
unsafe fn blocked<V: Lanes>(p: Job, abuf: &mut pack::Buf, bbuf: &mut pack::Buf) {
    let nr = 2 * V::W;
    let (blocks, kc_full) = k_blocks(p.k);
    let ap = abuf.get(MC * kc_full);
    let bp = bbuf.get(NC.min(p.n.next_multiple_of(nr)) * kc_full);
    debug_assert!(kc_full <= KC_MAX && NC.is_multiple_of(nr) && MC.is_multiple_of(MR));
    for jc in (0..p.n).step_by(NC) {
        let nc = NC.min(p.n - jc);
        for blk in 0..blocks {
            let pc = blk * kc_full;
            let kc = kc_full.min(p.k - pc);
            let b = p.b.offset(pc as isize * p.b_rs + jc as isize * p.b_cs);
            pack::panels(kc, nc, b, p.b_cs, p.b_rs, nr, bp);
            let last = blk + 1 == blocks;
            for ic in (0..p.m).step_by(MC) {
                let mc = MC.min(p.m - ic);
                let a = p.a.offset(ic as isize * p.a_rs + pc as isize * p.a_cs);
                pack::panels(kc, mc, a, p.a_rs, p.a_cs, MR, ap);
                for jr in (0..nc).step_by(nr) {
                    let cols = nr.min(nc - jr);
                    let bpan = bp.add(jr * kc);
                    for ir in (0..mc).step_by(MR) {
                        let rows = MR.min(mc - ir);
                        let (i, j) = (ic + ir, jc + jr);
                        let c = p.c.add(i * p.c_rs + j * p.c_cs);
                        let bias = if last && !p.bias.is_null() {
                            p.bias.add(i * p.bias_rs + j * p.bias_cs)
                        } else {
                            std::ptr::null()
                        };
                        let epi = Epilogue {
                            c_rs: p.c_rs,
                            c_cs: p.c_cs,
                            first: blk == 0,
                            bias,
                            bias_rs: p.bias_rs,
                            bias_cs: p.bias_cs,
                        };
                        tile::<V, MR>(kc, ap.add(ir * kc), bpan, c, rows, cols, epi);
                    }
                }
            }
        }
    }
}

/// The product in plain scalar code with the same order of sums (module doc): the independent
/// implementation the kernels are tested against. `a`, `b` row-major and contiguous.
#[cfg(test)]
pub(crate) fn reference(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], bias: &[f32]) -> Vec<f32> {
    let (blocks, kc) = k_blocks(k);
    let mut c = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut total = 0f32;
            for blk in 0..blocks {
                let mut chain = 0f32;
                for p in blk * kc..(k.min((blk + 1) * kc)) {
                    chain = a[i * k + p].mul_add(b[p * n + j], chain);
                }
                total = if blk == 0 { chain } else { total + chain };
            }
            c[i * n + j] = if bias.is_empty() { total } else { total + bias[j] };
        }
    }
    c
}
