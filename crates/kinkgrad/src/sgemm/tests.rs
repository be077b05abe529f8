//! The kernels against [`reference`] (plain scalar code summing in the same order), bit for bit, on
//! shapes with partial tiles and blocks, strided operands, a bias, and several thread counts; and
//! [`reference`] itself against an `f64` product.

use super::*;
use crate::Rng;

fn randn(len: usize, rng: &mut Rng) -> Vec<f32> {
    (0..len).map(|_| rng.normal() as f32).collect()
}

/// The kernel's product of row-major `a` (m x k) and `b` (k x n), each read either as stored or from a
/// transposed copy through strides (`ta`, `tb`), plus `bias`.
#[allow(clippy::too_many_arguments)]
fn ours(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], bias: &[f32], ta: bool, tb: bool) -> Vec<f32> {
    let (at, bt) = (transpose_of(a, m, k), transpose_of(b, k, n));
    let (a, a_rs, a_cs) = if ta { (&at[..], 1, m as isize) } else { (a, k as isize, 1) };
    let (b, b_rs, b_cs) = if tb { (&bt[..], 1, k as isize) } else { (b, n as isize, 1) };
    let mut c = vec![f32::NAN; m * n];
    let p = Product {
        m,
        n,
        k,
        a: a.as_ptr(),
        a_rs,
        a_cs,
        b: b.as_ptr(),
        b_rs,
        b_cs,
        c: c.as_mut_ptr(),
        ldc: n,
        bias: if bias.is_empty() { std::ptr::null() } else { bias.as_ptr() },
    };
    // SAFETY: the operands are the sizes the strides reach; `c` holds m x n
    unsafe { product(p) };
    c
}

fn same_bits(x: &[f32], y: &[f32]) -> bool {
    x.len() == y.len() && x.iter().zip(y).all(|(a, b)| a.to_bits() == b.to_bits())
}

/// The kernel gives the reference's bits: partial tiles (m, n not multiples of 6 and 16), one and several blocks of `k` (k = 257: two blocks of 129 and 128,
/// k = 600: three of 200), transposed operands, with and without a bias, and narrow products taken
/// in the transposed orientation (n = 6, 10, 1); last tiles of 1 to 4 rows, computed as tiles of 2 or
/// 4 rows (m = 128: 2 rows left, with full tiles' columns; 100 and 99: 4 and 3).
#[test]
fn kernels_give_the_reference_bits() {
    if !available() {
        return; // no AVX2 + FMA: the products use the `gemm` crate
    }
    let mut rng = Rng::new(7);
    for &(m, n, k) in &[
        (1, 1, 1),
        (5, 17, 3),
        (13, 33, 257),
        (37, 70, 600),
        (150, 40, 64),
        (7, 2100, 20),
        (150, 6, 300),
        (400, 10, 30),
        (64, 1, 9),
        (128, 48, 40),
        (100, 32, 300),
        (99, 20, 5),
    ] {
        let (a, b, bias) = (randn(m * k, &mut rng), randn(k * n, &mut rng), randn(n, &mut rng));
        for bias in [&[][..], &bias[..]] {
            let want = reference(m, n, k, &a, &b, bias);
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let got = ours(m, n, k, &a, &b, bias, ta, tb);
                assert!(same_bits(&got, &want), "{m}x{n}x{k} bias {} ta {ta} tb {tb}", !bias.is_empty());
            }
        }
    }
}

/// The split across threads changes no bit: products large enough to split, in pools of 1, 2 and 3
/// threads, against the reference; the first has several blocks of everything (on one thread, two
/// of `c`'s columns, 2100 = 2048 + 52; three of `a`'s rows, 300 = 144 + 144 + 12; two of `k`, 260 =
/// 130 + 130), a bias and partial tiles.
#[test]
fn thread_counts_give_the_reference_bits() {
    if !available() {
        return;
    }
    let (m, n, k) = (300, 2100, 260);
    let mut rng = Rng::new(10);
    let (a, b, bias) = (randn(m * k, &mut rng), randn(k * n, &mut rng), randn(n, &mut rng));
    let want = reference(m, n, k, &a, &b, &bias);
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        for (ta, tb) in [(false, false), (true, false), (false, true)] {
            let got = pool.install(|| ours(m, n, k, &a, &b, &bias, ta, tb));
            assert!(same_bits(&got, &want), "{m}x{n}x{k} ta {ta} tb {tb}, threads {threads}");
        }
    }
    // on two threads the cut follows measured speeds (`tensor::balance`): forced to either end of
    // its range, by columns (this product) and by rows (its transpose), it changes no bit
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let (at, bt) = (transpose_of(&a, m, k), transpose_of(&b, k, n));
    let tall = reference(n, m, k, &bt, &at, &[]);
    for share in [0.3, 0.7] {
        let force = || crate::tensor::balance::force_fraction(share);
        let got = two.install(|| {
            force();
            ours(m, n, k, &a, &b, &bias, false, false)
        });
        assert!(same_bits(&got, &want), "columns cut at {share}");
        let got = two.install(|| {
            force();
            ours(n, m, k, &bt, &at, &[], false, false)
        });
        assert!(same_bits(&got, &tall), "rows cut at {share}");
    }
    let (m, n, k) = (130, 270, 300);
    let mut rng = Rng::new(8);
    let (a, b) = (randn(m * k, &mut rng), randn(k * n, &mut rng));
    let want = reference(m, n, k, &a, &b, &[]);
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        for (ta, tb) in [(false, false), (true, true)] {
            let got = pool.install(|| ours(m, n, k, &a, &b, &[], ta, tb));
            assert!(same_bits(&got, &want), "threads {threads}");
        }
        // a tall product (more blocks of rows than panels of columns)
        let (bt, at) = (transpose_of(&b, k, n), transpose_of(&a, m, k));
        let got = pool.install(|| ours(n, m, k, &bt, &at, &[], false, false));
        assert!(same_bits(&got, &reference(n, m, k, &bt, &at, &[])), "rows, threads {threads}");
    }
}

fn transpose_of(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; x.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = x[r * cols + c];
        }
    }
    t
}

/// The reference is the product: within `k` roundings of the `f64` sum (each fused multiply-add and
/// block addition rounds once, relative error at most 2^-24 each, of at most `sum |a b|`).
#[test]
fn reference_is_the_product() {
    let (m, n, k) = (9, 11, 700);
    let mut rng = Rng::new(9);
    let (a, b) = (randn(m * k, &mut rng), randn(k * n, &mut rng));
    let c = reference(m, n, k, &a, &b, &[]);
    for i in 0..m {
        for j in 0..n {
            let terms = (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64);
            let (sum, abs): (f64, f64) = terms.fold((0.0, 0.0), |(s, t), x| (s + x, t + x.abs()));
            assert!((c[i * n + j] as f64 - sum).abs() <= k as f64 * f32::EPSILON as f64 * abs);
        }
    }
}

/// `k_blocks` cuts `k` into equal blocks of at most 256 (k = 784, the MLP's first layer: four of 196).
#[test]
fn k_is_cut_into_equal_blocks() {
    assert_eq!(k_blocks(1), (1, 1));
    assert_eq!(k_blocks(256), (1, 256));
    assert_eq!(k_blocks(257), (2, 129));
    assert_eq!(k_blocks(784), (4, 196));
    assert_eq!(k_blocks(512), (2, 256));
}
