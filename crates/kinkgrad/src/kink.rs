//! The kink log: how many evaluations landed exactly on a kink, per op.
//!
//! A **kink** is an evaluation that lands exactly on a boundary between pieces: a relu input equal to
//! `0.0` or `-0.0`, a tie in a max, a limiter argument on a switching surface. Equality is exact
//! floating-point equality; no tolerance ever changes a derivative.

use std::borrow::Cow;
use std::sync::Arc;

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

/// Kink counts per (scope, op), ordered by scope then op.
///
/// The names are shared, not copied: a scope is the tape's interned name, an op's name the op's
/// `&'static str` ([`KinkLog::add_site`]), so a training step's certificate allocates no strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KinkLog {
    counts: Vec<(Arc<str>, Cow<'static, str>, usize)>,
}

impl KinkLog {
    /// Add `n` kinks for `op` in `scope`.
    pub fn add(&mut self, scope: &str, op: &str, n: usize) {
        if n > 0 && !self.bump(scope, op, n) {
            self.insert(Arc::from(scope), Cow::Owned(op.to_string()), n);
        }
    }
    /// [`KinkLog::add`] with a shared scope and a static op name: nothing is copied.
    pub(crate) fn add_site(&mut self, scope: &Arc<str>, op: &'static str, n: usize) {
        if n > 0 && !self.bump(scope, op, n) {
            self.insert(scope.clone(), Cow::Borrowed(op), n);
        }
    }
    /// Add `n` to an existing site; false when there is none (a few sites: a linear scan).
    fn bump(&mut self, scope: &str, op: &str, n: usize) -> bool {
        match self.counts.iter_mut().find(|(s, o, _)| &**s == scope && o == op) {
            Some((_, _, count)) => {
                *count += n;
                true
            }
            None => false,
        }
    }
    /// A new site, in (scope, op) order.
    fn insert(&mut self, scope: Arc<str>, op: Cow<'static, str>, n: usize) {
        let at = self.counts.partition_point(|(s, o, _)| (&**s, &**o) < (&*scope, &*op));
        self.counts.insert(at, (scope, op, n));
    }
    /// Merge another log into this one.
    pub fn merge(&mut self, other: &KinkLog) {
        for (s, o, n) in &other.counts {
            if !self.bump(s, o, *n) {
                self.insert(s.clone(), o.clone(), *n);
            }
        }
    }
    /// Total number of kinks.
    pub fn total(&self) -> usize {
        self.counts.iter().map(|(_, _, n)| n).sum()
    }
    /// The kinks of one scope and op.
    pub fn count(&self, scope: &str, op: &str) -> usize {
        self.counts.iter().find(|(s, o, _)| &**s == scope && o == op).map_or(0, |(_, _, n)| *n)
    }
    /// The kinks of one op name over all scopes.
    pub fn count_op(&self, op: &str) -> usize {
        self.counts.iter().filter(|(_, o, _)| o == op).map(|(_, _, n)| n).sum()
    }
    /// All sites, ordered by scope then op.
    pub fn sites(&self) -> Vec<KinkSite> {
        self.counts.iter().map(|(s, o, n)| KinkSite { scope: s.to_string(), op: o.to_string(), count: *n }).collect()
    }
}
