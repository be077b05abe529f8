//! Training-step timings: LeNet and the MLP 784-256-10 on a batch of 64 in f32, f16 and bf16 (forward,
//! loss, gradient in `assoc` mode, Adam update). Compare with PyTorch eager on the same machine
//! (`benchmarks/nn_peer.py`).

use criterion::{criterion_group, criterion_main, Criterion};
use kinkgrad::io::mnist::Mnist;
use kinkgrad::nn::{Init, OptimizerKind, Sequential, Trainer};
use kinkgrad::{Mode, Representation, Rng};

fn data(n: usize) -> Mnist {
    // random images with MNIST's sparsity (about 80% zero pixels) and random labels
    let mut rng = Rng::new(1);
    let images = (0..n * 784).map(|_| if rng.uniform() < 0.8 { 0.0 } else { rng.uniform() as f32 }).collect();
    let labels = (0..n).map(|_| rng.below(10) as u8).collect();
    Mnist { images, labels, n, rows: 28, cols: 28 }
}

/// One LeNet and one MLP step in precision `T` (the 16-bit types round every result; GEMM accumulates
/// in f32), named `{model}_train_step_b64_{T}`.
fn bench_precision<T: kinkgrad::Real>(c: &mut Criterion, d: &Mnist, idx: &[usize]) {
    let mut rng = Rng::new(0);
    let lenet = Sequential::<T>::lenet(None, Init::PyTorch, &mut rng).unwrap();
    let mut t =
        Trainer::new(lenet, OptimizerKind::adam(), 1e-3, 64, Mode::Assoc, Representation::default(), 0).unwrap();
    c.bench_function(&format!("lenet_train_step_b64_{}", T::NAME), |b| b.iter(|| t.step(d, idx).unwrap()));
    let mlp = Sequential::<T>::mlp(&[784, 256, 10], Init::PyTorch, &mut rng).unwrap();
    let mut t = Trainer::new(mlp, OptimizerKind::adam(), 1e-3, 64, Mode::Assoc, Representation::default(), 0).unwrap();
    c.bench_function(&format!("mlp_train_step_b64_{}", T::NAME), |b| b.iter(|| t.step(d, idx).unwrap()));
}

fn bench(c: &mut Criterion) {
    let d = data(64);
    let idx: Vec<usize> = (0..64).collect();
    bench_precision::<f32>(c, &d, &idx);
    bench_precision::<half::f16>(c, &d, &idx);
    bench_precision::<half::bf16>(c, &d, &idx);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
