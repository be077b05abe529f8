//! The timed workloads of `kinkgrad bench`, each mirroring its peer script exactly (see `mod.rs`):
//! each builds its data once and returns its step (the timed call); `pairs.rs` times the steps.

use kinkgrad::hybrid::{data, GenerateConfig, HybridModel, SourceForm};
use kinkgrad::io::mnist::Mnist;
use kinkgrad::nn::{on_pool, Init, OptimizerKind, Sequential, Trainer};
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::pde::gradient::{GradientRequest, Wanted, Workspace};
use kinkgrad::pde::grid::Grid;
use kinkgrad::pde::scheme::Transport;
use kinkgrad::tensor::pool::Workspace as StepBuffers;
use kinkgrad::{Mode, Real, Representation, Rng, Tape, Tensor};

/// One SGD step of the MLP 784-512-512-10, batch 128, f32 (`jax_peers.py mlp`). Each layer is
/// kinkgrad's linear layer (`Var::linear`, as `nn::Sequential` builds it): `h W^T + b` with `W`
/// stored `[out, in]` (PyTorch's layout) and the bias added in the product's epilogue. The peer's
/// `h @ w + b` with `w` `[in, out]` (JAX's idiom) is the same map and the same work.
pub fn mlp_step(mode: &Mode) -> impl FnMut() -> Result<(), String> {
    let mode = mode.clone();
    let mut rng = Rng::new(0);
    let sizes = [784, 512, 512, 10];
    let batch = 128;
    let mut params: Vec<(Tensor<f32>, Tensor<f32>)> = (0..3)
        .map(|i| {
            let w: Vec<f64> = (0..sizes[i] * sizes[i + 1]).map(|_| rng.normal() * 0.05).collect();
            (Tensor::from_f64(vec![sizes[i + 1], sizes[i]], &w).expect("shape"), Tensor::zeros(&[sizes[i + 1]]))
        })
        .collect();
    let x: Vec<f64> = (0..batch * 784).map(|_| rng.normal()).collect();
    let x = Tensor::<f32>::from_f64(vec![batch, 784], &x).expect("shape");
    let mut onehot = vec![0.0; batch * 10];
    for b in 0..batch {
        onehot[b * 10 + rng.below(10)] = 1.0;
    }
    let onehot = Tensor::<f32>::from_f64(vec![batch, 10], &onehot).expect("shape");
    let mut workspace = StepBuffers::new();
    // as a training loop runs its steps (`Trainer::step`): on rayon's pool, with the step's buffers
    // from a workspace kept across steps
    move || {
        on_pool(|| {
            let _workspace = workspace.enter();
            let g = {
                let tape = Tape::<f32>::new();
                let mut h = tape.constant(x.clone());
                let mut vars = vec![];
                for (i, (w, b)) in params.iter().enumerate() {
                    let (wv, bv) = (tape.var(w.clone()), tape.var(b.clone()));
                    vars.push(wv);
                    vars.push(bv);
                    h = h.linear(wv, bv).expect("shapes");
                    if i < 2 {
                        h = h.relu();
                    }
                }
                let lp = h.log_softmax().expect("shape");
                let loss = lp.mul(tape.constant(onehot.clone())).expect("shape").sum().scale(-1.0 / batch as f64);
                tape.gradient(loss, &vars, &mode).map_err(|e| e.to_string())?
            };
            // the tape is gone, so each parameter's buffer has one holder: updated in place
            for (i, (w, b)) in params.iter_mut().enumerate() {
                w.zip_assign(&g.values[2 * i], "sgd", |a, d| a - 0.01 * d).expect("shape");
                b.zip_assign(&g.values[2 * i + 1], "sgd", |a, d| a - 0.01 * d).expect("shape");
            }
            Ok(())
        })
    }
}

/// The minmod Lax-Wendroff transport workload (`jax_peers.py transport`): 1000 cells, 1000 steps.
pub struct TransportBench {
    t: Transport,
    u0: Vec<f64>,
    g: Vec<f64>,
    steps: usize,
    mode: Mode,
    rep: Representation,
}

/// The transport workload's data.
pub fn transport() -> Result<TransportBench, String> {
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
    Ok(TransportBench { t, u0, g, steps, mode: Mode::Assoc, rep: Representation::default() })
}

impl TransportBench {
    /// The forward simulation and `J(u0)`.
    pub fn forward(&self) -> Result<(), String> {
        let u = self.t.simulate(&self.u0, &[1.0], None, self.steps).map_err(|e| e.to_string())?;
        std::hint::black_box(u.iter().zip(&self.g).map(|(a, b)| (a - b) * (a - b)).sum::<f64>());
        Ok(())
    }

    /// The gradient of `J` with respect to `u0`, in the workspace `ws` (kept across calls).
    pub fn gradient(&self, ws: &mut Workspace) -> Result<(), String> {
        // JAX's workload differentiates with respect to u0 only: the library keeps a piece tape
        let req = GradientRequest {
            u0: &self.u0,
            target: &self.g,
            velocity: &[1.0],
            source: None,
            steps: self.steps,
            mode: &self.mode,
            representation: &self.rep,
            schedule: Schedule::StoreAll,
            wanted: Wanted::U0,
        };
        std::hint::black_box(self.t.loss_gradient_in(&req, ws).map_err(|e| e.to_string())?);
        Ok(())
    }
}

/// The default hybrid problem (`jax_hybrid.py`).
pub struct HybridBench {
    d: data::Dataset,
    m: HybridModel,
    idx: Vec<usize>,
    rep: Representation,
}

/// The hybrid workload's data for `scheme`.
pub fn hybrid(scheme: &str) -> Result<HybridBench, String> {
    let e = |e: kinkgrad::Error| e.to_string();
    let cfg = GenerateConfig { scheme: scheme.parse().map_err(e)?, ..Default::default() };
    let d = data::generate(&cfg).map_err(e)?;
    let m = HybridModel::new(SourceForm::Alpha, 32, 0).map_err(e)?;
    let idx = d.train_indices();
    Ok(HybridBench { d, m, idx, rep: Representation::default() })
}

impl HybridBench {
    /// The forward `J(W)`.
    pub fn forward(&self) -> Result<(), String> {
        std::hint::black_box(self.m.loss(&self.d, &self.idx).map_err(|e| e.to_string())?);
        Ok(())
    }

    /// `J(W)` and its gradient (`assoc`).
    pub fn value_and_grad(&self) -> Result<(), String> {
        let r = self.m.loss_and_gradient(&self.d, &self.idx, &Mode::Assoc, &self.rep, &Schedule::StoreAll);
        std::hint::black_box(r.map_err(|e| e.to_string())?);
        Ok(())
    }
}

/// One LeNet training step as [`nn_step`] (f32, Adam, batch 64), each call on the next batch of the
/// built-in training digits, in order and wrapping (`data/mnist-10k`, the first 8 000): real images,
/// whose blank backgrounds give tens of thousands of pooling ties per step that `safe` must decide
/// (docs/nn.md, "Which ties `safe` skips"), where [`nn_step`]'s random images give few. Sides made by
/// this function step through the same batches in lockstep.
pub fn lenet_digits_step(mode: &Mode) -> Result<impl FnMut() -> Result<(), String>, String> {
    let e = |e: kinkgrad::Error| e.to_string();
    let (d, _) = crate::train::builtin_split().map_err(e)?;
    let n = 64;
    let batches = (d.n / n).max(1);
    let model = Sequential::<f32>::lenet(None, Init::PyTorch, &mut Rng::new(0)).map_err(e)?;
    let mut t =
        Trainer::new(model, OptimizerKind::adam(), 1e-3, n, mode.clone(), Representation::default(), 0).map_err(e)?;
    let (mut next, mut idx) = (0, Vec::with_capacity(n));
    Ok(move || {
        idx.clear();
        idx.extend((next * n..(next + 1) * n).map(|i| i % d.n));
        next = (next + 1) % batches;
        t.step(&d, &idx).map(|_| ()).map_err(|x| x.to_string())
    })
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
pub fn nn_step<T: Real>(net: Net, mode: &Mode) -> Result<impl FnMut() -> Result<(), String>, String> {
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
    Ok(move || t.step(&d, &idx).map(|_| ()).map_err(|x| x.to_string()))
}
