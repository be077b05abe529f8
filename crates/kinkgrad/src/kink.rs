//! The kink log and the certificate that comes with every gradient.
//!
//! A **kink** is an evaluation that lands exactly on a boundary between pieces: a relu input equal to
//! `0.0` or `-0.0`, a tie in a max, a limiter argument on a switching surface. Equality is exact
//! floating-point equality; no tolerance ever changes a derivative.

use std::collections::BTreeMap;

/// What a derivative is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateKind {
    /// No kink was hit: f is C^1 near the point and the result is its derivative.
    Exact,
    /// Kinks were hit and resolved lexicographically: the result does not depend on the
    /// representation; it is the derivative wherever f is differentiable and an element of Clarke's
    /// generalized gradient elsewhere.
    Generalized,
    /// `assoc` mode hit kinks: the result depends on the representation's rules, as in the frameworks.
    RepresentationDependent,
}

impl CertificateKind {
    /// The name used in reports: `exact`, `generalized`, `representation-dependent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Generalized => "generalized",
            Self::RepresentationDependent => "representation-dependent",
        }
    }
}

impl std::fmt::Display for CertificateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One kink site: an op (inside a scope such as a layer name) and how many elements sat on a kink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KinkSite {
    /// The scope set with [`crate::Tape::set_scope`] when the op was recorded (empty by default).
    pub scope: String,
    /// The op's name (`relu`, `max`, `maxpool2d`, `minmod`, ...).
    pub op: String,
    /// Number of elements evaluated exactly on a kink.
    pub count: usize,
}

/// Kink counts per (scope, op).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KinkLog {
    counts: BTreeMap<(String, String), usize>,
}

impl KinkLog {
    /// Add `n` kinks for `op` in `scope`.
    pub fn add(&mut self, scope: &str, op: &str, n: usize) {
        if n > 0 {
            *self.counts.entry((scope.to_string(), op.to_string())).or_default() += n;
        }
    }
    /// Merge another log into this one.
    pub fn merge(&mut self, other: &KinkLog) {
        for ((s, o), n) in &other.counts {
            self.add(s, o, *n);
        }
    }
    /// Total number of kinks.
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }
    /// The kinks of one scope and op.
    pub fn count(&self, scope: &str, op: &str) -> usize {
        self.counts.get(&(scope.to_string(), op.to_string())).copied().unwrap_or(0)
    }
    /// The kinks of one op name over all scopes.
    pub fn count_op(&self, op: &str) -> usize {
        self.counts.iter().filter(|((_, o), _)| o == op).map(|(_, n)| n).sum()
    }
    /// All sites, ordered by scope then op.
    pub fn sites(&self) -> Vec<KinkSite> {
        self.counts.iter().map(|((s, o), n)| KinkSite { scope: s.clone(), op: o.clone(), count: *n }).collect()
    }
}

/// What a gradient is, and where the kinks were.
#[derive(Clone, Debug, PartialEq)]
pub struct Certificate {
    /// `exact`, `generalized` or `representation-dependent`.
    pub kind: CertificateKind,
    /// The mode that produced the result: `assoc`, `lex` or `safe`.
    pub mode: &'static str,
    /// The representation used for the kinks `assoc` mode resolved (and for unresolved ties).
    pub representation: String,
    /// Kinks hit by the evaluation that the gradient went through.
    pub kinks: KinkLog,
    /// Ties that survived every direction drawn (`safe`/`lex`): these were resolved by the
    /// representation's rule among pieces whose derivatives agree along every direction drawn.
    pub unresolved_ties: usize,
    /// Number of directions used (`lex`: columns of M; `safe`: probe directions drawn).
    pub directions: usize,
}
