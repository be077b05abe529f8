//! The forward scan of a max/min over windows ([`super::window`]): each window's extreme value, its
//! first position, and the positions of every tie. Windows of one common length 4 (2x2 pooling) take
//! a kernel with that length fixed at compile time (the entries in registers, the tied positions as
//! a bit mask); every other list of windows the general loop. Both give the same results (tested:
//! `fixed_width_scan_equals_the_general_scan`).

use super::window::{Grid2, Windows};
use crate::scalar::Real;
use crate::tensor::pool::Buf;

/// What the scan finds: one output per window; per window without a tie the selected position
/// (index into the window); the tied windows (ascending) with their tied positions in window order,
/// tie `q` at `tied[tied_start[q]..tied_start[q + 1]]`.
pub(super) struct Scan<T> {
    pub out: Vec<T>,
    pub sel: Buf<u32>,
    pub kink_at: Buf<usize>,
    pub tied: Buf<u32>,
    pub tied_start: Buf<u32>,
}

impl<T: Real> Scan<T> {
    /// Room for `nw` windows of at most `per` entries, from the buffer pool ([`crate::tensor::pool`]) in
    /// capacities that do not depend on the tie count (every window tied in all its entries at
    /// most), so that the next step reuses them.
    pub(super) fn with_capacity(nw: usize, per: usize) -> Self {
        let mut tied_start = Buf::with_capacity(nw + 1);
        tied_start.push(0);
        Scan {
            out: crate::tensor::pool::take(nw),
            sel: Buf::filled(nw, 0),
            kink_at: Buf::with_capacity(nw),
            tied: Buf::with_capacity(nw * per),
            tied_start,
        }
    }
    /// Record window `w`'s outcome: `best` its extreme value, `first` its first position holding it,
    /// `tied` the positions holding it when more than one does (`None`: no tie), `nan` a NaN entry
    /// (the output is then NaN, as in the frameworks, and not a kink).
    #[inline(always)]
    pub(super) fn push(&mut self, w: usize, best: T, first: usize, tied: Option<impl Iterator<Item = u32>>, nan: bool) {
        if nan {
            self.out.push(T::from_f64(f64::NAN));
            return;
        }
        if let Some(tied) = tied {
            self.tied.extend(tied);
            self.tied_start.push(self.tied.len() as u32);
            self.kink_at.push(w);
        }
        self.sel[w] = first as u32;
        self.out.push(best);
    }
}

/// `a` beats `b` for a max (`MIN` false) or a min.
#[inline(always)]
fn beats<T: Real, const MIN: bool>(a: T, b: T) -> bool {
    if MIN {
        a < b
    } else {
        a > b
    }
}

/// `x` is NaN (unordered with itself).
#[inline(always)]
fn is_nan<T: Real>(x: T) -> bool {
    x.partial_cmp(&x).is_none()
}

/// Scan `d` over `windows`, max or min (`min`).
pub(super) fn scan<T: Real>(d: &[T], windows: &Windows, min: bool) -> Scan<T> {
    // f16 and bf16 on integer keys of their bits (the same results, `window_scan16.rs`)
    if let Some(s) = super::window_scan16::scan16(d, windows, min) {
        return s;
    }
    let nw = windows.len();
    if let Some(g) = windows.grid() {
        return if min { scan_grid2::<T, true>(d, &g) } else { scan_grid2::<T, false>(d, &g) };
    }
    match (windows.width() == Some(4), min) {
        (true, false) => scan_fixed::<T, 4, false>(d, windows.idx(), nw),
        (true, true) => scan_fixed::<T, 4, true>(d, windows.idx(), nw),
        (false, false) => scan_general::<T, false>(d, windows),
        (false, true) => scan_general::<T, true>(d, windows),
    }
}

/// Windows of `L` entries each (`idx` holds `nw * L` positions).
pub(super) fn scan_fixed<T: Real, const L: usize, const MIN: bool>(d: &[T], idx: &[u32], nw: usize) -> Scan<T> {
    let mut s = Scan::with_capacity(nw, L);
    for (w, win) in idx.chunks_exact(L).enumerate() {
        let v: [T; L] = std::array::from_fn(|i| d[win[i] as usize]);
        // the extreme value (selects, no branch to mispredict on random data); a NaN is flagged
        let mut best = v[0];
        let mut nan = false;
        for &x in &v[1..] {
            nan |= is_nan(x);
            best = if beats::<T, MIN>(x, best) { x } else { best };
        }
        nan |= is_nan(best);
        let mut mask = 0u32;
        for (i, &x) in v.iter().enumerate() {
            mask |= u32::from(x == best) << i;
        }
        let tied = (mask.count_ones() > 1).then(|| (0..L as u32).filter(move |&i| mask >> i & 1 == 1));
        s.push(w, best, mask.trailing_zeros() as usize, tied, nan);
    }
    s
}

/// The windows of a 2x2 pooling at stride 2 ([`Grid2`]), read from the input rows: the results of
/// [`scan_fixed`] over the same windows (tested: `grid_scan_equals_the_general_scan`). A first pass
/// (vectorisable: no index loads, no branch) writes each window's value and a byte holding its tie
/// mask (bit `i`: entry `i` equals the extreme value) and a NaN flag (bit 4); a second pass turns the
/// bytes into selections and tie lists.
fn scan_grid2<T: Real, const MIN: bool>(d: &[T], g: &Grid2) -> Scan<T> {
    const NAN: u8 = 16;
    let nw = g.lead * g.oh * g.ow;
    #[cfg(target_arch = "x86_64")]
    if !MIN && std::mem::size_of::<T>() == 2 && crate::simd::simd_level() == crate::simd::Simd::Avx512 {
        return max16_via_f32(d, g);
    }
    let mut s = Scan::with_capacity(nw, 4);
    #[cfg(target_arch = "x86_64")]
    if !MIN
        && std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
        && crate::simd::simd_level() == crate::simd::Simd::Avx512
    {
        // SAFETY: `T` is `f32` and the CPU has AVX-512 F, BW, VL and DQ (`simd_level` checked them)
        unsafe { super::window_scan_grid::max_f32_avx512(d, g, &mut s) };
        return s;
    }
    let mut masks: Vec<u8> = crate::tensor::pool::take(nw);
    {
        let (out, m) = (&mut s.out.spare_capacity_mut()[..nw], &mut masks.spare_capacity_mut()[..nw]);
        let nan_value = T::from_f64(f64::NAN);
        crate::simd::wide(|| {
            let rows = out.chunks_exact_mut(g.ow).zip(m.chunks_exact_mut(g.ow));
            for (r, (out, m)) in rows.enumerate() {
                let (l, i) = (r / g.oh, r % g.oh);
                let top = &d[l * g.h * g.w + 2 * i * g.w..][..2 * g.ow];
                let bottom = &d[l * g.h * g.w + (2 * i + 1) * g.w..][..2 * g.ow];
                for (j, (o, m)) in out.iter_mut().zip(m.iter_mut()).enumerate() {
                    let v = [top[2 * j], top[2 * j + 1], bottom[2 * j], bottom[2 * j + 1]];
                    let mut best = v[0];
                    let mut nan = is_nan(v[0]);
                    for &x in &v[1..] {
                        nan |= is_nan(x);
                        best = if beats::<T, MIN>(x, best) { x } else { best };
                    }
                    let mut mask = u8::from(nan) << 4;
                    for (i, &x) in v.iter().enumerate() {
                        mask |= u8::from(x == best) << i;
                    }
                    m.write(mask);
                    o.write(if nan { nan_value } else { best });
                }
            }
        });
    }
    // SAFETY: the row chunks above cover all `nw` windows (`lead * oh` rows of `ow`), each written
    unsafe {
        s.out.set_len(nw);
        masks.set_len(nw);
    }
    for (w, &mask) in masks.iter().enumerate() {
        if mask & NAN != 0 {
            continue; // NaN out (as in the frameworks), selection 0, not a kink
        }
        s.sel[w] = mask.trailing_zeros();
        if mask.count_ones() > 1 {
            s.tied.extend((0..4u32).filter(|&i| mask >> i & 1 == 1));
            s.tied_start.push(s.tied.len() as u32);
            s.kink_at.push(w);
        }
    }
    crate::tensor::pool::give(masks);
    s
}

/// Windows of any lengths.
pub(super) fn scan_general<T: Real, const MIN: bool>(d: &[T], windows: &Windows) -> Scan<T> {
    let nw = windows.len();
    let mut s = Scan::with_capacity(nw, if nw > 0 { windows.window(0).len() } else { 0 });
    for w in 0..nw {
        let win = windows.window(w);
        let mut best = d[win[0] as usize];
        let mut nan = false;
        for &p in &win[1..] {
            let x = d[p as usize];
            nan |= is_nan(x);
            best = if beats::<T, MIN>(x, best) { x } else { best };
        }
        nan |= is_nan(best);
        let mut first = win.len();
        let mut count = 0usize;
        for (i, &p) in win.iter().enumerate().rev() {
            let hit = d[p as usize] == best;
            first = if hit { i } else { first };
            count += usize::from(hit);
        }
        let tied =
            (count > 1).then(|| win.iter().enumerate().filter(|(_, &p)| d[p as usize] == best).map(|(i, _)| i as u32));
        s.push(w, best, first, tied, nan);
    }
    s
}

/// [`scan_grid2`]'s max for a 16-bit `T` (`f16`, `bf16`) with AVX-512: the `f32` kernel over the
/// widened values, its outputs narrowed back. Widening is exact and keeps order, equality (`0.0 ==
/// -0.0`) and NaNs, so the maxima, selections and ties are those of the scan over `T`; each output is
/// a widened input (or NaN), so narrowing it is exact (tested with the grid scan's cases).
#[cfg(target_arch = "x86_64")]
fn max16_via_f32<T: Real>(d: &[T], g: &Grid2) -> Scan<T> {
    let nw = g.lead * g.oh * g.ow;
    let mut wide: Vec<f32> = crate::tensor::pool::take(d.len());
    crate::simd::wide(|| wide.extend(d.iter().map(|x| x.to_f32())));
    let mut s = Scan::<f32>::with_capacity(nw, 4);
    // SAFETY: `wide` holds `f32`, and the CPU has AVX-512 F, BW, VL and DQ (the caller checked
    // `simd_level`)
    unsafe { super::window_scan_grid::max_f32_avx512(&wide, g, &mut s) };
    crate::tensor::pool::give(wide);
    let Scan { out, sel, kink_at, tied, tied_start } = s;
    let mut narrow: Vec<T> = crate::tensor::pool::take(nw);
    crate::simd::wide(|| narrow.extend(out.iter().map(|&x| T::from_f32(x))));
    crate::tensor::pool::give(out);
    Scan { out: narrow, sel, kink_at, tied, tied_start }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_scan_equals_the_general_scan() {
        // eight windows of four over 32 values with ties (0.0 and -0.0 compare equal), a NaN and a
        // strict maximum in each position; expected: the general loop (the code before the fixed
        // kernel existed), and by hand for two windows
        let d: Vec<f32> = vec![
            1.0,
            2.0,
            3.0,
            4.0, // strict max last
            4.0,
            3.0,
            2.0,
            1.0, // strict max first
            0.0,
            -0.0,
            0.0,
            -1.0, // three-way tie (positions 0, 1, 2)
            5.0,
            1.0,
            5.0,
            5.0, // tie at 0, 2, 3
            1.0,
            f32::NAN,
            2.0,
            0.0, // NaN
            -3.0,
            -3.0,
            -2.0,
            -2.0, // tie at 2, 3; min tie at 0, 1
            7.0,
            7.0,
            7.0,
            7.0, // all tied
            0.5,
            0.25,
            0.75,
            0.125, // strict max at 2
        ];
        let windows = Windows::new((0..32).collect(), (0..=8).map(|w| w * 4).collect());
        for min in [false, true] {
            let (a, b) = if min {
                (scan_fixed::<f32, 4, true>(&d, windows.idx(), 8), scan_general::<f32, true>(&d, &windows))
            } else {
                (scan_fixed::<f32, 4, false>(&d, windows.idx(), 8), scan_general::<f32, false>(&d, &windows))
            };
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a.out), bits(&b.out));
            assert_eq!((&a.sel, &a.kink_at, &a.tied, &a.tied_start), (&b.sel, &b.kink_at, &b.tied, &b.tied_start));
        }
        let s = scan(&d, &windows, false);
        // by hand: window 2 ties at positions 0, 1, 2; window 3 at 0, 2, 3; window 5 at 2, 3; window 6 all
        assert_eq!(*s.kink_at, vec![2, 3, 5, 6]);
        assert_eq!(*s.tied, vec![0, 1, 2, 0, 2, 3, 2, 3, 0, 1, 2, 3]);
        assert_eq!((s.sel[0], s.sel[1], s.sel[7]), (3, 0, 2));
        assert!(s.out[4].is_nan());
    }

    #[test]
    fn grid_scan_equals_the_general_scan() {
        // 2x2 stride-2 windows over planes of 7 x 9 (the last row and column unused), 5 x 41 and 4 x 32, values from
        // a small set so that ties (0.0 and -0.0 among them), and NaNs, are frequent; expected: the
        // general loop over the same windows listed by hand (row-major windows, entries (2i, 2j),
        // (2i, 2j + 1), (2i + 1, 2j), (2i + 1, 2j + 1)). Rows of 4, 20 (a vector step of sixteen
        // and a tail) and 16 windows
        for (lead, h, w) in [(3, 7, 9), (2, 5, 41), (2, 4, 32)] {
            grid_scan_case(lead, h, w);
        }
    }

    /// The same cases in `f16` and `bf16` (every choice is exact in both): the grid scan (on an
    /// AVX-512 machine the `f32` kernel over widened values) against the general loop over `T`.
    #[test]
    fn grid_scan_equals_the_general_scan_in_16_bit() {
        for (lead, h, w) in [(3, 7, 9), (2, 5, 41), (2, 4, 32)] {
            grid_scan_case_16::<half::f16>(lead, h, w);
            grid_scan_case_16::<half::bf16>(lead, h, w);
        }
    }

    fn grid_scan_case_16<T: Real>(lead: usize, h: usize, w: usize) {
        let d32 = grid_data(lead, h, w);
        let d: Vec<T> = d32.iter().map(|&x| T::from_f32(x)).collect();
        let listed = listed_windows(lead, h, w);
        let grid = Windows::grid2(lead, h, w);
        let bits = |v: &[T]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
        let (a, c) = (scan(&d, &grid, false), scan_general::<T, false>(&d, &listed));
        assert!(a.kink_at.len() > 5 && a.out.iter().any(|x| x.to_f64().is_nan()), "the data has ties and NaNs");
        assert_eq!(bits(&a.out), bits(&c.out));
        assert_eq!((&a.sel, &a.kink_at, &a.tied, &a.tied_start), (&c.sel, &c.kink_at, &c.tied, &c.tied_start));
    }

    /// Values from a small set, so that ties (0.0 and -0.0 among them) and NaNs are frequent.
    fn grid_data(lead: usize, h: usize, w: usize) -> Vec<f32> {
        let choices = [0.0f32, -0.0, 1.0, 2.0, -1.0, f32::NAN, 2.0, 0.0];
        let mut state = 12345u32;
        (0..lead * h * w)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                choices[(state >> 16) as usize % choices.len()]
            })
            .collect()
    }

    /// The 2x2 stride-2 windows listed by hand: row-major windows, entries (2i, 2j), (2i, 2j + 1),
    /// (2i + 1, 2j), (2i + 1, 2j + 1).
    fn listed_windows(lead: usize, h: usize, w: usize) -> Windows {
        let mut idx = Vec::new();
        for l in 0..lead {
            for i in 0..h / 2 {
                for j in 0..w / 2 {
                    for (a, b) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        idx.push((l * h * w + (2 * i + a) * w + 2 * j + b) as u32);
                    }
                }
            }
        }
        let nw = idx.len() / 4;
        Windows::new(idx, (0..=nw).map(|k| 4 * k as u32).collect())
    }

    fn grid_scan_case(lead: usize, h: usize, w: usize) {
        let d = grid_data(lead, h, w);
        let listed = listed_windows(lead, h, w);
        let grid = Windows::grid2(lead, h, w);
        assert_eq!(grid.idx(), listed.idx());
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for min in [false, true] {
            let (a, b) = (scan(&d, &grid, min), scan(&d, &listed, min));
            let c = if min { scan_general::<f32, true>(&d, &listed) } else { scan_general::<f32, false>(&d, &listed) };
            assert!(a.kink_at.len() > 5 && a.out.iter().any(|x| x.is_nan()), "the data has ties and NaNs");
            for other in [&b, &c] {
                assert_eq!(bits(&a.out), bits(&other.out));
                assert_eq!(
                    (&a.sel, &a.kink_at, &a.tied, &a.tied_start),
                    (&other.sel, &other.kink_at, &other.tied, &other.tied_start)
                );
            }
        }
    }
}
