//! Representations: what an associated gradient does at a kink.
//!
//! A piecewise-C^1 primitive is a finite set of smooth **pieces** chosen by the signs of its
//! **switching functions**. Off the kinks exactly one piece is active and its gradient is *the*
//! gradient. On a kink (relu input exactly 0, a tie in a max) several pieces are active and the
//! **representation** decides which gradient is returned. This module holds those decisions.
//!
//! Admissibility (Despres, TMLR 2025; Murat-Trombetti 2003): at a tie of a max among k entries the
//! weights must be `>= 0` on tied entries, `0` elsewhere and sum to 1, otherwise the chain rule breaks
//! on sets of positive measure (`d/dx max(x, x)` would not be 1). A rule giving every tied entry the
//! full gradient is therefore not offered. `relu'(0) = z` may be any real number: the kink of relu is
//! a single point of its argument.
//!
//! # Conventions of the frameworks
//! | op | `minnorm` (default) | `pytorch` | `jax` | `tensorflow` |
//! |---|---|---|---|---|
//! | relu'(0) | 0 | 0 | 0 | 0 |
//! | abs'(0) | 0 | 0 | 1 | 0 |
//! | leaky_relu'(0) (slope s) | s | s | 1 | s |
//! | hardtanh' at ±1 | 0 | 0 | 1 | (none) |
//! | maximum(a, b), a = b | ½, ½ | ½, ½ | ½, ½ | a gets 1 |
//! | full max reduction, k ties | 1/k each | 1/k each | 1/k each | 1/k each |
//! | max along an axis, k ties | 1/k each | first index (`torch.max(x, dim)`; `amax` splits 1/k) | 1/k each | 1/k each |
//! | max-pooling window, k ties | 1/k each | first index | first index | first index |
//! | clamp at a bound | ½ x, ½ bound | x gets 1 | ½ x, ½ bound (`jnp.clip`) | x gets 1 |
//!
//! Sources (file and commit of each framework, quoted verbatim) are in `docs/conventions.md`; every entry is tested in
//! `tests/conventions.rs`.

use crate::error::{Error, Result};

/// How the gradient is split among the tied pieces of a max-like primitive.
#[derive(Clone, Debug, PartialEq)]
pub enum TieRule {
    /// The first tied piece (lowest argument index) gets weight 1.
    First,
    /// The last tied piece gets weight 1.
    Last,
    /// Every tied piece gets `1/k`.
    Mean,
    /// The minimum-norm element of the convex hull of the tied pieces' gradients (for a max of
    /// independent arguments this is the even split; for minmod at (0, 0) it is the zero piece).
    MinNorm,
    /// Weights per argument position, renormalised over the tied set (all must be `> 0`): the
    /// weighted family of the max-pooling literature.
    Weighted(Vec<f64>),
}

impl TieRule {
    /// The weights of the tied positions `tied` (ascending). `out` receives one weight per tied entry.
    /// `MinNorm` is resolved by the caller (it needs the pieces' gradients); here it means `Mean`.
    pub fn weights(&self, tied: &[usize], out: &mut Vec<f64>) {
        out.clear();
        let k = tied.len();
        match self {
            TieRule::First => out.extend((0..k).map(|i| if i == 0 { 1.0 } else { 0.0 })),
            TieRule::Last => out.extend((0..k).map(|i| if i + 1 == k { 1.0 } else { 0.0 })),
            TieRule::Mean | TieRule::MinNorm => out.extend(std::iter::repeat_n(1.0 / k as f64, k)),
            TieRule::Weighted(w) => {
                let raw: Vec<f64> = tied.iter().map(|&p| *w.get(p).or(w.last()).unwrap_or(&1.0)).collect();
                let s: f64 = raw.iter().sum();
                out.extend(raw.iter().map(|v| v / s));
            }
        }
    }
}

impl std::str::FromStr for TieRule {
    type Err = Error;
    /// `first`, `last`, `mean`, `minnorm`, or `weighted:w1,w2,...`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "first" => Ok(TieRule::First),
            "last" => Ok(TieRule::Last),
            "mean" => Ok(TieRule::Mean),
            "minnorm" => Ok(TieRule::MinNorm),
            _ => {
                if let Some(w) = s.strip_prefix("weighted:") {
                    let ws = w
                        .split(',')
                        .map(|v| v.trim().parse::<f64>().ok().filter(|x| *x > 0.0 && x.is_finite()))
                        .collect::<Option<Vec<f64>>>()
                        .ok_or_else(|| {
                            Error::invalid("tie rule", format!("'{s}': weights must be positive numbers"))
                        })?;
                    return Ok(TieRule::Weighted(ws));
                }
                Err(Error::invalid(
                    "tie rule",
                    format!("'{s}', expected first, last, mean, minnorm or weighted:w1,w2,..."),
                ))
            }
        }
    }
}

/// The complete rule set of one representation.
#[derive(Clone, Debug, PartialEq)]
pub struct Representation {
    /// Name shown in certificates (`minnorm`, `pytorch`, `jax`, `tensorflow`, `custom`).
    pub name: String,
    /// `relu'(0) = z`; any real. Also `leaky_relu'(0) = s + z (1 - s)` unless `leaky_at_zero` is set.
    pub relu_at_zero: f64,
    /// `leaky_relu'(0)` as a weight on the identity piece (`None`: use `relu_at_zero`).
    pub leaky_at_zero: Option<f64>,
    /// `abs'(0)`, any real in `[-1, 1]`.
    pub abs_at_zero: f64,
    /// `hardtanh'(±1)`, the weight on the identity piece at the bounds.
    pub hardtanh_at_bounds: f64,
    /// Ties of element-wise `max`/`min` (binary and n-ary).
    pub max_ties: TieRule,
    /// Ties of a max/min reduction over all elements.
    pub reduce_ties: TieRule,
    /// Ties of a max/min along one axis.
    pub axis_ties: TieRule,
    /// Ties inside a max-pooling window.
    pub pool_ties: TieRule,
    /// `clamp(x, lo, hi)` at a bound: a tie between `x` (first) and the bound (second).
    pub clamp_ties: TieRule,
    /// Ties of limiters (minmod and friends), over their pieces in declared order.
    pub limiter_ties: TieRule,
}

impl Default for Representation {
    fn default() -> Self {
        Self::minnorm()
    }
}

impl Representation {
    /// The default: minimum-norm element at every kink (`relu'(0) = 0`, even split at ties).
    pub fn minnorm() -> Self {
        Self {
            name: "minnorm".into(),
            relu_at_zero: 0.0,
            leaky_at_zero: None,
            abs_at_zero: 0.0,
            hardtanh_at_bounds: 0.0,
            max_ties: TieRule::MinNorm,
            reduce_ties: TieRule::MinNorm,
            axis_ties: TieRule::MinNorm,
            pool_ties: TieRule::MinNorm,
            clamp_ties: TieRule::MinNorm,
            limiter_ties: TieRule::MinNorm,
        }
    }
    /// PyTorch's conventions (see the module table).
    pub fn pytorch() -> Self {
        Self {
            name: "pytorch".into(),
            relu_at_zero: 0.0,
            leaky_at_zero: Some(0.0),
            abs_at_zero: 0.0,
            hardtanh_at_bounds: 0.0,
            max_ties: TieRule::Mean,
            reduce_ties: TieRule::Mean,
            axis_ties: TieRule::First,
            pool_ties: TieRule::First,
            clamp_ties: TieRule::First,
            limiter_ties: TieRule::MinNorm,
        }
    }
    /// JAX's conventions (see the module table).
    pub fn jax() -> Self {
        Self {
            name: "jax".into(),
            relu_at_zero: 0.0,
            leaky_at_zero: Some(1.0),
            abs_at_zero: 1.0,
            hardtanh_at_bounds: 1.0,
            max_ties: TieRule::Mean,
            reduce_ties: TieRule::Mean,
            axis_ties: TieRule::Mean,
            pool_ties: TieRule::First,
            clamp_ties: TieRule::Mean,
            limiter_ties: TieRule::MinNorm,
        }
    }
    /// TensorFlow's conventions (see the module table).
    pub fn tensorflow() -> Self {
        Self {
            name: "tensorflow".into(),
            relu_at_zero: 0.0,
            leaky_at_zero: Some(0.0),
            abs_at_zero: 0.0,
            hardtanh_at_bounds: 0.0,
            max_ties: TieRule::First,
            reduce_ties: TieRule::Mean,
            axis_ties: TieRule::Mean,
            pool_ties: TieRule::First,
            clamp_ties: TieRule::First,
            limiter_ties: TieRule::MinNorm,
        }
    }
    /// A preset by name: `minnorm`, `pytorch`, `jax`, `tensorflow`.
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "minnorm" => Ok(Self::minnorm()),
            "pytorch" => Ok(Self::pytorch()),
            "jax" => Ok(Self::jax()),
            "tensorflow" => Ok(Self::tensorflow()),
            _ => Err(Error::invalid("convention", format!("'{name}', expected minnorm, pytorch, jax or tensorflow"))),
        }
    }
    /// Set every tie rule at once (the CLI's `--max-ties`).
    pub fn with_all_ties(mut self, rule: TieRule) -> Self {
        self.max_ties = rule.clone();
        self.reduce_ties = rule.clone();
        self.axis_ties = rule.clone();
        self.pool_ties = rule.clone();
        self.clamp_ties = rule.clone();
        self.limiter_ties = rule;
        self.name = "custom".into();
        self
    }
    /// Set `relu'(0)`.
    pub fn with_relu_at_zero(mut self, z: f64) -> Self {
        self.relu_at_zero = z;
        self.name = "custom".into();
        self
    }
}
