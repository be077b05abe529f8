//! Differentiable finite-volume schemes for transport on a 1-D periodic grid, and their time loops.
//!
//! Numerical schemes are C^1-piecewise like ReLU networks (the talk's upwind flux
//! `F(a, u_l, u_r) = R(a) u_l - R(-a) u_r`), and they hit kinks on sets of positive measure: every
//! flat region makes both limiter slopes exactly 0. The default representation is the minimum-norm
//! one (minmod at `(0, 0)` takes its zero piece); every offered rule is a convex combination of the
//! tied pieces, so it stays admissible.
//!
//! # One linearisation, one transpose
//! A step is linearised once and transposed once. Each idea has one home:
//! * [`scheme`]: the schemes, the time step, the value of a step; [`grid`], [`limiter`];
//! * `face`: the face formula and its partials (the `a < 0` side a type parameter of the `a > 0`
//!   one); `forward`: the flux loops and the pieces of every face as 1-byte codes (`minmod_wide`:
//!   minmod's loop in explicit AVX-512/AVX2 code, codes in the same pass);
//! * `fused`: a one-piece slope's step and adjoint step each in one pass over the cells (the same
//!   formulas, the same bits);
//! * `kernel`: the one adjoint kernel and the one tangent kernel over faces, reading the partials from
//!   a source of selected pieces (on the fly from codes, or materialised);
//! * `lock`: the one piece selection of a face (the representation's rule, or lexicographic along
//!   tangent directions, with the first piece for a tie that survives them all) and the one
//!   branch-locking routine; `rules`: the only place that reads the representation;
//! * `linearize`: a step's selected pieces in the kernels' form;
//! * the paths, which differ only where their contract does:
//!   - `tape_op` ([`scheme::Transport::step_var`]): one tape op per step; gradients of gradients and
//!     locking jointly with a network on one tape;
//!   - [`stepper`]: the checkpointed loops, bounded memory under any [`checkpoint`] schedule, with the
//!     representation's pieces ([`stepper::TransportStepper`]) or locked along tangents carried in the
//!     checkpointed state ([`stepper::LockedStepper`]);
//!   - `piece_tape`: store-all keeping 1 byte per face and step instead of the states;
//!   - [`loop_op`]: a batch of whole loops as one tape op differentiable in the source (the hybrid
//!     models lock the scheme's kinks with the network's through it);
//! * [`replay`]: the piece-locked replay (the pieces a locked run selected, recorded, and the scheme
//!   rerun with them fixed), which the gradient check differentiates;
//! * [`gradient`]: the one entry point ([`scheme::Transport::loss_gradient`]) that picks the path.

#[macro_use]
mod forward;
mod adjoint_wide;
pub mod checkpoint;
mod face;
mod fused;
pub mod gradient;
pub mod grid;
pub mod hazard;
mod kernel;
pub mod limiter;
mod linearize;
mod lock;
mod lookup;
pub mod loop_op;
mod minmod_wide;
mod piece_tape;
pub mod replay;
mod rules;
pub mod scheme;
pub mod stepper;
mod tape_op;

pub use crate::simd::{simd_level, Simd};
pub use linearize::Linearization;
