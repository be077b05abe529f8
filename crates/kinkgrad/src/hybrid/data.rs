//! Synthetic observations from a known source, and their file format.
//!
//! File format (safetensors, readable and writable from Python with `safetensors.numpy`):
//! tensors `alpha` `[S, 2]`, `beta` `[S, N]` (initial states), `gamma` `[S, N]` (observed final states),
//! all `F64`; metadata (strings) `scheme`, `courant`, `steps`, `velocity`, `source` (`alpha` or `state`),
//! `n_train` (the first `n_train` samples are the training split). Loading validates shapes, values and
//! metadata with errors that name the file and the field.

use crate::error::{Error, Result};
use crate::io::safetensors_io::{self, Dtype, NamedTensor};
use crate::pde::grid::Grid;
use crate::pde::scheme::{Scheme, Transport};
use crate::rng::Rng;
use std::collections::BTreeMap;
use std::path::Path;

/// Width of the true Gaussian source.
pub const SIGMA: f64 = 0.05;

/// Which kind of source the model learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceForm {
    /// `S_W(alpha)(x)`, time-independent.
    Alpha,
    /// `S_W(u, alpha, x)`, evaluated at every step.
    State,
}

impl SourceForm {
    /// `alpha` or `state`.
    pub fn name(self) -> &'static str {
        match self {
            SourceForm::Alpha => "alpha",
            SourceForm::State => "state",
        }
    }
}

impl std::str::FromStr for SourceForm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "alpha" => Ok(SourceForm::Alpha),
            "state" => Ok(SourceForm::State),
            _ => Err(Error::invalid("source", format!("'{s}', expected alpha or state"))),
        }
    }
}

/// The true sources: `s*(x; alpha) = alpha_0 exp(-d(x, alpha_1)^2 / (2 sigma^2))` with the periodic
/// distance `d`, and `s*(u; alpha) = alpha_0 u (1 - u)`.
pub fn true_source(form: SourceForm, x: f64, u: f64, alpha: [f64; 2]) -> f64 {
    match form {
        SourceForm::Alpha => {
            let d = (x - alpha[1]).rem_euclid(1.0);
            let d = d.min(1.0 - d);
            alpha[0] * (-d * d / (2.0 * SIGMA * SIGMA)).exp()
        }
        SourceForm::State => alpha[0] * u * (1.0 - u),
    }
}

/// How to generate a data set.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateConfig {
    /// The scheme.
    pub scheme: Scheme,
    /// Cells of the periodic unit grid.
    pub cells: usize,
    /// Courant number `a dt / dx`.
    pub courant: f64,
    /// Time steps (final time `steps * dt`).
    pub steps: usize,
    /// Constant velocity.
    pub velocity: f64,
    /// Source form.
    pub source: SourceForm,
    /// Training samples.
    pub n_train: usize,
    /// Test samples.
    pub n_test: usize,
    /// Standard deviation of Gaussian noise added to the observations.
    pub noise: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for GenerateConfig {
    /// 128 cells, Courant 0.5 (`dt = 1/256`), 90 steps (see the module docs on identifiability),
    /// velocity 1, 64 training and 16 test samples, no noise.
    fn default() -> Self {
        Self {
            scheme: Scheme::Upwind,
            cells: 128,
            courant: 0.5,
            steps: 90,
            velocity: 1.0,
            source: SourceForm::Alpha,
            n_train: 64,
            n_test: 16,
            noise: 0.0,
            seed: 0,
        }
    }
}

/// Observations with the setting that produced them.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Scheme used to generate (and to model).
    pub scheme: Scheme,
    /// Courant number.
    pub courant: f64,
    /// Time steps.
    pub steps: usize,
    /// Velocity.
    pub velocity: f64,
    /// Source form of the generating source.
    pub source: SourceForm,
    /// Cells.
    pub cells: usize,
    /// Parameters `alpha_i`.
    pub alpha: Vec<[f64; 2]>,
    /// Initial states.
    pub beta: Vec<Vec<f64>>,
    /// Observed final states.
    pub gamma: Vec<Vec<f64>>,
    /// The first `n_train` samples train, the rest test.
    pub n_train: usize,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.alpha.len()
    }
    /// True when there is no sample.
    pub fn is_empty(&self) -> bool {
        self.alpha.is_empty()
    }
    /// The grid and scheme with its time step.
    pub fn transport(&self) -> Result<Transport> {
        let grid = Grid::unit(self.cells)?;
        Transport::from_courant(grid, self.scheme, self.velocity.abs().max(1e-300), self.courant, false)
    }
    /// The velocity argument of the scheme: `[velocity]` for linear transport, none for Burgers.
    pub fn velocity_arg(&self, t: &Transport) -> Vec<f64> {
        if t.scheme.is_linear() {
            vec![self.velocity]
        } else {
            vec![]
        }
    }
    /// Indices of the training samples.
    pub fn train_indices(&self) -> Vec<usize> {
        (0..self.n_train).collect()
    }
    /// Indices of the test samples.
    pub fn test_indices(&self) -> Vec<usize> {
        (self.n_train..self.len()).collect()
    }
}

/// Random square pulses: one to three boxes of height in `[0.2, 1]` and width in `[0.05, 0.3]`; their
/// flat tops and bottoms make limiter slopes exactly 0 on whole regions.
fn square_pulses(rng: &mut Rng, x: &[f64]) -> Vec<f64> {
    let mut u = vec![0.0; x.len()];
    let k = 1 + rng.below(3);
    for _ in 0..k {
        let (c, w, h) = (rng.uniform(), rng.range(0.05, 0.3), rng.range(0.2, 1.0));
        for (uj, &xj) in u.iter_mut().zip(x) {
            let d = (xj - c).rem_euclid(1.0);
            if d.min(1.0 - d) < w / 2.0 {
                *uj += h;
            }
        }
    }
    u
}

/// Run the true model from `beta`: the explicit source at every step.
pub fn simulate_true(
    t: &Transport,
    form: SourceForm,
    velocity: f64,
    alpha: [f64; 2],
    beta: &[f64],
    steps: usize,
) -> Vec<f64> {
    let x = t.grid.centers();
    let a = if t.scheme.is_linear() { vec![velocity] } else { vec![] };
    let (mut ext, mut flux) = (Vec::new(), Vec::new());
    let mut u = beta.to_vec();
    let mut next = vec![0.0; u.len()];
    let mut s = vec![0.0; u.len()];
    for _ in 0..steps {
        for j in 0..u.len() {
            s[j] = true_source(form, x[j], u[j], alpha);
        }
        t.step_values(&u, &a, Some(&s), &mut ext, &mut flux, &mut next);
        std::mem::swap(&mut u, &mut next);
    }
    u
}

/// Generate observations from the true source.
pub fn generate(cfg: &GenerateConfig) -> Result<Dataset> {
    if cfg.n_train == 0 {
        return Err(Error::invalid("samples", "need at least one training sample"));
    }
    if !(cfg.noise >= 0.0 && cfg.noise.is_finite()) {
        return Err(Error::invalid("noise", "must be a finite number >= 0"));
    }
    let grid = Grid::unit(cfg.cells)?;
    let t = Transport::from_courant(grid, cfg.scheme, cfg.velocity.abs().max(1e-300), cfg.courant, false)?;
    let x = grid.centers();
    let mut rng = Rng::new(cfg.seed);
    let n = cfg.n_train.checked_add(cfg.n_test).ok_or_else(|| {
        Error::invalid("samples", format!("{} training + {} test samples overflow", cfg.n_train, cfg.n_test))
    })?;
    let (mut alpha, mut beta, mut gamma) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let a = [rng.range(0.5, 1.5), rng.uniform()];
        let b = square_pulses(&mut rng, &x);
        let mut g = simulate_true(&t, cfg.source, cfg.velocity, a, &b, cfg.steps);
        if cfg.noise > 0.0 {
            g.iter_mut().for_each(|v| *v += cfg.noise * rng.normal());
        }
        alpha.push(a);
        beta.push(b);
        gamma.push(g);
    }
    Ok(Dataset {
        scheme: cfg.scheme,
        courant: cfg.courant,
        steps: cfg.steps,
        velocity: cfg.velocity,
        source: cfg.source,
        cells: cfg.cells,
        alpha,
        beta,
        gamma,
        n_train: cfg.n_train,
    })
}

/// Save a data set (atomically) in the documented safetensors layout.
pub fn save(path: &Path, d: &Dataset) -> Result<()> {
    let s = d.len();
    let flat = |v: &[Vec<f64>]| v.concat();
    let tensors = vec![
        NamedTensor::new("alpha", vec![s, 2], Dtype::F64, d.alpha.iter().flat_map(|a| a.iter().copied()).collect()),
        NamedTensor::new("beta", vec![s, d.cells], Dtype::F64, flat(&d.beta)),
        NamedTensor::new("gamma", vec![s, d.cells], Dtype::F64, flat(&d.gamma)),
    ];
    let mut meta = BTreeMap::new();
    meta.insert("scheme".to_string(), d.scheme.name().to_string());
    meta.insert("courant".to_string(), d.courant.to_string());
    meta.insert("steps".to_string(), d.steps.to_string());
    meta.insert("velocity".to_string(), d.velocity.to_string());
    meta.insert("source".to_string(), d.source.name().to_string());
    meta.insert("n_train".to_string(), d.n_train.to_string());
    safetensors_io::save(path, &tensors, &meta)?;
    Ok(())
}

/// Load and validate a data set.
pub fn load(path: &Path) -> Result<Dataset> {
    let (tensors, meta) = safetensors_io::load(path)?;
    let bad = |what: &str, detail: String| Error::io(path.display(), format!("{what}: {detail}"));
    let get = |k: &str| meta.get(k).ok_or_else(|| bad("metadata", format!("missing key '{k}'")));
    let num = |k: &str| -> Result<f64> {
        let v = get(k)?;
        v.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| bad("metadata", format!("'{k}' = '{v}' is not a finite number")))
    };
    let int = |k: &str| -> Result<usize> {
        let v = get(k)?;
        v.parse::<usize>().map_err(|_| bad("metadata", format!("'{k}' = '{v}' is not a non-negative integer")))
    };
    let scheme: Scheme = get("scheme")?.parse().map_err(|e: Error| bad("metadata", e.to_string()))?;
    let source: SourceForm = get("source")?.parse().map_err(|e: Error| bad("metadata", e.to_string()))?;
    let find = |name: &str| {
        tensors.iter().find(|t| t.name == name).ok_or_else(|| bad("tensors", format!("missing tensor '{name}'")))
    };
    let (ta, tb, tg) = (find("alpha")?, find("beta")?, find("gamma")?);
    if ta.shape.len() != 2 || ta.shape[1] != 2 {
        return Err(bad("tensor 'alpha'", format!("shape {:?}, expected [S, 2]", ta.shape)));
    }
    let s = ta.shape[0];
    if tb.shape.len() != 2 || tb.shape[0] != s || tb.shape[1] < 3 {
        return Err(bad("tensor 'beta'", format!("shape {:?}, expected [{s}, N] with N >= 3", tb.shape)));
    }
    let n = tb.shape[1];
    if tg.shape != [s, n] {
        return Err(bad("tensor 'gamma'", format!("shape {:?}, expected [{s}, {n}] like 'beta'", tg.shape)));
    }
    for t in [ta, tb, tg] {
        if let Some(i) = t.data.iter().position(|v| !v.is_finite()) {
            return Err(bad(&format!("tensor '{}'", t.name), format!("element {i} is not finite")));
        }
    }
    let n_train = int("n_train")?;
    if n_train == 0 || n_train > s {
        return Err(bad("metadata", format!("'n_train' = {n_train}, expected 1..={s}")));
    }
    let courant = num("courant")?;
    if !(courant > 0.0 && courant <= 1.0) {
        return Err(bad("metadata", format!("'courant' = {courant}, expected in (0, 1]")));
    }
    let steps = int("steps")?;
    if steps == 0 {
        return Err(bad("metadata", "'steps' = 0, expected at least 1".to_string()));
    }
    let velocity = num("velocity")?;
    if velocity == 0.0 {
        return Err(bad("metadata", "'velocity' = 0, expected a non-zero number".to_string()));
    }
    Ok(Dataset {
        scheme,
        courant,
        steps,
        velocity,
        source,
        cells: n,
        alpha: ta.data.chunks(2).map(|c| [c[0], c[1]]).collect(),
        beta: tb.data.chunks(n).map(|c| c.to_vec()).collect(),
        gamma: tg.data.chunks(n).map(|c| c.to_vec()).collect(),
        n_train,
    })
}
