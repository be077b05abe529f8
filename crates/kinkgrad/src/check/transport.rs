//! The gradient check of a transport run ([`Transport::loss_gradient`] with respect to `u0`): the
//! kind picked from the kinks and the mode as [`super::valid`] explains.
//!
//! Directions, by kind:
//! - `central` (no kink hit): `directions` seeded unit directions (seed 1) against the reported
//!   gradient, `dJ/du0 . d`.
//! - `one-sided-probe` (`safe` at kinks): safe's first probe direction `d_1` (drawn as the library
//!   draws it from the mode's seed: uniform on `[-1, 1)` per cell, then normalised), with
//!   `g . d_1 = J'(u0; d_1)`, which is what `safe` guarantees, against the second-order one-sided
//!   quotient `(-3 J(0) + 4 J(h) - J(2h)) / 2h` where `J` is piecewise quadratic along the ray
//!   (linear schemes with piecewise linear limiters), `(J(h) - J(0)) / h` otherwise.
//! - `lex` is refused for now: its one-sided quotients disagreed with its LD-derivatives on the
//!   built-in data (session 18), and a check that misleads is worse than none.
//! - `not-applicable` (`assoc` at kinks).
//!
//! **Limits of any difference quotient here.** The quotients are exact only while the ray
//! `u0 + t d`, `0 < t <= 2h`, stays on one piece. Runs also have near-ties that are not kinks: the
//! tails of a Gaussian hold values near `1e-22`, whose limiter slopes change sign under any
//! perturbation above that size, and smooth data pass within rounding of `|a| = |b|` surfaces of
//! minmod at some face and step. Such crossings inside the step change the quotient by an amount
//! that does not shrink with `h` until `h` is below the near-tie, where rounding (about
//! `1e-14 / h` relative, measured on the kink-free unlimited scheme) takes over. The steps below
//! balance the two; measured errors are reported as they are, not filtered.

use super::valid::{central, one_sided, unit_directions, CheckKind, GradCheck, Quotient};
use crate::engine::Mode;
use crate::error::{Error, Result};
use crate::pde::gradient::{probes, GradientRequest, TransportGradient};
use crate::pde::limiter::Limiter;
use crate::pde::scheme::{Scheme, Transport};

/// Step of the central differences (off kinks).
pub const CENTRAL_STEP: f64 = 1e-7;
/// Step of the one-sided quotients along locked directions.
pub const ONE_SIDED_STEP: f64 = 1e-7;

/// True when `J` is quadratic along every ray on which the scheme's pieces do not change: the
/// scheme is linear in `u` on each piece (upwind, Lax-Wendroff, minmod, superbee, MC; not van Leer,
/// a rational limiter, nor Burgers) and the loss is a squared error.
pub fn piecewise_quadratic(scheme: Scheme) -> bool {
    !matches!(scheme, Scheme::BurgersGodunov | Scheme::Limited(Limiter::VanLeer))
}

/// Check `r`, the result of `t.loss_gradient(req)` with `req.wanted` the initial state only.
pub fn check_transport(
    t: &Transport,
    req: &GradientRequest,
    r: &TransportGradient,
    directions: usize,
) -> Result<GradCheck> {
    let w = req.wanted;
    if !(w.u0 && !w.velocity && !w.source) {
        return Err(Error::unsupported("a gradient check of this request", "the check covers dJ/du0 alone"));
    }
    if directions == 0 {
        return Err(Error::invalid("gradient check", "needs at least one direction"));
    }
    let n = req.u0.len();
    let kinks = r.certificate.kinks.total();
    let dx = t.grid.dx();
    let mut f = |u0: &[f64]| -> Result<f64> {
        let u = t.simulate(u0, req.velocity, req.source, req.steps)?;
        Ok(u.iter().zip(req.target).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() * dx)
    };
    if kinks == 0 {
        let dirs = unit_directions(n, directions, 1);
        let e = central(&mut f, req.u0, &r.u0, &dirs, CENTRAL_STEP)?;
        return Ok(GradCheck {
            kind: CheckKind::Central,
            max_rel_error: Some(e),
            directions,
            kinks,
            note: format!(
                "no kink was hit: central differences (h = {CENTRAL_STEP:e}) against the gradient along {directions} \
                 random unit directions"
            ),
        });
    }
    let (d1, v1) = match req.mode {
        Mode::Assoc => return Ok(GradCheck::not_applicable(kinks)),
        Mode::Safe { seed, .. } => {
            let d = unit(probes(&[n], 1, *seed).data);
            let g: f64 = r.u0.iter().zip(&d).map(|(a, b)| a * b).sum();
            (d, g)
        }
        Mode::Lex(_) => {
            // measured (session 18): one-sided quotients along lex's first column disagreed with its
            // LD-derivative by up to 100% on the square wave and the Gaussian (near-ties far below h
            // are the suspect, not yet resolved), so the check refuses lex rather than mislead
            return Err(Error::unsupported(
                "--grad-check in lex mode",
                "its one-sided quotients are not yet validated against lex's LD-derivatives",
            ));
        }
    };
    let pairs = vec![(d1, v1)];
    let q = if piecewise_quadratic(t.scheme) { Quotient::SecondOrder } else { Quotient::FirstOrder };
    let e = one_sided(&mut f, req.u0, &pairs, ONE_SIDED_STEP, q)?;
    let quotient = match q {
        Quotient::SecondOrder => "(-3J(0) + 4J(h) - J(2h))/2h (J is piecewise quadratic along the ray)",
        Quotient::FirstOrder => "(J(h) - J(0))/h",
    };
    Ok(GradCheck {
        kind: CheckKind::OneSidedProbe,
        max_rel_error: Some(e),
        directions: pairs.len(),
        kinks,
        note: format!(
            "{kinks} kinks were hit: the one-sided quotient {quotient}, h = {ONE_SIDED_STEP:e}, along safe's first \
             probe direction against the reported gradient (what safe guarantees); near-ties below h (values far \
             smaller than h, e.g. a Gaussian's tails) make any quotient inexact"
        ),
    })
}

fn unit(d: Vec<f64>) -> Vec<f64> {
    let n = d.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
    d.into_iter().map(|v| v / n).collect()
}
