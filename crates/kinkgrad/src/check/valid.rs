//! Gradient checks that stay valid at kinks.
//!
//! Central differences `(J(x + h d) - J(x - h d)) / 2h` converge to `∇J . d` only where `J` is
//! differentiable. At a kink they average two one-sided slopes and differ from every element of
//! the generalized gradient, so a check that runs them there reports an error where there is
//! none. [`GradCheck`] therefore picks its kind from what the run met:
//!
//! - [`CheckKind::Central`]: no kink was hit; central differences along seeded random unit
//!   directions against `∇J . d`.
//! - [`CheckKind::PieceLocked`]: kinks were hit in mode `safe` or `lex`, and the run can be replayed
//!   with its pieces fixed ([`crate::pde::replay`]): the loss of the locked piece sequence is a
//!   polynomial of the input, so its central quotients are exact up to rounding at any data, and
//!   the gradient must be its gradient.
//! - [`CheckKind::OneSidedProbe`]: kinks were hit in mode `safe` where no replay applies. These modes lock the
//!   pieces lexicographically along probe directions, which guarantees that the returned gradient
//!   `g` satisfies `g . d_1 = J'(x; d_1)`, the **one-sided** directional derivative along the first
//!   locked direction `d_1`, and that a lex run along a direction `d` returns `J'(x; d)` as its
//!   LD-derivative. The check compares such derivatives with one-sided difference quotients along
//!   the same directions: the second-order quotient `(-3 J(0) + 4 J(h) - J(2h)) / 2h` (exact up to
//!   rounding when `J` is quadratic on the ray `x + t d`, `0 < t <= 2h`, as for a piecewise linear
//!   scheme and a squared-error loss) or the first-order `(J(h) - J(0)) / h` otherwise.
//! - [`CheckKind::NotApplicable`]: kinks were hit in mode `assoc`. Its gradient is the
//!   representation's choice of piece, which need not agree with any one-sided derivative of `J`
//!   along any direction one can name in advance; no difference quotient is compared with it.
//!
//! Errors are relative to `max(|difference quotient|, |directional derivative|)` (0 when both are
//! 0).

use crate::error::{Error, Result};
use crate::rng::Rng;
use serde::Serialize;

/// Which check ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    /// Central differences (no kink hit).
    Central,
    /// Central differences of the piece-locked loss (`safe`, `lex` at kinks; [`super::transport`]).
    PieceLocked,
    /// One-sided differences along the locked probe directions (`safe`, `lex` at kinks, where the
    /// piece-locked replay does not apply).
    OneSidedProbe,
    /// No difference quotient applies (`assoc` at kinks).
    NotApplicable,
}

impl CheckKind {
    /// `central`, `piece-locked`, `one-sided-probe` or `not-applicable`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Central => "central",
            CheckKind::PieceLocked => "piece-locked",
            CheckKind::OneSidedProbe => "one-sided-probe",
            CheckKind::NotApplicable => "not-applicable",
        }
    }
}

/// The one-sided difference quotient used by [`CheckKind::OneSidedProbe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quotient {
    /// `(J(h) - J(0)) / h`: error O(h) on a smooth piece.
    FirstOrder,
    /// `(-3 J(0) + 4 J(h) - J(2h)) / 2h`: exact on a quadratic piece, O(h^2) on a smooth one.
    SecondOrder,
}

/// What a gradient check found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GradCheck {
    /// The kind of check.
    pub kind: CheckKind,
    /// Largest relative error over the directions (`None` for [`CheckKind::NotApplicable`]).
    pub max_rel_error: Option<f64>,
    /// Directions compared (0 when not applicable).
    pub directions: usize,
    /// Kinks the checked run hit.
    pub kinks: usize,
    /// One plain sentence: what was compared, or why nothing was.
    pub note: String,
}

impl GradCheck {
    /// True when the check ran and its error is at most `tol`.
    pub fn passes(&self, tol: f64) -> bool {
        self.max_rel_error.is_some_and(|e| e <= tol)
    }
    /// The statement for `assoc` at kinks.
    pub fn not_applicable(kinks: usize) -> Self {
        GradCheck {
            kind: CheckKind::NotApplicable,
            max_rel_error: None,
            directions: 0,
            kinks,
            note: format!(
                "mode assoc hit {kinks} kinks: its gradient is the representation's choice of piece there, which \
                 no difference quotient checks (central differences average two one-sided slopes); use --mode safe \
                 or lex for a one-sided check along the locked directions"
            ),
        }
    }
}

/// `|difference - derivative| / max(|difference|, |derivative|)`, 0 when both are 0.
pub fn relative_error(difference: f64, derivative: f64) -> f64 {
    let scale = difference.abs().max(derivative.abs());
    if scale == 0.0 {
        0.0
    } else {
        (difference - derivative).abs() / scale
    }
}

/// `k` unit directions in `R^n` with independent standard normal entries from `Rng::new(seed)`,
/// normalised (the directions [`super::finite_differences`] uses).
pub fn unit_directions(n: usize, k: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = Rng::new(seed);
    (0..k)
        .map(|_| {
            let d: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
            let norm = d.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
            d.into_iter().map(|v| v / norm).collect()
        })
        .collect()
}

fn along(x: &[f64], d: &[f64], t: f64) -> Vec<f64> {
    x.iter().zip(d).map(|(a, b)| a + t * b).collect()
}

fn finite(v: f64, what: &str) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::NonFinite { op: format!("gradient check ({what})"), stage: "value" })
    }
}

/// Central differences along `directions` against `grad . d`: the largest relative error.
pub fn central(
    f: &mut dyn FnMut(&[f64]) -> Result<f64>,
    x: &[f64],
    grad: &[f64],
    directions: &[Vec<f64>],
    h: f64,
) -> Result<f64> {
    let mut worst: f64 = 0.0;
    for d in directions {
        let fd = central_quotient(f, x, d, h)?;
        let ad: f64 = grad.iter().zip(d).map(|(a, b)| a * b).sum();
        worst = worst.max(relative_error(fd, ad));
    }
    Ok(worst)
}

/// The one-sided difference quotient of `f` at `x` along `d` with step `h > 0`; `f0 = f(x)`.
pub fn one_sided_quotient(
    f: &mut dyn FnMut(&[f64]) -> Result<f64>,
    x: &[f64],
    f0: f64,
    d: &[f64],
    h: f64,
    q: Quotient,
) -> Result<f64> {
    let f1 = f(&along(x, d, h))?;
    let v = match q {
        Quotient::FirstOrder => (f1 - f0) / h,
        Quotient::SecondOrder => (-3.0 * f0 + 4.0 * f1 - f(&along(x, d, 2.0 * h))?) / (2.0 * h),
    };
    finite(v, "one-sided difference")
}

/// One-sided differences along each `(direction, one-sided directional derivative)` pair: the
/// largest relative error.
pub fn one_sided(
    f: &mut dyn FnMut(&[f64]) -> Result<f64>,
    x: &[f64],
    probes: &[(Vec<f64>, f64)],
    h: f64,
    q: Quotient,
) -> Result<f64> {
    let f0 = finite(f(x)?, "J(x)")?;
    let mut worst: f64 = 0.0;
    for (d, derivative) in probes {
        let fd = one_sided_quotient(f, x, f0, d, h, q)?;
        worst = worst.max(relative_error(fd, *derivative));
    }
    Ok(worst)
}

/// The central quotient `(f(x + h d) - f(x - h d)) / 2h`.
pub fn central_quotient(f: &mut dyn FnMut(&[f64]) -> Result<f64>, x: &[f64], d: &[f64], h: f64) -> Result<f64> {
    finite((f(&along(x, d, h))? - f(&along(x, d, -h))?) / (2.0 * h), "central difference")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `f(x) = |x_0| + x_1^2` at `(0, 1)`: a kink in `x_0`. By hand: along `d = (1, 0)` the one-sided
    /// derivative is 1, along `(-1, 0)` it is 1 too (`|.|`), along `(0, 1)` it is `2 x_1 = 2`. The
    /// second-order quotient is exact on these quadratic pieces; central differences along `(1, 0)`
    /// give `(h - h) / 2h = 0`, which agrees with no one-sided derivative (error 1).
    #[test]
    fn one_sided_is_exact_on_quadratic_pieces_and_central_fails_at_the_kink() {
        let mut f = |x: &[f64]| -> Result<f64> { Ok(x[0].abs() + x[1] * x[1]) };
        let x = [0.0, 1.0];
        let probes = vec![(vec![1.0, 0.0], 1.0), (vec![-1.0, 0.0], 1.0), (vec![0.0, 1.0], 2.0)];
        let e = one_sided(&mut f, &x, &probes, 1e-3, Quotient::SecondOrder).unwrap();
        assert!(e < 1e-12, "{e}");
        // the first-order quotient along (0, 1): ((1 + h)^2 - 1) / h = 2 + h
        let e1 = one_sided(&mut f, &x, &probes[2..], 1e-3, Quotient::FirstOrder).unwrap();
        assert!((e1 - 1e-3 / (2.0 + 1e-3)).abs() < 1e-12, "{e1}");
        let c = central(&mut f, &x, &[1.0, 2.0], &[vec![1.0, 0.0]], 1e-3).unwrap();
        assert_eq!(c, 1.0);
    }

    #[test]
    fn relative_error_of_zeros_is_zero_and_directions_are_unit() {
        assert_eq!(relative_error(0.0, 0.0), 0.0);
        assert_eq!(relative_error(1.0, -1.0), 2.0);
        for d in unit_directions(7, 3, 5) {
            assert!((d.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-14);
        }
    }
}
