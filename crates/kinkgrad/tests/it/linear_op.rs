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

/// Products that take the two-halves split (at least 64^3 multiply-adds: column halves with fewer
/// rows than columns, row halves otherwise) in every transpose combination: integer entries in
/// [-4, 4] make every partial sum an exact small integer in f64, so the product must equal a plain
/// triple loop exactly whatever the summation order; and an f32 product of random values must give
/// the same bits on one thread as on the pool. An empty inner dimension gives zeros (the output
/// buffer is never zero-filled beforehand).
#[test]
fn split_products_equal_triple_loop_and_one_thread() {
    for (m, n, k) in [(40, 300, 100), (300, 40, 100)] {
        let mut rng = kinkgrad::Rng::new(3);
        let a: Vec<f64> = (0..m * k).map(|_| rng.below(9) as f64 - 4.0).collect();
        let b: Vec<f64> = (0..k * n).map(|_| rng.below(9) as f64 - 4.0).collect();
        let mut want = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                want[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        let transpose = |x: &[f64], r: usize, c: usize| -> Vec<f64> {
            (0..c * r).map(|q| x[(q % r) * c + q / r]).collect::<Vec<_>>()
        };
        let (at, bt) = (transpose(&a, m, k), transpose(&b, k, n));
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let ta_ = if ta { Tensor::new(vec![k, m], at.clone()) } else { Tensor::new(vec![m, k], a.clone()) };
            let tb_ = if tb { Tensor::new(vec![n, k], bt.clone()) } else { Tensor::new(vec![k, n], b.clone()) };
            let c = ta_.unwrap().matmul_t(&tb_.unwrap(), ta, tb).unwrap();
            assert_eq!(c.data(), &want[..], "{m}x{n}x{k} ta {ta} tb {tb}");
        }
        let a32: Vec<f64> = (0..m * k).map(|_| rng.normal()).collect();
        let b32: Vec<f64> = (0..k * n).map(|_| rng.normal()).collect();
        let (a32, b32) =
            (Tensor::<f32>::from_f64(vec![m, k], &a32).unwrap(), Tensor::<f32>::from_f64(vec![k, n], &b32).unwrap());
        let pool = a32.matmul(&b32).unwrap();
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let single = one.install(|| a32.matmul(&b32).unwrap());
        assert!(pool.bit_eq(&single), "{m}x{n}x{k}");
    }
    let empty = Tensor::<f32>::zeros(&[3, 0]).matmul(&Tensor::zeros(&[0, 4])).unwrap();
    assert_eq!(empty.data(), &[0.0; 12]);
}

/// An f32 product with a transposed right operand (`A W^T`) large enough for the contiguous
/// transposed copy of `W` (scalar.rs, `transposed_copy_pays`: rows of `W` a multiple of 128 values
/// apart, at least 32 rows and 64 x 64 values) or for the column-major product transposed into `c`
/// (`column_major_pays`: at least 32 rows and 64 columns in a part of `c`; here 40 x 300 and
/// 33 x 129, whose column halves are 40 x 150 and 33 x 64 plus 33 x 65)
/// equals bit for bit the product with `W^T` stored contiguously (the same `gemm` call on the copy
/// made by hand here) and to `gemm`'s own packing of the transposed operand (16 rows: neither path),
/// in the unsplit, column-halves and row-halves cases and with edges of the
/// 8 x 8 transposition tiles (row counts of `W` and of `c` not multiples of 8); and the integer-valued case equals the
/// exact triple loop (entries in [-4, 4]: every partial sum is an exact small integer in f32).
#[test]
fn transposed_operand_copy_keeps_the_bits() {
    for (m, n, k) in [(64, 60, 128), (40, 300, 128), (300, 40, 256), (33, 129, 128)] {
        let mut rng = kinkgrad::Rng::new(5);
        let a: Vec<f64> = (0..m * k).map(|_| rng.normal()).collect();
        let w: Vec<f64> = (0..n * k).map(|_| rng.normal()).collect();
        let wt: Vec<f64> = (0..k * n).map(|q| w[(q % n) * k + q / n]).collect();
        let a = Tensor::<f32>::from_f64(vec![m, k], &a).unwrap();
        let via_t = a.matmul_t(&Tensor::<f32>::from_f64(vec![n, k], &w).unwrap(), false, true).unwrap();
        let stored = a.matmul(&Tensor::<f32>::from_f64(vec![k, n], &wt).unwrap()).unwrap();
        assert!(via_t.bit_eq(&stored), "{m}x{n}x{k}");
        // 16 rows take `gemm`'s own packing of the transposed operand (no copy): the same bits as
        // the first 16 rows of the product with the copy
        let top = Tensor::<f32>::new(vec![16, k], a.data()[..16 * k].to_vec()).unwrap();
        let own = top.matmul_t(&Tensor::<f32>::from_f64(vec![n, k], &w).unwrap(), false, true).unwrap();
        assert_eq!(own.data(), &via_t.data()[..16 * n], "{m}x{n}x{k}: 16 rows without the copy");
        let ai: Vec<f64> = (0..m * k).map(|_| rng.below(9) as f64 - 4.0).collect();
        let wi: Vec<f64> = (0..n * k).map(|_| rng.below(9) as f64 - 4.0).collect();
        let c = Tensor::<f32>::from_f64(vec![m, k], &ai)
            .unwrap()
            .matmul_t(&Tensor::<f32>::from_f64(vec![n, k], &wi).unwrap(), false, true)
            .unwrap();
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k).map(|p| ai[i * k + p] * wi[j * k + p]).sum();
                assert_eq!(f64::from(c.data()[i * n + j]), want, "{m}x{n}x{k} at {i},{j}");
            }
        }
    }
}

/// `x W^T + b` in a 16-bit type through `Var::linear` and through `matmul_t` + `add`, as `f64`s.
fn linear16<T: kinkgrad::Real>(x: &[f64], w: &[f64], b: &[f64], rows: usize, k: usize) -> [Vec<f64>; 2] {
    let n = b.len();
    let tape = Tape::<T>::new();
    let xv = tape.constant(Tensor::from_f64(vec![rows, k], x).unwrap());
    let wv = tape.constant(Tensor::from_f64(vec![n, k], w).unwrap());
    let bv = tape.constant(Tensor::from_f64(vec![n], b).unwrap());
    let fused = xv.linear(wv, bv).unwrap().value().to_f64_vec();
    let composed = xv.matmul_t(wv, false, true).unwrap().add(bv).unwrap().value().to_f64_vec();
    [fused, composed]
}

/// f16/bf16 linear rounds once: the products accumulate in f32, the bias joins the f32 sum, one
/// rounding (PyTorch's CPU `addmm`, hence `nn.Linear`). A row `x = (1, 1, 1, 1, 1)` against
/// `w = (2^-11, 2^-24 x 4)`, `b = 1`: the exact sum `1 + 2^-11 + 2^-22` lies just above the midpoint
/// between the f16 neighbours 1 and 1 + 2^-10, so one rounding gives 1 + 2^-10 = 1.0009765625, while
/// rounding the product first gives 2^-11 (a tie, to even), and then 1 + 2^-11 is a tie again: 1.0.
/// bf16 likewise with `w = (2^-8, 2^-24 x 4)`: 1 + 2^-7 = 1.0078125 against 1.0. PyTorch 2.15 on this
/// CPU (`torch.nn.functional.linear` in float16 / bfloat16) gives 1.0009765625 and 1.0078125.
#[test]
fn half_linear_rounds_once_like_addmm() {
    let x = [1.0; 5];
    for (lead, one) in [(2f64.powi(-11), 1.0009765625), (2f64.powi(-8), 1.0078125)] {
        let w = [lead, 2f64.powi(-24), 2f64.powi(-24), 2f64.powi(-24), 2f64.powi(-24)];
        let [fused, composed] = if lead == 2f64.powi(-11) {
            linear16::<kinkgrad::f16>(&x, &w, &[1.0], 1, 5)
        } else {
            linear16::<kinkgrad::bf16>(&x, &w, &[1.0], 1, 5)
        };
        assert_eq!(fused, [one]);
        assert_eq!(composed, [1.0]);
    }
}

/// A 7 x 13 by 13 -> 5 layer whose values (eighths, 1024ths, 64ths) make every f32 sum exact, so
/// one rounding of the sum is `T::from_f64` of the exact f64 sum, computed here by a triple loop.
/// PyTorch 2.15 (`nn.functional.linear` on the same values in float16 / bfloat16) equals that exact
/// rounding in all 35 outputs, and differs from the two-rounding composition in 8 (f16) and 11
/// (bf16) of them; first outputs f16 -2.240234375, -1.3720703125, bf16 -2.25, -1.3671875.
#[test]
fn half_linear_equals_one_rounding_of_the_exact_sum() {
    fn check<T: kinkgrad::Real>(differ: usize, first: [f64; 2]) {
        let (m, k, n) = (7, 13, 5);
        let r = |v: f64| T::from_f64(v).to_f64();
        let x: Vec<f64> = (0..m * k).map(|q| r((((3 * (q / k) + 5 * (q % k)) % 31) as f64 - 15.0) / 8.0)).collect();
        let w: Vec<f64> =
            (0..n * k).map(|q| r((((37 * (q / k) + 11 * (q % k)) % 2001) as f64 - 1000.0) / 1024.0)).collect();
        let b: Vec<f64> = (0..n).map(|o| r(((53 * o) % 201) as f64 / 64.0 - 100.0 / 64.0)).collect();
        let exact = |i: usize, o: usize| (0..k).map(|p| x[i * k + p] * w[o * k + p]).sum::<f64>() + b[o];
        let want: Vec<f64> = (0..m * n).map(|q| r(exact(q / n, q % n))).collect();
        let two: Vec<f64> = (0..m * n).map(|q| r(r(exact(q / n, q % n) - b[q % n]) + b[q % n])).collect();
        let [fused, composed] = linear16::<T>(&x, &w, &b, m, k);
        assert_eq!(fused, want, "{}", T::NAME);
        assert_eq!(composed, two, "{}", T::NAME);
        assert_eq!(fused.iter().zip(&two).filter(|(a, b)| a != b).count(), differ, "{}", T::NAME);
        assert_eq!(fused[..2], first, "{}", T::NAME);
    }
    check::<kinkgrad::f16>(8, [-2.240234375, -1.3720703125]);
    check::<kinkgrad::bf16>(11, [-2.25, -1.3671875]);
}

/// In f32 the fused op keeps the bits of the product followed by the broadcast add (f64 is checked
/// through the tape above), including the shapes that take the split product.
#[test]
fn f32_linear_keeps_the_bits_of_matmul_then_add() {
    let (m, k, n) = (40, 100, 300);
    let mut rng = kinkgrad::Rng::new(5);
    let mut draw = |len: usize| (0..len).map(|_| rng.normal()).collect::<Vec<f64>>();
    let (x, w, b) = (draw(m * k), draw(n * k), draw(n));
    let tape = Tape::<f32>::new();
    let xv = tape.constant(Tensor::from_f64(vec![m, k], &x).unwrap());
    let wv = tape.constant(Tensor::from_f64(vec![n, k], &w).unwrap());
    let bv = tape.constant(Tensor::from_f64(vec![n], &b).unwrap());
    let fused = xv.linear(wv, bv).unwrap().value();
    let composed = xv.matmul_t(wv, false, true).unwrap().add(bv).unwrap().value();
    assert!(fused.bit_eq(&composed));
}

/// The bias gradient's column sums (`sum_axis(0)` of a `[batch, features]` cotangent) split into two
/// halves of the columns on rayon's threads (tensor/reduce.rs, `sums`: one matrix of at least 64
/// columns and 65 536 values) equal bit for bit each column summed down the rows in `f64` by hand and
/// rounded once to the type (the method of `sum_axis`), in f32 and f16 (widened first), on the pool
/// and on one thread; an odd column count puts the halves' boundary inside a block of columns.
#[test]
fn bias_gradient_column_sums_split_keep_the_bits() {
    fn check<T: kinkgrad::Real>(rows: usize, cols: usize) {
        let mut rng = kinkgrad::Rng::new(11);
        let v: Vec<f64> = (0..rows * cols).map(|_| rng.normal() * 3.0).collect();
        let t = Tensor::<T>::from_f64(vec![rows, cols], &v).unwrap();
        // the tensor's own values (rounded to T), summed in f64 in row order
        let d = t.to_f64_vec();
        let want: Vec<f64> =
            (0..cols).map(|c| T::from_f64((0..rows).map(|r| d[r * cols + c]).sum::<f64>()).to_f64()).collect();
        let pool = t.sum_axis(0, false).unwrap();
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let single = one.install(|| t.sum_axis(0, false).unwrap());
        for (c, w) in want.iter().enumerate() {
            assert_eq!(pool.to_f64_vec()[c].to_bits(), w.to_bits(), "{} column {c}", T::NAME);
        }
        assert!(pool.bit_eq(&single), "{}: one thread", T::NAME);
    }
    check::<f32>(200, 400);
    check::<f32>(130, 517);
    check::<kinkgrad::f16>(200, 400);
}

/// A 16-bit product whose operands and result are large enough to be widened and rounded in blocks on
/// rayon's threads (scalar.rs, `convert`: from 65 536 values) equals, value for value, the exact sum
/// rounded once to the type, on the pool and on one thread. Entries are odd integers in [-31, 33]
/// (left) and integers in [-4, 4] (right), so each f32 partial sum is exact (|sum| <= 240 x 132 <
/// 2^24) and the exact sum, computed here in f64, is what the product rounds; odd sums above 2048
/// (f16) or 256 (bf16) are not representable, so the rounding itself is exercised.
#[test]
fn half_products_converted_on_threads_keep_the_bits() {
    fn check<T: kinkgrad::Real>() {
        let (m, k, n) = (300, 240, 280);
        let mut rng = kinkgrad::Rng::new(17);
        let x: Vec<f64> = (0..m * k).map(|_| 8.0 * (rng.below(9) as f64 - 4.0) + 1.0).collect();
        let w: Vec<f64> = (0..n * k).map(|_| rng.below(9) as f64 - 4.0).collect();
        let (xt, wt) = (Tensor::<T>::from_f64(vec![m, k], &x).unwrap(), Tensor::<T>::from_f64(vec![n, k], &w).unwrap());
        let pool = xt.matmul_t(&wt, false, true).unwrap();
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let single = one.install(|| xt.matmul_t(&wt, false, true).unwrap());
        assert!(pool.bit_eq(&single), "{}: one thread", T::NAME);
        let got = pool.to_f64_vec();
        let mut rounded = 0;
        for i in 0..m {
            for j in 0..n {
                let exact: f64 = (0..k).map(|p| x[i * k + p] * w[j * k + p]).sum();
                let want = T::from_f64(exact).to_f64();
                rounded += usize::from(want != exact);
                assert_eq!(got[i * n + j], want, "{} at {i},{j}", T::NAME);
            }
        }
        assert!(rounded > 0, "{}: some sums must need rounding", T::NAME);
    }
    check::<kinkgrad::f16>();
    check::<kinkgrad::bf16>();
}
