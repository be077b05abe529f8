//! Rounding to and widening from the 16-bit types, inline and branch-light so that element loops
//! compiled for the vector unit (`simd::wide`) vectorise them: the `half` crate's scalar `f16`
//! conversions call an F16C function per element (not inlined: it is compiled for a feature the
//! caller is not), and its `from_f64` is not correctly rounded (it drops the low 32 bits of the
//! `f64`, or with F16C rounds to `f32` first).

/// `v` rounded to `f32` **to odd** (of the two neighbours of an inexact `v`, the one with an odd last
/// bit). `f32` keeps at least two bits more than `f16` and `bf16` at every magnitude they reach, so
/// rounding this to 16 bits (to nearest even) gives the nearest 16-bit value of `v` itself, with no
/// double rounding (Boldo and Melquiond, "Emulation of FMA and correctly rounded sums: proved
/// algorithms using rounding to odd", IEEE TC 2008). Branch-free (selects), so loops vectorise.
#[inline]
pub(crate) fn to_f32_odd(v: f64) -> f32 {
    let f = v as f32;
    // inexact with an even last bit: the nearest was the even neighbour, take the other one (one
    // step up in magnitude when |v| > |f|, down otherwise: the bits order the magnitudes). An
    // overflow to infinity steps down to the largest f32 (still above every 16-bit finite); a NaN
    // stays a NaN.
    let fix = (f as f64 != v) & (f.to_bits() & 1 == 0);
    let step: i32 = if v.abs() > f64::from(f).abs() { 1 } else { -1 };
    f32::from_bits(f.to_bits().wrapping_add((i32::from(fix) * step) as u32))
}

/// `a - b` rounded to `f32` **to odd**, from `f32` operands, all in `f32` (so loops vectorise at
/// `f32` width): the nearest difference `s` and its exact error `e = (a - b) - s` by Knuth's TwoSum
/// (exact without overflow, underflow included), then, when `e != 0` and `s` has an even last bit, the
/// neighbour of `s` on the side of `e`. Rounding the result to 16 bits gives the 16-bit value nearest
/// to `a - b` (see [`to_f32_odd`]). An overflowing difference gives a NaN (the caller checks).
#[inline]
pub(crate) fn sub_to_f32_odd(a: f32, b: f32) -> f32 {
    let s = a - b;
    let bs = s - a; // the part of -b that made it into s
    let as_ = s - bs;
    let e = (a - as_) + (-b - bs);
    let fix = (e != 0.0) & (s.to_bits() & 1 == 0);
    // one step up in magnitude when e has the sign of s, down otherwise (the bits order magnitudes)
    let step: i32 = if (e.to_bits() ^ s.to_bits()) >> 31 == 0 { 1 } else { -1 };
    f32::from_bits(s.to_bits().wrapping_add((i32::from(fix) * step) as u32))
}

/// The `f16` nearest to `v` (ties to even; overflow to infinity; NaN to the quiet NaN `0x7e00`).
/// F. Giesen's `float_to_half_fast3_rtne` (public domain): subnormal results by one `f32` addition of
/// a magic number that aligns the 10 mantissa bits at the bottom (the addition rounds to nearest
/// even), normal ones by adding the rounding bias and the odd bit to the bits and shifting. The three
/// cases are computed and selected (no branches), so loops vectorise.
#[inline]
pub(crate) fn f16_from_f32(v: f32) -> half::f16 {
    const F32_INF: u32 = 255 << 23;
    const F16_MAX: u32 = (127 + 16) << 23; // 2^16: at and above, infinity
    const DENORM_MAGIC: u32 = ((127 - 15) + (23 - 10) + 1) << 23; // 0.5
    const BIAS: u32 = 15u32.wrapping_sub(127).wrapping_shl(23).wrapping_add(0xfff);
    let bits = v.to_bits();
    let sign = bits & 0x8000_0000;
    let a = bits ^ sign;
    let special = if a > F32_INF { 0x7e00 } else { 0x7c00 };
    let sub = (f32::from_bits(a) + f32::from_bits(DENORM_MAGIC)).to_bits().wrapping_sub(DENORM_MAGIC);
    let normal = a.wrapping_add(BIAS).wrapping_add((a >> 13) & 1) >> 13;
    let o = if a >= F16_MAX {
        special
    } else if a < 113 << 23 {
        sub // below 2^-14: an f16 subnormal or zero
    } else {
        normal
    };
    half::f16::from_bits((o | (sign >> 16)) as u16)
}

/// `h` widened to `f32` (exact). F. Giesen's `half_to_float` (public domain): the exponent and
/// mantissa shifted into place and rebiased; infinity and NaN get the full exponent, subnormals are
/// normalised by one exact `f32` subtraction. Cases selected, not branched.
#[inline]
pub(crate) fn f16_to_f32(h: half::f16) -> f32 {
    const SHIFTED_EXP: u32 = 0x7c00 << 13;
    let h = u32::from(h.to_bits());
    let o = (h & 0x7fff) << 13;
    let exp = SHIFTED_EXP & o;
    let normal = o + ((127 - 15) << 23);
    let special = normal + ((128 - 16) << 23);
    let sub = (f32::from_bits(normal + (1 << 23)) - f32::from_bits(113 << 23)).to_bits();
    let r = if exp == SHIFTED_EXP {
        special
    } else if exp == 0 {
        sub
    } else {
        normal
    };
    f32::from_bits(r | ((h & 0x8000) << 16))
}

/// `a * b` in `T`'s arithmetic, inline so that element loops vectorise: for the 16-bit types the
/// product of the `f32` widenings rounded once to 16 bits, which is what the `half` crate's `*`
/// computes (`from_f32(a.to_f32() * b.to_f32())`, through one F16C call per element for `f16`) bit
/// for bit, NaN payloads aside ([`f16_from_f32`]); `f32` and `f64` natively.
#[inline(always)]
pub(crate) fn mul<T: crate::Real>(a: T, b: T) -> T {
    if std::mem::size_of::<T>() == 2 {
        T::from_f32(a.to_f32() * b.to_f32())
    } else {
        a * b
    }
}

/// `x > 0`, compared in `f32` for the types that widen to it exactly (the 16-bit ones and `f32`:
/// no `f64` lanes in the loop), in `f64` for `f64`.
#[inline(always)]
pub(crate) fn positive<T: crate::Real>(x: T) -> bool {
    if std::mem::size_of::<T>() <= 4 {
        x.to_f32() > 0.0
    } else {
        x.to_f64() > 0.0
    }
}

wide_fn! {
    /// `out = x` widened to `f32` (exact for the 16-bit types and `f32`), compiled for the vector
    /// unit; `out` as long as `x`.
    pub(crate) fn widen_into<T: crate::Real>(x: &[T], out: &mut [std::mem::MaybeUninit<f32>]) = widen_body;
}

#[inline(always)]
fn widen_body<T: crate::Real>(x: &[T], out: &mut [std::mem::MaybeUninit<f32>]) {
    for (o, &v) in out.iter_mut().zip(x) {
        o.write(v.to_f32());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    /// Every f16 widens as the `half` crate widens it (F16C where present: the hardware's exact
    /// conversion), bit for bit, NaNs as NaNs.
    #[test]
    fn widening_every_f16_matches_the_half_crate() {
        for b in 0..=u16::MAX {
            let h = f16::from_bits(b);
            let (ours, theirs) = (f16_to_f32(h), h.to_f32());
            assert!(ours.to_bits() == theirs.to_bits() || ours.is_nan() && theirs.is_nan(), "{b:#06x}");
        }
    }

    /// Rounding f32 to f16 as the `half` crate's `from_f32` (F16C's `vcvtps2ph`, round to nearest
    /// even, on this CPU kind): on a stride through all 2^32 bit patterns, and on every f16 midpoint
    /// and its two f32 neighbours (where ties to even decide).
    #[test]
    fn rounding_f32_to_f16_matches_the_half_crate() {
        let check = |v: f32| {
            let (ours, theirs) = (f16_from_f32(v), f16::from_f32(v));
            assert!(ours.to_bits() == theirs.to_bits() || ours.is_nan() && theirs.is_nan(), "{v:e}");
        };
        for b in (0..=u32::MAX).step_by(997) {
            check(f32::from_bits(b));
        }
        for b in 0..0x7bffu16 {
            let (lo, hi) = (f16::from_bits(b).to_f64(), f16::from_bits(b + 1).to_f64());
            let mid = ((lo + hi) / 2.0) as f32; // exact: 12 significant bits
            for v in [mid, f32::from_bits(mid.to_bits() - 1), f32::from_bits(mid.to_bits() + 1)] {
                check(v);
                check(-v);
            }
        }
    }

    /// By hand: `1 - 2^-30` is inexact in `f32`: nearest 1 (even), to odd `1 - 2^-24`; `-2^-30 - 1`
    /// to odd `-(1 + 2^-23)`; `1.5 - 0.25` exact. Then random pairs (exponents within 20 of each
    /// other, so `a - b` is exact in `f64`) against [`to_f32_odd`] of the `f64` difference.
    #[test]
    fn sub_to_f32_odd_matches_rounding_the_exact_difference() {
        assert_eq!(sub_to_f32_odd(1.0, 2f32.powi(-30)), 1.0 - 2f32.powi(-24));
        assert_eq!(sub_to_f32_odd(-(2f32.powi(-30)), 1.0), -(1.0 + 2f32.powi(-23)));
        assert_eq!(sub_to_f32_odd(1.5, 0.25), 1.25);
        let mut rng = crate::Rng::new(3);
        for _ in 0..100_000 {
            let a = ((rng.uniform() - 0.5) * 2f64.powi((rng.uniform() * 20.0) as i32 - 10)) as f32;
            let b = ((rng.uniform() - 0.5) * 2f64.powi((rng.uniform() * 20.0) as i32 - 10)) as f32;
            let want = to_f32_odd(f64::from(a) - f64::from(b));
            assert_eq!(sub_to_f32_odd(a, b).to_bits(), want.to_bits(), "{a:e} - {b:e}");
        }
    }

    /// [`mul`] against the `half` crate's `*` (F16C's conversions for `f16`), bit for bit, on 200 000
    /// random pairs of bit patterns in each format (NaN results compared as NaN: payloads may differ).
    #[test]
    fn inline_product_matches_the_half_crate() {
        let mut rng = crate::Rng::new(7);
        for _ in 0..200_000 {
            let (a, b) = (rng.below(1 << 16) as u16, rng.below(1 << 16) as u16);
            let (x, y) = (f16::from_bits(a), f16::from_bits(b));
            let (ours, theirs) = (mul(x, y), x * y);
            assert!(ours.to_bits() == theirs.to_bits() || ours.is_nan() && theirs.is_nan(), "{a:#06x} {b:#06x}");
            let (x, y) = (half::bf16::from_bits(a), half::bf16::from_bits(b));
            let (ours, theirs) = (mul(x, y), x * y);
            assert!(ours.to_bits() == theirs.to_bits() || ours.is_nan() && theirs.is_nan(), "{a:#06x} {b:#06x}");
        }
    }

    /// Relu in f16 and bf16 (the `f32`-lane path) by hand: `max(x, 0)` with `+0` (not `-0`) for
    /// `x <= 0`, `x` above, infinity kept, NaN kept; the two zeros are the kinks. Its gradient with
    /// `relu'(0) = 0` (the default representation): `c` where `x > 0`, 0 elsewhere.
    #[test]
    fn relu_16bit_by_hand() {
        fn check<T: crate::Real>() {
            let tape = crate::Tape::<T>::new();
            let xs = [-1.5, -0.0, 0.0, 0.5, 3.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN];
            let y = tape.var(crate::Tensor::from_f64(vec![8], &xs).unwrap()).relu().value().to_f64_vec();
            let want = [0.0, 0.0, 0.0, 0.5, 3.0, f64::INFINITY, 0.0];
            for (i, (&v, &w)) in y.iter().zip(&want).enumerate() {
                assert_eq!(v.to_bits(), w.to_bits(), "{} element {i}", T::NAME);
            }
            assert!(y[7].is_nan());
            assert_eq!(tape.kink_log().total(), 2);
            let tape = crate::Tape::<T>::new();
            let x = tape.var(crate::Tensor::from_f64(vec![5], &xs[..5]).unwrap());
            let c = tape.constant(crate::Tensor::from_f64(vec![5], &[2.0, -3.0, 5.0, 1.25, -0.75]).unwrap());
            let y = x.relu().mul(c).unwrap().sum();
            let g = tape.gradient(y, &[x], &crate::Mode::Assoc).unwrap().values[0].to_f64_vec();
            assert_eq!(g, vec![0.0, 0.0, 0.0, 1.25, -0.75], "{}", T::NAME);
        }
        check::<f16>();
        check::<half::bf16>();
    }

    /// By hand: `1 + 2^-24 + 2^-40` is above the f32 midpoint of 1 and `1 + 2^-23`: nearest is
    /// `1 + 2^-23` (odd), and so is round-to-odd; `1 + 2^-40` rounds to nearest 1 (even), to odd
    /// `1 + 2^-23`; exact values stay.
    #[test]
    fn round_to_odd_by_hand() {
        let odd = f32::from_bits(1f32.to_bits() + 1);
        assert_eq!(to_f32_odd(1.0 + 2f64.powi(-24) + 2f64.powi(-40)), odd);
        assert_eq!(to_f32_odd(1.0 + 2f64.powi(-40)), odd);
        assert_eq!(to_f32_odd(-1.0 - 2f64.powi(-40)), -odd);
        assert_eq!(to_f32_odd(1.5), 1.5);
        assert_eq!(to_f32_odd(1e-300), f32::from_bits(1));
        // below 1 the odd neighbour is 1 - 2^-24; past the f32 range the largest f32
        assert_eq!(to_f32_odd(1.0 - 2f64.powi(-40)), 1.0 - 2f32.powi(-24));
        assert_eq!(to_f32_odd(-1e300), -f32::MAX);
        assert_eq!(to_f32_odd(f64::INFINITY), f32::INFINITY);
        assert!(to_f32_odd(f64::NAN).is_nan());
    }
}
