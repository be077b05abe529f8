//! The Deep Ritz method for `-u'' = f` on `(0, 1)`, `u(0) = u(1) = 0`, `f = pi^2 sin(pi x)` (exact
//! solution `u* = sin(pi x)`), by minimising the Ritz energy
//! `E(W) = int_0^1 (u'^2 / 2 - f u) dx` over a ReLU network `u = u_W`. Its minimum is
//! `E(u*) = -pi^2 / 4`.
//!
//! Two ways to evaluate `E`, both differentiated with respect to the weights by reverse mode:
//!
//! - [`RitzMethod::Quadrature`], the usual Deep Ritz/PINN recipe: `u = x (1 - x) N(x)`, `u'` by
//!   automatic differentiation of the network in `x` ([`crate::Tape::grad_vars`], a gradient that is
//!   itself recorded and differentiated: gradients of gradients) at `M` fixed midpoints, `E` their
//!   average. With ReLU, `u'` is piecewise constant in `x` with jumps at the network's breakpoints,
//!   so this energy is discontinuous in the weights that move a breakpoint across a quadrature point,
//!   and the almost-everywhere gradient misses the jump terms: training stalls.
//! - [`RitzMethod::Exact`], the remedy for a shallow net `N(x) = sum_i a_i relu(w_i x + b_i) + c`
//!   with the boundary conditions by an affine correction, `u = N(x) - (1 - x) N(0) - x N(1)`:
//!   `u` is piecewise linear with breakpoints `t_i = -b_i / w_i` (functions of the weights). They
//!   are clamped to `[0, 1]`, sorted (the non-smooth [`Var::sort`], ties included), and the energy is
//!   integrated exactly between consecutive breakpoints: `u'^2` is constant on each interval (its
//!   value at the midpoint, by autodiff in `x`), `f u` by 5-point Gauss-Legendre quadrature on each
//!   interval. The energy is then Lipschitz and piecewise C^1 in the weights, and its gradient carries
//!   the motion of the breakpoints (`d/dt_i` of the interval lengths and Gauss points).

use super::layer::{Init, Sequential};
use super::optim::{Optimizer, OptimizerKind};
use crate::cancel;
use crate::certificate::Certificate;
use crate::engine::Mode;
use crate::error::{Error, Result};
use crate::repr::Representation;
use crate::reverse::{Tape, Var};
use crate::rng::Rng;
use crate::tensor::Tensor;
use std::f64::consts::PI;
use std::time::Instant;

/// How the energy is integrated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RitzMethod {
    /// Midpoint quadrature with `u'` by autodiff (the usual recipe; stalls with ReLU).
    Quadrature,
    /// Exact integration between the sorted breakpoints of a shallow ReLU net.
    Exact,
}

impl std::str::FromStr for RitzMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "quadrature" => Ok(Self::Quadrature),
            "exact" => Ok(Self::Exact),
            _ => Err(Error::invalid("method", format!("'{s}', expected quadrature or exact"))),
        }
    }
}

/// Settings of a Deep Ritz run.
#[derive(Clone, Debug)]
pub struct RitzConfig {
    /// Integration method.
    pub method: RitzMethod,
    /// Hidden width.
    pub width: usize,
    /// Hidden layers (1 = shallow; `exact` needs 1).
    pub depth: usize,
    /// Adam steps.
    pub steps: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Quadrature midpoints (`quadrature` method).
    pub points: usize,
    /// Seed of the initial weights.
    pub seed: u64,
    /// The mode of every derivative of a step: the recorded `u'` in `x` (quadrature energy, and the
    /// stiffness term of the exact one) and the weight gradient. `assoc` by default (the frameworks'
    /// recipe, which the comparison of the two methods reproduces).
    pub mode: Mode,
    /// The representation: the rules `assoc` applies at the kinks of every step (and what the
    /// certificates name).
    pub representation: Representation,
}

impl Default for RitzConfig {
    fn default() -> Self {
        Self {
            method: RitzMethod::Exact,
            width: 32,
            depth: 1,
            steps: 3000,
            lr: 1e-2,
            points: 1000,
            seed: 0,
            mode: Mode::Assoc,
            representation: Representation::default(),
        }
    }
}

/// Errors and energy of a solution.
#[derive(Clone, Debug)]
pub struct RitzReport {
    /// `||u - u*||_L2 / ||u*||_L2`.
    pub l2_rel_error: f64,
    /// `||u - u*||_H1 / ||u*||_H1` (full H1 norm).
    pub h1_rel_error: f64,
    /// The Ritz energy of the final `u`, integrated on a fine grid (same for both methods).
    pub energy: f64,
    /// The minimum, `-pi^2 / 4`.
    pub exact_energy: f64,
    /// Breakpoints of the first layer inside `(0, 1)` at the end.
    pub breakpoints_inside: usize,
    /// Wall-clock seconds of the optimisation.
    pub seconds: f64,
    /// The certificates of the optimisation's weight gradients, merged ([`Certificate::merge`]):
    /// gradients taken and kinks hit (sort ties and clamps of the breakpoints, relu zeros, and those
    /// the recorded derivative `u'` baked), in [`RitzConfig::mode`]; empty for [`report`] alone.
    pub certificate: Certificate,
}

/// The trial function `u` at the points `x` (`[n, 1]`).
pub fn trial<'t>(
    model: &Sequential<f64>,
    p: &[Var<'t, f64>],
    x: Var<'t, f64>,
    method: RitzMethod,
) -> Result<Var<'t, f64>> {
    let tape = x.tape();
    let n = model.forward(x, p)?;
    match method {
        // u = x (1 - x) N(x)
        RitzMethod::Quadrature => x.mul(x.neg().add_scalar(1.0))?.mul(n),
        // u = N(x) - (1 - x) N(0) - x N(1)
        RitzMethod::Exact => {
            let n0 = model.forward(tape.constant(Tensor::from_f64(vec![1, 1], &[0.0])?), p)?;
            let n1 = model.forward(tape.constant(Tensor::from_f64(vec![1, 1], &[1.0])?), p)?;
            n.sub(x.neg().add_scalar(1.0).mul(n0)?)?.sub(x.mul(n1)?)
        }
    }
}

/// `u'(x)` at the points `x` (`[n, 1]`, a variable of the tape) by reverse mode in `x` in `mode`,
/// recorded on the tape so that it can be differentiated with respect to the weights (a derivative
/// taken through it inherits its kinks in its certificate).
pub fn trial_derivative<'t>(u: Var<'t, f64>, x: Var<'t, f64>, mode: &Mode) -> Result<Var<'t, f64>> {
    Ok(x.tape().grad_vars(u.sum(), &[x], mode)?.vars[0])
}

fn source<'t>(x: Var<'t, f64>) -> Var<'t, f64> {
    x.scale(PI).sin().scale(PI * PI)
}

/// The quadrature energy `(1/M) sum_j (u'(x_j)^2 / 2 - f(x_j) u(x_j))`, `x_j = (j + 1/2) / M`, with
/// `u'` recorded in `mode`.
pub fn energy_quadrature<'t>(
    model: &Sequential<f64>,
    p: &[Var<'t, f64>],
    points: usize,
    mode: &Mode,
) -> Result<Var<'t, f64>> {
    let tape = p[0].tape();
    let xs: Vec<f64> = (0..points).map(|j| (j as f64 + 0.5) / points as f64).collect();
    let x = tape.var(Tensor::from_f64(vec![points, 1], &xs)?);
    let u = trial(model, p, x, RitzMethod::Quadrature)?;
    let du = trial_derivative(u, x, mode)?;
    let f = tape.constant(Tensor::from_f64(
        vec![points, 1],
        &xs.iter().map(|&x| PI * PI * (PI * x).sin()).collect::<Vec<_>>(),
    )?);
    Ok(du.square().scale(0.5).sub(f.mul(u)?)?.mean())
}

/// Gauss-Legendre nodes and weights on `[-1, 1]`, 5 points (exact for polynomials of degree 9).
const GAUSS5: [(f64, f64); 5] = [
    (0.0, 0.568_888_888_888_888_9),
    (-0.538_469_310_105_683_1, 0.478_628_670_499_366_5),
    (0.538_469_310_105_683_1, 0.478_628_670_499_366_5),
    (-0.906_179_845_938_664, 0.236_926_885_056_189_1),
    (0.906_179_845_938_664, 0.236_926_885_056_189_1),
];

/// The breakpoints `t_i = -b_i / w_i` of the first layer (a `[width]` variable).
pub fn breakpoints<'t>(p: &[Var<'t, f64>]) -> Result<Var<'t, f64>> {
    let w = p[0].reshape(&[p[0].shape()[0]])?;
    Ok(p[1].div(w)?.neg())
}

/// The exact energy of a shallow net: sorted breakpoints, `u'^2` exactly (`u'` recorded in `mode`)
/// and `f u` by Gauss quadrature on each interval.
pub fn energy_exact<'t>(model: &Sequential<f64>, p: &[Var<'t, f64>], mode: &Mode) -> Result<Var<'t, f64>> {
    if p.len() != 4 {
        return Err(Error::invalid("exact method", "needs a shallow network (one hidden layer)"));
    }
    let tape = p[0].tape();
    let width = p[0].shape()[0];
    let zero = tape.scalar(0.0);
    let one = tape.scalar(1.0);
    let t = breakpoints(p)?.clamp(zero, one)?.sort()?;
    let ends = tape.constant(Tensor::from_f64(vec![1], &[0.0])?);
    let endr = tape.constant(Tensor::from_f64(vec![1], &[1.0])?);
    let grid = Var::concat(&[ends, t, endr], 0)?; // [width + 2]
    let l = grid.slice(0, 0, width + 1)?.reshape(&[width + 1, 1])?;
    let r = grid.slice(0, 1, width + 2)?.reshape(&[width + 1, 1])?;
    let len = r.sub(l)?;
    // u'^2 / 2 integrated exactly: constant on each interval, its value at the midpoint
    let mid = l.add(r)?.scale(0.5);
    let du = trial_derivative(trial(model, p, mid, RitzMethod::Exact)?, mid, mode)?;
    let stiff = len.mul(du.square())?.sum().scale(0.5);
    // f u by Gauss-Legendre on each interval: x = l + len (1 + xi) / 2, weight len omega / 2
    let g = GAUSS5.len();
    let xi =
        tape.constant(Tensor::from_f64(vec![1, g], &GAUSS5.iter().map(|q| (1.0 + q.0) / 2.0).collect::<Vec<_>>())?);
    let om = tape.constant(Tensor::from_f64(vec![1, g], &GAUSS5.iter().map(|q| q.1 / 2.0).collect::<Vec<_>>())?);
    let x = l.add(len.mul(xi)?)?; // [width + 1, g]
    let u = trial(model, p, x.reshape(&[(width + 1) * g, 1])?, RitzMethod::Exact)?.reshape(&[width + 1, g])?;
    let load = source(x).mul(u)?.mul(len.mul(om)?)?.sum();
    stiff.sub(load)
}

/// The network of a run: `1 - width (- width) - 1` with ReLU, PyTorch's initialisation except the
/// first-layer biases (see below).
pub fn network(cfg: &RitzConfig) -> Result<Sequential<f64>> {
    if cfg.width == 0 || cfg.depth == 0 {
        return Err(Error::invalid("width", "width and depth must be positive"));
    }
    if cfg.method == RitzMethod::Exact && cfg.depth != 1 {
        return Err(Error::invalid("depth", "the exact method needs one hidden layer"));
    }
    let mut sizes = vec![1];
    sizes.extend(std::iter::repeat_n(cfg.width, cfg.depth));
    sizes.push(1);
    let mut rng = Rng::new(cfg.seed);
    let mut model = Sequential::mlp(&sizes, Init::PyTorch, &mut rng)?;
    // first-layer biases b_i = -w_i t_i with t_i uniform in (0, 1): every breakpoint starts inside
    // the domain (with PyTorch's biases about three quarters of them start outside, where the
    // clamp makes them dead for the exact energy, and for the quadrature energy alike)
    let w = model.params[0].to_f64_vec();
    let b: Vec<f64> = w.iter().map(|wi| -wi * rng.uniform()).collect();
    model.params[1] = Tensor::from_f64(vec![cfg.width], &b)?;
    Ok(model)
}

/// The energy of the configured method.
pub fn energy<'t>(model: &Sequential<f64>, p: &[Var<'t, f64>], cfg: &RitzConfig) -> Result<Var<'t, f64>> {
    match cfg.method {
        RitzMethod::Quadrature => energy_quadrature(model, p, cfg.points, &cfg.mode),
        RitzMethod::Exact => energy_exact(model, p, &cfg.mode),
    }
}

/// `u` at the points `xs` (for plots).
pub fn evaluate(model: &Sequential<f64>, method: RitzMethod, xs: &[f64]) -> Result<Vec<f64>> {
    let tape = Tape::new();
    let p: Vec<_> = model.params.iter().map(|t| tape.constant(t.clone())).collect();
    let x = tape.constant(Tensor::from_f64(vec![xs.len(), 1], xs)?);
    Ok(trial(model, &p, x, method)?.value().to_f64_vec())
}

/// Errors and energy of `u` on a fine midpoint grid (20 000 points).
pub fn report(model: &Sequential<f64>, method: RitzMethod) -> Result<RitzReport> {
    let n = 20_000;
    let xs: Vec<f64> = (0..n).map(|j| (j as f64 + 0.5) / n as f64).collect();
    let tape = Tape::new();
    let p: Vec<_> = model.params.iter().map(|t| tape.constant(t.clone())).collect();
    let x = tape.var(Tensor::from_f64(vec![n, 1], &xs)?);
    let u = trial(model, &p, x, method)?;
    // `safe`: a grid point on a breakpoint gets a one-sided derivative, not the representation's
    let du = trial_derivative(u, x, &Mode::safe())?;
    let (u, du) = (u.value().to_f64_vec(), du.value().to_f64_vec());
    let (mut e0, mut e1, mut n0, mut n1, mut en) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for j in 0..n {
        let (s, c) = ((PI * xs[j]).sin(), PI * (PI * xs[j]).cos());
        e0 += (u[j] - s).powi(2);
        e1 += (du[j] - c).powi(2);
        n0 += s * s;
        n1 += c * c;
        en += 0.5 * du[j] * du[j] - PI * PI * s * u[j];
    }
    let bp = breakpoints(&model.params.iter().map(|t| tape.constant(t.clone())).collect::<Vec<_>>())?;
    let inside = bp.value().data().iter().filter(|&&t| t > 0.0 && t < 1.0).count();
    Ok(RitzReport {
        l2_rel_error: (e0 / n0).sqrt(),
        h1_rel_error: ((e0 + e1) / (n0 + n1)).sqrt(),
        energy: en / n as f64,
        exact_energy: -PI * PI / 4.0,
        breakpoints_inside: inside,
        seconds: 0.0,
        certificate: Certificate::run(Mode::safe().name(), tape.representation().name.clone()),
    })
}

/// Minimise the energy with Adam; `progress(step, energy)` after every step. Returns the trained
/// network and its report, whose certificate sums the run's gradients. Polls [`crate::cancel`]
/// before every step ([`Error::Cancelled`] names it).
pub fn solve(cfg: &RitzConfig, progress: &mut dyn FnMut(usize, f64)) -> Result<(Sequential<f64>, RitzReport)> {
    let mut model = network(cfg)?;
    let sizes: Vec<usize> = model.params.iter().map(|p| p.len()).collect();
    let mut opt = Optimizer::new(OptimizerKind::adam(), cfg.lr, &sizes);
    let start = Instant::now();
    let mut certificate = Certificate::run(cfg.mode.name(), cfg.representation.name.clone());
    for s in 0..cfg.steps {
        cancel::check(format_args!("step {} of {}", s + 1, cfg.steps))?;
        let tape = Tape::<f64>::with_representation(cfg.representation.clone());
        let p = model.param_vars(&tape);
        let e = energy(&model, &p, cfg)?;
        let g = tape.gradient(e, &p, &cfg.mode)?;
        progress(s + 1, e.item()?);
        opt.update(&mut model.params, &g.values)?;
        certificate.merge(&g.certificate);
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut rep = report(&model, cfg.method)?;
    rep.seconds = seconds;
    rep.certificate = certificate;
    Ok((model, rep))
}
