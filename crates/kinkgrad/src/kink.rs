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

/// One site of a log: scope, op name, count.
type Entry = (Arc<str>, Cow<'static, str>, usize);

/// Sites a log holds in place before it moves them to the heap (LeNet's step has at most 6: a relu
/// and a pooling op per layer).
const INLINE: usize = 8;

/// A log's sites in order: up to [`INLINE`] in place (`inline[..n]`), more all on the heap.
#[derive(Clone, Debug, Default)]
struct Sites {
    inline: [Option<Entry>; INLINE],
    n: usize,
    /// Empty while the sites fit in place.
    heap: Vec<Entry>,
}

impl Sites {
    fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.inline[..self.n].iter().flatten().chain(&self.heap)
    }
    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        self.inline[..self.n].iter_mut().flatten().chain(&mut self.heap)
    }
    /// Insert `e` at position `at` (at most the length).
    fn insert(&mut self, at: usize, e: Entry) {
        if !self.heap.is_empty() {
            self.heap.insert(at, e);
        } else if self.n < INLINE {
            self.inline[at..=self.n].rotate_right(1);
            self.inline[at] = Some(e);
            self.n += 1;
        } else {
            self.heap.reserve(2 * INLINE);
            self.heap.extend(self.inline.iter_mut().filter_map(Option::take));
            self.heap.insert(at, e);
            self.n = 0;
        }
    }
}

/// Kink counts per (scope, op), ordered by scope then op.
///
/// The names are shared, not copied: a scope is the tape's interned name, an op's name the op's
/// `&'static str` ([`KinkLog::add_site`]); the first few sites are held in place. So a training
/// step's certificate allocates nothing for its kinks.
#[derive(Clone, Debug, Default)]
pub struct KinkLog {
    counts: Sites,
}

impl PartialEq for KinkLog {
    fn eq(&self, other: &Self) -> bool {
        self.counts.iter().eq(other.counts.iter())
    }
}

impl Eq for KinkLog {}

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
        let at = self.counts.iter().take_while(|(s, o, _)| (&**s, &**o) < (&*scope, &*op)).count();
        self.counts.insert(at, (scope, op, n));
    }
    /// Merge another log into this one.
    pub fn merge(&mut self, other: &KinkLog) {
        for (s, o, n) in other.counts.iter() {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Sites stay ordered by (scope, op) and counts add up, also past the sites held in place: ten
    /// sites added in a scrambled order (and one twice), compared with the order written out by hand.
    #[test]
    fn sites_stay_ordered_in_place_and_on_the_heap() {
        let mut log = KinkLog::default();
        let scopes = ["c", "a", "j", "e", "b", "i", "d", "h", "g", "f"];
        for (i, s) in scopes.iter().enumerate() {
            log.add(s, "relu", i + 1);
        }
        log.add("a", "relu", 10);
        log.add("a", "max", 7);
        let keys: Vec<(String, usize)> = log.sites().iter().map(|s| (s.key(), s.count)).collect();
        let want = [
            ("a/max", 7),
            ("a/relu", 12),
            ("b/relu", 5),
            ("c/relu", 1),
            ("d/relu", 7),
            ("e/relu", 4),
            ("f/relu", 10),
            ("g/relu", 9),
            ("h/relu", 8),
            ("i/relu", 6),
            ("j/relu", 3),
        ];
        assert_eq!(keys, want.map(|(k, n)| (k.to_string(), n)));
        assert_eq!(log.total(), 72);
        // equality is by content, wherever the sites are held
        let mut other = KinkLog::default();
        for (k, n) in want.iter().rev() {
            let (s, o) = k.split_once('/').unwrap();
            other.add(s, o, *n);
        }
        assert_eq!(log, other);
        let mut small = KinkLog::default();
        small.add("a", "max", 7);
        assert_ne!(log, small);
        assert_eq!(small.count("a", "max"), 7);
    }
}
