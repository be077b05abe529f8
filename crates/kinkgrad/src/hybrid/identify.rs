//! What the observations determine: the error of the learned source as the data see it.
//!
//! The observations are final states, and with a time-independent source and `a = 1` the final state
//! sees the source only through `(1/a) ∫_{x-aT}^{x} s(y) dy` (see the module docs of [`super`]): a
//! learned source can fit the data perfectly and still differ from the true one by anything that
//! window average annihilates. [`HybridModel::observable_rel_l2`] measures the error of that part
//! only: the source's effect on the final state from zero initial data, `E(s) = Φ_T(0; s)` (the
//! scheme itself, so linear in `s` for upwind and Lax-Wendroff, nearly so for limited schemes),
//! compared between the learned and the true source. [`HybridModel::source_rel_l2`] is the full
//! error; the gap between the two is what the data cannot see.

use super::data::{Dataset, SourceForm};
use super::model::HybridModel;
use crate::error::{Error, Result};
use crate::pde::scheme::Transport;

impl HybridModel {
    /// `‖E(s_W) - E(s*)‖ / ‖E(s*)‖` over the samples `idx`, with `E(s)` the final state reached from
    /// `u0 = 0` under the source `s` alone (alpha form only: the state form's source depends on `u`);
    /// `None` when the data set carries no true source.
    pub fn observable_rel_l2(&self, d: &Dataset, idx: &[usize]) -> Result<Option<f64>> {
        if self.form != SourceForm::Alpha {
            return Err(Error::invalid("source form", "the observable source error is defined for the alpha form"));
        }
        let t = d.transport()?;
        let x = t.grid.centers();
        let mut learned = Vec::new();
        let mut truth = Vec::new();
        for &i in idx {
            let Some(s) = d.true_source_at(i, &x, None) else { return Ok(None) };
            learned.push(self.source(&t, &d.alpha[i], None)?);
            truth.push(s);
        }
        observable_rel_l2(&t, &d.velocity_arg(&t), d.steps, &learned, &truth).map(Some)
    }
}

/// `‖E(l) - E(s)‖ / ‖E(s)‖` summed over pairs of sources `(learned[i], truth[i])`, with `E(s)` the state
/// after `steps` steps of `t` from `u0 = 0` under the source `s` (velocity argument `a` as for
/// [`Transport::simulate`]).
pub fn observable_rel_l2(
    t: &Transport,
    a: &[f64],
    steps: usize,
    learned: &[Vec<f64>],
    truth: &[Vec<f64>],
) -> Result<f64> {
    if learned.len() != truth.len() {
        return Err(Error::shape("observable error", "one learned source per true source"));
    }
    let zero = vec![0.0; t.grid.cells];
    let (mut num, mut den) = (0.0, 0.0);
    for (l, s) in learned.iter().zip(truth) {
        let el = t.simulate(&zero, a, Some(l), steps)?;
        let et = t.simulate(&zero, a, Some(s), steps)?;
        num += el.iter().zip(&et).map(|(l, t)| (l - t) * (l - t)).sum::<f64>();
        den += et.iter().map(|t| t * t).sum::<f64>();
    }
    Ok((num / den.max(1e-300)).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pde::grid::Grid;
    use std::f64::consts::PI;

    /// Upwind at Courant number 1 is the exact shift, so `E(s)_j = dt Σ_{k=1..N} s_{j-k}`, a window sum
    /// of `N` cells. With `N = n/2` steps (T = 1/2) the even Fourier modes sum to 0 over the window:
    /// adding `cos(4 pi x)` to the source leaves `E` unchanged (observable error at rounding level)
    /// while adding `cos(2 pi x)` does not (by hand: its window sum is `dt` times a nonzero multiple
    /// of `sin`, relative size O(1)).
    #[test]
    fn hidden_modes_have_no_observable_error() {
        let n = 64;
        let t = Transport::from_courant(Grid::unit(n).unwrap(), "upwind".parse().unwrap(), 1.0, 1.0, false).unwrap();
        let x = t.grid.centers();
        let truth: Vec<f64> = x.iter().map(|&x| (-(x - 0.5f64).powi(2) / (2.0 * 0.05f64.powi(2))).exp()).collect();
        let plus = |k: f64| -> Vec<f64> { truth.iter().zip(&x).map(|(s, x)| s + (2.0 * PI * k * x).cos()).collect() };
        let steps = n / 2;
        let hidden = observable_rel_l2(&t, &[1.0], steps, &[plus(2.0)], std::slice::from_ref(&truth)).unwrap();
        let seen = observable_rel_l2(&t, &[1.0], steps, &[plus(1.0)], std::slice::from_ref(&truth)).unwrap();
        assert!(hidden < 1e-12, "mode 2 is hidden at T = 1/2: {hidden}");
        assert!(seen > 0.1, "mode 1 is seen: {seen}");
    }
}
