//! Hybrid models: a ReLU network as the source term of a finite-volume solver, fitted to
//! observations (the talk's formalisation of NeuralGCM-like models):
//!
//! `u_t + (a u)_x = S_W(alpha)`, `u(x, 0) = beta`, observations `D = {(alpha_i, beta_i, gamma_i)}`,
//! cost `J(W) = (1/N) sum_i sum_j (u_j(T; alpha_i, beta_i, W) - gamma_ij)^2 dx`.
//!
//! Two source forms ([`SourceForm`]):
//! - `alpha`: `S_W(alpha)(x)`, a network of `(alpha_0, .., alpha_{P-1}, sin 2 pi x, cos 2 pi x)`
//!   evaluated per cell once per sample (the talk's form); the source is time-independent.
//! - `state`: a closure `S_W(u, alpha, x)`, a network of `(u, alpha, sin 2 pi x, cos 2 pi x)`
//!   evaluated at every step (as in NeuralGCM: gradients flow through the state at every step).
//!
//! Generated data have `P = 2`; a data file may have any `P` ([`data_file`]), and the network's
//! input width follows it ([`HybridModel::inputs`]). Checkpoints: [`checkpoint`].
//!
//! The source enters each step **explicitly**: `u^{n+1} = step(u^n) + dt S(u^n)`.
//!
//! Gradients: in mode `assoc` the scheme's adjoint runs through every step with a checkpoint schedule
//! (bounded memory on long horizons; store-all keeps a piece tape of one byte per face and step, as the
//! velocity is not trained) beside the network's tape. In modes `safe` and `lex` the network and the
//! time loops are recorded on one tape (module `locked`), so the probe directions in weight space
//! lock the scheme's pieces (limiters, fluxes) at every kink face together with the network's ReLUs:
//! the gradient does not depend on the representation anywhere (tested with the output layer at
//! zero, where the plateaus of the data stay flat at every step, in both forms and for Burgers). The
//! alpha form with a constant velocity records the loops of all samples as one op
//! ([`crate::pde::scheme::Transport::time_loop_var`], one byte per face, step and sample); the state
//! form, Burgers' equation and the other schemes record every step
//! ([`crate::pde::scheme::Transport::step_var`]) after that step's network source, and the tape then
//! holds every step. Neither recomputes: a schedule other than store-all is refused in these modes
//! ([`crate::Error::Unsupported`]). Both the network (ReLU) and the scheme (upwind switches,
//! limiters, Godunov's flux) hit kinks; the certificate of every gradient ([`LossReport::certificate`])
//! counts them under the scopes `net` and `scheme`.
//!
//! **What the observations determine.** With velocity `a = 1` and a time-independent source, the final
//! state sees the source only through its integral along characteristics over a window of length
//! `aT`: `u(x, T) = beta(x - aT) + (1/a) int_{x-aT}^{x} s(y) dy`. A Fourier mode `k` of `s` is multiplied
//! by `(1 - e^{-2 pi i k a T}) / (2 pi i k a)`, which vanishes when `k a T` is an integer: for `T = 0.5`
//! every even mode is invisible to the data. The default final time, 90 steps of `dt = 1/256`
//! (`T = 0.3516`), hides only multiples of mode 64, which a Gaussian of width `sigma = 0.05` does not
//! carry (its mode-64 amplitude is `exp(-2 pi^2 sigma^2 64^2) ~ 1e-88`).

pub mod checkpoint;
pub mod data;
pub mod data_file;
pub mod identify;
mod locked;
pub mod model;
mod net_grad;
mod network;
pub mod train;

pub use data::{Dataset, GenerateConfig, SourceForm, TrueSource};
pub use model::{scope_kinks, HybridModel, LossReport, NET, SCHEME};
pub use train::{adam, train, Position, Snapshot, TrainConfig, TrainRun, TrainStep};
