//! The `relu'(0)` bifurcation (Bertoin, Bolte, Gerchinovitz, Pauwels, NeurIPS 2021, Section 3).
//!
//! An MLP `784 - width x depth - 10` (relu, PyTorch's default initialisation) is evaluated on one
//! epoch of minibatches at learning rate 0, so the weights never change and only gradients are
//! compared. An initialisation **bifurcates** when the gradient of the first layer's weights with
//! `relu'(0) = 0` differs (in at least one element) from the one with `relu'(0) = 1` on at least one
//! minibatch. The representation is consulted only at kinks, so on a minibatch without an exact
//! zero pre-activation the two gradients are the same computation: the second is computed only when
//! the first one's certificate counts relu kinks (the count over the run is `exact_zeros`).
//!
//! The `safe` column repeats the comparison in `safe` mode (same probe seed for both): branch
//! locking resolves each zero along the probe directions, so by construction the result does not
//! depend on `relu'(0)`; the study measures it.
//!
//! The initialisation `i` is drawn from the seed `seed + i` in `f64` and rounded to the precision,
//! so the same initialisation is compared across precisions; its minibatches are a shuffle drawn
//! from the same generator.

use super::differ;
use crate::cancel;
use crate::certificate::Certificate;
use crate::engine::Mode;
use crate::error::{Error, Result};
use crate::io::mnist::Mnist;
use crate::nn::train::batch_inputs;
use crate::nn::{cross_entropy, Init, Sequential};
use crate::repr::Representation;
use crate::reverse::Tape;
use crate::rng::Rng;
use crate::scalar::Real;
use crate::tensor::Tensor;
use std::time::Instant;

/// The configuration of the study (defaults: the 784-256-256-256-10, batch 100, 40
/// initialisations).
#[derive(Clone, Debug)]
pub struct ReluPrimeConfig {
    /// Hidden layers.
    pub depth: usize,
    /// Units per hidden layer.
    pub width: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Initialisations.
    pub inits: usize,
    /// Seed of the first initialisation.
    pub seed: u64,
    /// Also compare in `safe` mode.
    pub safe: bool,
}

impl Default for ReluPrimeConfig {
    fn default() -> Self {
        Self { depth: 3, width: 256, batch: 100, inits: 40, seed: 0, safe: true }
    }
}

impl ReluPrimeConfig {
    /// Refuse a zero size (one line naming the setting).
    pub fn check(&self) -> Result<()> {
        for (what, v) in [("depth", self.depth), ("width", self.width), ("batch", self.batch), ("inits", self.inits)] {
            if v == 0 {
                return Err(Error::invalid(what, "must be positive"));
            }
        }
        Ok(())
    }
    /// The layer sizes `784, width x depth, 10` for `inputs` pixels.
    pub fn sizes(&self, inputs: usize) -> Vec<usize> {
        let mut s = vec![inputs];
        s.extend(std::iter::repeat_n(self.width, self.depth));
        s.push(10);
        s
    }
}

/// One precision's result.
#[derive(Clone, Debug, PartialEq)]
pub struct ReluPrimeRow {
    /// `f64`, `f32`, `f16` or `bf16`.
    pub precision: &'static str,
    /// Initialisations run.
    pub inits: usize,
    /// Initialisations whose gradients with `relu'(0) = 0` and `= 1` differ on some minibatch.
    pub bifurcated: usize,
    /// `bifurcated / inits`.
    pub fraction: f64,
    /// The same count in `safe` mode (`None` when not measured).
    pub safe_bifurcated: Option<usize>,
    /// `safe_bifurcated / inits`.
    pub safe_fraction: Option<f64>,
    /// Exact-zero pre-activations (relu kinks) over all minibatches and initialisations.
    pub exact_zeros: u64,
    /// Minibatches evaluated (over all initialisations).
    pub batches: usize,
    /// Minibatches with at least one exact zero.
    pub batches_with_zeros: usize,
    /// Minibatches on which the two `assoc` gradients differ.
    pub batches_differing: usize,
    /// Zeros that survived every probe direction in `safe` mode (0 when not measured).
    pub safe_unresolved: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The gradient of the first layer's weights on one minibatch, with its certificate.
fn first_layer_gradient<T: Real>(
    model: &Sequential<T>,
    x: &Tensor<T>,
    labels: &[u8],
    rep: &Representation,
    mode: &Mode,
) -> Result<(Tensor<T>, Certificate)> {
    let tape = Tape::<T>::with_representation(rep.clone());
    let xv = tape.constant(x.clone());
    let params = model.param_vars(&tape);
    let loss = cross_entropy(model.forward(xv, &params)?, labels)?;
    let mut g = tape.gradient(loss, &params[..1], mode)?;
    Ok((g.values.remove(0), g.certificate))
}

/// What one initialisation's epoch gave ([`compare_model`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InitOutcome {
    /// The `assoc` gradients differed on some minibatch.
    pub bifurcated: bool,
    /// The `safe` gradients differed on some minibatch (false when not measured).
    pub safe_bifurcated: bool,
    /// Exact-zero pre-activations over the epoch.
    pub exact_zeros: u64,
    /// Minibatches evaluated.
    pub batches: usize,
    /// Minibatches with at least one exact zero.
    pub batches_with_zeros: usize,
    /// Minibatches on which the two `assoc` gradients differ.
    pub batches_differing: usize,
    /// Zeros that survived every probe direction in `safe` mode.
    pub safe_unresolved: usize,
}

/// One epoch of `model` (any MLP of linear and relu layers) over the examples of `train` in
/// `order`, in minibatches of `cfg.batch`, at learning rate 0: the comparison of the first layer's
/// weight gradients with `relu'(0) = 0` and `relu'(0) = 1` (and in `safe` mode when `cfg.safe`).
pub fn compare_model<T: Real>(
    model: &Sequential<T>,
    train: &Mnist,
    order: &[usize],
    cfg: &ReluPrimeConfig,
    progress: &mut dyn FnMut(),
) -> Result<InitOutcome> {
    cfg.check()?;
    let rep0 = Representation::minnorm().with_relu_at_zero(0.0);
    let rep1 = Representation::minnorm().with_relu_at_zero(1.0);
    let mut out = InitOutcome::default();
    for (b, idx) in order.chunks(cfg.batch).enumerate() {
        cancel::check(format_args!("batch {}", b + 1))?;
        let x = batch_inputs::<T>(train, idx, false)?;
        let labels: Vec<u8> = idx.iter().map(|&k| train.labels[k]).collect();
        let (g0, cert) = first_layer_gradient(model, &x, &labels, &rep0, &Mode::Assoc)?;
        let zeros = cert.kinks.count_op("relu");
        out.batches += 1;
        out.exact_zeros += zeros as u64;
        if zeros > 0 {
            out.batches_with_zeros += 1;
            let (g1, _) = first_layer_gradient(model, &x, &labels, &rep1, &Mode::Assoc)?;
            if differ(&g0, &g1) {
                out.batches_differing += 1;
                out.bifurcated = true;
            }
            if cfg.safe {
                let seed = cfg.seed.wrapping_add(b as u64);
                let mode = Mode::Safe { seed, max_directions: Mode::SAFE_MAX_DIRECTIONS };
                let (s0, c0) = first_layer_gradient(model, &x, &labels, &rep0, &mode)?;
                let (s1, _) = first_layer_gradient(model, &x, &labels, &rep1, &mode)?;
                out.safe_unresolved += c0.unresolved;
                out.safe_bifurcated |= differ(&s0, &s1);
            }
        }
        progress();
    }
    Ok(out)
}

/// Run the study in precision `T` on the training set `train`; `progress` is called after every
/// minibatch.
pub fn relu_prime<T: Real>(cfg: &ReluPrimeConfig, train: &Mnist, progress: &mut dyn FnMut()) -> Result<ReluPrimeRow> {
    cfg.check()?;
    if train.n == 0 {
        return Err(Error::invalid("data", "the training set is empty"));
    }
    let start = Instant::now();
    let sizes = cfg.sizes(train.pixels_per_image());
    let mut row = ReluPrimeRow {
        precision: T::NAME,
        inits: cfg.inits,
        bifurcated: 0,
        fraction: 0.0,
        safe_bifurcated: cfg.safe.then_some(0),
        safe_fraction: None,
        exact_zeros: 0,
        batches: 0,
        batches_with_zeros: 0,
        batches_differing: 0,
        safe_unresolved: 0,
        seconds: 0.0,
    };
    for i in 0..cfg.inits {
        let mut rng = Rng::new(cfg.seed.wrapping_add(i as u64));
        let model = Sequential::<T>::mlp(&sizes, Init::PyTorch, &mut rng)?;
        let mut order: Vec<usize> = (0..train.n).collect();
        rng.shuffle(&mut order);
        let o = compare_model(&model, train, &order, cfg, progress)?;
        row.bifurcated += usize::from(o.bifurcated);
        if let Some(s) = row.safe_bifurcated.as_mut() {
            *s += usize::from(o.safe_bifurcated);
        }
        row.exact_zeros += o.exact_zeros;
        row.batches += o.batches;
        row.batches_with_zeros += o.batches_with_zeros;
        row.batches_differing += o.batches_differing;
        row.safe_unresolved += o.safe_unresolved;
    }
    row.fraction = row.bifurcated as f64 / cfg.inits as f64;
    row.safe_fraction = row.safe_bifurcated.map(|s| s as f64 / cfg.inits as f64);
    row.seconds = start.elapsed().as_secs_f64();
    Ok(row)
}
