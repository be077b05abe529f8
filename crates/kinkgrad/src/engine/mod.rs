//! The gradient engine: the modes, and the one driver that turns a recorded program into a
//! derivative with its [`Certificate`].
//!
//! | mode | how | certificate |
//! |---|---|---|
//! | `assoc` | the reverse sweep of [`crate::reverse`] over the pieces the representation selected | `exact` without kinks, else `representation-dependent` |
//! | `lex` | the tangent pass of [`crate::lex`] along the columns of `M`, pieces chosen lexicographically; gradient `M^-T f'(x; M)` | `generalized` (or `exact`) |
//! | `safe` | branch locking ([`crate::lex`]) through the ancestors of the kinked ops along seeded probe directions, then the reverse sweep over the locked pieces | `generalized` (or `exact`) |
//!
//! A tie that survives every direction of `lex` or `safe` (its pieces agree along all of them) gives
//! its whole weight to its first tied piece (lowest piece or position index): the result is exact in
//! bits, independent of the representation, and still a generalized gradient (the piece is active at
//! the point). Such ties are counted in the certificate's `unresolved`.
//!
//! This module sits above both [`crate::reverse`] (the tape and its backward sweep) and
//! [`crate::lex`] (tangent passes and lexicographic selection); neither imports the other's driver.
//!
//! # Derivatives of recorded derivatives at kinks
//!
//! [`Tape::grad_vars`] records a gradient on the tape, so that it can sit inside a loss and be
//! differentiated again. Every non-smooth primitive on the tape is piecewise **affine** in its
//! arguments (relu, leaky relu, abs, clamp, hardtanh, max and min, minmod, sort, max-pooling, the
//! limited fluxes): on each piece its derivative is a constant. The recorded backward pass holds, at
//! every element of such a primitive, the derivative of one piece (at a kink in `assoc`: the
//! representation's convex combination of the tied pieces' derivatives) as a coefficient that does
//! not depend on the variables. A second derivative through a piecewise-affine primitive is
//! therefore:
//!
//! - **zero curvature on each piece**: the held coefficient is constant, so the chain rule through it
//!   carries the first derivative of the piece and nothing else (curvature comes only from the
//!   smooth ops and from products of variables);
//! - **the locked piece's first derivative at a kink**: in `safe` and `lex` the piece held is the
//!   one selected lexicographically when `grad_vars` ran, and it is **pinned**: every later pass over
//!   the recorded nodes (`gradient` or `grad_vars`, in any mode) keeps it, both where it reads the
//!   recorded derivative and where it goes through the primitive itself, and locks only kinks that
//!   are not pinned yet. In `assoc` the held coefficient is the representation's.
//!
//! A derivative computed from a `safe`/`lex` recorded derivative is thus the derivative of one smooth
//! selection `f_p` of `f` (the composition of the pinned pieces with the smooth ops), as a function of
//! every variable on the tape. The pieces are chosen along the probe directions over the `wrt` of the
//! `grad_vars` call first (so the recorded gradient is the one `gradient` returns in that mode), then,
//! for ties those leave, along seeded probe directions over every variable the kinked ops depend on
//! (so the choice also serves derivatives with respect to the other variables, such as the weights
//! of an input-gradient penalty). When every tie is resolved, `f_p = f` on an open set whose closure
//! contains the point.
//!
//! **What `safe` (and `lex`) guarantee for a derivative of a recorded derivative:**
//! 1. The recorded first derivative is the true gradient wherever `f` is differentiable in `wrt`, and
//!    a generalized gradient elsewhere; bit for bit independent of the representation.
//! 2. Wherever `f` is twice differentiable along the locked pieces (`f` is C² on a neighbourhood of
//!    the point: `f_p` and `f` agree on an open set touching it, so do their derivatives, and at the
//!    point by continuity), the derivative of the recorded derivative is the true second-order
//!    derivative, kinks included: units on kinks in cancelling pairs (`relu(h) - relu(-h) = h`) give
//!    the exact Hessian-vector products and penalty gradients of the smooth function they compute.
//! 3. The certificate carries the kinks, locks and unresolved ties of every pass the result depends
//!    on; it is `exact` only when no pass hit a kink, and `representation-dependent` as soon as one of
//!    them resolved a kink by the representation (an `assoc` recorded derivative), whatever the mode
//!    of the outer call.
//! 4. A tie that survives every direction (counted in `unresolved`) gets its first tied piece: the
//!    first derivative stays exact, but the second-order guarantee does not cover it (e.g.
//!    `relu(x w) - relu(-x w)` at `x = w = 0`, where `x w` moves only at second order).
//!
//! An op on the kinks of a `safe`/`lex` recorded derivative must keep its pieces
//! ([`crate::reverse::Op::pinnable`]); otherwise `grad_vars` refuses the mode with
//! [`Error::Unsupported`] rather than let a later pass re-select them.

mod mode;
mod recorded;

pub use mode::Mode;
pub use recorded::RecordedGradients;

use crate::certificate::{Certificate, CertificateKind};
use crate::error::{Error, Result};
use crate::lex::{self, Directions};
use crate::reverse::{check_scalar, Tape, Var};
use crate::scalar::Real;
use crate::tensor::pool::{self, Buf};
use crate::tensor::Tensor;

/// The result of a gradient computation.
#[derive(Clone, Debug)]
pub struct Gradients<T: Real> {
    /// One tensor per variable, shaped like it. Empty in `lex` mode when `M` is not square.
    pub values: Vec<Tensor<T>>,
    /// `lex` mode: the LD-derivative `f'(x; M)` (one entry per column of `M`).
    pub ld_derivative: Option<Vec<f64>>,
    /// What the numbers are.
    pub certificate: Certificate,
}

impl<T: Real> Tape<T> {
    /// Gradients of the scalar `y` with respect to `wrt` in the given mode, with a certificate.
    ///
    /// A NaN or infinite value or derivative is an error naming the op where it first appeared, in
    /// every mode. Ops pinned by a recorded derivative ([`Tape::grad_vars`]) keep their pieces; the
    /// kinks baked into recorded derivatives that `y` depends on are part of the certificate.
    pub fn gradient<'t>(&'t self, y: Var<'t, T>, wrt: &[Var<'t, T>], mode: &Mode) -> Result<Gradients<T>> {
        check_scalar(&y)?;
        self.check_finite(y)?;
        let relevant = self.relevant(y, wrt);
        self.unlock(&relevant);
        let mut to_lock = self.unpinned_kinked(&relevant);
        let mut directions = 0;
        let mut skipped = Buf::default();
        match mode {
            Mode::Assoc => {}
            Mode::Safe { seed, max_directions } => {
                let max = (*max_directions).max(1);
                // inert kinks need no lock (their pieces cannot change the result): each is locked
                // where a tangent pass would leave it, and an op whose kinks are all inert leaves the
                // tangent pass
                if self.skip_inert() {
                    skipped = self.inert(&to_lock, &relevant);
                }
                let kinks = self.kink_counts(&to_lock);
                for ((l, &s), &n) in to_lock.iter_mut().zip(skipped.iter()).zip(kinks.iter()) {
                    *l &= s < n;
                }
                if to_lock.contains(&true) {
                    // an inert tie survives every direction, so the pass that selects every kink
                    // (skip rule off) ends at `max` directions whenever one exists, and each pass
                    // selects afresh: starting there gives its bits without the passes below
                    let first = if skipped.iter().any(|&s| s > 0) { max } else { 1 };
                    directions = lex::lock_safe(self, wrt, &relevant, &to_lock, *seed, first, max).k;
                }
            }
            Mode::Lex(m) => {
                let m = directions_for(m, wrt)?;
                let ld = lex::ld_derivative(self, y, wrt, &relevant, &m);
                if ld.iter().any(|v| !v.is_finite()) {
                    return Err(Error::NonFinite { op: "lexicographic derivative".into(), stage: "gradient" });
                }
                let certificate = self.certificate(mode, &relevant, m.cols, &[]);
                let values = match m.solve_transposed(&ld) {
                    Some(g) => split_like(&g, wrt),
                    None => vec![],
                };
                if values.iter().any(|v| v.first_non_finite().is_some()) {
                    return Err(Error::NonFinite { op: "lexicographic derivative".into(), stage: "gradient" });
                }
                return Ok(Gradients { values, ld_derivative: Some(ld), certificate });
            }
        }
        let certificate = self.certificate(mode, &relevant, directions, &skipped);
        let len = self.len();
        let gv = self.backward(y, wrt, &relevant, None);
        let mut values: Vec<Tensor<T>> = pool::take(gv.len());
        values.extend(gv.iter().map(|g| g.value()));
        pool::give_any(gv);
        if values.iter().any(|v| v.first_non_finite().is_some()) {
            let op = self.first_non_finite_after(len).unwrap_or_else(|| "backward".into());
            self.truncate(len);
            return Err(Error::NonFinite { op, stage: "gradient" });
        }
        self.truncate(len);
        Ok(Gradients { values, ld_derivative: None, certificate })
    }

    /// The certificate of a derivative over the `relevant` nodes after its locking pass: the kinks
    /// of its own ops and those baked into the recorded derivatives it reads, each op counted once.
    fn certificate(&self, mode: &Mode, relevant: &[bool], directions: usize, skipped: &[usize]) -> Certificate {
        let mut sources = self.own_sources(relevant, mode.locks(), skipped);
        sources.extend(self.inherited_sources(relevant).as_slice());
        let kinks = sources.kink_log();
        let all = sources.as_slice();
        let kind = if kinks.total() == 0 {
            CertificateKind::Exact
        } else if all.iter().any(|s| !s.locked && s.skipped < s.kinks) {
            CertificateKind::RepresentationDependent
        } else {
            CertificateKind::Generalized
        };
        // the name shared through the installed pool: a training step's certificate copies no string
        let mut cert = Certificate::exact(mode.name(), pool::intern(&self.representation().name));
        cert.kind = kind;
        cert.kinks = kinks;
        cert.locked = all.iter().filter(|s| s.locked).map(|s| s.kinks - s.skipped).sum();
        cert.unresolved = all.iter().map(|s| s.unresolved).sum();
        cert.skipped = all.iter().map(|s| s.skipped).sum();
        cert.directions = directions;
        cert
    }
}

/// The direction matrix of `lex` mode over `wrt`: `M`, or the identity; `M` must have one row per
/// element of `wrt`.
fn directions_for<T: Real>(m: &Option<Directions>, wrt: &[Var<'_, T>]) -> Result<Directions> {
    let n: usize = wrt.iter().map(|w| w.value().len()).sum();
    let m = match m {
        Some(m) => m.clone(),
        None => Directions::identity(n),
    };
    if m.rows != n {
        return Err(Error::invalid(
            "directions",
            format!("the direction matrix has {} rows, the inputs have {n} elements", m.rows),
        ));
    }
    Ok(m)
}

/// Split a flat vector into tensors shaped like `wrt`.
fn split_like<T: Real>(g: &[f64], wrt: &[Var<'_, T>]) -> Vec<Tensor<T>> {
    let mut off = 0;
    wrt.iter()
        .map(|w| {
            let s = w.shape();
            let n: usize = s.iter().product();
            let t = crate::reverse::var::ok(Tensor::from_f64(s.into_vec(), &g[off..off + n]));
            off += n;
            t
        })
        .collect()
}
