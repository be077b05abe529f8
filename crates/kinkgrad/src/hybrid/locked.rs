//! Modes `safe` and `lex` for the alpha form: the network and every time loop on one tape.
//!
//! The fast path ([`HybridModel::loss_and_gradient`] in mode `assoc`) runs the time loops with
//! hand-written adjoints beside the network's tape, so a mode that locks pieces along probe
//! directions would reach only the network's kinks. Here the loops of all samples are one op on the
//! network's tape ([`Transport::time_loop_var`]): the tape's safe mode sends the tangents of the
//! source along its probe directions in weight space through every step and locks the limiter's
//! pieces at every kink face together with the network's ReLUs, so the result does not depend on the
//! representation at any kink, network or scheme. Memory: one byte per face, step and sample (no
//! checkpointing in this mode).

use super::data::Dataset;
use super::model::{net_and_scheme, HybridModel, LossReport, SCHEME};
use crate::engine::Mode;
use crate::error::{Error, Result};
use crate::pde::scheme::Transport;
use crate::repr::Representation;
use crate::reverse::Tape;
use crate::tensor::Tensor;

impl HybridModel {
    /// `J` and `dJ/dW` (alpha form) with the network and the time loops on one tape, differentiated in
    /// `mode`. Needs a constant velocity (not Burgers' equation).
    pub(crate) fn gradient_alpha_locked(
        &self,
        d: &Dataset,
        t: &Transport,
        idx: &[usize],
        mode: &Mode,
        rep: &Representation,
    ) -> Result<LossReport> {
        let (n, m) = (t.grid.cells, idx.len());
        let a = d.velocity_arg(t);
        if a.len() != 1 {
            return Err(Error::invalid("mode", "safe/lex through the scheme needs a constant velocity (not Burgers)"));
        }
        let tape = Tape::<f64>::with_representation(rep.clone());
        let params = self.net.param_vars(&tape);
        let s = self.net.forward(tape.constant(self.batch_features(d, t, idx, None)), &params)?;
        let u0: Vec<f64> = idx.iter().flat_map(|&i| d.beta[i].iter().copied()).collect();
        tape.set_scope(SCHEME);
        let u = t.time_loop_var(s, &u0, a[0], d.steps)?;
        tape.set_scope("");
        let gamma: Vec<f64> = idx.iter().flat_map(|&i| d.gamma[i].iter().copied()).collect();
        let j = u
            .sub(tape.constant(Tensor::from_parts(vec![m * n, 1], gamma)))?
            .square()
            .sum()
            .scale(t.grid.dx() / m as f64);
        let g = tape.gradient(j, &params, mode)?;
        let kinks = net_and_scheme(&g.certificate.kinks);
        Ok(LossReport {
            loss: j.value().to_f64_vec()[0],
            grads: g.values.into_iter().map(|v| v.into_vec()).collect(),
            certificate: crate::Certificate { kinks, ..g.certificate },
            peak_bytes: m * d.steps * n,
        })
    }
}
