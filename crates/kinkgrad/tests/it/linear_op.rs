//! `Var::linear` (the fused `x W^T + b` of a linear layer) against the same map composed from
//! `matmul_t` and a broadcast `add`, whose derivatives are checked elsewhere: equal values bit for bit,
//! equal gradients in every mode (the lexicographic modes go through the JVP), equal gradients of
//! gradients, and the shape errors.

use kinkgrad::{Mode, Tape, Tensor, Var};

fn data(n: usize, seed: f64) -> Vec<f64> {
    (0..n).map(|i| ((i as f64 + 1.0) * seed).sin()).collect()
}

/// `sum(relu(x W^T + b) * r)` with the fused op or the composition; returns the value, the gradients
/// with respect to `(x, W, b)`, the kink count and the certificate kind.
fn run(fused: bool, mode: &Mode, b: &[f64]) -> (f64, Vec<Vec<f64>>, usize, String) {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::new(vec![5, 3], data(15, 0.7)).unwrap());
    let w = tape.var(Tensor::new(vec![4, 3], data(12, 1.3)).unwrap());
    let bv = tape.var(Tensor::new(vec![4], b.to_vec()).unwrap());
    let y = if fused { x.linear(w, bv).unwrap() } else { x.matmul_t(w, false, true).unwrap().add(bv).unwrap() };
    let r = tape.constant(Tensor::new(vec![5, 4], data(20, 2.1)).unwrap());
    let j = y.relu().mul(r).unwrap().sum();
    let g = tape.gradient(j, &[x, w, bv], mode).unwrap();
    let kinks = g.certificate.kinks.total();
    (j.item().unwrap(), g.values.iter().map(|t| t.to_f64_vec()).collect(), kinks, g.certificate.kind.as_str().into())
}

#[test]
fn fused_linear_equals_matmul_then_add() {
    let b = data(4, 0.3);
    for mode in [Mode::Assoc, Mode::safe(), Mode::Lex(None)] {
        let (vf, gf, kf, cf) = run(true, &mode, &b);
        let (vc, gc, kc, cc) = run(false, &mode, &b);
        assert_eq!(vf.to_bits(), vc.to_bits(), "{mode:?}");
        assert_eq!((kf, cf), (kc, cc), "{mode:?}");
        for (a, c) in gf.iter().zip(&gc) {
            for (p, q) in a.iter().zip(c) {
                assert!((p - q).abs() <= 1e-14 * (1.0 + q.abs()), "{mode:?}: {p} vs {q}");
            }
        }
    }
}

#[test]
fn fused_linear_on_a_kink_picks_the_same_pieces() {
    // one row x = (1, 0), W = [[1, 0], [0, 1]], b = (-1, 0): both outputs are exactly 0, two relu kinks
    for mode in [Mode::Assoc, Mode::safe(), Mode::Lex(None)] {
        let mut res = Vec::new();
        for fused in [true, false] {
            let tape = Tape::<f64>::new();
            let x = tape.var(Tensor::new(vec![1, 2], vec![1.0, 0.0]).unwrap());
            let w = tape.var(Tensor::new(vec![2, 2], vec![1.0, 0.0, 0.0, 1.0]).unwrap());
            let b = tape.var(Tensor::vector(vec![-1.0, 0.0]));
            let y: Var<'_, f64> =
                if fused { x.linear(w, b).unwrap() } else { x.matmul_t(w, false, true).unwrap().add(b).unwrap() };
            let j = y.relu().sum();
            let g = tape.gradient(j, &[x, w, b], &mode).unwrap();
            assert_eq!(g.certificate.kinks.total(), 2, "{mode:?}");
            res.push(g.values.iter().map(|t| t.to_f64_vec()).collect::<Vec<_>>());
        }
        assert_eq!(res[0], res[1], "{mode:?}");
    }
}

#[test]
fn gradients_of_gradients_agree() {
    // d/dx of |d/dW sum((x W^T + b)^2)|^2, recorded twice
    let mut out = Vec::new();
    for fused in [true, false] {
        let tape = Tape::<f64>::new();
        let x = tape.var(Tensor::new(vec![3, 2], data(6, 0.9)).unwrap());
        let w = tape.var(Tensor::new(vec![2, 2], data(4, 1.7)).unwrap());
        let b = tape.var(Tensor::vector(data(2, 0.4)));
        let y = if fused { x.linear(w, b).unwrap() } else { x.matmul_t(w, false, true).unwrap().add(b).unwrap() };
        let gw = tape.grad_vars(y.square().sum(), &[w], &Mode::Assoc).unwrap().vars[0];
        let gx = tape.gradient(gw.square().sum(), &[x], &Mode::Assoc).unwrap();
        out.push(gx.values[0].to_f64_vec());
    }
    for (p, q) in out[0].iter().zip(&out[1]) {
        assert!((p - q).abs() <= 1e-12 * (1.0 + q.abs()), "{p} vs {q}");
    }
}

#[test]
fn linear_refuses_mismatched_shapes() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::zeros(&[2, 3]));
    let w = tape.var(Tensor::zeros(&[4, 3]));
    assert!(x.linear(w, tape.var(Tensor::zeros(&[3]))).is_err());
    assert!(x.linear(tape.var(Tensor::zeros(&[4, 2])), tape.var(Tensor::zeros(&[4]))).is_err());
    assert!(x.linear(w, tape.var(Tensor::zeros(&[1, 4]))).is_err());
}

/// Products that take the two-halves split (fewer rows than columns, at least 64^3 multiply-adds)
/// in every transpose combination: integer entries in [-4, 4] make every partial sum an exact small
/// integer in f64, so the product must equal a plain triple loop exactly whatever the summation
/// order; and an f32 product of random values must give the same bits on one thread as on the pool.
#[test]
fn split_products_equal_triple_loop_and_one_thread() {
    let (m, n, k) = (40, 300, 100);
    let mut rng = kinkgrad::Rng::new(3);
    let a: Vec<f64> = (0..m * k).map(|_| rng.below(9) as f64 - 4.0).collect();
    let b: Vec<f64> = (0..k * n).map(|_| rng.below(9) as f64 - 4.0).collect();
    let mut want = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            want[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
        }
    }
    let transpose =
        |x: &[f64], r: usize, c: usize| -> Vec<f64> { (0..c * r).map(|q| x[(q % r) * c + q / r]).collect::<Vec<_>>() };
    let (at, bt) = (transpose(&a, m, k), transpose(&b, k, n));
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        let ta_ = if ta { Tensor::new(vec![k, m], at.clone()) } else { Tensor::new(vec![m, k], a.clone()) };
        let tb_ = if tb { Tensor::new(vec![n, k], bt.clone()) } else { Tensor::new(vec![k, n], b.clone()) };
        let c = ta_.unwrap().matmul_t(&tb_.unwrap(), ta, tb).unwrap();
        assert_eq!(c.data(), &want[..], "ta {ta} tb {tb}");
    }
    let a32: Vec<f64> = (0..m * k).map(|_| rng.normal()).collect();
    let b32: Vec<f64> = (0..k * n).map(|_| rng.normal()).collect();
    let (a32, b32) =
        (Tensor::<f32>::from_f64(vec![m, k], &a32).unwrap(), Tensor::<f32>::from_f64(vec![k, n], &b32).unwrap());
    let pool = a32.matmul(&b32).unwrap();
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let single = one.install(|| a32.matmul(&b32).unwrap());
    assert!(pool.bit_eq(&single));
}
