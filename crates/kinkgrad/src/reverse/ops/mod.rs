//! The smooth operations: arithmetic with broadcasting, smooth unary functions, matrix products,
//! reductions, layout changes and log-softmax. Each file holds its ops' forward, VJP and JVP.

mod arith;
mod conv;
mod equal;
pub mod gather;
mod layout;
mod linear;
mod matmul;
mod reduce;
mod softmax;
pub(crate) mod tangent;
mod unary;

pub use unary::UnaryKind;
