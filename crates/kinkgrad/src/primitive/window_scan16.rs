//! The window scan ([`super::window_scan`]) for `f16` and `bf16`, on integer keys of the bits: both
//! formats are sign and magnitude with the magnitude's bits in the order of the values, so the key
//! `±(bits & 0x7fff)` (the sign of the value) orders the non-NaN values as the floating-point
//! comparison does, `-0` and `+0` equal (key 0). The `half` crate's comparisons branch on the signs
//! and NaNs of each pair (five times the `f32` scan's time in the LeNet step); integer maxima and
//! equalities do not. Same results as the generic scan, bit for bit (the output is the first entry
//! holding the extreme value, as the generic scan's strict comparison keeps it); tested below
//! against it.

use super::window::Windows;
use super::window_scan::Scan;
use crate::scalar::Real;
use half::{bf16, f16};
use std::any::TypeId;

/// The key of 16-bit `b`: `+magnitude` or `-magnitude` by the sign bit.
#[inline(always)]
fn key(b: u16) -> i32 {
    let m = i32::from(b & 0x7fff);
    if b & 0x8000 != 0 {
        -m
    } else {
        m
    }
}

/// The scan of `d` over `windows` on keys when `T` is `f16` or `bf16`; `None` for other types.
pub(super) fn scan16<T: Real>(d: &[T], windows: &Windows, min: bool) -> Option<Scan<T>> {
    // a magnitude above infinity's is a NaN
    let inf: u16 = if TypeId::of::<T>() == TypeId::of::<f16>() {
        0x7c00
    } else if TypeId::of::<T>() == TypeId::of::<bf16>() {
        0x7f80
    } else {
        return None;
    };
    // SAFETY: `T` is `f16` or `bf16` (checked above), both `#[repr(transparent)]` over `u16`.
    let bits = unsafe { std::slice::from_raw_parts(d.as_ptr().cast::<u16>(), d.len()) };
    let nw = windows.len();
    Some(match (windows.width() == Some(4), min) {
        (true, false) => keys_fixed::<T, 4, false>(d, bits, windows.idx(), nw, inf),
        (true, true) => keys_fixed::<T, 4, true>(d, bits, windows.idx(), nw, inf),
        (false, false) => keys_general::<T, false>(d, bits, windows, inf),
        (false, true) => keys_general::<T, true>(d, bits, windows, inf),
    })
}

/// The extreme of two keys.
#[inline(always)]
fn extreme<const MIN: bool>(a: i32, b: i32) -> i32 {
    if MIN {
        a.min(b)
    } else {
        a.max(b)
    }
}

/// Windows of `L` entries each (`idx` holds `nw * L` positions).
fn keys_fixed<T: Real, const L: usize, const MIN: bool>(
    d: &[T],
    bits: &[u16],
    idx: &[u32],
    nw: usize,
    inf: u16,
) -> Scan<T> {
    let mut s = Scan::with_capacity(nw, L);
    for (w, win) in idx.chunks_exact(L).enumerate() {
        let b: [u16; L] = std::array::from_fn(|i| bits[win[i] as usize]);
        let nan = b.iter().fold(false, |n, &x| n | (x & 0x7fff > inf));
        let k: [i32; L] = b.map(key);
        let best = k[1..].iter().fold(k[0], |m, &x| extreme::<MIN>(m, x));
        let mut mask = 0u32;
        for (i, &x) in k.iter().enumerate() {
            mask |= u32::from(x == best) << i;
        }
        let first = mask.trailing_zeros() as usize;
        let tied = (mask.count_ones() > 1).then(|| (0..L as u32).filter(move |&i| mask >> i & 1 == 1));
        s.push(w, d[win[first] as usize], first, tied, nan);
    }
    s
}

/// Windows of any lengths.
fn keys_general<T: Real, const MIN: bool>(d: &[T], bits: &[u16], windows: &Windows, inf: u16) -> Scan<T> {
    let nw = windows.len();
    let mut s = Scan::with_capacity(nw, if nw > 0 { windows.window(0).len() } else { 0 });
    for w in 0..nw {
        let win = windows.window(w);
        let nan = win.iter().fold(false, |n, &p| n | (bits[p as usize] & 0x7fff > inf));
        let best = win[1..].iter().fold(key(bits[win[0] as usize]), |m, &p| extreme::<MIN>(m, key(bits[p as usize])));
        let hit = |&(_, &p): &(usize, &u32)| key(bits[p as usize]) == best;
        let first = win.iter().enumerate().position(|e| hit(&e)).unwrap_or(0);
        let count = win.iter().enumerate().filter(hit).count();
        let tied = (count > 1).then(|| win.iter().enumerate().filter(hit).map(|(i, _)| i as u32));
        s.push(w, d[win[first] as usize], first, tied, nan);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::window_scan::{scan_fixed, scan_general};
    use super::*;

    /// Against the generic scan (the `half` crate's comparisons), bit for bit, in both formats, max
    /// and min, on windows of 4 and of mixed lengths: values drawn from a small set (so that ties are
    /// common) with `+0`, `-0`, infinities, a NaN and negative values; by hand for a few windows.
    #[test]
    fn key_scan_equals_the_generic_scan() {
        fn check<T: Real>() {
            let pool = [0.0, -0.0, 1.0, -1.0, 2.5, -2.5, f64::INFINITY, f64::NEG_INFINITY, 1e-7, -1e-7];
            let mut rng = crate::Rng::new(5);
            let mut d: Vec<T> = (0..400).map(|_| T::from_f64(pool[rng.below(pool.len())])).collect();
            d[37] = T::from_f64(f64::NAN);
            let bits = |s: &Scan<T>| s.out.iter().map(|v| v.to_f64().to_bits()).collect::<Vec<_>>();
            let same = |a: &Scan<T>, b: &Scan<T>| {
                assert_eq!(bits(a), bits(b));
                assert_eq!((&a.sel, &a.kink_at, &a.tied, &a.tied_start), (&b.sel, &b.kink_at, &b.tied, &b.tied_start));
            };
            // windows of 4, and windows of 1 to 5 entries over scattered positions
            let fixed = Windows::new((0..400).collect(), (0..=100).map(|w| w * 4).collect());
            let (mut idx, mut start) = (Vec::new(), vec![0u32]);
            while idx.len() < 380 {
                let l = 1 + rng.below(5);
                idx.extend((0..l).map(|_| rng.below(400) as u32));
                start.push(idx.len() as u32);
            }
            let general = Windows::new(idx, start);
            for min in [false, true] {
                let k = scan16(&d, &fixed, min).expect("16-bit");
                let want = if min {
                    scan_fixed::<T, 4, true>(&d, fixed.idx(), 100)
                } else {
                    scan_fixed::<T, 4, false>(&d, fixed.idx(), 100)
                };
                same(&k, &want);
                let k = scan16(&d, &general, min).expect("16-bit");
                let want =
                    if min { scan_general::<T, true>(&d, &general) } else { scan_general::<T, false>(&d, &general) };
                same(&k, &want);
            }
            // by hand: [-0, +0, -1, +0] ties at 0, 1, 3 for the max, whose value is the first: -0
            let h = |v: f64| T::from_f64(v);
            let d = vec![h(-0.0), h(0.0), h(-1.0), h(0.0)];
            let one = Windows::new(vec![0, 1, 2, 3], vec![0, 4]);
            let s = scan16(&d, &one, false).expect("16-bit");
            assert_eq!(
                (s.out[0].to_f64().to_bits(), &*s.tied, &*s.kink_at),
                ((-0.0f64).to_bits(), &vec![0, 1, 3], &vec![0])
            );
        }
        check::<f16>();
        check::<bf16>();
        assert!(scan16(&[1.0f32], &Windows::new(vec![0], vec![0, 1]), false).is_none());
    }
}
