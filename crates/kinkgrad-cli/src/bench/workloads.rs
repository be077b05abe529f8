//! The timed workloads of `kinkgrad bench`, each mirroring its peer script exactly (see `mod.rs`).
//! Times are medians over repetitions after a warm-up.

use kinkgrad::hybrid::{data, GenerateConfig, HybridModel, SourceForm};
use kinkgrad::io::mnist::Mnist;
use kinkgrad::nn::{Init, OptimizerKind, Sequential, Trainer};
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::pde::gradient::{GradientRequest, Wanted, Workspace};
use kinkgrad::pde::grid::Grid;
use kinkgrad::pde::scheme::Transport;
use kinkgrad::{Mode, Real, Representation, Rng, Tape, Tensor};
use std::time::Instant;

fn median(mut f: impl FnMut(), reps: usize) -> f64 {
    for _ in 0..2 {
        f();
    }
    let mut t: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// One SGD step of the MLP 784-512-512-10, batch 128, f32 (`jax_peers.py mlp`).
pub fn mlp_step(mode: &Mode, reps: usize) -> f64 {
    let mut rng = Rng::new(0);
    let sizes = [784, 512, 512, 10];
    let batch = 128;
    let mut params: Vec<(Tensor<f32>, Tensor<f32>)> = (0..3)
        .map(|i| {
            let w: Vec<f64> = (0..sizes[i] * sizes[i + 1]).map(|_| rng.normal() * 0.05).collect();
            (Tensor::from_f64(vec![sizes[i], sizes[i + 1]], &w).expect("shape"), Tensor::zeros(&[sizes[i + 1]]))
        })
        .collect();
    let x: Vec<f64> = (0..batch * 784).map(|_| rng.normal()).collect();
    let x = Tensor::<f32>::from_f64(vec![batch, 784], &x).expect("shape");
    let mut onehot = vec![0.0; batch * 10];
    for b in 0..batch {
        onehot[b * 10 + rng.below(10)] = 1.0;
    }
    let onehot = Tensor::<f32>::from_f64(vec![batch, 10], &onehot).expect("shape");
    median(
        || {
            let g = {
                let tape = Tape::<f32>::new();
                let mut h = tape.constant(x.clone());
                let mut vars = vec![];
                for (i, (w, b)) in params.iter().enumerate() {
                    let (wv, bv) = (tape.var(w.clone()), tape.var(b.clone()));
                    vars.push(wv);
                    vars.push(bv);
                    h = h.matmul(wv).and_then(|v| v.add(bv)).expect("shapes");
                    if i < 2 {
                        h = h.relu();
                    }
                }
                let lp = h.log_softmax().expect("shape");
                let loss = lp.mul(tape.constant(onehot.clone())).expect("shape").sum().scale(-1.0 / batch as f64);
                tape.gradient(loss, &vars, mode).expect("gradient")
            };
            // the tape is gone, so each parameter's buffer has one holder: updated in place
            for (i, (w, b)) in params.iter_mut().enumerate() {
                w.zip_assign(&g.values[2 * i], "sgd", |a, d| a - 0.01 * d).expect("shape");
                b.zip_assign(&g.values[2 * i + 1], "sgd", |a, d| a - 0.01 * d).expect("shape");
            }
        },
        reps,
    )
}

/// Forward and gradient of the minmod Lax-Wendroff transport workload (`jax_peers.py transport`).
pub fn transport(reps: usize) -> Result<(f64, f64), String> {
    let cells = 1000;
    let steps = 1000;
    let e = |e: kinkgrad::Error| e.to_string();
    let t = Transport::from_courant(Grid::unit(cells).map_err(e)?, "lw-minmod".parse().map_err(e)?, 1.0, 0.5, false)
        .map_err(e)?;
    let u0: Vec<f64> = (0..cells)
        .map(|j| {
            let x = j as f64 / cells as f64;
            (-200.0 * (x - 0.3f64).powi(2)).exp() + if x > 0.6 && x < 0.8 { 1.0 } else { 0.0 }
        })
        .collect();
    let g: Vec<f64> = (0..cells).map(|j| u0[(j + cells - cells / 10) % cells]).collect();
    let fwd = median(
        || {
            let u = t.simulate(&u0, &[1.0], None, steps).expect("simulate");
            std::hint::black_box(u.iter().zip(&g).map(|(a, b)| (a - b) * (a - b)).sum::<f64>());
        },
        reps,
    );
    // JAX's workload differentiates with respect to u0 only: the library keeps a piece tape
    let (mode, rep) = (Mode::Assoc, Representation::default());
    let req = GradientRequest {
        u0: &u0,
        target: &g,
        velocity: &[1.0],
        source: None,
        steps,
        mode: &mode,
        representation: &rep,
        schedule: Schedule::StoreAll,
        wanted: Wanted::U0,
    };
    let mut ws = Workspace::default();
    let grad = median(
        || {
            std::hint::black_box(t.loss_gradient_in(&req, &mut ws).expect("gradient"));
        },
        reps,
    );
    Ok((fwd, grad))
}

/// Forward and value-and-gradient of the default hybrid problem (`jax_hybrid.py`).
pub fn hybrid(scheme: &str, reps: usize) -> Result<(f64, f64), String> {
    let e = |e: kinkgrad::Error| e.to_string();
    let cfg = GenerateConfig { scheme: scheme.parse().map_err(e)?, ..Default::default() };
    let d = data::generate(&cfg).map_err(e)?;
    let m = HybridModel::new(SourceForm::Alpha, 32, 0).map_err(e)?;
    let idx = d.train_indices();
    let rep = Representation::default();
    let fwd = median(
        || {
            std::hint::black_box(m.loss(&d, &idx).expect("loss"));
        },
        reps,
    );
    let vg = median(
        || {
            std::hint::black_box(
                m.loss_and_gradient(&d, &idx, &Mode::Assoc, &rep, &Schedule::StoreAll).expect("gradient"),
            );
        },
        reps,
    );
    Ok((fwd, vg))
}

/// The networks of `nn_peer.py`.
#[derive(Clone, Copy)]
pub enum Net {
    /// LeNet-5 (two convolutions with relu and max pooling, three dense layers).
    LeNet,
    /// The MLP 784-256-10.
    MlpSmall,
}

/// One training step (forward, cross-entropy, gradient in `mode`, Adam with lr 1e-3) of `net` on a
/// batch of 64 in `T` (f32 for the peer comparison), through the public `kinkgrad::nn` API, on random
/// images with MNIST's sparsity (about 80% zero pixels) and random labels, as `nn_peer.py` and
/// `benches/nn.rs` do.
pub fn nn_step<T: Real>(net: Net, mode: &Mode, reps: usize) -> Result<f64, String> {
    let e = |e: kinkgrad::Error| e.to_string();
    let n = 64;
    let mut rng = Rng::new(1);
    let images = (0..n * 784).map(|_| if rng.uniform() < 0.8 { 0.0 } else { rng.uniform() as f32 }).collect();
    let labels = (0..n).map(|_| rng.below(10) as u8).collect();
    let d = Mnist { images, labels, n, rows: 28, cols: 28 };
    let idx: Vec<usize> = (0..n).collect();
    let mut rng = Rng::new(0);
    let model = match net {
        Net::LeNet => Sequential::<T>::lenet(None, Init::PyTorch, &mut rng),
        Net::MlpSmall => Sequential::<T>::mlp(&[784, 256, 10], Init::PyTorch, &mut rng),
    }
    .map_err(e)?;
    let mut t =
        Trainer::new(model, OptimizerKind::adam(), 1e-3, n, mode.clone(), Representation::default(), 0).map_err(e)?;
    let mut err = None;
    let s = median(
        || {
            if let Err(x) = t.step(&d, &idx) {
                err.get_or_insert(x.to_string());
            }
        },
        reps,
    );
    err.map_or(Ok(s), Err)
}
