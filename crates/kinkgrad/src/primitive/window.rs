//! Max and min over windows: n-ary `max(a, b, c, ...)`, max/min reductions (over all elements or
//! along an axis) and max-pooling all reduce a list of **windows** (lists of input positions).
//!
//! Pieces of one window: "entry `i` is the max", for each position `i` in the window; switching
//! functions `x_i - x_j`. Kink: a tie for the max. Rule: a [`TieRule`] over the tied positions in
//! window order (`first`, `last`, `mean`, `weighted`; `minnorm` is the even split, the minimum-norm
//! point of the simplex of tied unit vectors). Lexicographic rule: among tied entries, keep those
//! with the largest first tangent, then the largest second tangent, and so on; a tie that survives
//! every direction gives the whole weight to its first tied position (lowest index in the window):
//! the tied entries agree along every direction drawn, so the result is the same along them, exact,
//! and independent of the representation.
//!
//! **Inert ties** (what `safe` may skip, decided from forward information only): when the tied entries
//! of a window all share one identity class of the input ([`crate::reverse::Op::element_classes`]:
//! the same function of every differentiated variable on a neighbourhood, e.g. relu outputs of
//! convolutions over identical constant patches, or all locally constant, e.g. relu outputs of
//! strictly negative inputs), the window's output is that function on a neighbourhood — the untied
//! entries lie strictly below the tie and stay below there — and every admissible weighting of the
//! tie gives the same derivative (the weights sum to 1 and multiply one derivative). A tangent pass
//! cannot separate such entries either (their tangents agree along every direction), so it would
//! leave the tie on its first position; each inert tie is locked there directly and counted as
//! skipped, and a tangent pass (when the op has other ties) re-selects only the others. Proof and
//! its limits: docs/nn.md ("Which ties `safe` skips").
//!
//! The VJP scatters the cotangent of each window onto its selected entries with their weights: a
//! sparse linear map, itself recorded as an op (so second derivatives flow through it).

use super::window_grid::GridScatter;
use crate::repr::TieRule;
use crate::reverse::ops::tangent;
use crate::reverse::var::ok;
use crate::reverse::{ElementClasses, InputClasses, JvpCx, Op, OpCx, Var, CONSTANT_CLASS};
use crate::scalar::Real;
use crate::tensor::pool::{Buf, SharedBuf};
use crate::tensor::Tensor;
use std::sync::Arc;

/// Windows in compressed form: window `w` covers `idx[start[w]..start[w+1]]`.
#[derive(Clone, Debug)]
pub struct Windows {
    /// Flat input positions.
    idx: Vec<u32>,
    /// Offsets into `idx`, one more than the number of windows.
    start: Vec<u32>,
    /// The common length of all windows, if they have one.
    width: Option<usize>,
    /// No input position is in two windows (pooling with stride at least the kernel, reductions).
    disjoint: bool,
    /// Set when the windows are those of a 2x2 pooling at stride 2 ([`Windows::grid2`]): the scan
    /// then reads them from the input rows instead of `idx`.
    grid2: Option<Grid2>,
}

/// The geometry of a 2x2 pooling at stride 2 over `lead` planes of `h x w`, `oh x ow` windows each,
/// in row-major window order, each window's entries `(2i, 2j), (2i, 2j + 1), (2i + 1, 2j), (2i + 1,
/// 2j + 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Grid2 {
    pub lead: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Windows {
    /// Windows from flat input positions `idx` and offsets `start` (window `w` covers
    /// `idx[start[w]..start[w + 1]]`; `start` begins at 0, does not decrease and ends at
    /// `idx.len()`).
    pub fn new(idx: Vec<u32>, start: Vec<u32>) -> Windows {
        let n = idx.iter().max().map_or(0, |&m| m as usize + 1);
        let mut seen = vec![false; n];
        let disjoint = idx.iter().all(|&p| !std::mem::replace(&mut seen[p as usize], true));
        let l = start.get(1).map_or(0, |&s| s as usize);
        let width = start.iter().enumerate().all(|(w, &s)| s as usize == w * l).then_some(l);
        Windows { idx, start, width, disjoint, grid2: None }
    }
    /// The windows of a 2x2 pooling at stride 2 of `lead` planes of `h x w` (`h, w >= 2`): the same
    /// windows as the index list, with their geometry kept for the scan.
    pub(super) fn grid2(lead: usize, h: usize, w: usize) -> Windows {
        let (oh, ow) = (h / 2, w / 2);
        let mut idx = Vec::with_capacity(lead * oh * ow * 4);
        for l in 0..lead {
            for i in 0..oh {
                for j in 0..ow {
                    let p = (l * h * w + 2 * i * w + 2 * j) as u32;
                    idx.extend([p, p + 1, p + w as u32, p + w as u32 + 1]);
                }
            }
        }
        let start = (0..=lead * oh * ow).map(|k| (4 * k) as u32).collect();
        Windows { grid2: Some(Grid2 { lead, h, w, oh, ow }), ..Windows::new(idx, start) }
    }
    /// The 2x2 stride-2 geometry, if the windows have it.
    pub(super) fn grid(&self) -> Option<Grid2> {
        self.grid2
    }
    /// The flat input positions of all windows, window after window.
    pub fn idx(&self) -> &[u32] {
        &self.idx
    }
    /// The common length of all windows, if they have one.
    pub fn width(&self) -> Option<usize> {
        self.width
    }
    /// Number of windows.
    pub fn len(&self) -> usize {
        self.start.len() - 1
    }
    /// True when there is no window.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub(super) fn window(&self, w: usize) -> &[u32] {
        &self.idx[self.start[w] as usize..self.start[w + 1] as usize]
    }
    /// The input position selected in each of the windows `range`: entry `sel[w]` of window `w`.
    fn selected<'a>(
        &'a self,
        range: std::ops::Range<usize>,
        sel: &'a [u32],
    ) -> impl ExactSizeIterator<Item = u32> + 'a {
        range.map(move |w| {
            let at = match self.width {
                Some(l) => w * l,
                None => self.start[w] as usize,
            };
            self.idx[at + sel[w] as usize]
        })
    }
}

/// A sparse linear map `y[r] = sum_(c, w) in row r: w * x[c]` (used as a window VJP and its adjoint),
/// in compressed-row form: row `r` holds `cols[start[r]..start[r+1]]` with weights `w[..]`.
pub(crate) struct Sparse {
    start: Buf<u32>,
    cols: Buf<u32>,
    w: Buf<f64>,
    /// No column appears in two entries (so `S^T x` sums nothing).
    disjoint: bool,
    pub(crate) in_shape: Buf<usize>,
    pub(crate) out_shape: Buf<usize>,
}

impl Sparse {
    /// From explicit rows.
    pub(crate) fn from_rows(rows: &[Vec<(u32, f64)>], in_shape: Vec<usize>, out_shape: Vec<usize>) -> Sparse {
        let (in_shape, out_shape) = (&in_shape[..], &out_shape[..]);
        let mut b = SparseBuilder::new(rows.len());
        for r in rows {
            b.row(r.iter().copied());
        }
        b.finish(Buf::copied(in_shape), Buf::copied(out_shape))
    }
    /// `y = S x`: each row's sum accumulated in `f64` in column order and rounded once; a row of one
    /// entry of weight 1 is the value itself.
    pub(crate) fn apply<T: Real>(&self, x: &[T]) -> Vec<T> {
        (0..self.start.len() - 1)
            .map(|r| {
                let (a, b) = (self.start[r] as usize, self.start[r + 1] as usize);
                if b == a + 1 && self.w[a] == 1.0 {
                    // one entry of weight 1: the value itself (what the f64 sum would round back to)
                    x[self.cols[a] as usize]
                } else {
                    T::from_f64((a..b).fold(0.0, |acc, i| acc + self.w[i] * x[self.cols[i] as usize].to_f64()))
                }
            })
            .collect()
    }
    /// `y = S^T x` without building the transpose, with the same bits as `transpose().apply(x)`: each
    /// output's terms are accumulated in `f64` in increasing row order (the transpose's column order)
    /// and rounded once; an output with one term of weight 1 is the value itself.
    pub(crate) fn apply_transposed<T: Real>(&self, x: &[T]) -> Vec<T> {
        let n: usize = self.in_shape.iter().product();
        let rows = self.start.len() - 1;
        let entries = |r: usize| self.start[r] as usize..self.start[r + 1] as usize;
        if self.disjoint {
            // every output has at most one term: the value itself for weight 1, else the f64 sum
            // of its one term (`0.0 + w x`, as below: a -0.0 term sums to +0.0)
            let mut out = crate::tensor::pool::filled(n, T::ZERO);
            for r in 0..rows {
                for i in entries(r) {
                    let (c, w) = (self.cols[i] as usize, self.w[i]);
                    out[c] = scaled(w, x[r]);
                }
            }
            return out;
        }
        // per output: number of terms (0, 1, 2 = many) in bits 0-1, a weight other than 1 in bit 2;
        // `flag == 1` (one term of weight 1) is the value itself, anything above is summed in f64
        let mut flag = crate::tensor::pool::filled(n, 0u8);
        for r in 0..rows {
            for i in entries(r) {
                let f = &mut flag[self.cols[i] as usize];
                let count = (*f & 3) + u8::from(*f & 3 < 2);
                *f = (*f & 4) | count | if self.w[i] == 1.0 { 0 } else { 4 };
            }
        }
        let mut out = crate::tensor::pool::filled(n, T::ZERO);
        let mut summed = false;
        for r in 0..rows {
            for i in entries(r) {
                let c = self.cols[i] as usize;
                if flag[c] == 1 {
                    out[c] = x[r];
                } else {
                    summed = true;
                }
            }
        }
        if summed {
            let mut acc = crate::tensor::pool::filled(n, 0.0f64);
            for r in 0..rows {
                for i in entries(r) {
                    let c = self.cols[i] as usize;
                    if flag[c] > 1 {
                        acc[c] += self.w[i] * x[r].to_f64();
                    }
                }
            }
            for c in 0..n {
                if flag[c] > 1 {
                    out[c] = T::from_f64(acc[c]);
                }
            }
            crate::tensor::pool::give(acc);
        }
        crate::tensor::pool::give(flag);
        out
    }
    /// The transpose, built (the reference `apply_transposed` is tested against).
    #[cfg(test)]
    fn transpose(&self) -> Sparse {
        let n: usize = self.in_shape.iter().product();
        // counting sort by column; rows stay in increasing order inside each transposed row
        let mut start = vec![0u32; n + 1];
        for &c in self.cols.iter() {
            start[c as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill: Vec<u32> = start[..n].to_vec();
        let mut cols = vec![0u32; self.cols.len()];
        let mut w = vec![0f64; self.w.len()];
        for r in 0..self.start.len() - 1 {
            for i in self.start[r] as usize..self.start[r + 1] as usize {
                let c = self.cols[i] as usize;
                let at = fill[c] as usize;
                cols[at] = r as u32;
                w[at] = self.w[i];
                fill[c] += 1;
            }
        }
        let disjoint = (0..self.start.len() - 1).all(|r| self.start[r + 1] - self.start[r] <= 1);
        Sparse {
            start: start.into(),
            cols: cols.into(),
            w: w.into(),
            disjoint,
            in_shape: self.out_shape.clone(),
            out_shape: self.in_shape.clone(),
        }
    }
}

/// The one term `w x` of a transposed map's output: `x` itself for weight 1, else the `f64` sum of
/// that one term (`0.0 + w x`: a `-0.0` term sums to `+0.0`), rounded once.
#[inline(always)]
pub(super) fn scaled<T: Real>(w: f64, x: T) -> T {
    if w == 1.0 {
        x
    } else {
        T::from_f64(0.0 + w * x.to_f64())
    }
}

/// Builds a [`Sparse`] row by row.
pub(crate) struct SparseBuilder {
    start: Buf<u32>,
    cols: Buf<u32>,
    w: Buf<f64>,
}

impl SparseBuilder {
    pub(crate) fn new(rows: usize) -> Self {
        Self::with_entries(rows, rows)
    }
    /// Room for `rows` rows of `entries` entries in all (buffers from the pool: a bound that is
    /// the same from step to step lets the next step reuse them).
    pub(crate) fn with_entries(rows: usize, entries: usize) -> Self {
        let mut start = Buf::with_capacity(rows + 1);
        start.push(0);
        Self { start, cols: Buf::with_capacity(entries), w: Buf::with_capacity(entries) }
    }
    pub(crate) fn row(&mut self, entries: impl IntoIterator<Item = (u32, f64)>) {
        for (c, w) in entries {
            self.cols.push(c);
            self.w.push(w);
        }
        self.start.push(self.cols.len() as u32);
    }
    /// One row per column of `cols`, each that column alone with weight 1.
    pub(crate) fn unit_rows(&mut self, cols: impl ExactSizeIterator<Item = u32>) {
        let (n, base) = (cols.len(), self.cols.len() as u32);
        self.cols.extend(cols);
        self.w.extend(std::iter::repeat_n(1.0, n));
        self.start.extend((1..=n as u32).map(|k| base + k));
    }
    pub(crate) fn finish(self, in_shape: Buf<usize>, out_shape: Buf<usize>) -> Sparse {
        Sparse { start: self.start, cols: self.cols, w: self.w, disjoint: false, in_shape, out_shape }
    }
    /// As [`SparseBuilder::finish`], for rows known to share no column (a faster `S^T x`).
    pub(crate) fn finish_disjoint(self, in_shape: Buf<usize>, out_shape: Buf<usize>) -> Sparse {
        Sparse { disjoint: true, ..self.finish(in_shape, out_shape) }
    }
}

/// A recorded sparse linear map: `S` itself, or `S^T` (`transposed`) read from the same rows, so a
/// window's VJP and its own VJP share one selection and no transpose is built.
pub(crate) struct SparseOp {
    s: Arc<Sparse>,
    transposed: bool,
}

impl SparseOp {
    /// The op `x -> S x`.
    pub(super) fn plain(s: Sparse) -> Self {
        Self { s: Arc::new(s), transposed: false }
    }
    /// The op `x -> S^T x`.
    pub(crate) fn transposed(s: Sparse) -> Self {
        Self { s: Arc::new(s), transposed: true }
    }
    fn in_shape(&self) -> &[usize] {
        if self.transposed {
            &self.s.out_shape
        } else {
            &self.s.in_shape
        }
    }
    fn out_shape(&self) -> &[usize] {
        if self.transposed {
            &self.s.in_shape
        } else {
            &self.s.out_shape
        }
    }
    fn apply<T: Real>(&self, x: &[T]) -> Vec<T> {
        if self.transposed {
            self.s.apply_transposed(x)
        } else {
            self.s.apply(x)
        }
    }
    /// Record the op on `g` (its value computed here).
    pub(crate) fn record<'t, T: Real>(self, g: Var<'t, T>) -> Var<'t, T> {
        let value = Tensor::from_parts(self.out_shape().to_vec(), self.apply(g.value().data()));
        g.tape().push(self, &[g], value)
    }
}

impl<T: Real> Op<T> for SparseOp {
    fn name(&self) -> &'static str {
        "window_scatter"
    }
    fn vjp<'t>(&self, _cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let t = SparseOp { s: self.s.clone(), transposed: !self.transposed };
        crate::reverse::cotangents([Some(t.record(g))])
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let t = cx.tangents[0].expect("tangent");
        let n: usize = self.in_shape().iter().product();
        let data = tangent::map_directions(cx.k, n, t.data(), |x| self.apply(x));
        Tensor::from_parts(tangent::tshape(cx.k, self.out_shape()), data)
    }
}

/// The weighted entries of a tie of at most 4 positions (position, weight) and their count.
type TieEntries = ([(u32, f64); 4], usize);
/// A tie's window and its weighted entries.
pub(super) type TieRow = (u32, TieEntries);
/// A visitor of ties: window, weighted entries (index into the window, weight).
pub(super) type TieVisitor<'a> = &'a mut dyn FnMut(usize, &[(u32, f64)]);

struct WindowOp {
    name: &'static str,
    min: bool,
    rule: TieRule,
    windows: Arc<Windows>,
    in_shape: Buf<usize>,
    out_shape: Buf<usize>,
    /// Selected position (index into the window) for windows without a tie (shared with the
    /// 2x2 grid's VJP op, [`super::window_grid`]).
    sel: SharedBuf<u32>,
    /// Windows with a tie (ascending); the tied positions (indices into the window) of tie `q` are
    /// `tied[tied_start[q]..tied_start[q + 1]]` (flat, one allocation for all ties).
    kink_at: Buf<usize>,
    tied: Buf<u32>,
    tied_start: Buf<u32>,
    /// The positions still tied after lexicographic selection: the first `locked_len[q]` of tie
    /// `q`'s slots in `locked` (same layout as `tied`; equal to it when unlocked).
    locked: Buf<u32>,
    locked_len: Buf<u32>,
    /// `inert[q]`: tie `q` is inert and locked on its first position ([`Op::lock_inert`]); later
    /// lexicographic selections leave it there.
    inert: Buf<bool>,
    /// The ties were narrowed lexicographically (a `jvp` ran since the last `unlock`): a surviving
    /// tie goes to its first position instead of the tie rule.
    lexed: bool,
    /// The locks are kept for good ([`Op::pin`]).
    pinned: bool,
}

impl WindowOp {
    fn tied_of(&self, q: usize) -> &[u32] {
        &self.tied[self.tied_start[q] as usize..self.tied_start[q + 1] as usize]
    }
    fn locked_of(&self, q: usize) -> &[u32] {
        let a = self.tied_start[q] as usize;
        &self.locked[a..a + self.locked_len[q] as usize]
    }
    /// Visit every tie `q` (ascending) with its weighted entries (index into the window, weight;
    /// zero weights left out): the tie rule (the first position after a lexicographic selection)
    /// over its locked positions.
    fn weighted_ties(&self, mut f: impl FnMut(usize, &[(u32, f64)])) {
        let rule = if self.lexed { &TieRule::First } else { &self.rule };
        // the weighted entries of a tie depend only on the positions tied, so windows of at most 4
        // entries read them from a table by the tie's bit mask, filled on first use
        // (on the stack: no allocation in a training step's steady state)
        let small = self.windows.width.is_some_and(|l| l <= 4);
        let mut table: [Option<TieEntries>; 16] = [None; 16];
        // scratch from the pool, of the windows' width (a training step's pooling: no allocation)
        let width = self.windows.width.unwrap_or(16);
        let (mut wts, mut tied, mut entries) =
            (Buf::with_capacity(width), Buf::with_capacity(width), Buf::with_capacity(width));
        for q in 0..self.kink_at.len() {
            let pos = self.locked_of(q);
            let mask = if small { pos.iter().fold(0usize, |m, &i| m | 1 << i) } else { usize::MAX };
            if let Some((e, len)) = table.get(mask).copied().flatten().filter(|_| small) {
                f(q, &e[..len]);
                continue;
            }
            tied.clear();
            tied.extend(pos.iter().map(|&i| i as usize));
            rule.weights(&tied, &mut wts);
            entries.clear();
            entries.extend(tied.iter().zip(wts.iter()).filter(|(_, &x)| x != 0.0).map(|(&i, &x)| (i as u32, x)));
            if small {
                let mut e = [(0u32, 0.0); 4];
                e[..entries.len()].copy_from_slice(&entries);
                table[mask] = Some((e, entries.len()));
            }
            f(q, &entries);
        }
    }
    /// The weighted entries of every tie with its window, for windows of at most 4 entries (the
    /// 2x2 grid's VJP op).
    fn tie_rows(&self) -> Buf<TieRow> {
        // capacity the window count, which bounds the ties and does not depend on them (as the
        // scan's lists, `Scan::with_capacity`): every step reuses one pooled size
        let mut rows = Buf::with_capacity(self.windows.len());
        self.weighted_ties(|q, e| {
            let mut entries = [(0u32, 0.0); 4];
            entries[..e.len()].copy_from_slice(e);
            rows.push((self.kink_at[q] as u32, (entries, e.len())));
        });
        rows
    }
    fn selection(&self) -> Sparse {
        let ties = |f: TieVisitor<'_>| self.weighted_ties(|q, e| f(self.kink_at[q], e));
        let shapes = (self.in_shape.clone(), self.out_shape.clone());
        // the tied entries' capacity bounds them independently of the step's ties
        selection_map(&self.windows, &self.sel, self.tied.capacity(), ties, shapes)
    }
}

/// The selection as a sparse map, one row per window: its selected entry (`sel`) with weight 1, or,
/// for the windows `ties` visits (ascending, with their weighted entries: index into the window,
/// weight), those entries. `tied` bounds the tied entries (a capacity). `shapes`: the window op's
/// input and output shapes.
pub(super) fn selection_map(
    windows: &Windows,
    sel: &[u32],
    tied: usize,
    ties: impl FnOnce(TieVisitor<'_>),
    shapes: (Buf<usize>, Buf<usize>),
) -> Sparse {
    let nw = windows.len();
    // entries: at most one per window plus the tied entries; rounded up to a power of two so
    // that steps with slightly different tie counts reuse the same pooled buffers
    let mut b = SparseBuilder::with_entries(nw, (nw + tied).next_power_of_two());
    let mut w0 = 0; // the first window after the last tie
    ties(&mut |end, e| {
        // the untied windows before this tie: their selected entry, weight 1
        b.unit_rows(windows.selected(w0..end, sel));
        let win = windows.window(end);
        b.row(e.iter().map(|&(i, x)| (win[i as usize], x)));
        w0 = end + 1;
    });
    b.unit_rows(windows.selected(w0..nw, sel));
    if windows.disjoint {
        b.finish_disjoint(shapes.0, shapes.1)
    } else {
        b.finish(shapes.0, shapes.1)
    }
}

impl<T: Real> Op<T> for WindowOp {
    fn name(&self) -> &'static str {
        self.name
    }
    fn vjp<'t>(&self, _cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        if let Some(grid) = self.windows.grid().filter(|g| g.h.is_multiple_of(2) && g.w.is_multiple_of(2)) {
            // the 2x2 pooling: the cotangent scattered through the selection directly
            let shapes = (self.in_shape.clone(), self.out_shape.clone());
            let op = GridScatter::new(grid, self.windows.clone(), self.sel.clone(), self.tie_rows(), shapes);
            return crate::reverse::cotangents([Some(op.record(g))]);
        }
        crate::reverse::cotangents([Some(SparseOp::transposed(self.selection()).record(g))])
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let t = cx.tangents[0].expect("tangent");
        let n: usize = self.in_shape.iter().product();
        let sgn = if self.min { -1.0 } else { 1.0 };
        self.lexed = true;
        let select = if self.pinned { 0 } else { self.kink_at.len() };
        for q in (0..select).filter(|&q| !self.inert[q]) {
            let win = self.windows.window(self.kink_at[q]);
            let (a, e) = (self.tied_start[q] as usize, self.tied_start[q + 1] as usize);
            self.locked[a..e].copy_from_slice(&self.tied[a..e]);
            let slots = &mut self.locked[a..e];
            let mut len = slots.len();
            let tan = |c: usize, i: u32| sgn * t.data()[c * n + win[i as usize] as usize].to_f64();
            for c in 0..cx.k {
                if len <= 1 {
                    break;
                }
                let best = slots[..len].iter().map(|&i| tan(c, i)).fold(f64::NEG_INFINITY, f64::max);
                let mut kept = 0;
                for j in 0..len {
                    if tan(c, slots[j]) == best {
                        slots[kept] = slots[j];
                        kept += 1;
                    }
                }
                len = kept;
            }
            self.locked_len[q] = len as u32;
        }
        let s = self.selection();
        let data = tangent::map_directions(cx.k, n, t.data(), |x| s.apply(x));
        Tensor::from_parts(tangent::tshape(cx.k, &self.out_shape), data)
    }
    fn kinks(&self) -> usize {
        self.kink_at.len()
    }
    fn element_classes(
        &self,
        _inputs: &[&Tensor<T>],
        at: &[usize],
        input: &mut dyn InputClasses,
    ) -> Option<ElementClasses> {
        // a window without a tie is its (strict, so locally kept) maximum: that entry's class; a tie
        // whose entries share a class is that class; any other tie a class of its own. The entries
        // read: the selected one of an untied window, every tied one of a tie (`at` is ascending, so
        // the ties are met in order)
        let nw = self.windows.len();
        let tie_of = |at: &[usize]| {
            let mut q = 0;
            at.iter()
                .map(move |&w| {
                    while q < self.kink_at.len() && self.kink_at[q] < w {
                        q += 1;
                    }
                    (w, (q < self.kink_at.len() && self.kink_at[q] == w).then_some(q))
                })
                .collect::<Vec<_>>()
        };
        let wins = tie_of(at);
        let mut need = Vec::with_capacity(at.len());
        for &(w, tie) in &wins {
            let win = self.windows.window(w);
            match tie {
                Some(q) => need.extend(self.tied_of(q).iter().map(|&i| win[i as usize] as usize)),
                None => need.push(win[self.sel[w] as usize] as usize),
            }
        }
        let c = input.classes(0, &need).filter(|c| c.len() == need.len())?;
        // fresh labels above every label read
        let fresh = c.iter().filter(|&&l| l != CONSTANT_CLASS).max().map_or(0, |&l| l as usize + 1);
        if fresh.checked_add(nw)? >= CONSTANT_CLASS as usize {
            return None;
        }
        let mut next = 0;
        let out = wins
            .iter()
            .map(|&(w, tie)| {
                let len = tie.map_or(1, |q| self.tied_of(q).len());
                let labels = &c[next..next + len];
                next += len;
                if labels.iter().all(|&l| l == labels[0]) {
                    labels[0]
                } else {
                    (fresh + w) as u32
                }
            })
            .collect();
        Some(out)
    }
    fn inert_candidates(&self) -> Vec<Vec<usize>> {
        if self.pinned {
            return vec![];
        }
        // lists from the installed pool (the engine gives them back), for at most every tied entry
        let mut at = crate::tensor::pool::take_bounded(self.tied.len(), self.tied.capacity());
        for (q, &w) in self.kink_at.iter().enumerate() {
            if !self.inert[q] {
                let win = self.windows.window(w);
                at.extend(self.tied_of(q).iter().map(|&i| win[i as usize] as usize));
            }
        }
        let mut lists = crate::tensor::pool::take_any(1);
        lists.push(at);
        lists
    }
    fn lock_inert(&mut self, classes: &[Option<ElementClasses>]) -> usize {
        let Some(Some(c)) = classes.first() else { return self.inert.iter().filter(|&&i| i).count() };
        if self.pinned {
            return 0;
        }
        // the labels of the candidates: the tied entries of each tie not inert yet, in order
        let mut next = 0;
        for q in 0..self.kink_at.len() {
            if self.inert[q] {
                continue;
            }
            let (a, e) = (self.tied_start[q] as usize, self.tied_start[q + 1] as usize);
            let Some(labels) = c.get(next..next + (e - a)) else { break };
            next += e - a;
            if labels.iter().all(|&l| l == labels[0]) {
                // the tie survives every tangent pass: its first tied position, as a pass leaves it
                self.locked[a] = self.tied[a];
                self.locked_len[q] = 1;
                self.inert[q] = true;
                self.lexed = true;
            }
        }
        self.inert.iter().filter(|&&i| i).count()
    }
    fn unresolved(&self) -> usize {
        if !self.lexed {
            return 0;
        }
        self.locked_len.iter().filter(|&&l| l > 1).count()
    }
    fn unlock(&mut self) {
        if !self.pinned {
            self.locked.clone_from(&self.tied);
            for (q, l) in self.locked_len.iter_mut().enumerate() {
                *l = self.tied_start[q + 1] - self.tied_start[q];
            }
            self.inert.fill(false);
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

/// Reduce `x` over `windows` with max (or min), recording the op. `out_shape` must hold one element
/// per window.
pub fn reduce_windows<'t, T: Real>(
    x: Var<'t, T>,
    name: &'static str,
    min: bool,
    rule: TieRule,
    windows: Arc<Windows>,
    out_shape: Vec<usize>,
) -> Var<'t, T> {
    let v = x.value();
    let super::window_scan::Scan { out, sel, kink_at, tied, tied_start } =
        super::window_scan::scan(v.data(), &windows, min);
    let nw = windows.len();
    let mut locked_len = Buf::with_capacity(nw);
    locked_len.extend(tied_start.windows(2).map(|s| s[1] - s[0]));
    let mut inert = Buf::with_capacity(nw);
    inert.resize(kink_at.len(), false);
    let op = WindowOp {
        name,
        min,
        rule,
        windows,
        in_shape: Buf::copied(v.shape()),
        out_shape: Buf::copied(&out_shape),
        sel: SharedBuf::new(sel),
        locked: tied.clone(),
        inert,
        locked_len,
        lexed: false,
        pinned: false,
        kink_at,
        tied,
        tied_start,
    };
    x.tape().push(op, &[x], ok(Tensor::new(out_shape, out)))
}

/// Windows that reduce `axis` of `shape` (one window per position of the other axes).
pub fn axis_windows(shape: &[usize], axis: usize) -> Windows {
    let (outer, len, inner) = crate::tensor::reduce::split_axis(shape, axis);
    let mut idx = Vec::with_capacity(outer * len * inner);
    let mut start = vec![0u32];
    for o in 0..outer {
        for i in 0..inner {
            for r in 0..len {
                idx.push(((o * len + r) * inner + i) as u32);
            }
            start.push(idx.len() as u32);
        }
    }
    Windows::new(idx, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposed_apply_equals_the_built_transpose_bit_for_bit() {
        // rows over 4 inputs: one unit entry, a split tie (0.5, 0.5), an input hit twice with weight
        // 1, an input never hit; by hand, S^T x for x = [2, -0, 3]:
        // input 0: 1*2 + 0.5*(-0) = 2; input 1: 0.5*(-0) = 0 (+0: a sum, not the value); input 2:
        // 1*3 = 3 (one unit term); input 3: nothing = 0
        let rows = vec![vec![(0u32, 1.0)], vec![(0, 0.5), (1, 0.5)], vec![(2, 1.0)]];
        let s = Sparse::from_rows(&rows, vec![4], vec![3]);
        let x = [2.0f32, -0.0, 3.0];
        let got = s.apply_transposed(&x);
        assert_eq!(got, vec![2.0, 0.0, 3.0, 0.0]);
        let want = s.transpose().apply(&x);
        assert_eq!(
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        // a single unit term keeps the sign of zero (the value itself), as the built transpose does
        let s = Sparse::from_rows(&[vec![(1u32, 1.0)]], vec![2], vec![1]);
        let got = s.apply_transposed(&[-0.0f64]);
        assert!(got[1].is_sign_negative() && got[0] == 0.0 && got[0].is_sign_positive());
        assert_eq!(got[1].to_bits(), s.transpose().apply(&[-0.0f64])[1].to_bits());
        // rows sharing no column (disjoint windows): the one-term path gives the general path's bits,
        // by hand [0.5 * 3 = 1.5, -0 (weight 1: the value), 0, 0 + 0.25 * -0 = +0]
        let rows = vec![vec![(0u32, 0.5)], vec![(1, 1.0)], vec![(3, 0.25)]];
        let s = Sparse::from_rows(&rows, vec![4], vec![3]);
        let d = Sparse { disjoint: true, ..Sparse::from_rows(&rows, vec![4], vec![3]) };
        let x = [3.0f64, -0.0, -0.0];
        let bits = |v: Vec<f64>| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(d.apply_transposed(&x)), bits(s.apply_transposed(&x)));
        assert_eq!(bits(d.apply_transposed(&x)), bits(vec![1.5, -0.0, 0.0, 0.0]));
    }
}
