//! The tape: nodes in creation order (a topological order), the representation, the kink log.

use super::op_box::OpBox;
use super::provenance::KinkSource;
use super::{Op, Var};
use crate::error::{Error, Result};
use crate::kink::KinkLog;
use crate::repr::Representation;
use crate::scalar::Real;
use crate::tensor::Tensor;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

pub(crate) struct Node<T: Real> {
    pub value: Tensor<T>,
    pub inputs: Vec<usize>,
    pub op: Option<OpBox<T>>,
    /// False for constants: never differentiated with respect to.
    pub variable: bool,
    pub scope: Arc<str>,
    /// The op's pieces are pinned by a recorded `safe`/`lex` derivative ([`crate::reverse::Op::pin`]).
    pub pinned: bool,
    /// Recorded by a backward pass: the kinks whose pieces this node holds.
    pub baked: Option<Rc<[KinkSource]>>,
}

/// A tape of tensor operations with one representation and one kink log.
///
/// ```
/// use kinkgrad::{Tape, Tensor, Mode};
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::scalar(3.0));
/// let y = x.mul(x).unwrap().add(x).unwrap(); // x^2 + x
/// let g = tape.gradient(y, &[x], &Mode::Assoc).unwrap();
/// assert_eq!(g.values[0].item().unwrap(), 7.0);
/// assert_eq!(g.certificate.kind.as_str(), "exact");
/// ```
pub struct Tape<T: Real> {
    pub(crate) nodes: RefCell<Vec<Node<T>>>,
    /// Shared with the non-smooth ops recorded on the tape (which read it at VJP time).
    rep: Arc<Representation>,
    /// Kinks per (scope, op), in recording order of first appearance ([`Tape::kink_log`]).
    kinks: RefCell<Vec<(Arc<str>, &'static str, usize)>>,
    scope: RefCell<Arc<str>>,
    /// `safe` skips ops whose kinks are all inert ([`Tape::set_skip_inert`]).
    skip_inert: std::cell::Cell<bool>,
}

impl<T: Real> Drop for Tape<T> {
    /// The node list, the nodes' input lists and the ops' blocks go back to the installed buffer pool
    /// ([`crate::tensor::pool`]); the values return by themselves.
    fn drop(&mut self) {
        let mut nodes = std::mem::take(self.nodes.get_mut());
        for n in nodes.iter_mut() {
            crate::tensor::pool::give(std::mem::take(&mut n.inputs));
        }
        crate::tensor::pool::give_list(nodes);
        crate::tensor::pool::give_list(std::mem::take(self.kinks.get_mut()));
    }
}

impl<T: Real> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Real> Tape<T> {
    /// An empty tape with the default (minimum-norm) representation.
    pub fn new() -> Self {
        Self::with_representation(Representation::default())
    }
    /// An empty tape whose non-smooth ops follow `rep` at kinks.
    pub fn with_representation(rep: Representation) -> Self {
        Self::with_shared_representation(Arc::new(rep))
    }
    /// An empty tape whose non-smooth ops follow `rep` at kinks, sharing `rep` with its owner (a
    /// training loop that records one tape per step copies nothing).
    pub fn with_shared_representation(rep: Arc<Representation>) -> Self {
        Self {
            // the previous tape's node list when a workspace is installed (a training step)
            nodes: RefCell::new(crate::tensor::pool::take_list()),
            rep,
            kinks: RefCell::new(crate::tensor::pool::take_list()),
            scope: RefCell::new(crate::tensor::pool::intern("")),
            skip_inert: std::cell::Cell::new(true),
        }
    }
    /// Whether `safe` skips the tangent pass for ops whose kinks are all inert (the default, true;
    /// the rule is in docs/nn.md, "Which ties `safe` skips"). With false, `safe` locks inert kinks
    /// along its probe directions like any other: the same derivatives, computed independently (for
    /// checks and measurements).
    pub fn set_skip_inert(&self, skip: bool) {
        self.skip_inert.set(skip);
    }
    /// See [`Tape::set_skip_inert`].
    pub fn skip_inert(&self) -> bool {
        self.skip_inert.get()
    }
    /// The representation.
    pub fn representation(&self) -> &Representation {
        &self.rep
    }
    /// The representation, shared (for ops that keep it until their VJP).
    pub(crate) fn shared_representation(&self) -> Arc<Representation> {
        self.rep.clone()
    }
    /// A variable: a leaf that gradients can be taken with respect to.
    pub fn var(&self, value: Tensor<T>) -> Var<'_, T> {
        self.push_node(value, vec![], None, true)
    }
    /// A constant: a leaf that is never differentiated.
    pub fn constant(&self, value: Tensor<T>) -> Var<'_, T> {
        self.push_node(value, vec![], None, false)
    }
    /// The node at position `id` ([`Var::id`]) as a variable handle, for front ends that keep
    /// positions rather than borrowed handles (the Python package's owned tape). An error when the
    /// tape has no node there.
    pub fn var_at(&self, id: usize) -> Result<Var<'_, T>> {
        if id < self.len() {
            Ok(Var { tape: self, id })
        } else {
            Err(Error::invalid("variable", format!("no node {id} on a tape of {} nodes", self.len())))
        }
    }
    /// A scalar constant.
    pub fn scalar(&self, v: f64) -> Var<'_, T> {
        self.constant(Tensor::scalar(T::from_f64(v)))
    }
    /// Name the scope that subsequent ops are logged under (e.g. a layer name); `""` for none.
    pub fn set_scope(&self, scope: &str) {
        *self.scope.borrow_mut() = crate::tensor::pool::intern(scope);
    }
    /// Number of nodes recorded.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }
    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes the tape holds now, measured: every node's value (`len * size_of::<T>()`) plus what
    /// each op reports storing beside it ([`Op::held_bytes`]: the scheme's step ops report their
    /// linearisations and locked copies, the piecewise ops their piece codes and kink lists). Not
    /// counted: the `Vec`/`Box` headers and the kink log.
    pub fn bytes(&self) -> usize {
        let nodes = self.nodes.borrow();
        let values: usize = nodes.iter().map(|n| n.value.len() * std::mem::size_of::<T>()).sum();
        let held: usize = nodes.iter().filter_map(|n| n.op.as_ref()).map(|o| o.held_bytes()).sum();
        values + held
    }
    /// The value of a variable.
    pub fn value(&self, v: Var<'_, T>) -> Tensor<T> {
        self.nodes.borrow()[v.id].value.clone()
    }
    /// Every kink recorded so far (by every op, whether or not a gradient goes through it).
    pub fn kink_log(&self) -> KinkLog {
        let mut log = KinkLog::default();
        for (scope, op, n) in self.kinks.borrow().iter() {
            log.add_site(scope, op, *n);
        }
        log
    }
    /// Record an op's output. The op is stored in a block from the installed buffer pool
    /// ([`crate::tensor::pool`]).
    pub fn push<O: Op<T> + 'static>(&self, op: O, inputs: &[Var<'_, T>], value: Tensor<T>) -> Var<'_, T> {
        let mut ids: Vec<usize> = crate::tensor::pool::take(inputs.len());
        ids.extend(inputs.iter().map(|v| v.id));
        let kinks = op.kinks();
        if kinks > 0 {
            let (scope, name) = (self.scope.borrow(), op.name());
            let mut log = self.kinks.borrow_mut();
            match log.iter_mut().find(|(s, o, _)| *o == name && **s == **scope) {
                Some((_, _, n)) => *n += kinks,
                None => log.push((scope.clone(), name, kinks)),
            }
        }
        self.push_node(value, ids, Some(OpBox::new(op)), true)
    }
    fn push_node(&self, value: Tensor<T>, inputs: Vec<usize>, op: Option<OpBox<T>>, variable: bool) -> Var<'_, T> {
        let scope = self.scope.borrow().clone();
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node { value, inputs, op, variable, scope, pinned: false, baked: None });
        Var { tape: self, id: nodes.len() - 1 }
    }
    /// Remove every node recorded after the first `len` (used to drop a backward pass's nodes).
    pub(crate) fn truncate(&self, len: usize) {
        let mut nodes = self.nodes.borrow_mut();
        for n in nodes.iter_mut().skip(len) {
            crate::tensor::pool::give(std::mem::take(&mut n.inputs));
        }
        nodes.truncate(len);
    }
    /// The first op (in recording order) whose value is NaN or infinite, among the first `upto` nodes.
    pub fn first_non_finite(&self, upto: usize) -> Option<String> {
        let nodes = self.nodes.borrow();
        nodes[..upto.min(nodes.len())]
            .iter()
            .find(|n| n.value.first_non_finite().is_some())
            .map(|n| n.op.as_ref().map_or("input".to_string(), |o| o.name().to_string()))
    }
    /// The op of the first node recorded at or after position `from` whose value is NaN or infinite.
    pub(crate) fn first_non_finite_after(&self, from: usize) -> Option<String> {
        let nodes = self.nodes.borrow();
        nodes
            .get(from..)?
            .iter()
            .find(|n| n.value.first_non_finite().is_some())
            .and_then(|n| n.op.as_ref().map(|o| o.name().to_string()))
    }
    /// Check that `v`'s value is finite; name the op where a non-finite value first appeared.
    pub fn check_finite(&self, v: Var<'_, T>) -> Result<()> {
        if self.value(v).first_non_finite().is_some() {
            let op = self.first_non_finite(v.id + 1).unwrap_or_else(|| "input".into());
            return Err(Error::NonFinite { op, stage: "value" });
        }
        Ok(())
    }
}
