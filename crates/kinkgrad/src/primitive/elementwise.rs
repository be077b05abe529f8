//! The generic op behind every [`Piecewise`] primitive: forward with kink counting, associated
//! gradient, lexicographic selection with locking.
//!
//! At a kink element the partials are those of the selected piece; while several pieces stay tied
//! they are the representation's weighted kink rule ([`Piecewise::kink_weights`]) when the op is
//! unlocked (`assoc`), and those of the first tied piece (lowest piece index) when it is locked
//! (`lex`, `safe`): the tied pieces agree along every direction drawn, so the first one gives the same
//! derivative along them, exactly and independently of the representation, and it is active at the
//! point.

use super::{lex_select, sign, Piecewise, MAX_ARITY, MAX_PIECES, MAX_SWITCHES};
use crate::error::{Error, Result};
use crate::repr::Representation;
use crate::reverse::ops::tangent;
use crate::reverse::var::ok;
use crate::reverse::{ElementClasses, InputClasses, JvpCx, Op, OpCx, Var, CONSTANT_CLASS};
use crate::round16::{mul, positive};
use crate::scalar::Real;
use crate::tensor::elementwise::{wide, PAR_MIN};
use crate::tensor::pool::{self, Buf};
use crate::tensor::shape::broadcast_shapes;
use crate::tensor::Tensor;
use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::sync::Arc;

const KINK: u8 = u8::MAX;

struct PiecewiseOp<P: Piecewise> {
    prim: P,
    /// The tape's representation (shared with the tape, not copied).
    rep: Arc<Representation>,
    /// The arguments' shapes (the first `arity` entries; pool buffers).
    arg_shapes: [Buf<usize>; MAX_ARITY],
    /// Active piece per element, `KINK` on a kink. Empty for a sign-of-argument primitive
    /// ([`Piecewise::sign_of_argument`]), whose piece is read from its argument instead: piece 1 where
    /// `x > 0`, piece 0 elsewhere (NaN included), the kinks (`x == 0`) in `kink_at`.
    sel: Buf<u8>,
    /// Elements on a kink and their tied pieces at forward time.
    kink_at: Vec<usize>,
    kink_tied: Vec<u32>,
    /// The tied pieces after lexicographic selection (equal to `kink_tied` when unlocked).
    locked: Vec<u32>,
    /// The pieces were selected lexicographically (a `jvp` ran since the last `unlock`): a tie left
    /// in `locked` goes to its first piece instead of the representation's weights.
    lexed: bool,
    /// The locks are kept for good ([`Op::pin`]).
    pinned: bool,
    /// Partial derivatives of each piece: `partials[p][j]` (at the origin, the same everywhere for an
    /// affine primitive).
    partials: [[f64; MAX_ARITY]; MAX_PIECES],
    /// Each element's arguments, kept only for a primitive whose partials depend on the point
    /// ([`Piecewise::affine`] false); empty otherwise.
    points: Buf<[f64; MAX_ARITY]>,
}

impl<P: Piecewise> PiecewiseOp<P> {
    /// The arguments' shapes.
    fn args(&self) -> &[Buf<usize>] {
        &self.arg_shapes[..self.prim.arity()]
    }
    /// The partials of each piece (at the origin).
    fn pieces(&self) -> &[[f64; MAX_ARITY]] {
        &self.partials[..self.prim.pieces().len()]
    }
    /// Which of the output elements `at` are constant on a neighbourhood of the point (off the
    /// kinks, on a piece with zero partials, e.g. relu's `x < 0` piece), from the forward pass only;
    /// the others are pushed to `open`, in order (one pass over `at`). `None`: unknown (or an element
    /// out of range; `open` is then unchanged).
    fn constant_elements<T: Real>(
        &self,
        inputs: &[&Tensor<T>],
        at: &[usize],
        open: &mut Vec<usize>,
    ) -> Option<Vec<bool>> {
        // an element off the kinks whose piece has zero partials (relu's x < 0 piece); unknown for a
        // primitive whose partials depend on the point, or broadcast arguments
        let n = self.arg_shapes[0].iter().product::<usize>();
        if !self.points.is_empty() || self.args().iter().any(|s| s.iter().product::<usize>() != n) {
            return None;
        }
        let a = self.prim.arity();
        let mut zero = [false; MAX_PIECES];
        for (z, p) in zero.iter_mut().zip(self.pieces()) {
            *z = p[..a].iter().all(|&v| v == 0.0);
        }
        // the answer in a list from the installed pool (`element_classes` gives it back); one loop
        // per way of telling, each checking its element is in range
        let mut out = pool::take_bounded(at.len(), n);
        let all = if !zero.contains(&true) {
            split_constant(at, |e| (e < n).then_some(false), &mut out, open)
        } else if self.sel.is_empty() {
            // sign of the argument: piece 1 where x > 0, piece 0 where x < 0, a kink at 0 (NaN: unknown)
            let x = inputs.first()?.data();
            let (below, above) = (zero[0], zero[1]);
            let k = move |e: usize| x.get(e).map(|v| v.to_f64()).map(|v| (v < 0.0) & below | (v > 0.0) & above);
            split_constant(at, k, &mut out, open)
        } else {
            let k = |e: usize| self.sel.get(e).map(|&s| s != KINK && zero[s as usize]);
            split_constant(at, k, &mut out, open)
        };
        match all {
            Some(()) => Some(out),
            None => {
                pool::give(out);
                None
            }
        }
    }
    /// The partials at element `e`: those of its piece, the first tied piece's when locked, or the
    /// weighted kink rule over `mask` (all read at the element's point when the primitive is not
    /// affine).
    fn element_partials(&self, e: usize, mask: u32, out: &mut [f64; MAX_ARITY]) {
        let a = self.prim.arity();
        let np = self.prim.pieces().len();
        // the point, for a primitive whose partials depend on it; the constant table otherwise
        let x = self.points.get(e).map(|x| &x[..a]);
        let piece = |p: usize| match x {
            Some(x) => {
                let mut g = [0.0; MAX_ARITY];
                self.prim.piece_partials(p, x, &mut g[..a]);
                g
            }
            None => self.partials[p],
        };
        if mask.count_ones() == 1 || self.lexed {
            *out = piece(mask.trailing_zeros() as usize);
            return;
        }
        let mut w = [0.0; MAX_PIECES];
        match x {
            Some(x) => super::tie_weights(&self.prim, x, mask, &self.prim.tie_rule(&self.rep), &mut w[..np]),
            None => self.prim.kink_weights(mask, &self.rep, &mut w[..np]),
        }
        *out = [0.0; MAX_ARITY];
        for (p, wp) in w.iter().enumerate().take(np) {
            if *wp != 0.0 {
                let g = piece(p);
                for j in 0..a {
                    out[j] += wp * g[j];
                }
            }
        }
    }
    /// Per-argument derivative coefficient tensors `D_j` (shape of the output); `x0` is the first
    /// argument (read by sign-of-argument primitives, which keep no piece per element).
    fn coefficients<T: Real>(&self, shape: &[usize], x0: &Tensor<T>) -> [Option<Tensor<T>>; MAX_ARITY] {
        let a = self.prim.arity();
        let by_sign = self.sel.is_empty() && !x0.is_empty();
        let n = if by_sign { x0.len() } else { self.sel.len() };
        let mut d: [Vec<T>; MAX_ARITY] = std::array::from_fn(|j| {
            if j >= a {
                return Vec::new();
            }
            let mut v = pool::take(n);
            {
                let mut table = [T::ZERO; MAX_PIECES];
                for (t, pp) in table.iter_mut().zip(self.pieces()) {
                    *t = T::from_f64(pp[j]);
                }
                let table = &table[..self.pieces().len()];
                if by_sign {
                    // piece 1 where x > 0, piece 0 elsewhere (a select, which vectorises); the kink
                    // elements are set below
                    let (t0, t1) = (table[0], table[1]);
                    v.extend(x0.data().iter().map(|&x| if x.to_f64() > 0.0 { t1 } else { t0 }))
                } else if let [t0, t1] = table[..] {
                    // two pieces: a branch-free lookup (the pieces of a relu layer alternate at
                    // random, which a branch would mispredict half of the time); kink elements read 0
                    // and are set below
                    let tab = [t0, t1, T::ZERO];
                    v.extend(self.sel.iter().map(|&s| tab[(s as usize).min(2)]))
                } else {
                    v.extend(self.sel.iter().map(|&s| if s == KINK { T::ZERO } else { table[s as usize] }))
                }
            }
            v
        });
        let mut buf = [0.0; MAX_ARITY];
        if !self.points.is_empty() {
            // partials that depend on the point: each element's piece read at its arguments
            for (e, &p) in self.sel.iter().enumerate() {
                if p != KINK {
                    self.element_partials(e, 1 << p, &mut buf);
                    for j in 0..a {
                        d[j][e] = T::from_f64(buf[j]);
                    }
                }
            }
        }
        for (k, &e) in self.kink_at.iter().enumerate() {
            self.element_partials(e, self.locked[k], &mut buf);
            for j in 0..a {
                d[j][e] = T::from_f64(buf[j]);
            }
        }
        let mut d = d.into_iter();
        std::array::from_fn(|j| d.next().filter(|_| j < a).map(|v| Tensor::from_parts(pool::copied(shape), v)))
    }
}

impl<T: Real, P: Piecewise> Op<T> for PiecewiseOp<P> {
    fn name(&self) -> &'static str {
        self.prim.name()
    }
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let shape = g.shape();
        let x0 = cx.inputs[0].value();
        if self.sel.is_empty() && !x0.is_empty() && cx.wanted.len() == 1 {
            // a sign-of-argument primitive: `g` scaled by each element's piece derivative in one pass
            let (t0, t1) = (T::from_f64(self.partials[0][0]), T::from_f64(self.partials[1][0]));
            let mut buf = [0.0; MAX_ARITY];
            let kinks = (self.kink_at.iter().zip(&self.locked))
                .map(|(&e, &mask)| {
                    self.element_partials(e, mask, &mut buf);
                    (e, T::from_f64(buf[0]))
                })
                .collect();
            let scale = SignScale { x: x0, t0, t1, kinks };
            return crate::reverse::cotangents([cx.wanted[0].then(|| scale.record(g).sum_to(&self.arg_shapes[0]))]);
        }
        let d = self.coefficients::<T>(&shape, &x0);
        let mut out = pool::take_any(self.prim.arity());
        out.extend(
            d.into_iter()
                .flatten()
                .enumerate()
                .map(|(j, dj)| cx.wanted[j].then(|| ok(g.mul(cx.tape.constant(dj))).sum_to(&self.arg_shapes[j]))),
        );
        out
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let a = self.prim.arity();
        let k = cx.k;
        let shape = cx.out.shape();
        let n = cx.out.len();
        let xs: [Option<Tensor<T>>; MAX_ARITY] = std::array::from_fn(|j| cx.inputs.get(j).map(|x| ok(x.expand(shape))));
        let ts: [Option<Tensor<T>>; MAX_ARITY] = std::array::from_fn(|j| {
            cx.tangents.get(j).copied().flatten().map(|t| tangent::expand(t, k, &self.arg_shapes[j], shape))
        });
        // lexicographic selection at the kink elements (buffers reused across elements); a pinned op
        // keeps its pieces
        let select = if self.pinned { &[][..] } else { &self.kink_at[..] };
        let mut dirs = if select.is_empty() { Vec::new() } else { vec![[0.0; MAX_ARITY]; k] };
        self.lexed = true;
        for (q, &e) in select.iter().enumerate() {
            let mut x = [0.0; MAX_ARITY];
            for (xj, t) in x.iter_mut().zip(xs.iter().flatten()) {
                *xj = t.data()[e].to_f64();
            }
            for (c, d) in dirs.iter_mut().enumerate() {
                for j in 0..a {
                    d[j] = ts[j].as_ref().map_or(0.0, |t| t.data()[c * n + e].to_f64());
                }
            }
            let refs: Vec<&[f64]> = dirs.iter().map(|d| &d[..a]).collect();
            self.locked[q] = lex_select(&self.prim, &x[..a], &refs);
        }
        // (an op has at least one input: `xs[0]` is always there)
        let d = self.coefficients::<T>(shape, xs[0].as_ref().unwrap_or(cx.out));
        let mut out: Option<Tensor<T>> = None;
        for j in 0..a {
            if let (Some(t), Some(dj)) = (&ts[j], &d[j]) {
                let term = ok(t.zip(dj, "jvp", |x, y| x * y));
                out = tangent::add_opt(out, Some(term));
            }
        }
        out.unwrap_or_else(|| tangent::zeros(k, shape))
    }
    fn kinks(&self) -> usize {
        self.kink_at.len()
    }
    fn held_bytes(&self) -> usize {
        self.sel.len()
            + 8 * self.kink_at.len()
            + 4 * (self.kink_tied.len() + self.locked.len())
            + 8 * MAX_ARITY * self.points.len()
    }
    fn classes_in_any_order(&self) -> bool {
        // each output element from the arguments' elements at its position
        true
    }
    fn element_classes(
        &self,
        inputs: &[&Tensor<T>],
        at: &[usize],
        input: &mut dyn InputClasses,
    ) -> Option<ElementClasses> {
        let n = self.arg_shapes.first().map(|s| s.iter().product::<usize>())?;
        // (the lists from the installed pool, given back; the classes returned are the caller's)
        let mut open: Vec<usize> = pool::take_bounded(at.len(), n);
        let constant = self.constant_elements(inputs, at, &mut open);
        // a one-argument primitive maps identical functions to identical functions (g(f) = g(f)),
        // whatever its pieces: its output keeps its argument's classes; an element known constant
        // is asked no further
        let own = match (&constant, self.prim.arity() == 1) {
            (Some(k), true) => input.classes(0, &open).filter(|c| c.len() == open.len()).map(|c| {
                // the open elements' classes in order, without a branch on which are open
                let mut next = 0;
                let mut own = pool::take_bounded(at.len(), n);
                own.extend(k.iter().map(|&k| {
                    let v = c.get(next).copied().unwrap_or(CONSTANT_CLASS);
                    next += usize::from(!k);
                    if k {
                        CONSTANT_CLASS
                    } else {
                        v
                    }
                }));
                pool::give(c);
                own
            }),
            (None, true) => input.classes(0, at).filter(|c| c.len() == at.len()),
            _ => None,
        };
        pool::give(open);
        let out = match (own, &constant) {
            (Some(c), _) => Some(c),
            // only the constant elements are known: every other element its own class
            (None, Some(k)) if n < CONSTANT_CLASS as usize => {
                let mut c = pool::take_bounded(at.len(), n);
                c.extend(at.iter().zip(k).map(|(&e, &k)| if k { CONSTANT_CLASS } else { e as u32 }));
                Some(c)
            }
            _ => None,
        };
        if let Some(k) = constant {
            pool::give(k);
        }
        out
    }
    fn unresolved(&self) -> usize {
        if !self.lexed {
            return 0;
        }
        self.locked.iter().filter(|m| m.count_ones() > 1).count()
    }
    fn unlock(&mut self) {
        if !self.pinned {
            self.locked.clone_from(&self.kink_tied);
            self.lexed = false;
        }
    }
    fn pinnable(&self) -> bool {
        true
    }
    fn pin(&mut self) {
        self.pinned = true;
    }
}

/// The cotangent (or tangent) `g` of a sign-of-argument primitive scaled by each element's piece
/// derivative: `g * D` with `D = t1` where the argument `x > 0`, `t0` elsewhere, and the kink rule's
/// (or the locked piece's) value at the kinks. Linear in `g` with a diagonal matrix (the pieces are
/// fixed), so its VJP and JVP are the same scaling; the same numbers as `g * D` with `D` a constant.
struct SignScale<T: Real> {
    x: Tensor<T>,
    t0: T,
    t1: T,
    kinks: Vec<(usize, T)>,
}

impl<T: Real> SignScale<T> {
    /// `g * D` for `g` shaped like `x`, or `[k, ...]` with one block per direction.
    fn apply(&self, g: &Tensor<T>) -> Tensor<T> {
        let (x, n) = (self.x.data(), self.x.len());
        let (t0, t1) = (self.t0, self.t1);
        let mut out: Vec<T> = crate::tensor::pool::take(g.len());
        let spare = &mut out.spare_capacity_mut()[..g.len()];
        if g.len() == n && n >= PAR_MIN {
            // a large cotangent: split across threads by blocks, as the element-wise zips are
            const BLOCK: usize = 1 << 13;
            spare
                .par_chunks_mut(BLOCK)
                .zip(g.data().par_chunks(BLOCK).zip(x.par_chunks(BLOCK)))
                .for_each(|(o, (gc, xc))| sign_scale(o, gc, xc, t0, t1));
        } else {
            for (o, gc) in spare.chunks_mut(n).zip(g.data().chunks(n)) {
                sign_scale(o, gc, x, t0, t1);
            }
        }
        // SAFETY: the blocks of `spare` and `g` pair up one to one (`x` is as long as each block
        // of `g`), and `sign_scale` writes every element of each output block.
        unsafe { out.set_len(g.len()) };
        for c in 0..g.len() / n {
            for &(e, d) in &self.kinks {
                out[c * n + e] = g.data()[c * n + e] * d;
            }
        }
        Tensor::from_parts(pool::copied(g.shape()), out)
    }
    fn record<'t>(&self, g: Var<'t, T>) -> Var<'t, T> {
        let value = self.apply(&g.value());
        let op = SignScale { x: self.x.clone(), t0: self.t0, t1: self.t1, kinks: self.kinks.clone() };
        g.tape().push(op, &[g], value)
    }
}

impl<T: Real> Op<T> for SignScale<T> {
    fn name(&self) -> &'static str {
        "mul"
    }
    fn vjp<'t>(&self, _cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        crate::reverse::cotangents([Some(self.record(g))])
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        match cx.tangents[0] {
            Some(t) => self.apply(t),
            None => tangent::zeros(cx.k, cx.out.shape()),
        }
    }
}

wide_fn! {
    /// `o = g * D` with `D = t1` where `x > 0`, `t0` elsewhere, element by element (`o`, `g`, `x` of
    /// one length), compiled for the vector unit: a function of its own, because as a closure passed
    /// to [`wide`] the loop was not inlined into the wide variant (and the 16-bit conversions ran
    /// one element at a time).
    fn sign_scale<T: Real>(o: &mut [MaybeUninit<T>], g: &[T], x: &[T], t0: T, t1: T) = sign_scale_body;
}

/// The body of [`sign_scale`]: the product inline in `T`'s arithmetic ([`mul`]: the bits of `*`).
#[inline(always)]
fn sign_scale_body<T: Real>(o: &mut [MaybeUninit<T>], g: &[T], x: &[T], t0: T, t1: T) {
    for ((o, &gv), &xv) in o.iter_mut().zip(g).zip(x) {
        o.write(mul(gv, if positive(xv) { t1 } else { t0 }));
    }
}

wide_fn! {
    /// [`relu16_body`] compiled for the vector unit.
    fn relu16<T: Real>(x: &[T], out: &mut [MaybeUninit<T>]) -> bool = relu16_body;
}

/// Apply a piecewise primitive element-wise to broadcast arguments, recording it on the tape.
pub fn apply<'t, T: Real, P: Piecewise>(prim: P, args: &[Var<'t, T>]) -> Result<Var<'t, T>> {
    let a = prim.arity();
    if args.len() != a || a == 0 || a > MAX_ARITY {
        return Err(Error::invalid(prim.name(), format!("takes {a} arguments, got {}", args.len())));
    }
    let tape = args[0].tape();
    // the arguments, their shapes and the broadcast shape in fixed arrays and pool buffers
    // (exactly `a` of them: checked above)
    let vals: [Option<Tensor<T>>; MAX_ARITY] = std::array::from_fn(|j| args.get(j).map(|v| v.value()));
    let mut rest = vals.iter().flatten();
    let mut shape = pool::copied(rest.next().map_or(&[][..], |v| v.shape()));
    for v in rest {
        let s = broadcast_shapes(prim.name(), &shape, v.shape())?;
        pool::give(std::mem::replace(&mut shape, s));
    }
    let mut xs: [Option<Tensor<T>>; MAX_ARITY] = Default::default();
    for (x, v) in xs.iter_mut().zip(vals.iter().flatten()) {
        *x = Some(v.expand(&shape)?);
    }
    let n: usize = shape.iter().product();
    let ns = prim.switches();
    let np = prim.pieces().len();
    debug_assert!(ns <= MAX_SWITCHES && np <= MAX_PIECES);
    let (mut kink_at, mut kink_tied) = (Vec::new(), Vec::new());
    let data: [&[T]; MAX_ARITY] = std::array::from_fn(|j| xs[j].as_ref().map_or(&[][..], |t| t.data()));
    let (mut sel, mut out);
    let mut points = Buf::default();
    if a == 1 && ns == 1 && np == 2 && prim.sign_of_argument() {
        // vectorisable path: piece 1 where x > 0, piece 0 elsewhere; x == 0 (or -0.0) is a kink;
        // NaN takes piece 0's formula, which propagates it, and is not a kink. One branch-free pass
        // writes the values once (no zero fill) and notes whether any element is a kink; the pieces
        // are not stored (the backward pass reads them from the argument).
        sel = Buf::default();
        out = pool::take(n);
        // relu's pieces (0 and x; two values of an affine piece decide it) on a 16-bit type: each
        // value is x itself or +0 (`from_f64` of a value of `T` gives it back), selected in `f32`
        // lanes, which the `f64` loop below does not vectorise to for 16-bit types
        let relu_pieces = std::mem::size_of::<T>() == 2
            && prim.affine()
            && [0.0, 1.0].iter().all(|&v| prim.piece_value(0, &[v]) == 0.0 && prim.piece_value(1, &[v]) == v);
        let zero = if relu_pieces {
            relu16(data[0], &mut out.spare_capacity_mut()[..n])
        } else {
            wide(|| {
                let mut zero = false;
                for (o, &xe) in out.spare_capacity_mut()[..n].iter_mut().zip(data[0]) {
                    let xv = xe.to_f64();
                    zero |= xv == 0.0;
                    let (v0, v1) = (prim.piece_value(0, &[xv]), prim.piece_value(1, &[xv]));
                    o.write(T::from_f64(if xv > 0.0 {
                        v1
                    } else if xv.is_nan() {
                        xv
                    } else {
                        v0
                    }));
                }
                zero
            })
        };
        // SAFETY: the loops above write all `n` elements (`data[0]` holds `n` elements).
        unsafe { out.set_len(n) };
        // kinks are rare: a separate scan keeps the loop above free of pushes (it vectorises)
        if zero {
            for (e, v) in data[0].iter().enumerate() {
                if v.to_f64() == 0.0 {
                    kink_at.push(e);
                    kink_tied.push(0b11);
                }
            }
        }
    } else {
        sel = Buf::filled(n, 0u8);
        out = pool::filled(n, T::ZERO);
        if !prim.affine() {
            points = Buf::filled(n, [0.0; MAX_ARITY]);
        }
        let (mut x, mut s, mut sg) = ([0.0; MAX_ARITY], [0.0; MAX_SWITCHES], [0i8; MAX_SWITCHES]);
        for e in 0..n {
            for j in 0..a {
                x[j] = data[j][e].to_f64();
            }
            if x[..a].iter().any(|v| v.is_nan()) {
                // NaN propagates (as in the frameworks) and is not a kink: its signs would all read 0
                sel[e] = 0;
                out[e] = T::from_f64(f64::NAN);
                continue;
            }
            if let Some(pt) = points.get_mut(e) {
                *pt = x;
            }
            prim.switching(&x[..a], &mut s[..ns]);
            for i in 0..ns {
                sg[i] = sign(s[i]);
            }
            let mask = prim.select(&sg[..ns]);
            let p = mask.trailing_zeros() as usize;
            if mask.count_ones() == 1 {
                sel[e] = p as u8;
            } else {
                sel[e] = KINK;
                kink_at.push(e);
                kink_tied.push(mask);
            }
            // every piece's value, then an indexed pick: no branch on the (data-dependent) piece, which
            // random signs would mispredict half of the time
            let mut pv = [0.0; MAX_PIECES];
            for (q, v) in pv.iter_mut().enumerate().take(np) {
                *v = prim.piece_value(q, &x[..a]);
            }
            out[e] = T::from_f64(pv[p]);
        }
    }
    let mut partials = [[0.0; MAX_ARITY]; MAX_PIECES];
    for (p, g) in partials.iter_mut().enumerate().take(np) {
        // piecewise-affine primitives: constant partials, read at the origin (the others read
        // theirs at each element's point)
        prim.piece_partials(p, &[0.0; MAX_ARITY][..a], &mut g[..a]);
    }
    let op = PiecewiseOp {
        rep: tape.shared_representation(),
        arg_shapes: std::array::from_fn(|j| vals[j].as_ref().map_or_else(Buf::default, |v| Buf::copied(v.shape()))),
        sel,
        locked: kink_tied.clone(),
        lexed: false,
        pinned: false,
        kink_at,
        kink_tied,
        partials,
        points,
        prim,
    };
    Ok(tape.push(op, args, Tensor::from_parts(shape, out)))
}

/// Relu's values of `x` into `out` (as long as `x`) for a 16-bit `T`: `x` where `x > 0`, `+0` where
/// `x <= 0` (`-0` included), a NaN as `from_f32` rounds it (as the general loop's `from_f64`), all
/// through `f32`;
/// returns true when some `x` is zero (a kink).
#[inline(always)]
fn relu16_body<T: Real>(x: &[T], out: &mut [MaybeUninit<T>]) -> bool {
    let mut zero = false;
    // branch-free (selects in f32 lanes; signs at random would mispredict a branch): rounding `x`
    // back to `T` gives `x`, and `+0` gives `+0`
    for (o, &xe) in out.iter_mut().zip(x) {
        let xf = xe.to_f32();
        zero |= xf == 0.0;
        let keep = (xf > 0.0) | xf.is_nan();
        o.write(T::from_f32(if keep { xf } else { 0.0 }));
    }
    zero
}

/// Push `constant(e)` for each `e` of `at` to `out`, and each `e` it is false for to `open` (in
/// order, with no branch on the answer: every `e` is written after the last one kept, and kept when
/// open); `None` as soon as `constant` does not know an element (neither list changes then). Both
/// lists have room for `at.len()` more.
fn split_constant(
    at: &[usize],
    constant: impl Fn(usize) -> Option<bool>,
    out: &mut Vec<bool>,
    open: &mut Vec<usize>,
) -> Option<()> {
    let (held, base) = (out.len(), open.len());
    let ks = &mut out.spare_capacity_mut()[..at.len()];
    let spare = &mut open.spare_capacity_mut()[..at.len()];
    let mut kept = 0;
    for (i, &e) in at.iter().enumerate() {
        let k = constant(e)?;
        ks[i].write(k);
        spare[kept].write(e);
        kept += usize::from(!k);
    }
    // SAFETY: the `at.len()` slots after the `held` values of `out` were written above, and the
    // `kept` slots after the `base` values of `open` (each slot `< kept` holds the `e` kept there)
    unsafe {
        out.set_len(held + at.len());
        open.set_len(base + kept);
    }
    Some(())
}
