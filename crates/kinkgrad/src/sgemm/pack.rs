//! Packing: a block of an operand copied into the panels the micro-kernel reads, and the per-thread
//! buffers that hold them (kept across products, so a training step's products allocate nothing once
//! the first step has grown them).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// A buffer of `f32` whose start is 64-byte aligned (a cache line; the panels' vector loads never
/// straddle one), allocated at its full size on first use, so that which products a thread happens
/// to run (work stealing decides) never makes a later product allocate.
pub(super) struct Buf {
    data: Vec<f32>,
    len: usize,
}

impl Buf {
    /// An empty buffer that will hold `len` values.
    const fn new(len: usize) -> Buf {
        Buf { data: Vec::new(), len }
    }

    /// A pointer to `len` values, 64-byte aligned (contents stale).
    ///
    /// # Panics
    /// When `len` exceeds the size the buffer was made for (the blocking constants bound it).
    pub fn get(&mut self, len: usize) -> *mut f32 {
        assert!(len <= self.len, "sgemm: a packed block larger than its buffer");
        if self.data.is_empty() {
            self.data = vec![0.0; self.len + 16];
        }
        let p = self.data.as_mut_ptr();
        // SAFETY: at most 15 values in, and `self.len` more remain
        unsafe { p.add(p.align_offset(64).min(15)) }
    }
}

/// Runs `f` with this thread's two packing buffers, for a block of `a` (`MC x KC_MAX` values) and
/// one of `b` (`NC x KC_MAX`): about 2.1 MiB per thread, allocated once (taken out for the call and
/// put back; a nested call on the same thread would get fresh ones).
pub(super) fn with_buffers<R>(f: impl FnOnce(&mut Buf, &mut Buf) -> R) -> R {
    let (mut a, mut b) = BUFS.with(|c| c.take()).unwrap_or_else(|| {
        // this thread's first product here (the flag is written once per thread, not per product)
        USED.store(true, Ordering::Relaxed);
        new_buffers()
    });
    let r = f(&mut a, &mut b);
    BUFS.with(|c| c.set(Some((a, b))));
    r
}

fn new_buffers() -> (Buf, Buf) {
    use super::{KC_MAX, MC, NC};
    (Buf::new(MC * KC_MAX), Buf::new(NC * KC_MAX))
}

thread_local! {
    /// This thread's packing buffers ([`with_buffers`]).
    static BUFS: Cell<Option<(Buf, Buf)>> = const { Cell::new(None) };
}

/// Set once any thread has run a product here.
static USED: AtomicBool = AtomicBool::new(false);

/// Allocates this thread's packing buffers once any thread has run a product here
/// ([`crate::scalar::sync_thread_buffers`]).
pub(super) fn sync_thread_buffers() {
    if USED.load(Ordering::Relaxed) {
        BUFS.with(|c| {
            let (mut a, mut b) = c.take().unwrap_or_else(new_buffers);
            let (la, lb) = (a.len, b.len);
            a.get(la);
            b.get(lb);
            c.set(Some((a, b)));
        });
    }
}

/// Packs `len` lines of `kc` values into panels of `width` lines: the value of line `l` at depth
/// `p`, read at `src[l * s_line + p * s_k]`, goes to `dst[(l / width) * width * kc + p * width + l %
/// width]`; the lines of the last panel beyond `len` are zeros.
///
/// For `b`, a line is a column of the block (`s_line = b_cs`, `s_k = b_rs`); for `a`, a row
/// (`s_line = a_rs`, `s_k = a_cs`). Whichever stride is 1 is read in the inner loop.
///
/// # Safety
/// `src` reaches every value named; `dst` holds `len.next_multiple_of(width) * kc` values.
#[inline(always)]
pub(super) unsafe fn panels(
    kc: usize,
    len: usize,
    src: *const f32,
    s_line: isize,
    s_k: isize,
    width: usize,
    dst: *mut f32,
) {
    for q in 0..len.div_ceil(width) {
        let first = q * width;
        let lines = width.min(len - first);
        let out = dst.add(q * width * kc);
        let src = src.offset(first as isize * s_line);
        if s_line == 1 {
            for p in 0..kc {
                let from = src.offset(p as isize * s_k);
                let to = out.add(p * width);
                // a constant length is copied in registers, not through a call to `memmove`
                match lines {
                    6 => std::ptr::copy_nonoverlapping(from, to, 6),
                    16 => std::ptr::copy_nonoverlapping(from, to, 16),
                    32 => std::ptr::copy_nonoverlapping(from, to, 32),
                    _ => std::ptr::copy_nonoverlapping(from, to, lines),
                }
                for t in lines..width {
                    *to.add(t) = 0.0;
                }
            }
        } else if cfg!(target_arch = "x86_64") && s_k == 1 && s_line > 0 && width == 6 && lines == 6 {
            // a full panel of `a` from contiguous rows
            #[cfg(target_arch = "x86_64")]
            six_rows_avx2(kc, src, s_line as usize, out);
        } else if s_k == 1 && s_line > 0 {
            // each line is contiguous: an 8 x 8 tiled transpose
            crate::tensor::transpose::transpose32_into(src.cast(), lines, kc, s_line as usize, out.cast(), width);
            for t in lines..width {
                for p in 0..kc {
                    *out.add(p * width + t) = 0.0;
                }
            }
        } else {
            for t in 0..lines {
                let from = src.offset(t as isize * s_line);
                for p in 0..kc {
                    *out.add(p * width + t) = *from.offset(p as isize * s_k);
                }
            }
            for t in lines..width {
                for p in 0..kc {
                    *out.add(p * width + t) = 0.0;
                }
            }
        }
    }
}

/// A full panel of `a` (6 rows) from rows whose `kc` values are contiguous (`src[i * s_line + p]`):
/// `out[p * 6 + i]`. Each 8 values of the 6 rows are transposed in registers as an 8 x 8 block
/// whose last two rows are zeros, and the 8 columns of 6 are stored one after the other (8 values
/// each, the last 2 overwritten by the next column; the eighth stores 4 + 2).
///
/// # Safety
/// The CPU has AVX2; `src` reaches the 6 rows of `kc` values, `out` holds `6 * kc`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn six_rows_avx2(kc: usize, src: *const f32, s_line: usize, out: *mut f32) {
    use std::arch::x86_64::*;
    let z = _mm256_setzero_ps();
    for p in (0..kc / 8 * 8).step_by(8) {
        let r = |i: usize| _mm256_loadu_ps(src.add(i * s_line + p));
        let (r0, r1, r2, r3, r4, r5) = (r(0), r(1), r(2), r(3), r(4), r(5));
        // pairs of rows interleaved, then quadruples: s_j holds columns j (low half) and j + 4
        let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
        let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
        let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
        let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let s4 = _mm256_shuffle_ps::<0x44>(t4, z);
        let s5 = _mm256_shuffle_ps::<0xEE>(t4, z);
        let s6 = _mm256_shuffle_ps::<0x44>(t5, z);
        let s7 = _mm256_shuffle_ps::<0xEE>(t5, z);
        let cols = [
            _mm256_permute2f128_ps::<0x20>(s0, s4),
            _mm256_permute2f128_ps::<0x20>(s1, s5),
            _mm256_permute2f128_ps::<0x20>(s2, s6),
            _mm256_permute2f128_ps::<0x20>(s3, s7),
            _mm256_permute2f128_ps::<0x31>(s0, s4),
            _mm256_permute2f128_ps::<0x31>(s1, s5),
            _mm256_permute2f128_ps::<0x31>(s2, s6),
            _mm256_permute2f128_ps::<0x31>(s3, s7),
        ];
        let o = out.add(p * 6);
        for (j, &c) in cols.iter().enumerate().take(7) {
            _mm256_storeu_ps(o.add(j * 6), c);
        }
        _mm_storeu_ps(o.add(42), _mm256_castps256_ps128(cols[7]));
        _mm_store_sd(o.add(46).cast(), _mm_castps_pd(_mm256_extractf128_ps::<1>(cols[7])));
    }
    for p in kc / 8 * 8..kc {
        for i in 0..6 {
            *out.add(p * 6 + i) = *src.add(i * s_line + p);
        }
    }
}
