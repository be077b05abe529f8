//! Branch locking: the ops that hit kinks select their pieces lexicographically along probe
//! directions (a tangent pass through their ancestors only), for the backward pass that follows.
//!
//! - [`lock_safe`]: seeded random directions over the differentiated variables, one more at a time
//!   while ties survive (`safe`).
//! - [`lock_along`]: the columns of a direction matrix `M` over the differentiated variables (`lex`
//!   for a recorded derivative).
//! - [`lock_joint`]: continues either order with seeded random directions over **every** variable
//!   the kinked ops depend on (a recorded derivative is differentiated again with respect to
//!   variables the first directions do not move).

use super::{m_seeds, tangent_pass, Directions};
use crate::reverse::ops::tangent::tshape;
use crate::reverse::var::ok;
use crate::reverse::{Tape, Var};
use crate::rng::Rng;
use crate::scalar::Real;
use crate::tensor::Tensor;

/// The directions of a locking pass: the tangent seeds (`[k, ...shape]` per seeded node), their
/// number, and the ties among the locked ops that survived them.
pub(crate) struct Probes<T: Real> {
    /// Seeds per node.
    pub seeds: Vec<(usize, Tensor<T>)>,
    /// Directions.
    pub k: usize,
    /// Surviving ties among the ops locked.
    pub unresolved: usize,
}

/// Ancestors (inclusive) of the `marked` nodes, through the `within` nodes only (all when `None`).
fn ancestors<T: Real>(tape: &Tape<T>, marked: &[bool], within: Option<&[bool]>) -> Vec<bool> {
    let nodes = tape.nodes.borrow();
    let mut out = marked.to_vec();
    for i in (0..out.len()).rev() {
        if out[i] {
            for &j in &nodes[i].inputs {
                if within.is_none_or(|w| w[j]) {
                    out[j] = true;
                }
            }
        }
    }
    out
}

/// Surviving ties among the marked ops.
fn unresolved_among<T: Real>(tape: &Tape<T>, marked: &[bool]) -> usize {
    let nodes = tape.nodes.borrow();
    (0..marked.len()).filter(|&i| marked[i]).filter_map(|i| nodes[i].op.as_ref()).map(|o| o.unresolved()).sum()
}

/// `k` directions drawn uniformly in `[-1, 1]` for each node of `ids`, straight into the tensor's
/// precision (the same values as through `f64` and `from_f64`), node after node.
fn draw<T: Real>(tape: &Tape<T>, ids: &[usize], k: usize, rng: &mut Rng) -> Vec<Vec<T>> {
    let nodes = tape.nodes.borrow();
    ids.iter().map(|&id| (0..k * nodes[id].value.len()).map(|_| T::from_f64(rng.range(-1.0, 1.0))).collect()).collect()
}

/// The seeds back from a tangent pass (it keeps a seeded node's tangent as given).
fn take_seeds<T: Real>(tan: &mut [Option<Tensor<T>>], ids: &[usize]) -> Vec<(usize, Tensor<T>)> {
    ids.iter().map(|&id| (id, tan[id].take().expect("a seeded node keeps its tangent"))).collect()
}

/// Branch locking for `safe`: the ops marked `to_lock` (relevant, kinked, not pinned) select their
/// pieces along `k = first, first + 1, ...` seeded random directions over `wrt`, until no tie
/// survives or `max_dirs` directions were drawn (each pass selects afresh: a caller that knows a tie
/// will survive every direction starts at `first = max_dirs`, with the bits of the passes from 1).
pub(crate) fn lock_safe<T: Real>(
    tape: &Tape<T>,
    wrt: &[Var<'_, T>],
    relevant: &[bool],
    to_lock: &[bool],
    seed: u64,
    first: usize,
    max_dirs: usize,
) -> Probes<T> {
    let todo = ancestors(tape, to_lock, Some(relevant));
    let ids: Vec<usize> = wrt.iter().map(|w| w.id).filter(|&id| id < todo.len() && todo[id]).collect();
    let mut k = first.clamp(1, max_dirs.max(1));
    loop {
        let data = draw(tape, &ids, k, &mut Rng::new(seed));
        let seeds: Vec<(usize, Tensor<T>)> = ids
            .iter()
            .zip(data)
            .map(|(&id, d)| (id, ok(Tensor::new(tshape(k, tape.nodes.borrow()[id].value.shape()), d))))
            .collect();
        let mut tan = tangent_pass(tape, &todo, seeds, k);
        let unresolved = unresolved_among(tape, to_lock);
        if unresolved == 0 || k >= max_dirs {
            return Probes { seeds: take_seeds(&mut tan, &ids), k, unresolved };
        }
        k += 1;
    }
}

/// Branch locking along the columns of `M` over `wrt` (`lex` for a recorded derivative).
pub(crate) fn lock_along<T: Real>(
    tape: &Tape<T>,
    wrt: &[Var<'_, T>],
    relevant: &[bool],
    to_lock: &[bool],
    m: &Directions,
) -> Probes<T> {
    let todo = ancestors(tape, to_lock, Some(relevant));
    let seeds: Vec<(usize, Tensor<T>)> = m_seeds(wrt, m).into_iter().filter(|(id, _)| todo[*id]).collect();
    let ids: Vec<usize> = seeds.iter().map(|s| s.0).collect();
    let mut tan = tangent_pass(tape, &todo, seeds, m.cols);
    Probes { seeds: take_seeds(&mut tan, &ids), k: m.cols, unresolved: unresolved_among(tape, to_lock) }
}

/// Continue a locking order past its `first.k` directions: `k2 = 1, 2, ...` more seeded random
/// directions over every variable leaf the ops `to_lock` depend on (and the seeded nodes of
/// `first`), until no tie survives or `max_dirs` more were drawn. The first `first.k` columns are
/// those of `first` (zero on the other leaves), so a piece `first` decided stays decided. Returns the
/// directions added and the ties that survived them all.
pub(crate) fn lock_joint<T: Real>(
    tape: &Tape<T>,
    to_lock: &[bool],
    first: &Probes<T>,
    seed: u64,
    max_dirs: usize,
) -> (usize, usize) {
    let todo = ancestors(tape, to_lock, None);
    let k1 = first.k;
    let (mut ids, leaves): (Vec<usize>, Vec<usize>) = {
        let nodes = tape.nodes.borrow();
        let firsts: Vec<usize> = first.seeds.iter().map(|s| s.0).collect();
        let leaves = (0..todo.len())
            .filter(|&i| todo[i] && nodes[i].op.is_none() && nodes[i].variable && !firsts.contains(&i))
            .collect();
        (firsts, leaves)
    };
    ids.extend(&leaves);
    let mut k2 = 1;
    loop {
        // a stream of its own, so that the first directions are not repeated
        let data = draw(tape, &ids, k2, &mut Rng::new(seed ^ 0x6a09_e667_f3bc_c908));
        let seeds: Vec<(usize, Tensor<T>)> = ids
            .iter()
            .zip(data)
            .enumerate()
            .map(|(q, (&id, more))| {
                let shape = tape.nodes.borrow()[id].value.shape().to_vec();
                let mut d: Vec<T> = match first.seeds.get(q) {
                    Some((_, t)) => t.data().to_vec(),
                    None => vec![T::ZERO; k1 * shape.iter().product::<usize>()],
                };
                d.extend(more);
                (id, ok(Tensor::new(tshape(k1 + k2, &shape), d)))
            })
            .collect();
        tangent_pass(tape, &todo, seeds, k1 + k2);
        let unresolved = unresolved_among(tape, to_lock);
        if unresolved == 0 || k2 >= max_dirs {
            return (k2, unresolved);
        }
        k2 += 1;
    }
}
