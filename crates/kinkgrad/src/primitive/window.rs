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
//! **Inert ties** (what `safe` may skip, decided from forward information only): when every tied
//! entry of a window is locally constant (its producer reports it, [`crate::reverse::Op::constant_elements`]:
//! e.g. a relu output of a strictly negative input), the window's output is locally constant too —
//! the untied entries lie strictly below the tie and stay below on a neighbourhood, and the tied ones
//! do not move — so its derivative is 0 along every direction, and whatever weights the tie gets
//! multiply the tied entries' derivatives, which are exactly 0: every rule gives the same derivative,
//! the lexicographic one included. Such a tie needs no tangent pass. A tie with one entry on a kink
//! of its producer (a relu at exactly 0) is not inert: that kink is locked by the producer's own rule.
//!
//! The VJP scatters the cotangent of each window onto its selected entries with their weights: a
//! sparse linear map, itself recorded as an op (so second derivatives flow through it).

use crate::repr::TieRule;
use crate::reverse::ops::tangent;
use crate::reverse::var::ok;
use crate::reverse::{JvpCx, Op, OpCx, Var};
use crate::scalar::Real;
use crate::tensor::Tensor;

/// Windows in compressed form: window `w` covers `idx[start[w]..start[w+1]]`.
#[derive(Clone, Debug)]
pub struct Windows {
    /// Flat input positions.
    pub idx: Vec<u32>,
    /// Offsets into `idx`, one more than the number of windows.
    pub start: Vec<u32>,
}

impl Windows {
    /// Number of windows.
    pub fn len(&self) -> usize {
        self.start.len() - 1
    }
    /// True when there is no window.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn window(&self, w: usize) -> &[u32] {
        &self.idx[self.start[w] as usize..self.start[w + 1] as usize]
    }
}

/// A sparse linear map `y[r] = sum_(c, w) in row r: w * x[c]` (used as a window VJP and its adjoint),
/// in compressed-row form: row `r` holds `cols[start[r]..start[r+1]]` with weights `w[..]`.
pub(crate) struct Sparse {
    start: Vec<u32>,
    cols: Vec<u32>,
    w: Vec<f64>,
    pub(crate) in_shape: Vec<usize>,
    pub(crate) out_shape: Vec<usize>,
}

impl Sparse {
    /// From explicit rows.
    pub(crate) fn from_rows(rows: &[Vec<(u32, f64)>], in_shape: Vec<usize>, out_shape: Vec<usize>) -> Sparse {
        let mut b = SparseBuilder::new(rows.len());
        for r in rows {
            b.row(r.iter().copied());
        }
        b.finish(in_shape, out_shape)
    }
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
    pub(crate) fn transpose(&self) -> Sparse {
        let n: usize = self.in_shape.iter().product();
        // counting sort by column; rows stay in increasing order inside each transposed row
        let mut start = vec![0u32; n + 1];
        for &c in &self.cols {
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
        Sparse { start, cols, w, in_shape: self.out_shape.clone(), out_shape: self.in_shape.clone() }
    }
}

/// Builds a [`Sparse`] row by row.
pub(crate) struct SparseBuilder {
    start: Vec<u32>,
    cols: Vec<u32>,
    w: Vec<f64>,
}

impl SparseBuilder {
    pub(crate) fn new(rows: usize) -> Self {
        let mut start = Vec::with_capacity(rows + 1);
        start.push(0);
        Self { start, cols: Vec::with_capacity(rows), w: Vec::with_capacity(rows) }
    }
    pub(crate) fn row(&mut self, entries: impl IntoIterator<Item = (u32, f64)>) {
        for (c, w) in entries {
            self.cols.push(c);
            self.w.push(w);
        }
        self.start.push(self.cols.len() as u32);
    }
    pub(crate) fn finish(self, in_shape: Vec<usize>, out_shape: Vec<usize>) -> Sparse {
        Sparse { start: self.start, cols: self.cols, w: self.w, in_shape, out_shape }
    }
}

pub(crate) struct SparseOp(pub(crate) Sparse);

impl<T: Real> Op<T> for SparseOp {
    fn name(&self) -> &'static str {
        "window_scatter"
    }
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let t = self.0.transpose();
        let value = Tensor::from_parts(t.out_shape.clone(), t.apply(g.value().data()));
        vec![Some(cx.tape.push(Box::new(SparseOp(t)), &[g], value))]
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let t = cx.tangents[0].expect("tangent");
        let n: usize = self.0.in_shape.iter().product();
        let data: Vec<T> = (0..cx.k).flat_map(|c| self.0.apply(&t.data()[c * n..(c + 1) * n])).collect();
        Tensor::from_parts(tangent::tshape(cx.k, &self.0.out_shape), data)
    }
}

struct WindowOp {
    name: &'static str,
    min: bool,
    rule: TieRule,
    windows: Windows,
    in_shape: Vec<usize>,
    out_shape: Vec<usize>,
    /// Selected position (index into the window) for windows without a tie.
    sel: Vec<u32>,
    /// Windows with a tie and their tied positions (indices into the window).
    kink_at: Vec<usize>,
    kink_tied: Vec<Vec<u32>>,
    locked: Vec<Vec<u32>>,
    /// The ties were narrowed lexicographically (a `jvp` ran since the last `unlock`): a surviving
    /// tie goes to its first position instead of the tie rule.
    lexed: bool,
    /// The locks are kept for good ([`Op::pin`]).
    pinned: bool,
}

impl WindowOp {
    fn selection(&self) -> Sparse {
        let nw = self.windows.len();
        let mut b = SparseBuilder::new(nw);
        let mut wts = Vec::new();
        let mut q = 0; // next kink (kink_at is ascending)
        for w in 0..nw {
            let win = self.windows.window(w);
            if q < self.kink_at.len() && self.kink_at[q] == w {
                let tied: Vec<usize> = self.locked[q].iter().map(|&i| i as usize).collect();
                let rule = if self.lexed { &TieRule::First } else { &self.rule };
                rule.weights(&tied, &mut wts);
                b.row(tied.iter().zip(&wts).filter(|(_, &x)| x != 0.0).map(|(&i, &x)| (win[i], x)));
                q += 1;
            } else {
                b.row([(win[self.sel[w] as usize], 1.0)]);
            }
        }
        b.finish(self.in_shape.clone(), self.out_shape.clone())
    }
}

impl<T: Real> Op<T> for WindowOp {
    fn name(&self) -> &'static str {
        self.name
    }
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let s = self.selection().transpose();
        let value = Tensor::from_parts(s.out_shape.clone(), s.apply(g.value().data()));
        vec![Some(cx.tape.push(Box::new(SparseOp(s)), &[g], value))]
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let t = cx.tangents[0].expect("tangent");
        let n: usize = self.in_shape.iter().product();
        let sgn = if self.min { -1.0 } else { 1.0 };
        self.lexed = true;
        let select = if self.pinned { &[][..] } else { &self.kink_at[..] };
        for (q, &w) in select.iter().enumerate() {
            let win = self.windows.window(w);
            let mut tied = self.kink_tied[q].clone();
            for c in 0..cx.k {
                if tied.len() <= 1 {
                    break;
                }
                let best = tied
                    .iter()
                    .map(|&i| sgn * t.data()[c * n + win[i as usize] as usize].to_f64())
                    .fold(f64::NEG_INFINITY, f64::max);
                tied.retain(|&i| sgn * t.data()[c * n + win[i as usize] as usize].to_f64() == best);
            }
            self.locked[q] = tied;
        }
        let s = self.selection();
        let data: Vec<T> = (0..cx.k).flat_map(|c| s.apply(&t.data()[c * n..(c + 1) * n])).collect();
        Tensor::from_parts(tangent::tshape(cx.k, &self.out_shape), data)
    }
    fn kinks(&self) -> usize {
        self.kink_at.len()
    }
    fn kinks_inert(&self, constant_inputs: &[Option<Vec<bool>>]) -> bool {
        let Some(Some(c)) = constant_inputs.first() else { return false };
        self.kink_at.iter().zip(&self.kink_tied).all(|(&w, tied)| {
            let win = self.windows.window(w);
            tied.iter().all(|&i| c.get(win[i as usize] as usize).copied().unwrap_or(false))
        })
    }
    fn unresolved(&self) -> usize {
        if !self.lexed {
            return 0;
        }
        self.locked.iter().filter(|l| l.len() > 1).count()
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

/// Reduce `x` over `windows` with max (or min), recording the op. `out_shape` must hold one element
/// per window.
pub fn reduce_windows<'t, T: Real>(
    x: Var<'t, T>,
    name: &'static str,
    min: bool,
    rule: TieRule,
    windows: Windows,
    out_shape: Vec<usize>,
) -> Var<'t, T> {
    let v = x.value();
    let d = v.data();
    let nw = windows.len();
    let mut out = Vec::with_capacity(nw);
    let mut sel = vec![0u32; nw];
    let (mut kink_at, mut kink_tied) = (Vec::new(), Vec::new());
    for w in 0..nw {
        let win = windows.window(w);
        if win.iter().any(|&p| d[p as usize].to_f64().is_nan()) {
            // a NaN entry makes the maximum NaN (as in the frameworks), not a kink
            out.push(T::from_f64(f64::NAN));
            continue;
        }
        let mut best = 0usize;
        let mut bv = d[win[0] as usize];
        for (i, &p) in win.iter().enumerate().skip(1) {
            let xv = d[p as usize];
            if (!min && xv > bv) || (min && xv < bv) {
                best = i;
                bv = xv;
            }
        }
        if win.iter().filter(|&&p| d[p as usize] == bv).count() > 1 {
            let tied: Vec<u32> =
                win.iter().enumerate().filter(|(_, &p)| d[p as usize] == bv).map(|(i, _)| i as u32).collect();
            kink_at.push(w);
            kink_tied.push(tied);
        }
        sel[w] = best as u32;
        out.push(bv);
    }
    let op = WindowOp {
        name,
        min,
        rule,
        windows,
        in_shape: v.shape().to_vec(),
        out_shape: out_shape.clone(),
        sel,
        locked: kink_tied.clone(),
        lexed: false,
        pinned: false,
        kink_at,
        kink_tied,
    };
    x.tape().push(Box::new(op), &[x], ok(Tensor::new(out_shape, out)))
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
    Windows { idx, start }
}
