//! Training a hybrid model with Adam; progress goes to a callback (the library prints nothing).
//! Every iteration's gradient comes with its certificate; the run's certificate sums them
//! ([`Certificate::merge`]). The loop polls [`crate::cancel`] before every iteration.

use super::data::Dataset;
use super::model::{scope_kinks, HybridModel, NET, SCHEME};
use crate::cancel;
use crate::certificate::Certificate;
use crate::engine::Mode;
use crate::error::{Error, Result};
use crate::nn::{Optimizer, OptimizerKind};
use crate::pde::checkpoint::Schedule;
use crate::repr::Representation;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Training settings.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Adam iterations.
    pub iterations: usize,
    /// Learning rate.
    pub lr: f64,
    /// Samples per iteration (0: every training sample).
    pub batch: usize,
    /// Evaluate the test loss every this many iterations (and at the end).
    pub eval_every: usize,
    /// Gradient mode: `assoc` (any schedule), or `safe` (the scheme's kinks locked with the
    /// network's; store-all only: see [`HybridModel::loss_and_gradient`]).
    pub mode: Mode,
    /// Representation at kinks.
    pub rep: Representation,
    /// Checkpoint schedule of the time loop.
    pub schedule: Schedule,
    /// Seed of the batch shuffling.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            iterations: 1000,
            lr: 1e-2,
            batch: 0,
            eval_every: 50,
            mode: Mode::default(),
            rep: Representation::default(),
            schedule: Schedule::StoreAll,
            seed: 0,
        }
    }
}

/// What one iteration did.
#[derive(Clone, Debug)]
pub struct TrainStep {
    /// 1-based iteration.
    pub iteration: usize,
    /// Training loss of the batch before the update.
    pub train_loss: f64,
    /// Test loss, on evaluation iterations.
    pub test_loss: Option<f64>,
    /// The certificate of this iteration's gradient (network kinks under `net`, scheme kinks
    /// under `scheme`).
    pub certificate: Certificate,
    /// Peak bytes of stored states (one sample).
    pub peak_bytes: usize,
}

impl TrainStep {
    /// Network kinks in this iteration's gradient.
    pub fn net_kinks(&self) -> usize {
        scope_kinks(&self.certificate.kinks, NET)
    }
    /// Scheme kinks in this iteration's gradient.
    pub fn scheme_kinks(&self) -> usize {
        scope_kinks(&self.certificate.kinks, SCHEME)
    }
}

/// What a training run did: every iteration, and the certificate of the run (the sum of the
/// iterations' certificates: gradients taken, kinks hit, ties locked and left unresolved).
#[derive(Clone, Debug)]
pub struct TrainRun {
    /// One entry per iteration of this run.
    pub steps: Vec<TrainStep>,
    /// The certificates of the iterations, merged.
    pub certificate: Certificate,
}

/// Train `model` on the training split of `d` with Adam, starting from `opt` (fresh or resumed) at
/// iteration `start`; `progress` sees every iteration. Mode `lex` is refused (one tangent direction
/// per weight); a cancellation ([`crate::cancel`]) stops the run before the next iteration with
/// [`Error::Cancelled`].
pub fn train(
    model: &mut HybridModel,
    opt: &mut Optimizer,
    d: &Dataset,
    cfg: &TrainConfig,
    start: usize,
    progress: &mut dyn FnMut(&TrainStep),
) -> Result<TrainRun> {
    if let Mode::Lex(_) = cfg.mode {
        return Err(Error::unsupported(
            "training in mode lex",
            "lex takes one tangent direction per weight; training takes assoc or safe",
        ));
    }
    let mut history = Vec::new();
    let mut certificate = Certificate::run(cfg.mode.name(), cfg.rep.name.clone());
    let train_idx = d.train_indices();
    let test_idx = d.test_indices();
    let mut rng = Rng::new(cfg.seed ^ start as u64);
    let mut order = train_idx.clone();
    let batch = if cfg.batch == 0 { train_idx.len() } else { cfg.batch.min(train_idx.len()) };
    let mut cursor = order.len();
    for it in start + 1..=cfg.iterations {
        cancel::check(format_args!("iteration {it} of {}", cfg.iterations))?;
        if cursor + batch > order.len() {
            rng.shuffle(&mut order);
            cursor = 0;
        }
        let idx = &order[cursor..cursor + batch];
        cursor += batch;
        let r = model.loss_and_gradient(d, idx, &cfg.mode, &cfg.rep, &cfg.schedule)?;
        let grads: Vec<Tensor<f64>> = r
            .grads
            .iter()
            .zip(&model.net.params)
            .map(|(g, p)| Tensor::new(p.shape().to_vec(), g.clone()))
            .collect::<Result<_>>()?;
        opt.update(&mut model.net.params, &grads)?;
        let test_loss = if (it % cfg.eval_every.max(1) == 0 || it == cfg.iterations) && !test_idx.is_empty() {
            Some(model.loss(d, &test_idx)?)
        } else {
            None
        };
        certificate.merge(&r.certificate);
        let step = TrainStep {
            iteration: it,
            train_loss: r.loss,
            test_loss,
            certificate: r.certificate,
            peak_bytes: r.peak_bytes,
        };
        progress(&step);
        history.push(step);
    }
    Ok(TrainRun { steps: history, certificate })
}

/// A fresh Adam optimiser for the model.
pub fn adam(model: &HybridModel, lr: f64) -> Optimizer {
    let sizes: Vec<usize> = model.net.params.iter().map(|p| p.len()).collect();
    Optimizer::new(OptimizerKind::adam(), lr, &sizes)
}

/// Save the model, the optimiser state and the iteration reached (atomically, safetensors):
/// tensors `{layer}.weight`/`{layer}.bias`, `adam.m.{k}`, `adam.v.{k}`; metadata `form`, `width`,
/// `iteration`, `lr`, `optimizer_step`.
pub fn save_state(path: &std::path::Path, model: &HybridModel, opt: &Optimizer, iteration: usize) -> Result<()> {
    use crate::io::safetensors_io::{save, Dtype, NamedTensor};
    let mut t: Vec<NamedTensor> = model
        .net
        .param_names
        .iter()
        .zip(&model.net.params)
        .map(|(n, p)| NamedTensor::new(n.clone(), p.shape().to_vec(), Dtype::F64, p.data().to_vec()))
        .collect();
    for (k, m) in opt.m.iter().enumerate() {
        t.push(NamedTensor::new(format!("adam.m.{k}"), vec![m.len()], Dtype::F64, m.clone()));
    }
    for (k, v) in opt.v.iter().enumerate() {
        t.push(NamedTensor::new(format!("adam.v.{k}"), vec![v.len()], Dtype::F64, v.clone()));
    }
    let mut meta = std::collections::BTreeMap::new();
    meta.insert("form".to_string(), model.form.name().to_string());
    meta.insert("width".to_string(), model.net.params[0].shape()[0].to_string());
    meta.insert("iteration".to_string(), iteration.to_string());
    meta.insert("lr".to_string(), opt.lr.to_string());
    meta.insert("optimizer_step".to_string(), opt.step.to_string());
    save(path, &t, &meta)?;
    Ok(())
}

/// Load a state saved by [`save_state`]: the model (its form and width from the file), the optimiser
/// and the iteration. Shapes are checked.
pub fn load_state(path: &std::path::Path) -> Result<(HybridModel, Optimizer, usize)> {
    use crate::error::Error;
    use crate::io::safetensors_io::{expect_shapes, load};
    let (t, meta) = load(path)?;
    let bad = |d: String| Error::io(path.display(), d);
    let get = |k: &str| meta.get(k).cloned().ok_or_else(|| bad(format!("metadata: missing key '{k}'")));
    let form: super::SourceForm = get("form")?.parse().map_err(|e: Error| bad(format!("metadata: {e}")))?;
    let width: usize = get("width")?.parse().map_err(|_| bad("metadata: 'width' is not an integer".into()))?;
    let iteration: usize =
        get("iteration")?.parse().map_err(|_| bad("metadata: 'iteration' is not an integer".into()))?;
    let lr: f64 = get("lr")?.parse().map_err(|_| bad("metadata: 'lr' is not a number".into()))?;
    let step: u64 =
        get("optimizer_step")?.parse().map_err(|_| bad("metadata: 'optimizer_step' is not an integer".into()))?;
    if !(lr.is_finite() && lr > 0.0) {
        return Err(bad(format!("metadata: 'lr' = {lr}, expected a positive number")));
    }
    // the network of this width has more than width^2 weights, all of which the file must hold:
    // checked before the model is allocated, so a huge 'width' is refused, not allocated
    let held: usize = t.iter().map(|x| x.data.len()).fold(0, usize::saturating_add);
    if width == 0 || width.checked_mul(width).is_none_or(|w2| w2 > held) {
        return Err(bad(format!(
            "metadata: 'width' = {width} does not fit the file, which holds {held} values in all (width w needs \
             more than w^2)"
        )));
    }
    if let Some(x) = t.iter().find(|x| x.data.iter().any(|v| !v.is_finite())) {
        return Err(bad(format!("tensor '{}' holds a NaN or infinite value", x.name)));
    }
    let mut model = HybridModel::new(form, width, 0)?;
    let shapes: Vec<(String, Vec<usize>)> =
        model.net.param_names.iter().cloned().zip(model.net.params.iter().map(|p| p.shape().to_vec())).collect();
    let exp: Vec<(&str, &[usize])> = shapes.iter().map(|(n, s)| (n.as_str(), s.as_slice())).collect();
    expect_shapes(&t, &exp).map_err(|e| bad(e.io_detail().to_string()))?;
    for (p, name) in model.net.params.iter_mut().zip(&model.net.param_names) {
        let src = t.iter().find(|x| &x.name == name).expect("checked by expect_shapes");
        *p = Tensor::new(src.shape.clone(), src.data.clone())?;
    }
    let mut opt = adam(&model, lr);
    opt.step = step;
    for (k, (m, v)) in opt.m.iter_mut().zip(opt.v.iter_mut()).enumerate() {
        for (dst, key) in [(m, format!("adam.m.{k}")), (v, format!("adam.v.{k}"))] {
            let src = t.iter().find(|x| x.name == key).ok_or_else(|| bad(format!("missing tensor '{key}'")))?;
            if src.data.len() != dst.len() {
                return Err(bad(format!("tensor '{key}' has {} values, expected {}", src.data.len(), dst.len())));
            }
            dst.copy_from_slice(&src.data);
        }
    }
    Ok((model, opt, iteration))
}
