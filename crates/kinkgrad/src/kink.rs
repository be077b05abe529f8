//! The kink log: how many evaluations landed exactly on a kink, per op.
//!
//! A **kink** is an evaluation that lands exactly on a boundary between pieces: a relu input equal to
//! `0.0` or `-0.0`, a tie in a max, a limiter argument on a switching surface. Equality is exact
//! floating-point equality; no tolerance ever changes a derivative.

use std::collections::BTreeMap;

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

impl KinkSite {
    /// `op`, or `scope/op` inside a scope: the key used in reports.
    pub fn key(&self) -> String {
        if self.scope.is_empty() {
            self.op.clone()
        } else {
            format!("{}/{}", self.scope, self.op)
        }
    }
}

/// Kink counts per (scope, op).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KinkLog {
    counts: BTreeMap<(String, String), usize>,
}

impl KinkLog {
    /// Add `n` kinks for `op` in `scope`.
    pub fn add(&mut self, scope: &str, op: &str, n: usize) {
        if n == 0 {
            return;
        }
        // an existing site is found without building its key (a few sites: a linear scan)
        match self.counts.iter_mut().find(|((s, o), _)| s == scope && o == op) {
            Some((_, count)) => *count += n,
            None => {
                self.counts.insert((scope.to_string(), op.to_string()), n);
            }
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
