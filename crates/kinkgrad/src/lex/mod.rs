//! Lexicographic modes: derivatives that do not depend on the representation.
//!
//! **LD-derivatives** (Khan & Barton, *A vector forward mode of automatic differentiation for
//! generalized derivative evaluation*, Optim. Methods Softw. 2015): every value carries its
//! directional derivatives along the columns of a direction matrix `M`. At a kink a primitive picks
//! its piece by the sign of the first non-zero entry of (switching value, its derivatives along
//! `M`'s columns in order). The result `f'(x; M)` does not depend on the representation; with `M`
//! square and invertible, `M^-T f'(x; M)` is the lexicographic derivative: the gradient wherever f is
//! differentiable, an element of Clarke's generalized gradient elsewhere. (A plain JVP at a tie is
//! linear in the direction and so cannot be a directional derivative of `max`; the lexicographic
//! choice is what fixes that.)
//!
//! **Branch locking** (`safe` mode): the same forward tangent pass with seeded random probe
//! directions, run only through the ancestors of the ops that hit kinks, locks the pieces of the kink
//! elements; ordinary reverse mode then differentiates the locked pieces. For a generic direction `d`
//! the point `x + εd` lies inside one piece for small `ε > 0`, so the result is the gradient of a
//! smooth piece active on an open set touching `x`: a Clarke element, and the derivative itself where
//! f is differentiable. A tie surviving every direction drawn (its pieces agree along all of them) is
//! counted in the certificate, never hidden.

use crate::reverse::{JvpCx, Tape, Var};
use crate::rng::Rng;
use crate::scalar::Real;
use crate::tensor::Tensor;

/// A direction matrix `M` (`rows` = number of input elements, `cols` = number of directions),
/// row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Directions {
    /// Input elements.
    pub rows: usize,
    /// Directions.
    pub cols: usize,
    /// Row-major entries.
    pub data: Vec<f64>,
}

impl Directions {
    /// The identity over `n` inputs.
    pub fn identity(n: usize) -> Self {
        let mut data = vec![0.0; n * n];
        for i in 0..n {
            data[i * n + i] = 1.0;
        }
        Self { rows: n, cols: n, data }
    }
    /// Parse `"1,0;0,1"` (rows separated by `;`, entries by `,`).
    pub fn parse(s: &str) -> crate::Result<Self> {
        let rows: Vec<Vec<f64>> = s
            .split(';')
            .map(|r| {
                r.split(',').map(|v| v.trim().parse::<f64>().ok().filter(|x| x.is_finite())).collect::<Option<Vec<_>>>()
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| crate::Error::invalid("directions", format!("'{s}': expected numbers like 1,0;0,1")))?;
        let cols = rows[0].len();
        if rows.iter().any(|r| r.len() != cols) {
            return Err(crate::Error::invalid("directions", format!("'{s}': rows have different lengths")));
        }
        Ok(Self { rows: rows.len(), cols, data: rows.concat() })
    }
    /// Solve `M^T g = b` for square invertible `M` (Gaussian elimination with partial pivoting).
    pub fn solve_transposed(&self, b: &[f64]) -> Option<Vec<f64>> {
        let n = self.rows;
        if self.cols != n || b.len() != n {
            return None;
        }
        // A = M^T, augmented
        let mut a: Vec<Vec<f64>> =
            (0..n).map(|i| (0..n).map(|j| self.data[j * n + i]).chain([b[i]]).collect()).collect();
        for c in 0..n {
            let p = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
            if a[p][c] == 0.0 {
                return None;
            }
            a.swap(c, p);
            for r in 0..n {
                if r != c {
                    let f = a[r][c] / a[c][c];
                    if f != 0.0 {
                        for k in c..=n {
                            a[r][k] -= f * a[c][k];
                        }
                    }
                }
            }
        }
        Some((0..n).map(|i| a[i][n] / a[i][i]).collect())
    }
}

/// Forward tangent pass with `k` directions over the nodes marked in `todo`; seeds are the tangents
/// of leaves. Returns the tangent of every node reached.
pub(crate) fn tangent_pass<T: Real>(
    tape: &Tape<T>,
    todo: &[bool],
    seeds: Vec<(usize, Tensor<T>)>,
    k: usize,
) -> Vec<Option<Tensor<T>>> {
    let n = todo.len();
    let mut tan: Vec<Option<Tensor<T>>> = vec![None; n];
    for (id, t) in seeds {
        tan[id] = Some(t);
    }
    for i in 0..n {
        if !todo[i] || tan[i].is_some() {
            continue;
        }
        let mut nodes = tape.nodes.borrow_mut();
        let inputs = nodes[i].inputs.clone();
        if inputs.iter().all(|&j| tan[j].is_none()) {
            continue;
        }
        let Some(mut op) = nodes[i].op.take() else { continue };
        let values: Vec<Tensor<T>> = inputs.iter().map(|&j| nodes[j].value.clone()).collect();
        let out = nodes[i].value.clone();
        drop(nodes);
        let cx = JvpCx {
            inputs: values.iter().collect(),
            tangents: inputs.iter().map(|&j| tan[j].as_ref()).collect(),
            out: &out,
            k,
        };
        let t = op.jvp(&cx);
        tape.nodes.borrow_mut()[i].op = Some(op);
        tan[i] = Some(t);
    }
    tan
}

fn unresolved_in<T: Real>(tape: &Tape<T>, todo: &[bool]) -> usize {
    let nodes = tape.nodes.borrow();
    todo.iter().enumerate().filter(|(_, &t)| t).filter_map(|(i, _)| nodes[i].op.as_ref()).map(|o| o.unresolved()).sum()
}

/// Branch locking for `safe` mode. Returns (ties surviving every direction, directions drawn).
pub(crate) fn lock_safe<T: Real>(
    tape: &Tape<T>,
    wrt: &[Var<'_, T>],
    relevant: &[bool],
    seed: u64,
    max_dirs: usize,
) -> (usize, usize) {
    // ancestors (inclusive) of the relevant ops that hit kinks
    let mut todo = vec![false; relevant.len()];
    {
        let nodes = tape.nodes.borrow();
        for i in (0..relevant.len()).rev() {
            if relevant[i] && nodes[i].op.as_ref().is_some_and(|o| o.kinks() > 0) {
                todo[i] = true;
            }
            if todo[i] {
                for &j in &nodes[i].inputs {
                    if relevant[j] {
                        todo[j] = true;
                    }
                }
            }
        }
    }
    let mut k = 1;
    loop {
        let mut rng = Rng::new(seed);
        let seeds: Vec<(usize, Tensor<T>)> = wrt
            .iter()
            .filter(|w| w.id < todo.len() && todo[w.id])
            .map(|w| {
                let s = w.shape();
                let n: usize = s.iter().product();
                // drawn straight into the tensor's precision (same values as through f64 and from_f64)
                let data: Vec<T> = (0..k * n).map(|_| T::from_f64(rng.range(-1.0, 1.0))).collect();
                (w.id, crate::reverse::var::ok(Tensor::new(crate::reverse::ops::tangent::tshape(k, &s), data)))
            })
            .collect();
        tangent_pass(tape, &todo, seeds, k);
        let unresolved = unresolved_in(tape, &todo);
        if unresolved == 0 || k >= max_dirs {
            return (unresolved, k);
        }
        k += 1;
    }
}

/// The LD-derivative `f'(x; M)` of the scalar `y` and the number of ties that survived.
pub(crate) fn ld_derivative<T: Real>(
    tape: &Tape<T>,
    y: Var<'_, T>,
    wrt: &[Var<'_, T>],
    relevant: &[bool],
    m: &Directions,
) -> (Vec<f64>, usize) {
    let k = m.cols;
    let mut off = 0;
    let seeds: Vec<(usize, Tensor<T>)> = wrt
        .iter()
        .map(|w| {
            let s = w.shape();
            let n: usize = s.iter().product();
            let mut data = vec![0.0; k * n];
            for c in 0..k {
                for e in 0..n {
                    data[c * n + e] = m.data[(off + e) * m.cols + c];
                }
            }
            off += n;
            (w.id, crate::reverse::var::ok(Tensor::from_f64(crate::reverse::ops::tangent::tshape(k, &s), &data)))
        })
        .collect();
    let seeded: Vec<usize> = seeds.iter().map(|s| s.0).collect();
    let tan = tangent_pass(tape, relevant, seeds, k);
    let unresolved = unresolved_in(tape, relevant);
    let ld = match &tan[y.id] {
        Some(t) => t.to_f64_vec(),
        None if seeded.contains(&y.id) => vec![0.0; k],
        None => vec![0.0; k],
    };
    (ld, unresolved)
}
