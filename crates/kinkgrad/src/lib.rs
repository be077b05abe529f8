//! # kinkgrad
//!
//! Automatic differentiation of non-smooth programs (ReLU networks, max-pooling, upwind fluxes,
//! limiters) with the **representation** made explicit, every **kink** counted, and derivatives that
//! do not depend on the representation.
//!
//! Autodiff differentiates the **piece** of a piecewise-C^1 function that an evaluation selects: an
//! **associated gradient** of a **representation** (Despres, TMLR 2025). The chain rule holds almost
//! everywhere but not everywhere: `max(x, x)` and the Boustany paradox are the classic failures.
//! kinkgrad offers three modes (see [`Mode`]): `assoc` (what the frameworks do, with presets that
//! reproduce them), `lex` (lexicographic directional derivatives, the oracle) and `safe`
//! (branch-locked reverse mode), each with a [`Certificate`].
//!
//! ```
//! use kinkgrad::{Tape, Tensor, Mode, TieRule};
//! // Boustany: f(t) = max_first(t x) - max_mean(t x) at t = 0, x = (1, 2, 3, 4)
//! let tape = Tape::<f64>::new();
//! let t = tape.var(Tensor::scalar(0.0));
//! let x = tape.constant(Tensor::vector(vec![1.0, 2.0, 3.0, 4.0]));
//! let tx = t.mul(x).unwrap();
//! let f = tx.max_all_with(TieRule::First).sub(tx.max_all_with(TieRule::Mean)).unwrap();
//! let assoc = tape.gradient(f, &[t], &Mode::Assoc).unwrap();
//! assert_eq!(assoc.values[0].item().unwrap(), -1.5);
//! assert_eq!(assoc.certificate.kind.as_str(), "representation-dependent");
//! let safe = tape.gradient(f, &[t], &Mode::safe()).unwrap();
//! assert_eq!(safe.values[0].item().unwrap(), 0.0);
//! assert_eq!(safe.certificate.kind.as_str(), "generalized");
//! ```

#![warn(missing_docs)]
// Numerical kernels index several arrays with one loop variable; arithmetic methods on `Var` return
// `Result` (shape errors are typed), so they cannot be the `std::ops` traits.
#![allow(clippy::needless_range_loop, clippy::should_implement_trait)]

#[macro_use]
pub mod simd;
pub mod cancel;
pub mod certificate;
pub mod check;
pub mod engine;
pub mod error;
pub mod expr;
pub mod hybrid;
pub mod io;
pub mod kink;
pub mod lex;
pub mod limits;
pub mod nn;
pub mod pde;
pub mod primitive;
pub mod repr;
pub mod reverse;
pub mod rng;
mod round16;
pub mod scalar;
pub mod sgemm;
pub mod study;
pub mod tensor;

pub use certificate::{Certificate, CertificateKind};
pub use engine::{Gradients, Mode};
pub use error::{Error, ErrorKind, Result};
pub use half::{bf16, f16};
pub use kink::{KinkLog, KinkSite};
pub use lex::Directions;
pub use repr::{Representation, TieRule};
pub use reverse::{Tape, Var};
pub use rng::Rng;
pub use scalar::{Precision, Real};
pub use tensor::Tensor;
