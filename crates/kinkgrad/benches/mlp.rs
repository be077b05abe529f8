//! One training step (forward, backward, SGD update) of an MLP 784-512-512-10 with ReLU, batch 128,
//! f32, cross entropy through log-softmax: the same computation as `mlp` in
//! `benchmarks/jax_peers.py` (random normal inputs, weights N(0, 0.05^2), zero biases, lr 0.01).
//!
//! Variants: `assoc` and `safe` mode on random inputs (no pre-activation is exactly 0, so `safe` pays
//! only for looking for kinks), and `safe` with 8 of the 128 input rows set to zero, which puts
//! 8 x 512 relu inputs of each hidden layer exactly on the kink (the biases are kept at 0 in this
//! variant), so that `safe` runs its tangent pass. After the criterion runs, prints ms/step (median and minimum of 31 steps) for each variant.

use criterion::{criterion_group, criterion_main, Criterion};
use kinkgrad::{Mode, Rng, Tape, Tensor, Var};
use std::time::Instant;

const SIZES: [usize; 4] = [784, 512, 512, 10];
const BATCH: usize = 128;
const LR: f32 = 0.01;

struct Mlp {
    params: Vec<Tensor<f32>>, // w0, b0, w1, b1, w2, b2
}

fn randn(shape: &[usize], scale: f64, rng: &mut Rng) -> Tensor<f32> {
    let n: usize = shape.iter().product();
    let data: Vec<f64> = (0..n).map(|_| scale * rng.normal()).collect();
    Tensor::from_f64(shape.to_vec(), &data).unwrap()
}

fn setup(zero_rows: usize) -> (Mlp, Tensor<f32>, Tensor<f32>) {
    let mut rng = Rng::new(0);
    let mut params = Vec::new();
    for i in 0..3 {
        params.push(randn(&[SIZES[i], SIZES[i + 1]], 0.05, &mut rng));
        params.push(Tensor::zeros(&[SIZES[i + 1]]));
    }
    let mut x = randn(&[BATCH, SIZES[0]], 1.0, &mut rng).to_f64_vec();
    x[..zero_rows * SIZES[0]].iter_mut().for_each(|v| *v = 0.0);
    let x = Tensor::from_f64(vec![BATCH, SIZES[0]], &x).unwrap();
    let mut onehot = vec![0.0; BATCH * 10];
    for r in 0..BATCH {
        onehot[r * 10 + rng.below(10)] = 1.0;
    }
    (Mlp { params }, x, Tensor::from_f64(vec![BATCH, 10], &onehot).unwrap())
}

/// One SGD step; returns the loss and the number of kinks the gradient went through. With
/// `freeze_biases` the biases stay 0 (so that planted zero input rows keep hitting the kinks).
fn step(m: &mut Mlp, x: &Tensor<f32>, onehot: &Tensor<f32>, mode: &Mode, freeze_biases: bool) -> (f32, usize) {
    let tape = Tape::<f32>::new();
    let p: Vec<Var<'_, f32>> = m.params.iter().map(|t| tape.var(t.clone())).collect();
    let mut h = tape.constant(x.clone());
    for i in 0..3 {
        h = h.matmul(p[2 * i]).unwrap().add(p[2 * i + 1]).unwrap();
        if i < 2 {
            h = h.relu();
        }
    }
    let logp = h.log_softmax().unwrap();
    let loss = logp.mul(tape.constant(onehot.clone())).unwrap().sum().scale(-1.0 / BATCH as f64);
    let g = tape.gradient(loss, &p, mode).unwrap();
    for (i, (w, gw)) in m.params.iter_mut().zip(&g.values).enumerate() {
        if !(freeze_biases && i % 2 == 1) {
            *w = w.zip(gw, "sgd", |a, d| a - LR * d).unwrap();
        }
    }
    (loss.item().unwrap() as f32, g.certificate.kinks.total())
}

fn variants() -> Vec<(&'static str, usize, Mode)> {
    vec![("assoc", 0, Mode::Assoc), ("safe", 0, Mode::safe()), ("safe_planted_kinks", 8, Mode::safe())]
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("mlp_784_512_512_10_b128_f32");
    g.sample_size(20);
    for (name, zero_rows, mode) in variants() {
        let (mut m, x, y) = setup(zero_rows);
        g.bench_function(name, |b| b.iter(|| step(&mut m, &x, &y, &mode, zero_rows > 0)));
    }
    g.finish();
    for (name, zero_rows, mode) in variants() {
        let (mut m, x, y) = setup(zero_rows);
        let mut ts = Vec::new();
        let mut kinks = 0;
        for _ in 0..33 {
            let t = Instant::now();
            kinks = step(&mut m, &x, &y, &mode, zero_rows > 0).1;
            ts.push(t.elapsed().as_secs_f64() * 1e3);
        }
        ts.drain(..2);
        ts.sort_by(f64::total_cmp);
        println!(
            "mlp step {name}: {:.2} ms/step (median of {}, min {:.2}; kinks per step {kinks})",
            ts[ts.len() / 2],
            ts.len(),
            ts[0]
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
