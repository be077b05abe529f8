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
