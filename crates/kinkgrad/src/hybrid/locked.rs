//! Modes `safe` and `lex`: the network and every time loop on one tape.
//!
//! The fast path ([`HybridModel::loss_and_gradient`] in mode `assoc`) runs the time loops with
//! hand-written adjoints beside the network's tape, so a mode that locks pieces along probe
//! directions would reach only the network's kinks. Here the network and the scheme are recorded on
//! one tape and differentiated by [`crate::Tape::gradient`]: the probe directions (or `lex`'s
//! direction matrix) live in weight space, their tangents go through the network's source into every
//! step, and the limiter's and the flux's pieces at every kink face are locked together with the
//! network's ReLUs. The result does not depend on the representation at any kink, network or scheme.
//! The scheme's ops are recorded under the tape scope [`SCHEME`], the network's under its layers'
//! names (folded into [`super::NET`]), so the certificate splits the two.
//!
//! Two recordings, by what they can serve:
//! - **loop op** (alpha form, constant non-zero velocity, a scheme of the 1-byte piece tape: upwind,
//!   Lax-Wendroff, minmod, superbee, MC): the source is computed once and the time loops of all
//!   samples are one op ([`Transport::time_loop_var`]) that keeps one byte per face, step and
//!   sample.
//! - **step ops** (everything else: the state form, Burgers' equation, van Leer, a velocity per face
//!   or `a = 0`): every step of every sample is one fused op ([`Transport::step_var`]) with the
//!   velocity (a constant, scalar or per face; none for Burgers) and that step's source, which the
//!   state form evaluates by the network on the batch's current states. The tape then holds every
//!   step's network activations and every step op's linearisation (five partials per face, and a
//!   locked copy after the locking pass).
//!
//! Neither recording recomputes: both store every step, so a recompute schedule (`sqrt`,
//! `revolve:S`) is refused in these modes ([`Error::Unsupported`]) rather than reported and not
//! followed. [`LossReport::peak_bytes`] is measured on the tape after the gradient
//! ([`crate::Tape::bytes`]: node values and the ops' stored linearisations and piece codes); the
//! backward pass's own temporary nodes, freed when it ends, are not included.

use super::data::{Dataset, SourceForm};
use super::model::{net_and_scheme, HybridModel, LossReport, SCHEME};
use crate::cancel;
use crate::certificate::Certificate;
use crate::engine::Mode;
use crate::error::{Error, Result};
use crate::pde::checkpoint::Schedule;
use crate::pde::scheme::Transport;
use crate::repr::Representation;
use crate::reverse::{Tape, Var};
use crate::tensor::Tensor;

impl HybridModel {
    /// `J` and `dJ/dW` in a locking mode (`safe`, `lex`): the loop op where it serves, the step ops
    /// otherwise; a recompute schedule is refused.
    pub(super) fn gradient_locked(
        &self,
        d: &Dataset,
        t: &Transport,
        idx: &[usize],
        mode: &Mode,
        rep: &Representation,
        schedule: &Schedule,
    ) -> Result<LossReport> {
        if *schedule != Schedule::StoreAll {
            return Err(Error::unsupported(
                format!("mode {} with checkpoint schedule {schedule}", mode.name()),
                "the locked hybrid gradient records every time step on the network's tape and recomputes \
                 no segment; use the store-all schedule (all), or mode assoc with this schedule",
            ));
        }
        let a = d.velocity_arg(t);
        if self.form == SourceForm::Alpha && a.len() == 1 && t.time_loop_supports(a[0]) {
            return self.gradient_alpha_locked(d, t, idx, mode, rep);
        }
        self.gradient_steps_locked(d, t, idx, &a, mode, rep)
    }

    /// The loop op: `J` and `dJ/dW` (alpha form, constant velocity) with the network and the time
    /// loops of all samples on one tape.
    fn gradient_alpha_locked(
        &self,
        d: &Dataset,
        t: &Transport,
        idx: &[usize],
        mode: &Mode,
        rep: &Representation,
    ) -> Result<LossReport> {
        let (n, m) = (t.grid.cells, idx.len());
        let tape = Tape::<f64>::with_representation(rep.clone());
        let params = self.net.param_vars(&tape);
        let j = self.record_alpha_loop(&tape, &params, d, t, idx)?;
        let report = self.locked_report(&tape, j, &params, mode)?;
        // the loop op's memory is the piece tape (one byte per face, step and sample), which it
        // keeps outside the tape's values
        Ok(LossReport { peak_bytes: m * d.steps * n, ..report })
    }

    /// `J` recorded through the loop op, from the weights `params` (variables or expressions).
    fn record_alpha_loop<'t>(
        &self,
        tape: &'t Tape<f64>,
        params: &[Var<'t, f64>],
        d: &Dataset,
        t: &Transport,
        idx: &[usize],
    ) -> Result<Var<'t, f64>> {
        let a = d.velocity_arg(t);
        let s = self.net.forward(tape.constant(self.batch_features(d, t, idx, None)), params)?;
        let u0: Vec<f64> = idx.iter().flat_map(|&i| d.beta[i].iter().copied()).collect();
        tape.set_scope(SCHEME);
        let u = t.time_loop_var(s, &u0, a[0], d.steps)?;
        tape.set_scope("");
        self.locked_loss(tape, d, t, idx, u)
    }

    /// The step ops: every step of every sample one fused op on the network's tape, after the
    /// network's source of that step (state form) or the once-computed source (alpha form). `a` is
    /// the velocity: one value, one per face, or none (Burgers).
    pub(super) fn gradient_steps_locked(
        &self,
        d: &Dataset,
        t: &Transport,
        idx: &[usize],
        a: &[f64],
        mode: &Mode,
        rep: &Representation,
    ) -> Result<LossReport> {
        let tape = Tape::<f64>::with_representation(rep.clone());
        let params = self.net.param_vars(&tape);
        let j = self.record_steps(&tape, &params, d, t, idx, a)?;
        let report = self.locked_report(&tape, j, &params, mode)?;
        // measured after the gradient: every node's value, the step ops' linearisations and their
        // locked copies, the ReLUs' kink lists
        Ok(LossReport { peak_bytes: tape.bytes(), ..report })
    }

    /// `J` recorded step by step, from the weights `params` (variables or expressions).
    fn record_steps<'t>(
        &self,
        tape: &'t Tape<f64>,
        params: &[Var<'t, f64>],
        d: &Dataset,
        t: &Transport,
        idx: &[usize],
        a: &[f64],
    ) -> Result<Var<'t, f64>> {
        let (n, m) = (t.grid.cells, idx.len());
        // `(alpha, sin 2 pi x, cos 2 pi x)` per cell of the batch
        let rest = tape.constant(self.batch_features(d, t, idx, None));
        let velocity = match a.len() {
            0 => None,
            1 => Some(tape.constant(Tensor::scalar(a[0]))),
            _ => Some(tape.constant(Tensor::vector(a.to_vec()))),
        };
        let fixed = match self.form {
            SourceForm::Alpha => Some(self.net.forward(rest, params)?.reshape(&[m * n])?),
            SourceForm::State => None,
        };
        let mut us: Vec<Var<'_, f64>> = idx.iter().map(|&i| tape.constant(Tensor::vector(d.beta[i].clone()))).collect();
        for k in 0..d.steps {
            cancel::check(format_args!("time step {} of {}", k + 1, d.steps))?;
            let s = match fixed {
                Some(s) => s,
                None => {
                    // the network on the batch's current states: inputs `(u, alpha, sin, cos)`
                    let u = Var::concat(&us, 0)?.reshape(&[m * n, 1])?;
                    self.net.forward(Var::concat(&[u, rest], 1)?, params)?.reshape(&[m * n])?
                }
            };
            tape.set_scope(SCHEME);
            for (i, u) in us.iter_mut().enumerate() {
                *u = t.step_var(*u, velocity, Some(s.slice(0, i * n, (i + 1) * n)?))?;
            }
            tape.set_scope("");
        }
        let u = Var::concat(&us, 0)?;
        self.locked_loss(tape, d, t, idx, u)
    }

    /// The one-sided directional derivative `J'(W; dir)` over the samples `idx`, by `lex` along the
    /// single direction `dir` (the weights' values flattened in parameter order): the weights are
    /// recorded as `W + tau dir` and `J` is differentiated in `tau` at `tau = 0` in mode `lex`, which
    /// locks every kink (network and scheme) along `+dir`. Returns `J(W)`, `J'(W; dir)` and the kinks
    /// met (store-all recording, as [`Self::gradient_locked`]).
    pub fn directional_derivative(&self, d: &Dataset, idx: &[usize], dir: &[f64]) -> Result<(f64, f64, usize)> {
        let total: usize = self.net.params.iter().map(|p| p.len()).sum();
        if dir.len() != total {
            return Err(Error::shape("direction", format!("{} values for {total} weights", dir.len())));
        }
        if idx.is_empty() {
            return Err(Error::invalid("samples", "no sample to evaluate"));
        }
        let t = d.transport()?;
        let tape = Tape::<f64>::new();
        let tau = tape.var(Tensor::scalar(0.0));
        let mut off = 0;
        let mut params = Vec::with_capacity(self.net.params.len());
        for p in &self.net.params {
            let dp = Tensor::new(p.shape().to_vec(), dir[off..off + p.len()].to_vec())?;
            off += p.len();
            params.push(tape.constant(p.clone()).add(tape.constant(dp).mul(tau)?)?);
        }
        let a = d.velocity_arg(&t);
        let j = if self.form == SourceForm::Alpha && a.len() == 1 && t.time_loop_supports(a[0]) {
            self.record_alpha_loop(&tape, &params, d, &t, idx)?
        } else {
            self.record_steps(&tape, &params, d, &t, idx, &a)?
        };
        let g = tape.gradient(j, &[tau], &Mode::Lex(None))?;
        let v = g.values.first().map(|v| v.to_f64_vec()[0]).unwrap_or(0.0);
        Ok((j.value().to_f64_vec()[0], v, g.certificate.kinks.total()))
    }

    /// `J = (1/m) Σ_i Σ_j (u_ij - gamma_ij)^2 dx` on the tape, from the final states `u` (`m n`
    /// values, sample after sample).
    fn locked_loss<'t>(
        &self,
        tape: &'t Tape<f64>,
        d: &Dataset,
        t: &Transport,
        idx: &[usize],
        u: Var<'t, f64>,
    ) -> Result<Var<'t, f64>> {
        let m = idx.len();
        let gamma: Vec<f64> = idx.iter().flat_map(|&i| d.gamma[i].iter().copied()).collect();
        let u = u.reshape(&[gamma.len()])?;
        Ok(u.sub(tape.constant(Tensor::vector(gamma)))?.square().sum().scale(t.grid.dx() / m as f64))
    }

    /// Differentiate `j` in `mode` with respect to the weights; the certificate with the network's
    /// kinks under `net` and the scheme's under `scheme` (`peak_bytes` left to the caller).
    fn locked_report<'t>(
        &self,
        tape: &'t Tape<f64>,
        j: Var<'t, f64>,
        params: &[Var<'t, f64>],
        mode: &Mode,
    ) -> Result<LossReport> {
        let g = tape.gradient(j, params, mode)?;
        let kinks = net_and_scheme(&g.certificate.kinks);
        let grads: Vec<Vec<f64>> = g.values.into_iter().map(|v| v.into_vec()).collect();
        if grads.len() != params.len() {
            // lex with a direction matrix that is not square gives the LD-derivative only
            return Err(Error::unsupported(
                "mode lex with a non-square direction matrix for the hybrid model",
                "dJ/dW needs one direction per weight (the identity by default)",
            ));
        }
        Ok(LossReport {
            loss: j.value().to_f64_vec()[0],
            grads,
            certificate: Certificate { kinks, ..g.certificate },
            peak_bytes: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hybrid::data::{generate, GenerateConfig};

    fn close(x: &LossReport, y: &LossReport, what: &str) {
        let (x, y) = (x.grads.concat(), y.grads.concat());
        let scale = y.iter().fold(1e-300f64, |s, v| s.max(v.abs()));
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() <= 1e-12 * scale, "{what}: {a} vs {b}");
        }
    }

    /// The two recordings lock the same pieces (the same probes over the weights, the same
    /// lexicographic rule per face), and a velocity given per face (all faces equal) is the constant
    /// one: on square pulses with the output layer at zero (kinks at every step, moved by the weights'
    /// tangents), the loop op, the step ops with a scalar velocity and the step ops with a velocity
    /// per face give the same gradient to 1e-12 relative, with the same kink count.
    #[test]
    fn loop_op_and_step_ops_agree_and_per_face_velocities_are_served() {
        let cfg = GenerateConfig {
            scheme: "lw-minmod".parse().unwrap(),
            cells: 16,
            steps: 6,
            n_train: 2,
            n_test: 0,
            seed: 7,
            ..Default::default()
        };
        let d = generate(&cfg).unwrap();
        let mut m = HybridModel::new(SourceForm::Alpha, 4, 3).unwrap();
        let last = m.net.params.len();
        for p in &mut m.net.params[last - 2..] {
            *p = Tensor::new(p.shape().to_vec(), vec![0.0; p.len()]).unwrap();
        }
        let (t, idx, rep) = (d.transport().unwrap(), d.train_indices(), Representation::default());
        let n = t.grid.cells;
        for mode in [Mode::safe(), Mode::Lex(None)] {
            let lp = m.gradient_alpha_locked(&d, &t, &idx, &mode, &rep).unwrap();
            let scalar = m.gradient_steps_locked(&d, &t, &idx, &[1.0], &mode, &rep).unwrap();
            let per_face = m.gradient_steps_locked(&d, &t, &idx, &vec![1.0; n], &mode, &rep).unwrap();
            assert!(lp.scheme_kinks() > 0);
            assert_eq!(lp.scheme_kinks(), scalar.scheme_kinks());
            assert_eq!(scalar.scheme_kinks(), per_face.scheme_kinks());
            assert_eq!(per_face.certificate.kind, crate::CertificateKind::Generalized);
            close(&scalar, &lp, "step ops vs loop op");
            close(&per_face, &scalar, "per face vs scalar");
        }
    }
}
