//! Hybrid benchmark: the default problem of `kinkgrad hybrid train` (128 cells, 90 steps, 64 samples,
//! network 4-32-32-1 ReLU, alpha form, f64), the workload of `benchmarks/jax_hybrid.py`: `J(W)` and
//! its value and gradient (`assoc`, store-all), for the upwind and minmod Lax-Wendroff schemes.
//!
//! The goal (issue 6): the value and gradient faster than JAX's (`kinkgrad bench --only hybrid-upwind
//! --peer-python ...` prints both), with gradient/forward at most 3.
//!
//! `HYBRID_ONLY=loss|grad` with `HYBRID_SCHEME=upwind|lw-minmod`: run just that 200 times (for `perf`).

use criterion::{criterion_group, Criterion};
use kinkgrad::hybrid::{data, Dataset, GenerateConfig, HybridModel, SourceForm};
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::{Mode, Representation};
use std::hint::black_box;

fn problem(scheme: &str) -> (Dataset, HybridModel, Vec<usize>) {
    let cfg = GenerateConfig { scheme: scheme.parse().unwrap(), ..Default::default() };
    let d = data::generate(&cfg).unwrap();
    let m = HybridModel::new(SourceForm::Alpha, 32, 0).unwrap();
    let idx = d.train_indices();
    (d, m, idx)
}

fn grad(d: &Dataset, m: &HybridModel, idx: &[usize]) -> f64 {
    let r = m.loss_and_gradient(d, idx, &Mode::Assoc, &Representation::default(), &Schedule::StoreAll).unwrap();
    r.loss
}

fn bench(c: &mut Criterion) {
    for scheme in ["upwind", "lw-minmod"] {
        let (d, m, idx) = problem(scheme);
        let mut group = c.benchmark_group(format!("hybrid_{scheme}_128x90x64"));
        group.sample_size(30);
        group.bench_function("loss", |b| b.iter(|| black_box(m.loss(&d, &idx).unwrap())));
        group.bench_function("value_and_gradient", |b| b.iter(|| black_box(grad(&d, &m, &idx))));
        group.finish();
    }
}

criterion_group!(benches, bench);

fn main() {
    if let Ok(only) = std::env::var("HYBRID_ONLY") {
        let (d, m, idx) = problem(&std::env::var("HYBRID_SCHEME").unwrap_or_else(|_| "upwind".into()));
        for _ in 0..200 {
            match only.as_str() {
                "loss" => _ = black_box(m.loss(&d, &idx).unwrap()),
                _ => _ = black_box(grad(&d, &m, &idx)),
            }
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
