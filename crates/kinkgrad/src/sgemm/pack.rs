//! Packing: a block of an operand copied into the panels the micro-kernel reads, and the per-thread
//! buffers that hold them (kept across products, so a training step's products allocate nothing once
//! the first step has grown them).

use std::cell::Cell;

/// A growable buffer of `f32` whose start is 64-byte aligned (a cache line; the panels' vector loads
/// never straddle one).
#[derive(Default)]
pub(super) struct Buf(Vec<f32>);

impl Buf {
    /// A pointer to at least `len` values, 64-byte aligned (contents stale).
    pub fn get(&mut self, len: usize) -> *mut f32 {
        let need = len + 16;
        if self.0.len() < need {
            self.0 = vec![0.0; need];
        }
        let p = self.0.as_mut_ptr();
        // SAFETY: at most 15 values in, and `len` more remain
        unsafe { p.add(p.align_offset(64).min(15)) }
    }
}

/// The largest buffer a thread keeps between products, in values (4 Mi: 16 MiB).
const KEEP: usize = 1 << 22;

/// Runs `f` with this thread's two packing buffers (taken out for the call and put back; one above
/// [`KEEP`] values is freed after it).
pub(super) fn with_buffers<R>(f: impl FnOnce(&mut Buf, &mut Buf) -> R) -> R {
    thread_local! {
        static BUFS: Cell<(Buf, Buf)> = Cell::new(Default::default());
    }
    let (mut a, mut b) = BUFS.with(|c| c.take());
    let r = f(&mut a, &mut b);
    for buf in [&mut a, &mut b] {
        if buf.0.len() > KEEP {
            *buf = Buf::default();
        }
    }
    BUFS.with(|c| c.set((a, b)));
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
