//! The reverse sweep: which nodes a gradient goes through, their kinks, and the recorded backward
//! pass over the pieces the ops hold (the representation's, or the locked ones). The modes and their
//! certificates are driven from [`crate::engine`].

use super::var::ok;
use super::{OpCx, Tape, Var};
use crate::error::{Error, Result};
use crate::kink::KinkLog;
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

    /// The kinks of the relevant nodes.
    pub(crate) fn relevant_kinks(&self, relevant: &[bool]) -> KinkLog {
        let nodes = self.nodes.borrow();
        let mut log = KinkLog::default();
        for (i, r) in relevant.iter().enumerate() {
            if let (true, Some(op)) = (r, &nodes[i].op) {
                log.add(&nodes[i].scope, op.name(), op.kinks());
            }
        }
        log
    }

    pub(crate) fn unlock(&self, relevant: &[bool]) {
        let mut nodes = self.nodes.borrow_mut();
        for (i, r) in relevant.iter().enumerate() {
            if let (true, Some(op)) = (r, nodes[i].op.as_mut()) {
                op.unlock();
            }
        }
    }

    /// Reverse sweep recording the cotangents on the tape.
    pub(crate) fn backward<'t>(&'t self, y: Var<'t, T>, wrt: &[Var<'t, T>], relevant: &[bool]) -> Vec<Var<'t, T>> {
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
            let gs = op.vjp(&cx, g);
            self.nodes.borrow_mut()[i].op = Some(op);
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

    /// Gradients of the scalar `y` with respect to `wrt`, recorded on the tape so that they can be
    /// differentiated again (gradients of gradients). Associated gradients (`assoc` mode).
    pub fn grad_vars<'t>(&'t self, y: Var<'t, T>, wrt: &[Var<'t, T>]) -> Result<Vec<Var<'t, T>>> {
        check_scalar(&y)?;
        let relevant = self.relevant(y, wrt);
        // drop the pieces a previous `safe`/`lex` gradient locked: this is the associated gradient
        self.unlock(&relevant);
        Ok(self.backward(y, wrt, &relevant))
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
