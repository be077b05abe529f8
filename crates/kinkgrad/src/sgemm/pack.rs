//! Packing: a block of an operand copied into the panels the micro-kernel reads, and the per-thread
//! buffers that hold them (kept across products, so a training step's products allocate nothing once
//! the first step has grown them).

use std::cell::Cell;

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
    use super::{KC_MAX, MC, NC};
    thread_local! {
        static BUFS: Cell<Option<(Buf, Buf)>> = const { Cell::new(None) };
    }
    let (mut a, mut b) = BUFS.with(|c| c.take()).unwrap_or((Buf::new(MC * KC_MAX), Buf::new(NC * KC_MAX)));
    let r = f(&mut a, &mut b);
    BUFS.with(|c| c.set(Some((a, b))));
    r
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
                    16 => std::ptr::copy_nonoverlapping(from, to, 16),
                    32 => std::ptr::copy_nonoverlapping(from, to, 32),
                    _ => std::ptr::copy_nonoverlapping(from, to, lines),
                }
                for t in lines..width {
                    *to.add(t) = 0.0;
                }
            }
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
