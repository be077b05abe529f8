//! Finite-volume transport schemes, one test binary: accuracy, conservation, TVD and shock speed
//! (`scheme`); gradients through the fused step op and the checkpointed stepper, kinks, and the
//! inadmissible composite limiter (`gradients`).

use kinkgrad::check::finite_differences;
use kinkgrad::pde::checkpoint::{revolve_recomputations, Schedule};
use kinkgrad::pde::gradient::{GradientRequest, TransportGradient, Wanted};
use kinkgrad::pde::grid::Grid;
use kinkgrad::pde::limiter::Limiter;
use kinkgrad::pde::scheme::{Scheme, Transport};
use kinkgrad::{CertificateKind, Mode, Representation, Rng, Tape, Tensor, TieRule, Var};
use std::f64::consts::PI;

/// The library's entry point for `J = sum (u(T) - target)^2 dx`.
#[allow(clippy::too_many_arguments)]
fn entry(
    t: &Transport,
    u0: &[f64],
    target: &[f64],
    a: &[f64],
    s: Option<&[f64]>,
    steps: usize,
    mode: &Mode,
    rep: &Representation,
    schedule: Schedule,
    wanted: Wanted,
) -> TransportGradient {
    let req =
        GradientRequest { u0, target, velocity: a, source: s, steps, mode, representation: rep, schedule, wanted };
    t.loss_gradient(&req).unwrap()
}

const ALL: Wanted = Wanted { u0: true, velocity: true, source: true };
const U0_S: Wanted = Wanted { u0: true, velocity: false, source: true };

fn sine(x: f64) -> f64 {
    (2.0 * PI * x).sin()
}
fn square(x: f64) -> f64 {
    if (0.25..0.75).contains(&x) {
        1.0
    } else {
        0.0
    }
}

mod gradients;
mod scheme;
