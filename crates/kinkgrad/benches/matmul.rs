//! Matrix products in f32 through `Tensor::matmul` (the `gemm` crate): 512x512x512, and the first
//! layer of the MLP benchmark, 128x784 @ 784x512 (forward), plus its two backward products.

use criterion::{criterion_group, criterion_main, Criterion};
use kinkgrad::{Rng, Tensor};
use std::hint::black_box;

fn randn(shape: &[usize], rng: &mut Rng) -> Tensor<f32> {
    let n: usize = shape.iter().product();
    let data: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    Tensor::from_f64(shape.to_vec(), &data).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng::new(0);
    let a = randn(&[512, 512], &mut rng);
    let b = randn(&[512, 512], &mut rng);
    c.bench_function("matmul_f32_512x512x512", |bn| bn.iter(|| black_box(a.matmul(&b).unwrap())));
    let x = randn(&[128, 784], &mut rng);
    let w = randn(&[784, 512], &mut rng);
    let g = randn(&[128, 512], &mut rng);
    c.bench_function("matmul_f32_128x784x512", |bn| bn.iter(|| black_box(x.matmul(&w).unwrap())));
    // backward of the same layer: dW = X^T G (784x128x512) and dX = G W^T (128x512x784), transposes
    // read through strides
    c.bench_function("matmul_f32_xT_g_784x128x512", |bn| bn.iter(|| black_box(x.matmul_t(&g, true, false).unwrap())));
    c.bench_function("matmul_f32_g_wT_128x512x784", |bn| bn.iter(|| black_box(g.matmul_t(&w, false, true).unwrap())));
}

criterion_group!(benches, bench);
criterion_main!(benches);
