//! The interface every recorded operation implements.

use super::{Tape, Var};
use crate::scalar::Real;
use crate::tensor::Tensor;

/// What a VJP sees: the tape, the input and output variables, and which inputs need a cotangent.
pub struct OpCx<'t, T: Real> {
    /// The tape the backward pass records on.
    pub tape: &'t Tape<T>,
    /// The op's inputs.
    pub inputs: Vec<Var<'t, T>>,
    /// The op's output.
    pub out: Var<'t, T>,
    /// `wanted[i]`: input `i` leads to a variable the gradient is taken with respect to.
    pub wanted: Vec<bool>,
}

/// What a JVP sees: input values and tangents (leading axis of length `k`, one per direction;
/// `None` for a zero tangent) and the output value.
pub struct JvpCx<'a, T: Real> {
    /// Input values.
    pub inputs: Vec<&'a Tensor<T>>,
    /// Input tangents, shape `[k, ...input shape]`.
    pub tangents: Vec<Option<&'a Tensor<T>>>,
    /// Output value.
    pub out: &'a Tensor<T>,
    /// Number of directions.
    pub k: usize,
}

/// A VJP's result list `gs` in a buffer from the installed pool ([`crate::tensor::pool`]), which the
/// backward sweep gives back for the next VJP of the same length (`vec![..]` works too, allocating).
pub(crate) fn cotangents<'t, T: Real, const N: usize>(gs: [Option<Var<'t, T>>; N]) -> Vec<Option<Var<'t, T>>> {
    let mut v = crate::tensor::pool::take_any(N);
    v.extend(gs);
    v
}

/// The label of an element that is constant on a neighbourhood of the evaluation point.
pub const CONSTANT_CLASS: u32 = u32::MAX;

/// Identity classes of some elements of a tensor (one label per listed element): two elements with
/// the same label are the same function of every differentiated variable on a neighbourhood of the
/// evaluation point; elements labelled [`CONSTANT_CLASS`] are locally constant (whatever their
/// values). Labels mean nothing across tensors or across calls, and different labels say nothing (the
/// classes may be finer than the truth, never coarser). They are computed on demand, only for the
/// elements a decision needs ([`Op::element_classes`]).
pub type ElementClasses = Vec<u32>;

/// The identity classes of an op's inputs, as [`Op::element_classes`] reads them.
pub trait InputClasses {
    /// The classes of the elements `list` of input `i` (any order, repeats allowed; one label each;
    /// `None`: not known).
    fn classes(&mut self, i: usize, list: &[usize]) -> Option<ElementClasses>;
    /// True when input `i` is not a function of the differentiated variables: every element of it
    /// is [`CONSTANT_CLASS`], so an op need not list the elements it reads (an unknown input, or
    /// one past the op's inputs, is not constant).
    fn constant(&self, i: usize) -> bool;
}

/// A recorded operation.
///
/// Rules: `vjp` builds the input cotangents from tape operations only (so it is differentiable);
/// a non-smooth op decides its pieces in the forward pass with the tape's representation, counts its
/// kinks, and in `jvp` re-selects the pieces of its kink elements lexicographically from the input
/// tangents, locking them for the next `vjp` (branch locking). A tie that survives every direction
/// (its pieces agree along all of them) gets the whole weight on its first tied piece while the op is
/// locked, and the representation's weights once it is unlocked.
///
/// Gradients of gradients ([`crate::engine`]): a `safe` or `lex` `grad_vars` **pins** the ops whose
/// pieces its recorded backward pass holds ([`Op::pin`]); a pinned op keeps its locked pieces for
/// every later pass over the tape.
pub trait Op<T: Real> {
    /// Name shown in kink logs and error messages.
    fn name(&self) -> &'static str;
    /// Input cotangents from the output cotangent `g` (None where not wanted or structurally zero).
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>>;
    /// Output tangent `[k, ...out shape]` from the input tangents.
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T>;
    /// Elements evaluated exactly on a kink in the forward pass.
    fn kinks(&self) -> usize {
        0
    }
    /// Identity classes ([`ElementClasses`]) of the output elements `at` (flat row-major positions,
    /// ascending and distinct unless [`Op::classes_in_any_order`]; one label per listed element), from forward information only (input
    /// values, the pieces selected in the forward pass, which inputs are functions of the
    /// differentiated variables), never the representation. `input` gives the classes of the
    /// inputs' elements ([`InputClasses`]); an input that is not a function of the differentiated
    /// variables is all [`CONSTANT_CLASS`] ([`InputClasses::constant`]). An op asks only for the
    /// input elements its listed outputs depend on.
    /// `None` (the default): not known.
    fn element_classes(
        &self,
        _inputs: &[&Tensor<T>],
        _at: &[usize],
        _input: &mut dyn InputClasses,
    ) -> Option<ElementClasses> {
        None
    }
    /// True when [`Op::element_classes`] takes its list `at` in any order, repeats allowed (an op
    /// whose every output element reads its own input elements: element-wise maps, gathers,
    /// reshapes and permutes; or one that orders what it reads itself: the convolution's product);
    /// the engine then passes the lists it is asked for as they come, without sorting them or
    /// removing repeats. False (the default): `at` ascending and distinct.
    fn classes_in_any_order(&self) -> bool {
        false
    }
    /// The elements of each input (one list per input) whose identity classes [`Op::lock_inert`]
    /// reads now: the tied entries of the kinks not locked as inert yet. Empty (the default): the op
    /// finds no inert kinks, and the engine computes no classes for it.
    fn inert_candidates(&self) -> Vec<Vec<usize>> {
        vec![]
    }
    /// Lock the kinks of this op whose outcome cannot change any derivative (**inert** kinks), given
    /// the identity classes of the elements [`Op::inert_candidates`] listed (one entry per input,
    /// aligned with its list; `None`: not known), to the piece a tangent pass would leave them on,
    /// keep them there through later lexicographic selections ([`Op::jvp`]) until [`Op::unlock`],
    /// and return how many kinks are locked so now, those of earlier calls included (0, the
    /// default: none known inert; the op is then unchanged). Later calls with coarser classes lock
    /// more. `safe` needs no tangent pass for an op whose kinks are all inert, and re-selects only
    /// the others of an op with both kinds; the certificate counts inert kinks as skipped. Rule for
    /// a max over windows: a tie whose tied entries all share one class (identical functions on a
    /// neighbourhood, or all locally constant) is inert — see [`crate::primitive::window`] and
    /// docs/nn.md. An inert kink is not counted by [`Op::unresolved`].
    fn lock_inert(&mut self, _classes: &[Option<ElementClasses>]) -> usize {
        0
    }
    /// Kink elements whose tie survived the last lexicographic selection.
    fn unresolved(&self) -> usize {
        0
    }
    /// Drop lexicographic locks: back to the representation's choices. A pinned op keeps its pieces.
    fn unlock(&mut self) {}
    /// True when the op can hold its locked pieces for good ([`Op::pin`]). Ops that hit no kink never
    /// need to; the engine refuses a `safe`/`lex` gradient of a gradient through the kinks of an op
    /// that cannot (the default), rather than let a later pass re-select pieces the recorded
    /// derivative already holds.
    fn pinnable(&self) -> bool {
        false
    }
    /// Keep the pieces locked by the last `jvp` for every later pass: later `jvp` calls propagate
    /// tangents through them without re-selecting, and [`Op::unlock`] keeps them. Called by the
    /// engine only on ops that are [`Op::pinnable`], after a lexicographic selection.
    fn pin(&mut self) {}
    /// Bytes the op stores beside its output value (linearisations, piece codes, kink lists, locked
    /// copies), as reported by the op; 0 for ops that report nothing. [`crate::Tape::bytes`] adds
    /// them to the node values.
    fn held_bytes(&self) -> usize {
        0
    }
}
