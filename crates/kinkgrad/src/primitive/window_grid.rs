//! The VJP of a 2x2 max-pooling at stride 2 over planes of even height and width ([`Grid2`]) as one
//! op: each window's cotangent written straight onto its selected entry and zeros onto the other
//! three (a zero fill, then one store per window), then each tie's entries overwritten with their
//! weights.
//! The same map, bit for bit, as the transposed sparse selection ([`super::window`]'s `Sparse`,
//! disjoint windows: an untied window's entry is the cotangent itself, a tied entry
//! [`scaled`]) without building it: no index list, no weights per window, no zero fill
//! (tested: `grid_scatter_equals_the_sparse_selection`). Its own VJP (a gather through the same
//! selection, for second derivatives) is the sparse map, built then.

use super::window::{scaled, selection_map, Grid2, SparseOp, TieRow, TieVisitor, Windows};
use crate::reverse::ops::tangent;
use crate::reverse::{JvpCx, Op, OpCx, Var};
use crate::scalar::Real;
use crate::tensor::pool::{self, Buf, SharedBuf};
use crate::tensor::Tensor;
use std::sync::Arc;

/// `x -> S^T x` for the selection `S` of a 2x2 stride-2 pooling: cotangents per window in, the
/// pooling's input shape out.
pub(super) struct GridScatter {
    grid: Grid2,
    windows: Arc<Windows>,
    /// The selected entry (index into the window) of each window; a tie's is overridden by `ties`.
    sel: SharedBuf<u32>,
    /// The ties: window and weighted entries (index into the window, weight), ascending windows.
    ties: Buf<TieRow>,
    /// The pooling's input shape (this op's output) and output shape (this op's input).
    shapes: (Buf<usize>, Buf<usize>),
}

impl GridScatter {
    /// The scatter through `sel` and `ties` over `grid` (`grid.h` and `grid.w` even); `shapes`: the
    /// pooling's input and output shapes.
    pub(super) fn new(
        grid: Grid2,
        windows: Arc<Windows>,
        sel: SharedBuf<u32>,
        ties: Buf<TieRow>,
        shapes: (Buf<usize>, Buf<usize>),
    ) -> Self {
        debug_assert!(
            grid.h.is_multiple_of(2) && grid.w.is_multiple_of(2) && sel.len() == grid.lead * grid.oh * grid.ow
        );
        Self { grid, windows, sel, ties, shapes }
    }

    /// `S^T g` for the cotangents `g` (one per window).
    fn apply<T: Real>(&self, g: &[T]) -> Vec<T> {
        let Grid2 { lead, h, w, ow, .. } = self.grid;
        // zeros (a fill, fast), then each window's selected entry, then each tie's entries
        let mut out = pool::filled(lead * h * w, T::ZERO);
        // row pair `r` (rows 2i, 2i + 1 of plane l, r = l oh + i: contiguous, h being even) holds
        // windows r ow .. (r + 1) ow
        let rows = out.chunks_exact_mut(2 * w).zip(self.sel.chunks_exact(ow).zip(g.chunks_exact(ow)));
        for (pair, (sel, g)) in rows {
            for (j, (&s, &v)) in sel.iter().zip(g).enumerate() {
                pair[2 * j + (s as usize & 1) + (s as usize >> 1) * w] = v;
            }
        }
        for &(win, (e, len)) in self.ties.iter() {
            let win = win as usize;
            let base = (win / ow) * 2 * w + 2 * (win % ow);
            let at = |i: u32| base + (i as usize & 1) + (i as usize >> 1) * w;
            for i in 0..4 {
                out[at(i)] = T::ZERO;
            }
            for &(i, x) in &e[..len] {
                out[at(i)] = scaled(x, g[win]);
            }
        }
        out
    }

    /// Record the op on `g` (its value computed here).
    pub(super) fn record<'t, T: Real>(self, g: Var<'t, T>) -> Var<'t, T> {
        let value = Tensor::from_parts(pool::copied(&self.shapes.0), self.apply(g.value().data()));
        g.tape().push(self, &[g], value)
    }
}

impl<T: Real> Op<T> for GridScatter {
    fn name(&self) -> &'static str {
        "window_scatter"
    }
    fn vjp<'t>(&self, _cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let ties = |f: TieVisitor<'_>| {
            for &(win, (e, len)) in self.ties.iter() {
                f(win as usize, &e[..len]);
            }
        };
        let s = selection_map(&self.windows, &self.sel, 4 * self.ties.capacity(), ties, self.shapes.clone());
        crate::reverse::cotangents([Some(SparseOp::plain(s).record(g))])
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let t = cx.tangents[0].expect("tangent");
        let n: usize = self.shapes.1.iter().product();
        let data = tangent::map_directions(cx.k, n, t.data(), |x| self.apply(x));
        Tensor::from_parts(tangent::tshape(cx.k, &self.shapes.0), data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repr::TieRule;

    #[test]
    fn grid_scatter_equals_the_sparse_selection() {
        // 2x2 stride-2 windows over 4 planes of 6 x 8, values from a small set so that ties (0.0 and
        // -0.0 among them) and NaNs are frequent; cotangents with -0.0 and values that the weights
        // round. Expected: the transposed sparse selection over the same windows (the map the pooling
        // VJP recorded before this op), bit for bit, and by hand for single windows
        let (lead, h, w) = (4, 6, 8);
        let choices = [0.0f32, -0.0, 1.0, 2.0, f32::NAN, 2.0, 0.0, 1.0];
        let mut state = 777u32;
        let mut next = || {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (state >> 16) as usize
        };
        let d: Vec<f32> = (0..lead * h * w).map(|_| choices[next() % choices.len()]).collect();
        let windows = Arc::new(Windows::grid2(lead, h, w));
        let grid = windows.grid().expect("grid");
        let nw = windows.len();
        let g: Vec<f32> = (0..nw).map(|k| if k % 7 == 3 { -0.0 } else { 0.1 + k as f32 / 3.0 }).collect();
        let scan = super::super::window_scan::scan(&d, &windows, false);
        assert!(scan.kink_at.len() > 5, "the data has ties: {:?}", scan.kink_at);
        let sel = SharedBuf::new(scan.sel);
        let shapes = || (Buf::copied(&[lead, h, w]), Buf::copied(&[lead, h / 2, w / 2]));
        for rule in [TieRule::First, TieRule::Last, TieRule::MinNorm, TieRule::Beta(0.3)] {
            // the weighted entries of each tie (zero weights left out), as the window op lists them
            let mut rows: Buf<TieRow> = Buf::with_capacity(scan.kink_at.len());
            let mut wts = Vec::new();
            for q in 0..scan.kink_at.len() {
                let tied: Vec<usize> = scan.tied[scan.tied_start[q] as usize..scan.tied_start[q + 1] as usize]
                    .iter()
                    .map(|&i| i as usize)
                    .collect();
                rule.weights(&tied, &mut wts);
                let mut e = [(0u32, 0.0); 4];
                let mut len = 0;
                for (&i, &x) in tied.iter().zip(&wts).filter(|(_, &x)| x != 0.0) {
                    e[len] = (i as u32, x);
                    len += 1;
                }
                rows.push((scan.kink_at[q] as u32, (e, len)));
            }
            let ties = |f: TieVisitor<'_>| {
                for &(win, (e, len)) in rows.iter() {
                    f(win as usize, &e[..len]);
                }
            };
            let want = selection_map(&windows, &sel, 4 * rows.len(), ties, shapes()).apply_transposed(&g);
            let op = GridScatter::new(grid, windows.clone(), sel.clone(), rows, shapes());
            let got = op.apply(&g);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{rule:?}");
            // by hand: an untied window gives its cotangent to its strict maximum, zeros elsewhere
            let untied = (0..nw).find(|k| !scan.kink_at.contains(k) && !d[windows.window(*k)[0] as usize].is_nan());
            let k = untied.expect("an untied window");
            let win = windows.window(k);
            let best = win.iter().map(|&p| d[p as usize]).fold(f32::NEG_INFINITY, f32::max);
            for &p in win {
                let e = if d[p as usize] == best { g[k] } else { 0.0 };
                assert_eq!(got[p as usize].to_bits(), e.to_bits());
            }
        }
        // by hand, the even split of a tie: each tied entry gets (1/k) g (the f64 product rounded once)
        let q = 0;
        let (k, tied) = (scan.kink_at[q], &scan.tied[scan.tied_start[q] as usize..scan.tied_start[q + 1] as usize]);
        let mut wts = Vec::new();
        TieRule::MinNorm.weights(&tied.iter().map(|&i| i as usize).collect::<Vec<_>>(), &mut wts);
        let mut e = [(0u32, 0.0); 4];
        for (s, (&i, &x)) in e.iter_mut().zip(tied.iter().zip(&wts)) {
            *s = (i, x);
        }
        let mut rows: Buf<TieRow> = Buf::with_capacity(1);
        rows.push((k as u32, (e, tied.len())));
        let got = GridScatter::new(grid, windows.clone(), sel.clone(), rows, shapes()).apply(&g);
        let win = windows.window(k);
        for (i, &p) in win.iter().enumerate() {
            let share = (1.0 / tied.len() as f64 * g[k] as f64) as f32;
            let e = if tied.contains(&(i as u32)) { share } else { 0.0 };
            assert_eq!(got[p as usize].to_bits(), e.to_bits(), "window {k} entry {i}");
        }
    }
}
