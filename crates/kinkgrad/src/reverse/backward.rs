//! The reverse sweep: which nodes a gradient goes through, their kinks, and the recorded backward
//! pass over the pieces the ops hold (the representation's, or the locked ones). The modes and their
//! certificates are driven from [`crate::engine`].

use super::provenance::KinkSources;
use super::var::ok;
use super::{OpCx, Tape, Var};
use crate::error::{Error, Result};
use crate::scalar::Real;
use crate::tensor::Tensor;

impl<T: Real> Tape<T> {
    /// `relevant[i]`: node `i` depends on one of `wrt` and `y` depends on it.
    pub(crate) fn relevant(&self, y: Var<'_, T>, wrt: &[Var<'_, T>]) -> Vec<bool> {
        let nodes = self.nodes.borrow();
        let n = y.id + 1;
        let mut dep = vec![false; n];
        for w in wrt {
            if w.id < n {
                dep[w.id] = true;
            }
        }
        for i in 0..n {
            if !dep[i] && nodes[i].variable && nodes[i].inputs.iter().any(|&j| dep[j]) {
                dep[i] = true;
            }
        }
        let mut reach = vec![false; n];
        reach[y.id] = true;
        for i in (0..n).rev() {
            if reach[i] && dep[i] {
                for &j in &nodes[i].inputs {
                    reach[j] = true;
                }
            }
        }
        (0..n).map(|i| dep[i] && reach[i]).collect()
    }

    /// `out[i]`: node `i` is relevant, hit kinks, and is not pinned (its pieces are for this pass
    /// to choose).
    pub(crate) fn unpinned_kinked(&self, relevant: &[bool]) -> Vec<bool> {
        let nodes = self.nodes.borrow();
        (0..relevant.len())
            .map(|i| relevant[i] && !nodes[i].pinned && nodes[i].op.as_ref().is_some_and(|o| o.kinks() > 0))
            .collect()
    }

    /// `out[i]`: node `i` is marked in `kinked` and every kink of it is inert given its inputs'
    /// locally constant elements ([`super::Op::kinks_inert`], [`super::Op::constant_elements`]):
    /// its pieces cannot change any derivative, so `safe` need not lock them.
    pub(crate) fn inert(&self, kinked: &[bool]) -> Vec<bool> {
        let nodes = self.nodes.borrow();
        (0..kinked.len())
            .map(|i| {
                if !kinked[i] {
                    return false;
                }
                let Some(op) = nodes[i].op.as_ref() else { return false };
                let constant: Vec<Option<Vec<bool>>> = nodes[i]
                    .inputs
                    .iter()
                    .map(|&j| {
                        let p = nodes[j].op.as_ref()?;
                        let vals: Vec<&crate::tensor::Tensor<T>> =
                            nodes[j].inputs.iter().map(|&k| &nodes[k].value).collect();
                        p.constant_elements(&vals)
                    })
                    .collect();
                op.kinks_inert(&constant)
            })
            .collect()
    }

    /// Back to the representation's pieces on the relevant nodes that are not pinned.
    pub(crate) fn unlock(&self, relevant: &[bool]) {
        let mut nodes = self.nodes.borrow_mut();
        for (i, r) in relevant.iter().enumerate() {
            if nodes[i].pinned {
                continue;
            }
            if let (true, Some(op)) = (r, nodes[i].op.as_mut()) {
                op.unlock();
            }
        }
    }

    /// The first of the marked nodes whose op cannot keep its pieces ([`super::Op::pinnable`]).
    pub(crate) fn first_unpinnable(&self, marked: &[bool]) -> Option<String> {
        let nodes = self.nodes.borrow();
        (0..marked.len())
            .find(|&i| marked[i] && nodes[i].op.as_ref().is_some_and(|o| !o.pinnable()))
            .map(|i| nodes[i].op.as_ref().map_or(String::new(), |o| o.name().to_string()))
    }

    /// Pin the pieces of the marked nodes ([`super::Op::pin`]).
    pub(crate) fn pin(&self, marked: &[bool]) {
        let mut nodes = self.nodes.borrow_mut();
        for (i, &m) in marked.iter().enumerate() {
            if m {
                if let Some(op) = nodes[i].op.as_mut() {
                    op.pin();
                    nodes[i].pinned = true;
                }
            }
        }
    }

    /// Reverse sweep recording the cotangents on the tape. With `tag`, every node recorded by the
    /// VJP of a node is tagged with the kink sources it holds ([`super::provenance`]): `tag` is this
    /// pass's account of its own kinked ops.
    pub(crate) fn backward<'t>(
        &'t self,
        y: Var<'t, T>,
        wrt: &[Var<'t, T>],
        relevant: &[bool],
        tag: Option<&KinkSources>,
    ) -> Vec<Var<'t, T>> {
        let mut grads: Vec<Option<Var<'t, T>>> = vec![None; y.id + 1];
        let shape = y.shape();
        grads[y.id] = Some(self.constant(Tensor::ones(&shape)));
        for i in (0..=y.id).rev() {
            if !relevant[i] {
                continue;
            }
            let Some(g) = grads[i] else { continue };
            let (op, inputs) = {
                let mut nodes = self.nodes.borrow_mut();
                match nodes[i].op.take() {
                    Some(op) => (op, nodes[i].inputs.clone()),
                    None => continue,
                }
            };
            let cx = OpCx {
                tape: self,
                inputs: inputs.iter().map(|&id| Var { tape: self, id }).collect(),
                out: Var { tape: self, id: i },
                wanted: inputs.iter().map(|&j| relevant[j]).collect(),
            };
            let from = self.len();
            let gs = op.vjp(&cx, g);
            self.nodes.borrow_mut()[i].op = Some(op);
            if let Some(own) = tag {
                self.tag_recorded(i, from, own);
            }
            for (k, gj) in gs.into_iter().enumerate() {
                let j = inputs[k];
                if let (true, Some(gj)) = (relevant[j], gj) {
                    grads[j] = Some(match grads[j] {
                        None => gj,
                        Some(acc) => ok(acc.add(gj)),
                    });
                }
            }
        }
        wrt.iter()
            .map(|w| match grads.get(w.id).copied().flatten() {
                Some(g) => g,
                None => self.constant(Tensor::zeros(&w.shape())),
            })
            .collect()
    }
}

/// Refuse a `y` that is not a single element.
pub(crate) fn check_scalar<T: Real>(y: &Var<'_, T>) -> Result<()> {
    let s = y.shape();
    if s.iter().product::<usize>() != 1 {
        return Err(Error::shape("gradient", format!("the output must hold one element, its shape is {s:?}")));
    }
    Ok(())
}
