//! Recorded derivatives ([`Tape::grad_vars`]): a gradient kept on the tape as variables, so that it
//! can sit inside a loss and be differentiated again (input-gradient penalties, PINNs, Deep Ritz).
//! The meaning of a derivative of a recorded derivative at kinks is stated in [`crate::engine`].

use super::{directions_for, Mode};
use crate::certificate::Certificate;
use crate::error::{Error, Result};
use crate::lex;
use crate::reverse::{check_scalar, Tape, Var};
use crate::scalar::Real;

/// Gradients recorded on the tape ([`Tape::grad_vars`]), with their certificate.
#[derive(Clone, Debug)]
pub struct RecordedGradients<'t, T: Real> {
    /// One variable per `wrt`, shaped like it, differentiable again.
    pub vars: Vec<Var<'t, T>>,
    /// What the recorded numbers are. A derivative computed from them inherits it: its own
    /// certificate counts these kinks too.
    pub certificate: Certificate,
}

impl<T: Real> Tape<T> {
    /// Gradients of the scalar `y` with respect to `wrt`, recorded on the tape so that they can be
    /// differentiated again (gradients of gradients), computed in `mode`.
    ///
    /// - `assoc`: the associated gradient (the representation's pieces at kinks, as the frameworks).
    /// - `safe`, `lex`: the pieces at kinks are chosen lexicographically at this call (probe
    ///   directions over `wrt`, or the columns of `M`, then, for ties those leave, seeded probe
    ///   directions over every variable the kinked ops depend on) and **pinned**: every later pass
    ///   over these nodes (`gradient`, `grad_vars`, in any mode) keeps them, and locks only kinks not
    ///   pinned yet. The recorded gradient is the one `gradient` returns in that mode, and its
    ///   derivatives are those of the pinned pieces (see [`crate::engine`] for what that guarantees).
    ///
    /// Errors: `y` not a single element, a non-finite value or gradient, `lex` directions that do
    /// not fit `wrt`, and `safe`/`lex` through the kinks of an op that cannot keep its pieces
    /// ([`crate::reverse::Op::pinnable`]).
    ///
    /// ```
    /// use kinkgrad::{Mode, Tape, Tensor};
    /// // d/dx (relu(x) - relu(-x)) = 1 at x = 0, recorded; then d/dw of w * that gradient
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(0.0));
    /// let w = tape.var(Tensor::scalar(3.0));
    /// let y = x.relu().sub(x.neg().relu()).unwrap().mul(w).unwrap();
    /// let g = tape.grad_vars(y, &[x], &Mode::safe()).unwrap();
    /// assert_eq!(g.vars[0].item().unwrap(), 3.0);
    /// assert_eq!(g.certificate.kind.as_str(), "generalized");
    /// let h = tape.gradient(g.vars[0], &[w], &Mode::safe()).unwrap();
    /// assert_eq!(h.values[0].item().unwrap(), 1.0);
    /// assert_eq!(h.certificate.kinks_total(), 2); // the inner pass's relu kinks
    /// ```
    pub fn grad_vars<'t>(&'t self, y: Var<'t, T>, wrt: &[Var<'t, T>], mode: &Mode) -> Result<RecordedGradients<'t, T>> {
        check_scalar(&y)?;
        self.check_finite(y)?;
        let relevant = self.relevant(y, wrt);
        let to_lock = self.unpinned_kinked(&relevant);
        if mode.locks() {
            if let Some(op) = self.first_unpinnable(&to_lock) {
                return Err(Error::unsupported(
                    format!("{mode} gradients of gradients through the kinks of {op}"),
                    format!("{op} cannot keep its locked pieces for later passes (Op::pin)"),
                ));
            }
        }
        self.unlock(&relevant);
        let mut directions = 0;
        let first = match mode {
            Mode::Assoc => None,
            Mode::Safe { seed, max_directions } => to_lock.contains(&true).then(|| {
                let p = lex::lock_safe(self, wrt, &relevant, &to_lock, *seed, 1, (*max_directions).max(1));
                (p, *seed, (*max_directions).max(1))
            }),
            Mode::Lex(m) => {
                let m = directions_for(m, wrt)?;
                to_lock
                    .contains(&true)
                    .then(|| (lex::lock_along(self, wrt, &relevant, &to_lock, &m), 0, Mode::SAFE_MAX_DIRECTIONS))
            }
        };
        if let Some((probes, seed, max)) = first {
            directions = probes.k;
            if probes.unresolved > 0 {
                directions += lex::lock_joint(self, &to_lock, &probes, seed, max).0;
            }
            self.pin(&to_lock);
        }
        let certificate = self.certificate(mode, &relevant, directions, &[]);
        let own = self.own_sources(&relevant, mode.locks(), &[]);
        let len = self.len();
        let vars = self.backward(y, wrt, &relevant, Some(&own));
        let non_finite = {
            let nodes = self.nodes.borrow();
            vars.iter().any(|v| nodes[v.id].value.first_non_finite().is_some())
        };
        if non_finite {
            let op = self.first_non_finite_after(len).unwrap_or_else(|| "backward".into());
            self.truncate(len);
            return Err(Error::NonFinite { op, stage: "gradient" });
        }
        Ok(RecordedGradients { vars, certificate })
    }
}
