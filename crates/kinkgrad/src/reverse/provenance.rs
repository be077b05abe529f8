//! Provenance of recorded derivatives: which kinks a value computed by a recorded backward pass
//! holds, and how their pieces were chosen.
//!
//! A recorded backward pass ([`crate::Tape::grad_vars`]) bakes the pieces of every non-smooth op it
//! goes through into the nodes it records (the relu cotangent scaling, the window scatter, the
//! coefficient constants of a piecewise op, a scheme's linearised step, ...). The sweep tags every node
//! created by the VJP of node `i` with the kink sources of `i` itself (when `i` hit kinks) and those
//! `i` already carried, so that a derivative of the recorded derivative can name every kink it depends
//! on, whichever op recorded it: no op has to cooperate.

use super::Tape;
use crate::kink::KinkLog;
use crate::scalar::Real;
use std::rc::Rc;

/// A non-smooth op whose pieces at kinks a derivative depends on, and how they were chosen.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct KinkSource {
    /// The op's node.
    pub node: usize,
    /// Its scope and name (the kink log's key).
    pub scope: std::sync::Arc<str>,
    pub op: &'static str,
    /// Kink elements it holds.
    pub kinks: usize,
    /// The pieces were chosen lexicographically (locked by this pass, or pinned by an earlier
    /// one), not by the representation.
    pub locked: bool,
    /// Ties that survived every direction (only when `locked`).
    pub unresolved: usize,
    /// Kinks of it that are inert (`safe`'s skip rule: their pieces cannot change the derivative),
    /// locked without a tangent pass; the other `kinks - skipped` are `locked` or left to the
    /// representation.
    pub skipped: usize,
}

impl KinkSource {
    /// The weaker of two accounts of the same op: representation-chosen wins over locked, and the
    /// larger count of surviving ties.
    fn merge(&mut self, other: &KinkSource) {
        self.locked &= other.locked;
        self.skipped = self.skipped.min(other.skipped);
        self.unresolved = self.unresolved.max(other.unresolved);
        self.kinks = self.kinks.max(other.kinks);
    }
}

/// Kink sources, one per node, sorted by node (the list returns to the installed pool when
/// dropped).
#[derive(Clone, Debug, Default)]
pub(crate) struct KinkSources(Vec<KinkSource>);

impl Drop for KinkSources {
    fn drop(&mut self) {
        crate::tensor::pool::give_any(std::mem::take(&mut self.0));
    }
}

impl KinkSources {
    /// Add a source (merged with the entry of the same node, if any).
    pub(crate) fn insert(&mut self, s: &KinkSource) {
        match self.0.binary_search_by_key(&s.node, |e| e.node) {
            Ok(i) => self.0[i].merge(s),
            Err(i) => self.0.insert(i, s.clone()),
        }
    }
    /// Add every source of `other`.
    pub(crate) fn extend(&mut self, other: &[KinkSource]) {
        for s in other {
            self.insert(s);
        }
    }
    /// The entry of `node`.
    pub(crate) fn get(&self, node: usize) -> Option<&KinkSource> {
        self.0.binary_search_by_key(&node, |e| e.node).ok().map(|i| &self.0[i])
    }
    /// The sources, sorted by node.
    pub(crate) fn as_slice(&self) -> &[KinkSource] {
        &self.0
    }
    /// Kinks per scope and op.
    pub(crate) fn kink_log(&self) -> KinkLog {
        let mut log = KinkLog::default();
        for s in &self.0 {
            log.add_site(&s.scope, s.op, s.kinks);
        }
        log
    }
}

impl<T: Real> Tape<T> {
    /// The relevant ops that hit kinks, with how their pieces are chosen in a pass that locks the
    /// unpinned ones (`locks`, `lex`/`safe`) or leaves them to the representation (`assoc`). Read
    /// after the locking pass: `unresolved` is the op's count of surviving ties.
    pub(crate) fn own_sources(&self, relevant: &[bool], locks: bool, skipped: &[usize]) -> KinkSources {
        let nodes = self.nodes.borrow();
        // at most one source per node: a pool buffer that never grows
        let mut out = crate::tensor::pool::take_any(relevant.len());
        for (i, r) in relevant.iter().enumerate() {
            let (true, Some(op)) = (r, &nodes[i].op) else { continue };
            let kinks = op.kinks();
            if kinks == 0 {
                continue;
            }
            let skip = if nodes[i].pinned { 0 } else { skipped.get(i).copied().unwrap_or(0).min(kinks) };
            let locked = (locks && skip < kinks) || nodes[i].pinned;
            out.push(KinkSource {
                node: i,
                scope: nodes[i].scope.clone(),
                op: op.name(),
                kinks,
                locked,
                unresolved: if locked { op.unresolved() } else { 0 },
                skipped: skip,
            });
        }
        KinkSources(out)
    }

    /// The kink sources baked by earlier recorded backward passes into the nodes a derivative over
    /// the `relevant` nodes reads: the relevant nodes, their inputs, and every ancestor of those
    /// (a VJP or JVP reads its inputs' values, and a baked value depends on the pieces chosen, even
    /// where it does not depend on the variables: `g * D` with a constant cotangent `g`).
    pub(crate) fn inherited_sources(&self, relevant: &[bool]) -> KinkSources {
        let nodes = self.nodes.borrow();
        let mut read = crate::tensor::pool::Buf::copied(relevant);
        let mut out = KinkSources::default();
        for i in (0..read.len()).rev() {
            if !read[i] {
                continue;
            }
            for &j in &nodes[i].inputs {
                read[j] = true;
            }
            if let Some(b) = &nodes[i].baked {
                out.extend(b);
            }
        }
        out
    }

    /// Tag the nodes recorded from position `from` on (by the VJP of node `i`) with the sources of
    /// `i`: those it carries and its own entry in `own`.
    pub(crate) fn tag_recorded(&self, i: usize, from: usize, own: &KinkSources) {
        let mut nodes = self.nodes.borrow_mut();
        if from >= nodes.len() {
            return;
        }
        let mine = own.get(i);
        let tag: Rc<[KinkSource]> = match (&nodes[i].baked, mine) {
            (None, None) => return,
            (Some(b), None) => b.clone(),
            (b, Some(m)) => {
                let mut s = KinkSources::default();
                if let Some(b) = b {
                    s.extend(b);
                }
                s.insert(m);
                Rc::from(std::mem::take(&mut s.0))
            }
        };
        for n in &mut nodes[from..] {
            n.baked = Some(tag.clone());
        }
    }
}
