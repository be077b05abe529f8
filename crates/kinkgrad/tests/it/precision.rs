//! The same small ReLU/max-pool network differentiated in f64, f32, f16 and bf16: the 16-bit and
//! 32-bit gradients agree with f64 to their precision, and every precision logs the same kinks (at
//! this point: pooling windows holding two relu zeros, whose entries both have derivative 0, so the
//! tie rule does not change the gradient). The inputs are dyadic with few bits, exact in bf16.

use kinkgrad::{Mode, Real, Rng, Tape, Tensor, Var};

/// loss = sum(maxpool1d(relu(x W1 + b1), 2, 2) W2) for x [4, 5], W1 [5, 8], W2 [4, 3]; returns the
/// gradient w.r.t. (W1, b1, W2) widened to f64, and the number of kinks.
fn grads<T: Real>(p: &[Vec<f64>]) -> (Vec<f64>, usize) {
    let tape = Tape::<T>::new();
    let shapes = [vec![4, 5], vec![5, 8], vec![8], vec![4, 3]];
    let v: Vec<Var<'_, T>> =
        p.iter().zip(&shapes).map(|(d, s)| tape.var(Tensor::from_f64(s.clone(), d).unwrap())).collect();
    let h = v[0].matmul(v[1]).unwrap().add(v[2]).unwrap().relu().max_pool1d(2, 2).unwrap();
    let y = h.matmul(v[3]).unwrap().sum();
    let g = tape.gradient(y, &v[1..], &Mode::Assoc).unwrap();
    (g.values.iter().flat_map(|t| t.to_f64_vec()).collect(), g.certificate.kinks.total())
}

#[test]
fn gradients_agree_across_precisions() {
    let mut rng = Rng::new(4);
    // dyadic values with few significant bits: exactly representable in bf16 (8 bits) and f16
    let mut draw = |n: usize| -> Vec<f64> { (0..n).map(|_| (rng.range(-8.0, 8.0).round() + 0.5) / 8.0).collect() };
    let p = vec![draw(20), draw(40), draw(8), draw(12)];
    let (g64, k64) = grads::<f64>(&p);
    for (name, (g, k), tol) in [
        ("f32", grads::<f32>(&p), 1e-6),
        ("f16", grads::<kinkgrad::f16>(&p), 4e-3),
        ("bf16", grads::<kinkgrad::bf16>(&p), 3e-2),
    ] {
        assert_eq!(k, k64, "{name}: kinks");
        let scale = g64.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (a, b) in g.iter().zip(&g64) {
            assert!((a - b).abs() <= tol * scale, "{name}: {a} vs f64 {b}");
        }
    }
}

/// `Real::from_f64` for the 16-bit types rounds to nearest (ties to even) from the full f64, not
/// from a truncated or f32-rounded copy (the `half` crate's `from_f64` drops the low 32 bits, or
/// rounds to f32 first, so `1 + 2^-11 + 2^-40` became 1 in f16). By hand: `1 + 2^-11` is the f16
/// midpoint of 1 and `1 + 2^-10`, `1 + 2^-8` the bf16 midpoint of 1 and `1 + 2^-7`; a hair above goes
/// up, a hair below down, the midpoint itself to the even 1. Then against a brute-force nearest: all
/// 65 536 bit patterns of the type, sorted, the two neighbours of `v` compared (their distances to
/// `v` are exact in f64), ties to the even pattern; at midpoints and a few f64 ulps around them.
#[test]
fn sixteen_bit_rounding_from_f64_is_to_nearest() {
    fn check<T: Real>(half_ulp: f64, bits: impl Fn(u16) -> T) {
        let hair = 2f64.powi(-40);
        for sign in [1.0, -1.0] {
            let r = |v: f64| T::from_f64(sign * v).to_f64();
            assert_eq!(r(1.0 + half_ulp + hair), sign * (1.0 + 2.0 * half_ulp), "{}", T::NAME);
            assert_eq!(r(1.0 + half_ulp - hair), sign * 1.0, "{}", T::NAME);
            assert_eq!(r(1.0 + half_ulp), sign * 1.0, "{}", T::NAME);
        }
        let mut all: Vec<(f64, u16)> =
            (0..=u16::MAX).map(|b| (bits(b), b)).filter(|(v, _)| v.is_finite()).map(|(v, b)| (v.to_f64(), b)).collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        all.dedup_by(|a, b| a.0 == b.0); // +0 and -0
        let mut rng = Rng::new(11);
        for _ in 0..20_000 {
            let i = rng.below(all.len() - 1);
            let mid = (all[i].0 + all[i + 1].0) / 2.0;
            let v = mid + (rng.below(5) as f64 - 2.0) * f64::EPSILON * mid.abs();
            let j = all.partition_point(|&(x, _)| x <= v);
            let (lo, hi) = (all[j - 1], all[j.min(all.len() - 1)]);
            let want = match (v - lo.0).partial_cmp(&(hi.0 - v)).unwrap() {
                std::cmp::Ordering::Less => lo.0,
                std::cmp::Ordering::Greater => hi.0,
                std::cmp::Ordering::Equal if lo.1 & 1 == 0 => lo.0,
                std::cmp::Ordering::Equal => hi.0,
            };
            assert_eq!(T::from_f64(v).to_f64(), want, "{}: {v:e}", T::NAME);
        }
    }
    check::<kinkgrad::f16>(2f64.powi(-11), kinkgrad::f16::from_bits);
    check::<kinkgrad::bf16>(2f64.powi(-8), kinkgrad::bf16::from_bits);
}
