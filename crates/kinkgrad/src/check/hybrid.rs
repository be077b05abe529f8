//! The gradient check of a hybrid model's `dJ/dW` ([`HybridModel::loss_and_gradient`]), the kind
//! picked from the kinks and the mode as [`super::valid`] explains.
//!
//! Directions, by kind (all seeded unit directions over the weights flattened in parameter order,
//! seed 1):
//! - `central`: no kink was hit; central differences against `dJ/dW . d`.
//! - `one-sided-probe`: kinks were hit in `safe` or `lex`: along each direction `d` the library's
//!   `lex` mode records the weights as `W + tau d` and returns the one-sided derivative `J'(W; d)`
//!   with every kink (network and scheme) locked along `+d`
//!   ([`HybridModel::directional_derivative`]); it is compared with the second-order one-sided
//!   quotient (the network makes `J` a polynomial of higher degree in
//!   the weights on each piece, so the quotient is exact only to `O(h^2)`). This checks the one-sided derivatives the locking modes are built
//!   on at the run's kinks; the reported `safe` gradient is guaranteed along its own probe
//!   directions only, which are not these.
//! - `not-applicable`: `assoc` at kinks.

use super::valid::{central, one_sided, unit_directions, CheckKind, GradCheck, Quotient};
use crate::engine::Mode;
use crate::error::{Error, Result};
use crate::hybrid::{Dataset, HybridModel, LossReport};
use crate::tensor::Tensor;

/// Step of the central differences (off kinks).
pub const CENTRAL_STEP: f64 = 1e-5;
/// Step of the one-sided quotients (second order: `J` is not piecewise quadratic in the weights,
/// so the quotient is exact only to `O(h^2)`).
pub const ONE_SIDED_STEP: f64 = 1e-5;

/// Check `r`, the result of `model.loss_and_gradient(d, idx, mode, ..)`, along `directions`
/// directions.
pub fn check_hybrid(
    model: &HybridModel,
    d: &Dataset,
    idx: &[usize],
    mode: &Mode,
    r: &LossReport,
    directions: usize,
) -> Result<GradCheck> {
    if directions == 0 {
        return Err(Error::invalid("gradient check", "needs at least one direction"));
    }
    let kinks = r.certificate.kinks.total();
    if kinks > 0 && *mode == Mode::Assoc {
        return Ok(GradCheck::not_applicable(kinks));
    }
    let w: Vec<f64> = model.net.params.iter().flat_map(|p| p.data().to_vec()).collect();
    let mut f = |x: &[f64]| -> Result<f64> { with_weights(model, x)?.loss(d, idx) };
    let dirs = unit_directions(w.len(), directions, 1);
    if kinks == 0 {
        let e = central(&mut f, &w, &r.grads.concat(), &dirs, CENTRAL_STEP)?;
        return Ok(GradCheck {
            kind: CheckKind::Central,
            max_rel_error: Some(e),
            directions,
            kinks,
            note: format!(
                "no kink was hit: central differences (h = {CENTRAL_STEP:e}) along {directions} random unit directions \
                 in weight space"
            ),
        });
    }
    let pairs = dirs
        .into_iter()
        .map(|dir| model.directional_derivative(d, idx, &dir).map(|(_, v, _)| (dir, v)))
        .collect::<Result<Vec<_>>>()?;
    let e = one_sided(&mut f, &w, &pairs, ONE_SIDED_STEP, Quotient::SecondOrder)?;
    Ok(GradCheck {
        kind: CheckKind::OneSidedProbe,
        max_rel_error: Some(e),
        directions,
        kinks,
        note: format!(
            "{kinks} kinks were hit: one-sided quotients (-3J(0) + 4J(h) - J(2h))/2h, h = {ONE_SIDED_STEP:e}, against \
             lex's one-sided derivatives along {directions} random unit directions in weight space (the locking modes' \
             derivatives at these kinks; the {} gradient itself is exact along its own locked directions)",
            mode.name()
        ),
    })
}

/// A copy of `model` with the weights `x` (flattened in parameter order).
fn with_weights(model: &HybridModel, x: &[f64]) -> Result<HybridModel> {
    let mut m = model.clone();
    let mut off = 0;
    for p in m.net.params.iter_mut() {
        let n = p.len();
        *p = Tensor::new(p.shape().to_vec(), x[off..off + n].to_vec())?;
        off += n;
    }
    Ok(m)
}
