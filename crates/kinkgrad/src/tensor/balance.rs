//! The two-way split of a large matrix product on two threads, cut where the threads' measured
//! speeds say both parts finish together ([`join_split`]).
//!
//! A product large enough to split runs as two parts under `rayon::join`: the calling thread takes
//! the first, the pool's other thread steals the second. Cut in the middle, the parts finish
//! together only when the two cores run equally fast. On a virtual machine they often do not: the
//! host slows one vCPU or the other for seconds to minutes (per-part timers in the MLP
//! 784-512-512-10 step showed the two halves of a product 20-27% apart in some minutes and within 3%
//! in others; docs/benchmarks.md, session 32), and the faster thread then waits for the slower one
//! at every product. Smaller parts taken dynamically would balance the load, but each part of a
//! `gemm` call packs the shared operand again, which cost more than it saved (4 parts: +4% on the
//! step, 8 parts: +10%; session 33).
//!
//! So the cut follows the threads instead. After each split product whose parts ran on different
//! threads, the rate of each part (rows or columns per nanosecond) gives the cut that would have
//! made them finish together, `f* = r1 / (r1 + r2)` of the length for the first part; the cut in
//! use is an exponential average of those ([`next_fraction`]), clamped to `[0.3, 0.7]` so that a
//! single interrupted part cannot starve the other thread.
//!
//! **The bits.** Each value of a product is the same sum in the same order whichever part computes
//! it (`gemm` and kinkgrad's kernel cut `k` in blocks that depend on `k` alone; the parts differ
//! only in which rows or columns of `c` they hold), so where the cut falls never changes a result:
//! the timings steer the speed, never a value (tested with cuts forced to either end of the clamp).
//! Pools of other sizes keep the caller's middle cut.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

/// The first part's share of the length, in units of `2^-16` (0: none measured yet, i.e. one half):
/// one share for every product, since what it tracks is the two threads' speeds.
static FRACTION: AtomicU32 = AtomicU32::new(0);

/// The weight of the newest measurement in the average: a few products follow a change of the
/// host's speeds (the MLP 784-512-512-10 step runs eight split products).
const NEWEST: f64 = 0.2;
/// The first part's share is kept within `[LOW, 1 - LOW]`.
const LOW: f64 = 0.3;

/// Runs `part(0, h)` on this thread and `part(h, len)` on rayon's other thread (when it steals
/// it), returning when both are done. On a pool of two threads, with `len` at least twice `align`
/// (`align >= 1`), `h` is the measured balance ([`next_fraction`]) of `len`: a multiple of `align`,
/// at least `align` from either end. On other pools, or a shorter `len`, it is `half`. `part` must
/// compute its rows or columns independently of where the cut falls (module doc).
pub(crate) fn join_split(len: usize, half: usize, align: usize, part: impl Fn(usize, usize) + Sync) {
    if rayon::current_num_threads() != 2 || len < 2 * align {
        rayon::join(|| part(0, half), || part(half, len));
        return;
    }
    let f = fraction();
    let h = cut(len, align, f);
    let start = Instant::now();
    let timed = |from: usize, to: usize| {
        let begin = start.elapsed();
        part(from, to);
        (rayon::current_thread_index(), start.elapsed().saturating_sub(begin))
    };
    let ((t1, d1), (t2, d2)) = rayon::join(|| timed(0, h), || timed(h, len));
    // a part run by the caller itself (not stolen) says nothing about the other thread
    if t1 != t2 && !d1.is_zero() && !d2.is_zero() {
        store(next_fraction(f, h, len, d1.as_nanos() as f64, d2.as_nanos() as f64));
    }
}

/// Keeps `f` (within `[LOW, 1 - LOW]`) as the first part's share.
fn store(f: f64) {
    FRACTION.store((f * 65536.0).round() as u32, Ordering::Relaxed);
}

/// The first part's current share of a split (0.5 until a split has been measured).
fn fraction() -> f64 {
    match FRACTION.load(Ordering::Relaxed) {
        0 => 0.5,
        v => f64::from(v) / 65536.0,
    }
}

/// The cut for share `f` of `len`: the nearest multiple of `align`, at least `align` from either
/// end (`len >= 2 * align`).
fn cut(len: usize, align: usize, f: f64) -> usize {
    let h = ((len as f64 * f / align as f64).round() as usize) * align;
    h.clamp(align, (len - align) / align * align)
}

/// The share after a split of `len` at `h` whose first part took `d1` and second `d2` (any unit):
/// each part's rate `r = rows / time`, the share `r1 / (r1 + r2)` that would have made both take
/// the same time, averaged into `f` with weight [`NEWEST`] and clamped to `[LOW, 1 - LOW]`.
fn next_fraction(f: f64, h: usize, len: usize, d1: f64, d2: f64) -> f64 {
    let (r1, r2) = (h as f64 / d1, (len - h) as f64 / d2);
    let target = r1 / (r1 + r2);
    ((1.0 - NEWEST) * f + NEWEST * target).clamp(LOW, 1.0 - LOW)
}

/// Sets the first part's share (tests: a split forced to either end of the clamp must give the same
/// bits as any other).
#[cfg(test)]
pub(crate) fn force_fraction(f: f64) {
    store(f.clamp(LOW, 1.0 - LOW));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_moves_toward_the_cut_that_equalises_the_parts() {
        // equal rates: the balanced share is one half, and a share of one half stays put
        assert!((next_fraction(0.5, 256, 512, 100.0, 100.0) - 0.5).abs() < 1e-15);
        // cut at 256 of 512, the first part twice as slow (200 against 100): rates 1.28 and 2.56,
        // balanced share 1.28 / 3.84 = 1/3; averaged 0.8 * 0.5 + 0.2 / 3 = 0.4666...
        let f = next_fraction(0.5, 256, 512, 200.0, 100.0);
        assert!((f - (0.4 + 0.2 / 3.0)).abs() < 1e-12, "{f}");
        // cut at 384 of 512 (first part 3x longer) in the same time: rates 3.84 and 1.28, balanced
        // share 3/4, averaged from 0.7: 0.56 + 0.15 = 0.71, clamped to 0.7
        assert_eq!(next_fraction(0.7, 384, 512, 100.0, 100.0), 0.7);
        // an extreme measurement (the second part interrupted for a long time) moves the share by at
        // most a fifth of the way, and never below 0.3
        let f = next_fraction(0.5, 256, 512, 1.0, 1e9);
        assert!((f - 0.6).abs() < 1e-9, "{f}");
        assert_eq!(next_fraction(0.31, 256, 512, 1e9, 1.0), 0.3);
    }

    #[test]
    fn cuts_fall_on_the_alignment_inside_the_length() {
        // 512 columns in multiples of 16: one half is 256; 0.3 of 512 = 153.6 -> 160 (10 x 16)
        assert_eq!(cut(512, 16, 0.5), 256);
        assert_eq!(cut(512, 16, 0.3), 160);
        assert_eq!(cut(512, 16, 0.7), 352);
        // the shortest length keeps one alignment unit in each part
        assert_eq!(cut(32, 16, 0.3), 16);
        assert_eq!(cut(32, 16, 0.7), 16);
        // a length that is not a multiple: 100 rows in sixes, 0.7 x 100 / 6 = 11.7 -> 12 x 6 = 72;
        // 13 rows: the cut stays at 6 (at most 13 - 6 = 7, rounded down to a multiple of 6)
        assert_eq!(cut(100, 6, 0.7), 72);
        assert_eq!(cut(13, 6, 0.9), 6);
    }
}
