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
//! **Signed tie weights** (Boustany, TMLR 2024): weights that sum to 1 but may be negative,
//! [`TieRule::Beta`] (`beta * even split + (1 - beta) * first`) and [`TieRule::Signed`]. They are
//! still associated gradients in the talk's sense: `beta * mean + (1 - beta) * first` is a C^1
//! function equal to the max on the tie set, and its derivative is what the rule returns, so the
//! chain rule holds (`d/dx max(x, x) = 1` under every such rule). They are not minimum-norm, and
//! their norm grows with `|beta|` (the first entry gets `1 - beta + beta/k`): certificates of `assoc`
//! derivatives under such a representation carry a warning ([`Representation::warnings`]). Weights
//! that do not sum to 1 (the rule giving every tied entry the full gradient sums to `k`) stay refused.
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
    /// Boustany's family `beta * (even split) + (1 - beta) * (all to the first tied entry)`: the
    /// first tied entry gets `1 - beta + beta/k`, the others `beta/k` (signed for `beta` outside
    /// `[0, 1]`; always summing to 1). `beta = 0` is [`TieRule::First`], `beta = 1` [`TieRule::Mean`].
    Beta(f64),
    /// Signed weights per argument position, summing to 1 over all positions (any sign). On a tie
    /// of a subset the tied positions keep their weights and share the deficit evenly:
    /// `w_p + (1 - sum of tied w) / k`, so the weights always sum to 1 (on a full tie they are `w`).
    Signed(Vec<f64>),
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
                let raw = |p: usize| *w.get(p).or(w.last()).unwrap_or(&1.0);
                let s: f64 = tied.iter().map(|&p| raw(p)).sum();
                out.extend(tied.iter().map(|&p| raw(p) / s));
            }
            TieRule::Beta(beta) => {
                let even = beta / k as f64;
                out.extend((0..k).map(|i| if i == 0 { 1.0 - beta + even } else { even }));
            }
            TieRule::Signed(w) => {
                let raw = |p: usize| *w.get(p).or(w.last()).unwrap_or(&0.0);
                let deficit = (1.0 - tied.iter().map(|&p| raw(p)).sum::<f64>()) / k as f64;
                out.extend(tied.iter().map(|&p| raw(p) + deficit));
            }
        }
    }
    /// True when the rule's weights may be negative ([`TieRule::Beta`] outside `[0, 1]`,
    /// [`TieRule::Signed`] with a negative weight): admissible (summing to 1) but not minimum-norm.
    pub fn is_signed(&self) -> bool {
        match self {
            TieRule::Beta(b) => !(0.0..=1.0).contains(b),
            TieRule::Signed(w) => w.iter().any(|v| *v < 0.0),
            _ => false,
        }
    }
}

/// Parse a comma-separated list of finite numbers (the weights of `weighted:` and `signed:`).
fn parse_weights(s: &str, list: &str) -> Result<Vec<f64>> {
    list.split(',')
        .map(|v| v.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
        .collect::<Option<Vec<f64>>>()
        .ok_or_else(|| Error::invalid("tie rule", format!("'{s}': weights must be finite numbers")))
}

impl std::str::FromStr for TieRule {
    type Err = Error;
    /// `first`, `last`, `mean`, `minnorm`, `weighted:w1,w2,...` (positive), `beta:B` (any finite
    /// `B`) or `signed:w1,w2,...` (finite, summing to 1; the all-ones rule, summing to `k`, is
    /// refused).
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "first" => Ok(TieRule::First),
            "last" => Ok(TieRule::Last),
            "mean" => Ok(TieRule::Mean),
            "minnorm" => Ok(TieRule::MinNorm),
            _ => {
                if let Some(w) = s.strip_prefix("weighted:") {
                    let ws = parse_weights(s, w)?;
                    if ws.iter().any(|x| *x <= 0.0) {
                        return Err(Error::invalid(
                            "tie rule",
                            format!("'{s}': weights must be positive numbers (signed weights: signed:...)"),
                        ));
                    }
                    return Ok(TieRule::Weighted(ws));
                }
                if let Some(b) = s.strip_prefix("beta:") {
                    return match b.trim().parse::<f64>() {
                        Ok(beta) if beta.is_finite() => Ok(TieRule::Beta(beta)),
                        _ => Err(Error::invalid("tie rule", format!("'{s}': beta is a finite number"))),
                    };
                }
                if let Some(w) = s.strip_prefix("signed:") {
                    let ws = parse_weights(s, w)?;
                    let sum: f64 = ws.iter().sum();
                    if (sum - 1.0).abs() > 1e-12 * ws.iter().map(|v| v.abs()).sum::<f64>().max(1.0) {
                        return Err(Error::invalid(
                            "tie rule",
                            format!(
                                "'{s}': signed weights must sum to 1 (these sum to {sum}; a rule whose weights \
                                 do not sum to 1 breaks the chain rule, e.g. d/dx max(x, x) != 1)"
                            ),
                        ));
                    }
                    return Ok(TieRule::Signed(ws));
                }
                Err(Error::invalid(
                    "tie rule",
                    format!(
                        "'{s}', expected first, last, mean, minnorm, weighted:w1,w2,..., beta:B or signed:w1,w2,..."
                    ),
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
            TieRule::Beta(b) => write!(f, "beta:{b}"),
            TieRule::Signed(w) => {
                let ws: Vec<String> = w.iter().map(|v| v.to_string()).collect();
                write!(f, "signed:{}", ws.join(","))
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
    /// One line per family whose tie weights are signed ([`TieRule::is_signed`]): admissible but not
    /// minimum-norm, with the growth of their norm. Empty for every other representation.
    pub fn warnings(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter_map(|(k, r)| match r {
                KinkRule::Ties(t) if t.is_signed() => Some(format!(
                    "{k}={t}: signed tie weights (sum 1: admissible, an associated gradient) but not minimum-norm; \
                     their norm grows with |beta| (largest weight {}) and may overflow in low precision",
                    signed_largest(t)
                )),
                _ => None,
            })
            .collect()
    }
}

/// The largest absolute weight a signed rule gives on a tie of two entries (the norm-growth figure of
/// the warning).
fn signed_largest(t: &TieRule) -> f64 {
    let mut w = Vec::new();
    t.weights(&[0, 1], &mut w);
    w.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}
