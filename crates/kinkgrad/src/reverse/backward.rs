//! Gradients: `assoc` (plain reverse mode on the representation's pieces), `safe` (branch-locked
//! reverse mode) and `lex` (lexicographic forward mode), each with its certificate.

use super::var::ok;
use super::{OpCx, Tape, Var};
use crate::error::{Error, Result};
use crate::kink::{Certificate, CertificateKind, KinkLog};
use crate::lex::{self, Directions};
use crate::scalar::Real;
use crate::tensor::Tensor;

/// How a gradient treats kinks.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// Associated gradient: at a kink the representation's rule picks the piece (what the frameworks do).
    Assoc,
    /// Lexicographic directional derivatives along the columns of `M` (default: identity over the
    /// inputs). The gradient is returned when `M` is square and invertible.
    Lex(Option<Directions>),
    /// Branch-locked reverse mode: pieces at kinks are chosen lexicographically along seeded random
    /// probe directions (at most `max_directions`), then ordinary reverse mode runs on them.
    Safe {
        /// Seed of the probe directions.
        seed: u64,
        /// Directions drawn at most before a surviving tie is reported.
        max_directions: usize,
    },
}

impl Mode {
    /// `safe` with seed 0 and up to 4 directions.
    pub fn safe() -> Self {
        Mode::Safe { seed: 0, max_directions: 4 }
    }
    /// The mode's name: `assoc`, `lex`, `safe`.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Assoc => "assoc",
            Mode::Lex(_) => "lex",
            Mode::Safe { .. } => "safe",
        }
    }
}

/// The result of a gradient computation.
#[derive(Clone, Debug)]
pub struct Gradients<T: Real> {
    /// One tensor per variable, shaped like it. Empty in `lex` mode when `M` is not square.
    pub values: Vec<Tensor<T>>,
    /// `lex` mode: the LD-derivative `f'(x; M)` (one entry per column of `M`).
    pub ld_derivative: Option<Vec<f64>>,
    /// What the numbers are.
    pub certificate: Certificate,
}

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
    fn backward<'t>(&'t self, y: Var<'t, T>, wrt: &[Var<'t, T>], relevant: &[bool]) -> Vec<Var<'t, T>> {
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

    /// Gradients of the scalar `y` with respect to `wrt` in the given mode, with a certificate.
    pub fn gradient<'t>(&'t self, y: Var<'t, T>, wrt: &[Var<'t, T>], mode: &Mode) -> Result<Gradients<T>> {
        check_scalar(&y)?;
        self.check_finite(y)?;
        let relevant = self.relevant(y, wrt);
        let kinks = self.relevant_kinks(&relevant);
        let rep = self.representation().name.clone();
        let mut cert = Certificate {
            kind: CertificateKind::Exact,
            mode: mode.name(),
            representation: rep,
            unresolved_ties: 0,
            directions: 0,
            kinks: kinks.clone(),
        };
        self.unlock(&relevant);
        match mode {
            Mode::Assoc => {
                if kinks.total() > 0 {
                    cert.kind = CertificateKind::RepresentationDependent;
                }
            }
            Mode::Safe { seed, max_directions } => {
                if kinks.total() > 0 {
                    let (unresolved, dirs) = lex::lock_safe(self, wrt, &relevant, *seed, (*max_directions).max(1));
                    cert.kind = CertificateKind::Generalized;
                    cert.unresolved_ties = unresolved;
                    cert.directions = dirs;
                }
            }
            Mode::Lex(m) => {
                let n: usize = wrt.iter().map(|w| w.value().len()).sum();
                let m = match m {
                    Some(m) => m.clone(),
                    None => Directions::identity(n),
                };
                if m.rows != n {
                    return Err(Error::invalid(
                        "directions",
                        format!("the direction matrix has {} rows, the inputs have {n} elements", m.rows),
                    ));
                }
                let (ld, unresolved) = lex::ld_derivative(self, y, wrt, &relevant, &m);
                if kinks.total() > 0 {
                    cert.kind = CertificateKind::Generalized;
                }
                cert.unresolved_ties = unresolved;
                cert.directions = m.cols;
                let values = match m.solve_transposed(&ld) {
                    Some(g) => split_like(&g, wrt),
                    None => vec![],
                };
                return Ok(Gradients { values, ld_derivative: Some(ld), certificate: cert });
            }
        }
        let len = self.len();
        let gv = self.backward(y, wrt, &relevant);
        let values: Vec<Tensor<T>> = gv.iter().map(|g| g.value()).collect();
        if values.iter().any(|v| v.first_non_finite().is_some()) {
            let nodes = self.nodes.borrow();
            let op = nodes[len..]
                .iter()
                .find(|n| n.value.first_non_finite().is_some())
                .and_then(|n| n.op.as_ref().map(|o| o.name().to_string()))
                .unwrap_or_else(|| "backward".into());
            drop(nodes);
            self.truncate(len);
            return Err(Error::NonFinite { op, stage: "gradient" });
        }
        self.truncate(len);
        Ok(Gradients { values, ld_derivative: None, certificate: cert })
    }
}

fn check_scalar<T: Real>(y: &Var<'_, T>) -> Result<()> {
    let s = y.shape();
    if s.iter().product::<usize>() != 1 {
        return Err(Error::shape("gradient", format!("the output must hold one element, its shape is {s:?}")));
    }
    Ok(())
}

/// Split a flat vector into tensors shaped like `wrt`.
fn split_like<T: Real>(g: &[f64], wrt: &[Var<'_, T>]) -> Vec<Tensor<T>> {
    let mut off = 0;
    wrt.iter()
        .map(|w| {
            let s = w.shape();
            let n: usize = s.iter().product();
            let t = ok(Tensor::from_f64(s, &g[off..off + n]));
            off += n;
            t
        })
        .collect()
}
