//! Reverse mode: a tape of tensor operations, `backward` from a scalar, gradients of gradients.
//!
//! Every operation is a node holding its output value, its inputs and an [`Op`] that knows its
//! vector-Jacobian product (written with tape operations, so that a backward pass can itself be
//! recorded and differentiated: gradients of gradients) and its Jacobian-vector product (used by the
//! lexicographic modes in [`crate::lex`]).

mod backward;
pub(crate) mod distinct;
mod op;
mod op_box;
pub mod ops;
pub(crate) mod provenance;
mod tape;
pub(crate) mod var;

pub(crate) use backward::check_scalar;
pub(crate) use op::cotangents;
pub use op::{ElementClasses, InputClasses, JvpCx, Op, OpCx, CONSTANT_CLASS};
pub use tape::Tape;
pub use var::Var;
