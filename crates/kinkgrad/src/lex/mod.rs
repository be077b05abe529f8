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
//! counted in the certificate, never hidden, and gives its whole weight to its first tied piece: the
//! tied pieces give the same derivative along every direction drawn, so the result is exact in bits,
//! independent of the representation, and the chosen piece is active at the point.
//!
//! Locking for a recorded derivative (`grad_vars` in `safe`/`lex`, see [`crate::engine`]) continues
//! the lexicographic order past the directions of the differentiated variables: ties those leave
//! are narrowed along probe directions over every variable the kinked ops depend on
//! ([`lock_joint`]), so that the pieces the recorded pass holds also serve its derivatives with
//! respect to the other variables.

mod lock;

pub(crate) use lock::{lock_along, lock_joint, lock_safe};

use crate::reverse::{JvpCx, Tape, Var};
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

/// The columns of `M` as tangent seeds of `wrt` (`[k, ...shape]` each, rows of `M` in the order of
/// `wrt`'s elements).
pub(crate) fn m_seeds<T: Real>(wrt: &[Var<'_, T>], m: &Directions) -> Vec<(usize, Tensor<T>)> {
    let k = m.cols;
    let mut off = 0;
    wrt.iter()
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
        .collect()
}

/// The LD-derivative `f'(x; M)` of the scalar `y` (one entry per column of `M`). The ops' surviving
/// ties are left for the caller to read ([`crate::reverse::Op::unresolved`]).
pub(crate) fn ld_derivative<T: Real>(
    tape: &Tape<T>,
    y: Var<'_, T>,
    wrt: &[Var<'_, T>],
    relevant: &[bool],
    m: &Directions,
) -> Vec<f64> {
    let tan = tangent_pass(tape, relevant, m_seeds(wrt, m), m.cols);
    match &tan[y.id] {
        Some(t) => t.to_f64_vec(),
        None => vec![0.0; m.cols],
    }
}
