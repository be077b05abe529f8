//! `sort(x)`: the entries of a vector in ascending order.
//!
//! Pieces: one per permutation `π`, `y = (x_π(1), ..., x_π(n))`, active where
//! `x_π(1) <= ... <= x_π(n)`; switching functions `x_i - x_j`. On each piece `sort` is linear (a
//! permutation matrix `P_π`), so `sort` is Lipschitz and C^1 piecewise. Kink: a tie `x_i = x_j`
//! (exact equality, `-0.0 == 0.0`); the value is the same under every ordering of a tied block, the
//! associated gradient is not. Rule (family [`SORT`], or the call's [`TieRule`]) inside
//! each tied block of outputs `k..k+m` with inputs `S` (in index order): `first` keeps index order
//! (a stable sort), `last` reverses it, `mean`/`minnorm`/`weighted` give every output of the block
//! `1/m` of every input of the block (the barycentre of the block's permutation matrices, the
//! minimum-norm element of their convex hull). Lexicographic rule: tied inputs are ordered by their
//! first tangent, then their second, and so on; a group still tied after every direction keeps index
//! order (the `first` piece: its entries agree along every direction drawn, so the result is the same
//! along them, exact, and independent of the representation). Kinks counted: tied blocks. VJP: the
//! transposed (sparse) selection, recorded on the tape.

use super::window::{Sparse, SparseOp};
use crate::error::{Error, Result};
use crate::repr::{Family, Rule, TieRule};
use crate::reverse::ops::tangent;
use crate::reverse::{JvpCx, Op, OpCx, Var};
use crate::scalar::Real;
use crate::tensor::Tensor;

/// Ties of `sort` inside a tied block. No preset declares a convention (the frameworks' sorts are
/// stable, which is `first`, but their gradients were not read from source here), so every preset
/// uses the minimum-norm rule, the barycentre of the block's permutations.
pub const SORT: Family = Family {
    key: "sort",
    what: "ties of sort inside a tied block",
    value_range: None,
    minnorm: Rule::MinNorm,
    conventions: &[],
};

struct SortOp {
    rule: TieRule,
    n: usize,
    /// Ascending order, ties in index order.
    perm: Vec<u32>,
    /// Tied blocks: (first output position, tied inputs in index order).
    blocks: Vec<(usize, Vec<u32>)>,
    /// Per block, its groups after lexicographic refinement (in output order); one group when
    /// unlocked.
    locked: Vec<Vec<Vec<u32>>>,
    /// The blocks were refined lexicographically (a `jvp` ran since the last `unlock`): a group still
    /// tied keeps index order instead of the tie rule.
    lexed: bool,
    /// The locks are kept for good ([`Op::pin`]).
    pinned: bool,
}

impl SortOp {
    fn selection(&self) -> Sparse {
        let mut rows: Vec<Vec<(u32, f64)>> = self.perm.iter().map(|&p| vec![(p, 1.0)]).collect();
        for (b, (start, _)) in self.blocks.iter().enumerate() {
            let mut k = *start;
            for group in &self.locked[b] {
                let m = group.len();
                for i in 0..m {
                    let rule = if self.lexed { &TieRule::First } else { &self.rule };
                    rows[k + i] = match rule {
                        TieRule::First => vec![(group[i], 1.0)],
                        TieRule::Last => vec![(group[m - 1 - i], 1.0)],
                        _ => group.iter().map(|&j| (j, 1.0 / m as f64)).collect(),
                    };
                }
                k += m;
            }
        }
        Sparse::from_rows(&rows, vec![self.n], vec![self.n])
    }
}

impl<T: Real> Op<T> for SortOp {
    fn name(&self) -> &'static str {
        "sort"
    }
    fn vjp<'t>(&self, _cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        crate::reverse::cotangents([Some(SparseOp::transposed(self.selection()).record(g))])
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let t = cx.tangents[0].expect("tangent");
        let n = self.n;
        self.lexed = true;
        let refine = if self.pinned { &[][..] } else { &self.blocks[..] };
        for (b, (_, tied)) in refine.iter().enumerate() {
            // refine the block: order by tangent 1, then 2, ...; equal keys stay grouped
            let key = |j: u32| -> Vec<f64> { (0..cx.k).map(|c| t.data()[c * n + j as usize].to_f64()).collect() };
            let mut order = tied.clone();
            order.sort_by(|&a, &b| {
                let (ka, kb) = (key(a), key(b));
                ka.iter().zip(&kb).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(a.cmp(&b))
            });
            let mut groups: Vec<Vec<u32>> = Vec::new();
            for j in order {
                match groups.last_mut() {
                    Some(g) if key(g[0]) == key(j) => g.push(j),
                    _ => groups.push(vec![j]),
                }
            }
            self.locked[b] = groups;
        }
        let s = self.selection();
        let data = tangent::map_directions(cx.k, n, t.data(), |x| s.apply(x));
        Tensor::from_parts(tangent::tshape(cx.k, &[n]), data)
    }
    fn kinks(&self) -> usize {
        self.blocks.len()
    }
    fn unresolved(&self) -> usize {
        if !self.lexed {
            return 0;
        }
        self.locked.iter().filter(|g| g.iter().any(|x| x.len() > 1)).count()
    }
    fn unlock(&mut self) {
        if !self.pinned {
            self.locked = self.blocks.iter().map(|(_, t)| vec![t.clone()]).collect();
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

impl<'t, T: Real> Var<'t, T> {
    /// Sort a 1-d variable ascending; ties by the representation's rule for [`SORT`].
    pub fn sort(self) -> Result<Var<'t, T>> {
        let rule = self.tape().representation().ties(&SORT);
        self.sort_with(rule)
    }
    /// Sort a 1-d variable ascending with a tie rule fixed by the call.
    pub fn sort_with(self, rule: TieRule) -> Result<Var<'t, T>> {
        let v = self.value();
        if v.ndim() != 1 {
            return Err(Error::shape("sort", format!("expects a 1-d variable, shape is {:?}", v.shape())));
        }
        let d = v.data();
        let n = d.len();
        let mut perm: Vec<u32> = (0..n as u32).collect();
        // -0.0 and 0.0 compare unequal under total_cmp; treat them as a tie like everywhere else
        perm.sort_by(|&a, &b| {
            let (x, y) = (d[a as usize].to_f64(), d[b as usize].to_f64());
            if x == y {
                a.cmp(&b)
            } else {
                x.total_cmp(&y)
            }
        });
        let mut blocks = Vec::new();
        let mut k = 0;
        while k < n {
            let mut e = k + 1;
            while e < n && d[perm[e] as usize] == d[perm[k] as usize] {
                e += 1;
            }
            if e - k > 1 {
                let mut tied: Vec<u32> = perm[k..e].to_vec();
                tied.sort_unstable();
                blocks.push((k, tied));
            }
            k = e;
        }
        let out: Vec<T> = perm.iter().map(|&p| d[p as usize]).collect();
        let locked = blocks.iter().map(|(_, t): &(usize, Vec<u32>)| vec![t.clone()]).collect();
        let op = SortOp { rule, n, perm, blocks, locked, lexed: false, pinned: false };
        Ok(self.tape().push(op, &[self], Tensor::new(vec![n], out)?))
    }
}
