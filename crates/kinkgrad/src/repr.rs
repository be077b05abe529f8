//! Representations: what an associated gradient does at a kink.
//!
//! A piecewise-C^1 primitive is a finite set of smooth **pieces** chosen by the signs of its
//! **switching functions**. Off the kinks exactly one piece is active and its gradient is *the*
//! gradient. On a kink (relu input exactly 0, a tie in a max) several pieces are active and the
//! **representation** decides which gradient is returned. This module holds the types of those
//! decisions: a [`Representation`] maps each **family** of kinks (relu'(0), ties of element-wise
//! maxima, ties in a pooling window, ...) to a [`KinkRule`]. Each primitive declares its family
//! beside its pieces, with the family's minimum-norm rule and the frameworks' conventions
//! ([`Family`]); the presets are assembled from those declarations by
//! [`crate::primitive::registry`], so a new primitive brings its own row.
//!
//! Admissibility (Despres, TMLR 2025; Murat-Trombetti 2003): at a tie of a max among k entries the
//! weights must be `>= 0` on tied entries, `0` elsewhere and sum to 1, otherwise the chain rule breaks
//! on sets of positive measure (`d/dx max(x, x)` would not be 1). A rule giving every tied entry the
//! full gradient is therefore not offered. `relu'(0) = z` may be any real number: the kink of relu is
//! a single point of its argument.
//!
//! # Conventions of the frameworks
//! The table of every family under every preset is generated from the registry
//! ([`crate::primitive::registry::conventions_table`]) and printed in `docs/conventions.md` (a test
//! keeps the two equal); its sources are quoted there.

use crate::error::{Error, Result};
use std::collections::BTreeMap;

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

impl std::fmt::Display for TieRule {
    /// The name [`TieRule::from_str`](std::str::FromStr) parses back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TieRule::First => f.write_str("first"),
            TieRule::Last => f.write_str("last"),
            TieRule::Mean => f.write_str("mean"),
            TieRule::MinNorm => f.write_str("minnorm"),
            TieRule::Weighted(w) => {
                let ws: Vec<String> = w.iter().map(|v| v.to_string()).collect();
                write!(f, "weighted:{}", ws.join(","))
            }
        }
    }
}

/// What a representation does at the kinks of one family: a tie rule over the tied pieces, or a
/// number (for the two-piece kinks of relu-like primitives, e.g. `relu'(0) = z`), whose meaning the
/// family states.
#[derive(Clone, Debug, PartialEq)]
pub enum KinkRule {
    /// How the tied pieces share the weight.
    Ties(TieRule),
    /// The family's number (`relu'(0)`, `abs'(0)`, a weight on the identity piece, ...).
    Value(f64),
}

impl std::fmt::Display for KinkRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KinkRule::Ties(t) => write!(f, "{t}"),
            KinkRule::Value(v) => write!(f, "{v}"),
        }
    }
}

/// A [`KinkRule`] that can be written in a constant table (the declarations of [`Family`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// [`TieRule::First`].
    First,
    /// [`TieRule::Last`].
    Last,
    /// [`TieRule::Mean`].
    Mean,
    /// [`TieRule::MinNorm`].
    MinNorm,
    /// [`KinkRule::Value`].
    Value(f64),
}

impl Rule {
    /// The rule as a [`KinkRule`].
    pub fn to_kink_rule(self) -> KinkRule {
        match self {
            Rule::First => KinkRule::Ties(TieRule::First),
            Rule::Last => KinkRule::Ties(TieRule::Last),
            Rule::Mean => KinkRule::Ties(TieRule::Mean),
            Rule::MinNorm => KinkRule::Ties(TieRule::MinNorm),
            Rule::Value(v) => KinkRule::Value(v),
        }
    }
}

/// One framework's convention for a family, with where it comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Convention {
    /// `pytorch`, `jax` or `tensorflow`.
    pub framework: &'static str,
    /// What that framework's autodiff returns at the family's kinks.
    pub rule: Rule,
    /// The op it was read from and any caveat (the quotes are in `docs/conventions.md`).
    pub note: &'static str,
}

/// The frameworks whose conventions the presets replay.
pub const FRAMEWORKS: [&str; 3] = ["pytorch", "jax", "tensorflow"];

/// A family of kinks that one rule of a representation decides, declared by the primitive(s) it
/// belongs to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Family {
    /// Key used in representations, certificates and on the command line (`relu`, `maxpool`, ...).
    pub key: &'static str,
    /// What is decided at the kink, e.g. `relu'(0)` or `ties of a max-pooling window`.
    pub what: &'static str,
    /// For a number-valued family: the interval the number must lie in (inclusive; infinite ends
    /// allowed). `None` for a tie-rule family.
    pub value_range: Option<(f64, f64)>,
    /// The minimum-norm rule: the element of smallest norm of the convex hull of the tied pieces'
    /// gradients (the default representation).
    pub minnorm: Rule,
    /// The frameworks' conventions (a framework absent here gets the minimum-norm rule).
    pub conventions: &'static [Convention],
}

impl Family {
    /// The rule of `framework` (its declared convention, else the minimum-norm rule).
    pub fn convention(&self, framework: &str) -> Rule {
        self.conventions.iter().find(|c| c.framework == framework).map_or(self.minnorm, |c| c.rule)
    }
    /// Check that `rule` fits the family (a tie rule for a tie family, a number in range otherwise).
    pub fn check(&self, rule: &KinkRule) -> Result<()> {
        match (self.value_range, rule) {
            (None, KinkRule::Ties(_)) => Ok(()),
            (Some((lo, hi)), KinkRule::Value(v)) if v.is_finite() && *v >= lo && *v <= hi => Ok(()),
            (Some((lo, hi)), _) => Err(Error::invalid(
                format!("kink rule for {}", self.key),
                format!("{} is a number in [{lo}, {hi}], got {rule}", self.what),
            )),
            (None, KinkRule::Value(v)) => Err(Error::invalid(
                format!("kink rule for {}", self.key),
                format!(
                    "{} takes a tie rule (first, last, mean, minnorm, weighted:...), got the number {v}",
                    self.what
                ),
            )),
        }
    }
}

/// The complete rule set of one representation: a [`KinkRule`] per [`Family`] of kinks.
///
/// Families without an entry take their minimum-norm rule, so [`Representation::minnorm`] (the
/// default) is the empty map. The presets (`pytorch`, `jax`, `tensorflow`), the parser of the
/// front ends' options and the bulk setters live with the registry of primitives
/// ([`crate::primitive::registry`]), which knows every family.
#[derive(Clone, Debug, PartialEq)]
pub struct Representation {
    /// Name shown in certificates: a preset's name, followed by its overrides in brackets
    /// (`pytorch[relu=0.5]`).
    pub name: String,
    rules: BTreeMap<&'static str, KinkRule>,
}

impl Default for Representation {
    fn default() -> Self {
        Self::minnorm()
    }
}

impl Representation {
    /// The default: minimum-norm element at every kink (`relu'(0) = 0`, even split at ties).
    pub fn minnorm() -> Self {
        Self { name: "minnorm".into(), rules: BTreeMap::new() }
    }
    /// An empty representation named `name` (every family at its minimum-norm rule until set).
    pub fn named(name: impl Into<String>) -> Self {
        Self { name: name.into(), rules: BTreeMap::new() }
    }
    /// The rule for `family`.
    pub fn rule(&self, family: &Family) -> KinkRule {
        self.rules.get(family.key).cloned().unwrap_or_else(|| family.minnorm.to_kink_rule())
    }
    /// The tie rule for `family` (a number-valued family reads as [`TieRule::MinNorm`]).
    pub fn ties(&self, family: &Family) -> TieRule {
        match self.rule(family) {
            KinkRule::Ties(t) => t,
            KinkRule::Value(_) => TieRule::MinNorm,
        }
    }
    /// The number for a number-valued `family` (0 for a tie family).
    pub fn value(&self, family: &Family) -> f64 {
        match self.rule(family) {
            KinkRule::Value(v) => v,
            KinkRule::Ties(_) => match family.minnorm {
                Rule::Value(v) => v,
                _ => 0.0,
            },
        }
    }
    /// Set the rule of `family` (checked against the family). The name is left as it is; see
    /// [`Self::with`] for the form that records the override in the name.
    pub fn set(&mut self, family: &Family, rule: KinkRule) -> Result<()> {
        family.check(&rule)?;
        self.rules.insert(family.key, rule);
        Ok(())
    }
    /// This representation with `family` set to `rule`, the override appended to the name
    /// (`minnorm[relu=1]`).
    pub fn with(mut self, family: &Family, rule: KinkRule) -> Result<Self> {
        let tag = format!("{}={rule}", family.key);
        self.set(family, rule)?;
        self.name = match self.name.strip_suffix(']') {
            Some(base) => format!("{base},{tag}]"),
            None => format!("{}[{tag}]", self.name),
        };
        Ok(self)
    }
    /// The families set explicitly, with their rules (in key order).
    pub fn overrides(&self) -> impl Iterator<Item = (&'static str, &KinkRule)> {
        self.rules.iter().map(|(k, v)| (*k, v))
    }
}
