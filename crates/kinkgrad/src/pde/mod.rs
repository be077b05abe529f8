//! Differentiable finite-volume schemes for transport on a 1-D periodic grid, and checkpointed
//! time loops.
//!
//! * [`checkpoint`]: the [`checkpoint::Stepper`] trait and the schedules (store-all, sqrt(n),
//!   binomial "revolve") that differentiate long time loops with bounded memory.
//! * [`grid`]: the periodic grid, the Courant number and the CFL check.
//! * [`limiter`]: slope limiters (minmod, superbee, MC, van Leer) as piecewise primitives with
//!   declared pieces, switching functions and admissible kink rules.
//! * [`scheme`]: the schemes (upwind, Lax-Wendroff, limited Lax-Wendroff, Burgers-Godunov), each time
//!   step one fused tape op ([`scheme::Transport::step_var`]) with its associated-gradient VJP, kink
//!   log and lexicographic JVP, plus a hand-written adjoint for the checkpointed [`scheme::TransportStepper`].
//!
//! Numerical schemes are C^1-piecewise like ReLU networks (the talk's upwind flux
//! `F(a, u_l, u_r) = R(a) u_l - R(-a) u_r`), and they hit kinks on sets of positive measure: every
//! flat region makes both limiter slopes exactly 0. The default representation is the minimum-norm
//! one (minmod at `(0, 0)` takes its zero piece); every offered rule is a convex combination of the
//! tied pieces, so it stays admissible.

#[macro_use]
pub mod wide;
pub mod checkpoint;
pub mod grid;
pub mod limiter;
pub mod loop_op;
mod piece_tape;
pub mod scheme;
