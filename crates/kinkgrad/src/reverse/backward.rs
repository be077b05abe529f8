//! The reverse sweep: which nodes a gradient goes through, their kinks, and the recorded backward
//! pass over the pieces the ops hold (the representation's, or the locked ones). The modes and their
//! certificates are driven from [`crate::engine`].

use super::distinct::Distinct;
use super::op_box::OpBox;
use super::provenance::KinkSources;
use super::tape::Node;
use super::var::ok;
use super::{ElementClasses, InputClasses, CONSTANT_CLASS};
use super::{OpCx, Tape, Var};
use crate::error::{Error, Result};
use crate::scalar::Real;
use crate::tensor::pool::{self, Buf};
use crate::tensor::Tensor;

impl<T: Real> Tape<T> {
    /// `relevant[i]`: node `i` depends on one of `wrt` and `y` depends on it (in a buffer from the
    /// installed pool, like the other per-gradient lists below).
    pub(crate) fn relevant(&self, y: Var<'_, T>, wrt: &[Var<'_, T>]) -> Buf<bool> {
        let nodes = self.nodes.borrow();
        let n = y.id + 1;
        let mut dep = Buf::filled(n, false);
        for w in wrt {
            if w.id < n {
                dep[w.id] = true;
            }
        }
        for i in 0..n {
            if !dep[i] && nodes[i].variable && nodes[i].inputs.iter().any(|&j| dep[j]) {
                dep[i] = true;
            }
        }
        let mut reach = Buf::filled(n, false);
        reach[y.id] = true;
        for i in (0..n).rev() {
            if reach[i] && dep[i] {
                for &j in &nodes[i].inputs {
                    reach[j] = true;
                }
            }
        }
        for (d, r) in dep.iter_mut().zip(reach.iter()) {
            *d &= *r;
        }
        dep
    }

    /// `out[i]`: node `i` is relevant, hit kinks, and is not pinned (its pieces are for this pass
    /// to choose).
    pub(crate) fn unpinned_kinked(&self, relevant: &[bool]) -> Buf<bool> {
        let nodes = self.nodes.borrow();
        let mut out = Buf::with_capacity(relevant.len());
        out.extend(
            (0..relevant.len())
                .map(|i| relevant[i] && !nodes[i].pinned && nodes[i].op.as_ref().is_some_and(|o| o.kinks() > 0)),
        );
        out
    }

    /// The kinks of each marked node (0 elsewhere).
    pub(crate) fn kink_counts(&self, marked: &[bool]) -> Buf<usize> {
        let nodes = self.nodes.borrow();
        let mut out = Buf::with_capacity(marked.len());
        out.extend(
            (0..marked.len()).map(|i| if marked[i] { nodes[i].op.as_ref().map_or(0, |o| o.kinks()) } else { 0 }),
        );
        out
    }

    /// `out[i]`: how many kinks of node `i` (marked in `kinked`) are inert given the identity classes
    /// of its inputs ([`super::Op::lock_inert`], [`super::Op::element_classes`]); the op has locked
    /// them on the pieces a tangent pass would leave them on, so `safe` need not select them (and
    /// runs no tangent pass for an op whose kinks are all inert). The classes come from forward
    /// information only: an input that is not `relevant` (not a function of the differentiated
    /// variables) is locally constant, and the producers up to [`CLASS_DEPTH`] ops back report the
    /// rest.
    ///
    /// Lazily: classes are computed only for the elements the op's undecided kinks read
    /// ([`super::Op::inert_candidates`]), traced [`CLASS_DEPTH`] producers back, each producer asked
    /// only for the elements those depend on; a producer that knows an element constant from its
    /// own forward values asks its inputs nothing about it (a relu behind a strictly negative
    /// input), so the ties of dead relus are settled without tracing further. (Until session 30 a
    /// first round asked the direct producers alone, depth 1, and a second traced only the ties
    /// left over: the same decisions, as the first round's classes are finer than the second's and
    /// the relu prunes its constants either way, but the candidate lists, the relu's labels and the
    /// locks of the ties left over were built twice.)
    pub(crate) fn inert(&self, kinked: &[bool], relevant: &[bool]) -> Buf<usize> {
        let mut out = Buf::filled(kinked.len(), 0);
        for i in 0..kinked.len() {
            if !kinked[i] {
                continue;
            }
            let candidates = match self.nodes.borrow()[i].op.as_ref() {
                Some(op) => op.inert_candidates(),
                None => continue,
            };
            if candidates.iter().all(|c| c.is_empty()) {
                give_candidates(candidates);
                continue;
            }
            // the lists from (and back to) the installed pool
            let mut classes: Vec<Option<ElementClasses>> = pool::take_any(candidates.len());
            {
                let nodes = self.nodes.borrow();
                classes.extend(
                    nodes[i]
                        .inputs
                        .iter()
                        .zip(&candidates)
                        .map(|(&j, at)| classes_of(&nodes, relevant, j, at, CLASS_DEPTH)),
                );
            }
            let inert = match self.nodes.borrow_mut()[i].op.as_mut() {
                Some(op) => op.lock_inert(&classes),
                None => 0,
            };
            give_candidates(candidates);
            classes.drain(..).flatten().for_each(pool::give);
            pool::give_any(classes);
            out[i] = inert;
        }
        out
    }

    /// Back to the representation's pieces on the relevant nodes that are not pinned.
    pub(crate) fn unlock(&self, relevant: &[bool]) {
        let mut nodes = self.nodes.borrow_mut();
        for (i, r) in relevant.iter().enumerate() {
            if nodes[i].pinned {
                continue;
            }
            if let (true, Some(op)) = (r, nodes[i].op.as_mut()) {
                op.unlock();
            }
        }
    }

    /// The first of the marked nodes whose op cannot keep its pieces ([`super::Op::pinnable`]).
    pub(crate) fn first_unpinnable(&self, marked: &[bool]) -> Option<String> {
        let nodes = self.nodes.borrow();
        (0..marked.len())
            .find(|&i| marked[i] && nodes[i].op.as_ref().is_some_and(|o| !o.pinnable()))
            .map(|i| nodes[i].op.as_ref().map_or(String::new(), |o| o.name().to_string()))
    }

    /// Pin the pieces of the marked nodes ([`super::Op::pin`]).
    pub(crate) fn pin(&self, marked: &[bool]) {
        let mut nodes = self.nodes.borrow_mut();
        for (i, &m) in marked.iter().enumerate() {
            if m {
                if let Some(op) = nodes[i].op.as_mut() {
                    op.pin();
                    nodes[i].pinned = true;
                }
            }
        }
    }

    /// Reverse sweep recording the cotangents on the tape. With `tag`, every node recorded by the
    /// VJP of a node is tagged with the kink sources it holds ([`super::provenance`]): `tag` is this
    /// pass's account of its own kinked ops.
    pub(crate) fn backward<'t>(
        &'t self,
        y: Var<'t, T>,
        wrt: &[Var<'t, T>],
        relevant: &[bool],
        tag: Option<&KinkSources>,
    ) -> Vec<Var<'t, T>> {
        // the sweep's lists come from (and return to) the installed pool
        let mut grads: Vec<Option<Var<'t, T>>> = pool::take_any(y.id + 1);
        grads.resize(y.id + 1, None);
        let shape = y.shape();
        grads[y.id] = Some(self.constant(Tensor::ones(&shape)));
        drop(shape);
        // one context and one input list for the whole sweep, refilled per node
        let mut inputs: Vec<usize> = pool::take_list();
        let mut cx = OpCx { tape: self, inputs: pool::take_list(), out: y, wanted: pool::take_list() };
        for i in (0..=y.id).rev() {
            if !relevant[i] {
                continue;
            }
            let Some(g) = grads[i] else { continue };
            let op = {
                let mut nodes = self.nodes.borrow_mut();
                match nodes[i].op.take() {
                    Some(op) => {
                        inputs.clear();
                        inputs.extend_from_slice(&nodes[i].inputs);
                        op
                    }
                    None => continue,
                }
            };
            cx.inputs.clear();
            cx.inputs.extend(inputs.iter().map(|&id| Var { tape: self, id }));
            cx.out = Var { tape: self, id: i };
            cx.wanted.clear();
            cx.wanted.extend(inputs.iter().map(|&j| relevant[j]));
            let from = self.len();
            let mut gs = op.vjp(&cx, g);
            self.nodes.borrow_mut()[i].op = Some(op);
            if let Some(own) = tag {
                self.tag_recorded(i, from, own);
            }
            for (k, gj) in gs.drain(..).enumerate() {
                let j = inputs[k];
                if let (true, Some(gj)) = (relevant[j], gj) {
                    grads[j] = Some(match grads[j] {
                        None => gj,
                        Some(acc) => ok(acc.add(gj)),
                    });
                }
            }
            // a VJP's result list serves the next one of its length ([`super::cotangents`])
            pool::give_any(gs);
        }
        pool::give_list(inputs);
        pool::give_list(std::mem::take(&mut cx.inputs));
        pool::give_list(std::mem::take(&mut cx.wanted));
        let mut out = pool::take_any(wrt.len());
        out.extend(wrt.iter().map(|w| match grads.get(w.id).copied().flatten() {
            Some(g) => g,
            None => self.constant(Tensor::zeros(&w.shape())),
        }));
        pool::give_any(grads);
        out
    }
}

/// Refuse a `y` that is not a single element.
pub(crate) fn check_scalar<T: Real>(y: &Var<'_, T>) -> Result<()> {
    let s = y.shape();
    if s.iter().product::<usize>() != 1 {
        return Err(Error::shape("gradient", format!("the output must hold one element, its shape is {s:?}")));
    }
    Ok(())
}

/// How many producers back the identity classes of a kinked op's inputs are traced: LeNet's second
/// pooling reaches its image through 13 ops (activation, reshape, permute, reshape, linear, gather,
/// pooling, activation, reshape, permute, reshape, linear, gather).
const CLASS_DEPTH: usize = 16;

/// The identity classes of the elements `at` of node `j` (any order, repeats allowed; one label
/// each; [`super::Op::element_classes`]): all constant when `j` is not a function of the
/// differentiated variables, else what its op reports for them (asked once per distinct element, in
/// ascending order, unless the op takes any order: [`super::Op::classes_in_any_order`]) from its
/// inputs' classes, traced at most `depth` ops back (bounded recursion).
fn classes_of<T: Real>(
    nodes: &[Node<T>],
    relevant: &[bool],
    j: usize,
    at: &[usize],
    depth: usize,
) -> Option<ElementClasses> {
    if !relevant.get(j).copied().unwrap_or(false) {
        let mut c = pool::take_bounded(at.len(), nodes[j].value.len());
        c.resize(at.len(), CONSTANT_CLASS);
        return Some(c);
    }
    if depth == 0 || at.is_empty() {
        return (depth > 0).then(Vec::new);
    }
    let op = nodes[j].op.as_ref()?;
    let n = nodes[j].value.len();
    if at.iter().any(|&e| e >= n) {
        return None;
    }
    let inputs = &nodes[j].inputs;
    let mut vals: Vec<&Tensor<T>> = pool::take_any(inputs.len());
    vals.extend(inputs.iter().map(|&k| &nodes[k].value));
    let out = classes_among(nodes, relevant, j, op, &vals, at, depth);
    pool::give_any(vals);
    out
}

/// [`classes_of`] once the op of node `j` and its input values are known.
fn classes_among<T: Real>(
    nodes: &[Node<T>],
    relevant: &[bool],
    j: usize,
    op: &OpBox<T>,
    vals: &[&Tensor<T>],
    at: &[usize],
    depth: usize,
) -> Option<ElementClasses> {
    let n = nodes[j].value.len();
    let ask = |uniq: &[usize]| {
        let mut source = Producers { nodes, relevant, inputs: &nodes[j].inputs, depth: depth - 1 };
        let c = op.element_classes(vals, uniq, &mut source)?;
        (c.len() == uniq.len()).then_some(c)
    };
    if op.classes_in_any_order() || at.windows(2).all(|w| w[0] < w[1]) {
        return ask(at);
    }
    // the distinct elements and the classes of `at` are pool buffers (the callers give the
    // classes back)
    let d = Distinct::new(at.iter().copied(), at.len(), n);
    let c = ask(&d.uniq);
    let out = c.as_ref().map(|c| {
        let mut out = pool::take_bounded(at.len(), n);
        out.extend(at.iter().map(|&e| c[d.index(e).unwrap_or(0)]));
        out
    });
    if let Some(c) = c {
        pool::give(c);
    }
    d.give();
    out
}

/// The classes of a node's inputs ([`InputClasses`]): traced `depth` producers further back.
struct Producers<'a, T: Real> {
    nodes: &'a [Node<T>],
    relevant: &'a [bool],
    /// The node's inputs.
    inputs: &'a [usize],
    depth: usize,
}

impl<T: Real> InputClasses for Producers<'_, T> {
    fn classes(&mut self, i: usize, list: &[usize]) -> Option<ElementClasses> {
        classes_of(self.nodes, self.relevant, *self.inputs.get(i)?, list, self.depth)
    }
    fn constant(&self, i: usize) -> bool {
        self.inputs.get(i).is_some_and(|&j| !self.relevant.get(j).copied().unwrap_or(false))
    }
}

/// Give the lists of [`super::Op::inert_candidates`] back to the installed pool.
fn give_candidates(mut lists: Vec<Vec<usize>>) {
    lists.drain(..).for_each(pool::give);
    pool::give_any(lists);
}
