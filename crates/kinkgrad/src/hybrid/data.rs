//! Observations: the [`Dataset`] a hybrid model is fitted to, and synthetic observations from a known
//! source ([`generate`]).
//!
//! A data set holds `S` samples of `P` source parameters `alpha_i`, initial states `beta_i` and
//! observed final states `gamma_i` on a periodic grid of `N` cells, the scheme with its Courant
//! number and step count, a velocity (one constant, or one per face), and optionally the true
//! source the observations came from ([`TrueSource`]): the source error is reported only when the
//! data carry one. Files: [`super::data_file`] (safetensors and `.npz`, the schema in
//! `docs/formats.md`).

use crate::error::{Error, Result};
use crate::pde::grid::Grid;
use crate::pde::scheme::{Scheme, Transport};
use crate::rng::Rng;

pub use super::data_file::{is_npz, load, save};

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

/// The built-in true sources (of generated data; `alpha` has at least 2 parameters):
/// `s*(x; alpha) = alpha_0 exp(-d(x, alpha_1)^2 / (2 sigma^2))` with the periodic distance `d`, and
/// `s*(u; alpha) = alpha_0 u (1 - u)`.
pub fn true_source(form: SourceForm, x: f64, u: f64, alpha: &[f64]) -> f64 {
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

/// The source the observations came from, when known.
#[derive(Clone, Debug, PartialEq)]
pub enum TrueSource {
    /// Not known (a user's data without a `true_source`): no source error is reported.
    Unknown,
    /// Per sample and cell, time-independent (`[S][N]`; alpha form).
    Cells(Vec<Vec<f64>>),
    /// The built-in state-form source `alpha_0 u (1 - u)` ([`true_source`]).
    Logistic,
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
    /// Velocity of linear transport: one value (constant) or one per face (`a_j` at `x_{j+1/2}`,
    /// as [`Transport`] takes it); not used by Burgers' equation.
    pub velocity: Vec<f64>,
    /// Source form of the generating source.
    pub source: SourceForm,
    /// Cells.
    pub cells: usize,
    /// Parameters `alpha_i`, `P` per sample (the same `P` for all).
    pub alpha: Vec<Vec<f64>>,
    /// Initial states.
    pub beta: Vec<Vec<f64>>,
    /// Observed final states.
    pub gamma: Vec<Vec<f64>>,
    /// The first `n_train` samples train, the rest test.
    pub n_train: usize,
    /// The true source, when known.
    pub truth: TrueSource,
}

impl Dataset {
    /// Source parameters per sample (`P`).
    pub fn params(&self) -> usize {
        self.alpha.first().map_or(0, Vec::len)
    }
    /// The largest speed `max |a_j|`.
    pub fn max_speed(&self) -> f64 {
        self.velocity.iter().fold(0.0f64, |m, v| m.max(v.abs()))
    }
    /// The true source of sample `i` at cell centres `x` (state form: at state `u`), `None` when not
    /// known.
    pub fn true_source_at(&self, i: usize, x: &[f64], u: Option<&[f64]>) -> Option<Vec<f64>> {
        match &self.truth {
            TrueSource::Unknown => None,
            TrueSource::Cells(s) => s.get(i).cloned(),
            TrueSource::Logistic => Some(
                x.iter()
                    .enumerate()
                    .map(|(j, &xj)| true_source(SourceForm::State, xj, u.map_or(0.0, |u| u[j]), &self.alpha[i]))
                    .collect(),
            ),
        }
    }
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
        Transport::from_courant(grid, self.scheme, self.max_speed().max(1e-300), self.courant, false)
    }
    /// The velocity argument of the scheme: [`Dataset::velocity`] for linear transport, none for Burgers.
    pub fn velocity_arg(&self, t: &Transport) -> Vec<f64> {
        if t.scheme.is_linear() {
            self.velocity.clone()
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
    alpha: &[f64],
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
        let a = vec![rng.range(0.5, 1.5), rng.uniform()];
        let b = square_pulses(&mut rng, &x);
        let mut g = simulate_true(&t, cfg.source, cfg.velocity, &a, &b, cfg.steps);
        if cfg.noise > 0.0 {
            g.iter_mut().for_each(|v| *v += cfg.noise * rng.normal());
        }
        alpha.push(a);
        beta.push(b);
        gamma.push(g);
    }
    let truth = match cfg.source {
        SourceForm::Alpha => TrueSource::Cells(
            alpha
                .iter()
                .map(|a: &Vec<f64>| x.iter().map(|&xj| true_source(SourceForm::Alpha, xj, 0.0, a)).collect())
                .collect(),
        ),
        SourceForm::State => TrueSource::Logistic,
    };
    Ok(Dataset {
        scheme: cfg.scheme,
        courant: cfg.courant,
        steps: cfg.steps,
        velocity: vec![cfg.velocity],
        source: cfg.source,
        cells: cfg.cells,
        alpha,
        beta,
        gamma,
        n_train: cfg.n_train,
        truth,
    })
}
