//! The gradient check of a transport run ([`Transport::loss_gradient`] with respect to `u0`): the
//! kind picked from the kinks and the mode as [`super::valid`] explains.
//!
//! Directions, by kind:
//! - `central` (no kink hit): `directions` seeded unit directions (seed 1) against the reported
//!   gradient, `dJ/du0 . d`.
//! - `piece-locked` (`safe` or `lex` at kinks, a constant velocity `a != 0` and a scheme with
//!   declared pieces): the run's pieces are recorded by the one locking routine along the run's own
//!   directions (lex's matrix, or safe's probes as many as the run drew) and the scheme is replayed
//!   with them fixed ([`crate::pde::replay`]). The replayed loss `P` is a quadratic polynomial of
//!   `u0`, so its central quotient `(P(u0 + h d) - P(u0 - h d)) / 2h` is exact up to rounding at any
//!   data and any `h`. Compared: `P(u0)` with the run's `J(u0)` (the recorded pieces are the run's),
//!   `∇J . d` with the quotient along `directions` seeded unit directions (seed 1), and, for `lex`
//!   with an explicit direction matrix, each LD-derivative with the quotient along its column. What
//!   a pass proves: the gradient is the derivative of the piece sequence the run selected, which is
//!   the one lex selects on the f64 trajectory. It does not prove that the sequence is the one the
//!   exact-arithmetic function selects on a one-sided neighbourhood: where rounding separates an
//!   exact tie by an ulp, the f64 trajectory decides the piece (docs/transport.md, "Rounding-separated
//!   ties").
//! - `one-sided-probe` (`safe` at kinks where no replay applies: van Leer, Burgers, a velocity per
//!   face): safe's first probe direction `d_1` (drawn as the library draws it from the mode's seed),
//!   with `g . d_1 = J'(u0; d_1)`, against the one-sided quotient `(J(h) - J(0)) / h` (second order,
//!   `(-3 J(0) + 4 J(h) - J(2h)) / 2h`, where `J` is piecewise quadratic). Near-ties below `h`
//!   (values far smaller than `h`, e.g. a Gaussian's tails, or ties that rounding separated) make it
//!   inexact; `lex` there is refused.
//! - `not-applicable` (`assoc` at kinks).

use super::valid::{
    central, central_quotient, one_sided, relative_error, unit_directions, CheckKind, GradCheck, Quotient,
};
use crate::engine::Mode;
use crate::error::{Error, Result};
use crate::lex::Directions;
use crate::pde::gradient::{probes, GradientRequest, TransportGradient};
use crate::pde::limiter::Limiter;
use crate::pde::replay::replayable;
use crate::pde::scheme::{Scheme, Transport};

/// Step of the central differences (off kinks).
pub const CENTRAL_STEP: f64 = 1e-7;
/// Step of the one-sided quotients along locked directions.
pub const ONE_SIDED_STEP: f64 = 1e-7;
/// Step of the central quotients of the piece-locked loss, relative to `max(1, |u0|_2)` (the
/// quotient of a quadratic is exact at any step; a large one keeps rounding small).
pub const LOCKED_STEP: f64 = 1e-2;

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
    if matches!(req.mode, Mode::Assoc) {
        return Ok(GradCheck::not_applicable(kinks));
    }
    if replayable(t, req.velocity) {
        return piece_locked(t, req, r, directions);
    }
    let (d1, v1) = match req.mode {
        Mode::Safe { seed, .. } => {
            let d = unit(probes(&[n], 1, *seed).data);
            let g: f64 = r.u0.iter().zip(&d).map(|(a, b)| a * b).sum();
            (d, g)
        }
        _ => {
            // one-sided quotients see the exact function's pieces, lex resolves the f64 trajectory's
            // (docs/transport.md): they can differ where rounding separated a tie
            return Err(Error::unsupported(
                "--grad-check in lex mode for this scheme",
                "the piece-locked check covers a constant velocity a != 0 and the schemes with declared pieces \
                 (upwind, lw, lw-minmod, lw-superbee, lw-mc)",
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

/// The directions the run locked its pieces along: lex's matrix (identity by default), or safe's
/// probes, as many as the run drew.
fn run_directions(n: usize, req: &GradientRequest, r: &TransportGradient) -> Directions {
    match req.mode {
        Mode::Lex(Some(m)) => m.clone(),
        Mode::Safe { seed, .. } => probes(&[n], r.certificate.directions.max(1), *seed),
        _ => Directions::identity(n),
    }
}

/// The `piece-locked` check (see the module docs).
fn piece_locked(t: &Transport, req: &GradientRequest, r: &TransportGradient, directions: usize) -> Result<GradCheck> {
    let n = req.u0.len();
    let kinks = r.certificate.kinks.total();
    let m = run_directions(n, req, r);
    let seq = t.locked_pieces(req.u0, req.velocity, req.source, req.steps, &m)?;
    if seq.kinks != kinks || seq.unresolved != r.certificate.unresolved {
        return Err(Error::invalid(
            "piece-locked check",
            format!(
                "the recorded run met {} kinks ({} unresolved), the gradient's {kinks} ({}): not the same run",
                seq.kinks, seq.unresolved, r.certificate.unresolved
            ),
        ));
    }
    let dx = t.grid.dx();
    let mut p = |u0: &[f64]| -> Result<f64> {
        let u = t.replay(&seq, u0, req.velocity, req.source)?;
        Ok(u.iter().zip(req.target).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() * dx)
    };
    let replay_error = relative_error(p(req.u0)?, r.loss);
    let h = LOCKED_STEP * req.u0.iter().map(|v| v * v).sum::<f64>().sqrt().max(1.0);
    let mut worst = replay_error;
    let mut compared = 0;
    if !r.u0.is_empty() {
        let dirs = unit_directions(n, directions, 1);
        worst = worst.max(central(&mut p, req.u0, &r.u0, &dirs, h)?);
        compared += dirs.len();
    }
    let mut columns = 0;
    if let (Mode::Lex(Some(m)), Some(ld)) = (req.mode, &r.ld_derivative) {
        for (c, &v) in ld.iter().enumerate() {
            let d: Vec<f64> = (0..n).map(|i| m.data[i * m.cols + c]).collect();
            worst = worst.max(relative_error(central_quotient(&mut p, req.u0, &d, h)?, v));
        }
        columns = ld.len();
    }
    let what = match (compared, columns) {
        (0, c) => format!("lex's {c} LD-derivatives along its columns"),
        (k, 0) => format!("the gradient along {k} random unit directions"),
        (k, c) => {
            format!("the gradient along {k} random unit directions and lex's {c} LD-derivatives along its columns")
        }
    };
    Ok(GradCheck {
        kind: CheckKind::PieceLocked,
        max_rel_error: Some(worst),
        directions: compared + columns,
        kinks,
        note: format!(
            "{kinks} kinks were hit: the run's pieces (locked along its {k} directions) were recorded and the \
             scheme replayed with them fixed; the replayed loss, a quadratic polynomial of u0, reproduces J(u0) \
             (relative difference {replay_error:.1e}) and its central quotients (h = {h:.1e}, exact up to \
             rounding) are compared with {what}: a pass means the gradient is the derivative of the selected \
             piece sequence, the one lex selects on the f64 trajectory",
            k = m.cols
        ),
    })
}

fn unit(d: Vec<f64>) -> Vec<f64> {
    let n = d.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
    d.into_iter().map(|v| v / n).collect()
}
