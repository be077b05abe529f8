//! The piece-locked replay: the scheme run once with its pieces locked as the `safe`/`lex` paths lock
//! them, the selected piece of every face and step recorded ([`Transport::locked_pieces`]), and the
//! scheme replayed from any initial state with those pieces fixed ([`Transport::replay`]).
//!
//! With its pieces fixed, a linear scheme with piecewise linear slopes (upwind, Lax-Wendroff,
//! minmod, superbee, MC) is a linear map of `u0`, so the replayed loss `P(u0) = Σ (u(T) - target)^2 dx`
//! is a quadratic polynomial of `u0`, defined everywhere: its central difference quotient along any
//! direction is exact up to rounding, at any step. The locked modes' claim is that their gradient is
//! `∇P` at `u0` for the recorded pieces (and `lex`'s LD-derivatives are `∇P . d` along its
//! directions), which [`crate::check::transport`] checks with such quotients. [`Transport::replay`] at
//! the run's own `u0` reproduces the run's `u(T)`: the recorded pieces are active on the run's
//! trajectory (they are the f64 trajectory's pieces, with ties resolved lexicographically).
//!
//! The replay evaluates each face by the one face formula ([`super::face::flux`]) with the selected
//! piece's value ([`crate::primitive::Piecewise::piece_value`]), not by the partials the gradient
//! paths use, and the selection comes from the one locking routine ([`super::lock::lock_faces`]
//! through [`super::stepper::LockedStepper`]).

use super::checkpoint::Stepper;
use super::face::{flux, jumps, Neg, Pos, Side, Slope};
use super::forward::{extend, update};
use super::piece_tape::eligible;
use super::scheme::Transport;
use super::stepper::{LockedState, LockedStepper};
use crate::error::{Error, Result};
use crate::lex::Directions;
use crate::repr::Representation;

/// The piece of every face at every step of a locked run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PieceSequence {
    /// Number of cells (faces).
    pub cells: usize,
    /// `pieces[step * cells + j]`: the index of the upwind slope's piece selected at face `j` (the
    /// order of the limiter's declared pieces; `0` for upwind and Lax-Wendroff).
    pub pieces: Vec<u8>,
    /// Kinks the run met.
    pub kinks: usize,
    /// Ties that survived every direction with differing partials (their first piece was taken).
    pub unresolved: usize,
}

impl PieceSequence {
    /// Number of steps recorded.
    pub fn steps(&self) -> usize {
        self.pieces.len().checked_div(self.cells).unwrap_or(0)
    }
    /// The `(step, face)` pairs where `self` and `other` select different pieces.
    pub fn differences(&self, other: &PieceSequence) -> Vec<(usize, usize)> {
        let n = self.cells.max(1);
        self.pieces
            .iter()
            .zip(&other.pieces)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, _)| (i / n, i % n))
            .collect()
    }
}

/// True when [`Transport::locked_pieces`] and [`Transport::replay`] cover the scheme and velocity: a
/// constant velocity `a != 0` and a slope with declared pieces (not van Leer, not Burgers).
pub fn replayable(t: &Transport, velocity: &[f64]) -> bool {
    eligible(t.scheme, velocity)
}

fn need_replayable(t: &Transport, velocity: &[f64]) -> Result<()> {
    if replayable(t, velocity) {
        Ok(())
    } else {
        Err(Error::unsupported(
            "the piece-locked replay of this run",
            "it covers a constant velocity a != 0 and the schemes with declared pieces (upwind, lw, lw-minmod, \
             lw-superbee, lw-mc)",
        ))
    }
}

impl Transport {
    /// Run `steps` steps from `u0` with the pieces locked lexicographically along the columns of `m`
    /// (rows: the cells of `u0`), as the `safe`/`lex` paths of [`Transport::loss_gradient`] lock them
    /// for the same directions, and record the selected piece of every face and step.
    pub fn locked_pieces(
        &self,
        u0: &[f64],
        velocity: &[f64],
        source: Option<&[f64]>,
        steps: usize,
        m: &Directions,
    ) -> Result<PieceSequence> {
        need_replayable(self, velocity)?;
        let n = self.grid.cells;
        if u0.len() != n || m.rows != n || m.cols == 0 || m.data.len() != m.rows * m.cols {
            return Err(Error::shape(
                "piece-locked replay",
                format!("expected {n} initial values and an {n}-row direction matrix with at least one column"),
            ));
        }
        let k = m.cols;
        let mut st = LockedStepper::new(
            self.clone(),
            velocity.to_vec(),
            source.map(|s| s.to_vec()),
            &Representation::default(),
            k,
        )?;
        let mut t = vec![0.0; k * n];
        for c in 0..k {
            for i in 0..n {
                t[c * n + i] = m.data[i * k + c];
            }
        }
        let mut x = LockedState { u: u0.to_vec(), t };
        let mut pieces = Vec::with_capacity(n * steps);
        let (mut kinks, mut unresolved) = (0, 0);
        for s in 0..steps {
            crate::cancel::check(format_args!("replay recording, time step {} of {steps}", s + 1))?;
            let y = st.step(s, &x);
            let (codes, kk, ku) = st.last_step_pieces().expect("a replayable scheme keeps codes");
            kinks += kk;
            unresolved += ku;
            pieces.extend(codes.iter().map(|&c| c.trailing_zeros() as u8));
            st.recycle(std::mem::replace(&mut x, y));
        }
        Ok(PieceSequence { cells: n, pieces, kinks, unresolved })
    }

    /// `u(T)` from `u0` with the recorded pieces fixed (a linear map of `u0`, plus the source's
    /// share): every face's flux is the face formula with the selected piece's value.
    pub fn replay(
        &self,
        seq: &PieceSequence,
        u0: &[f64],
        velocity: &[f64],
        source: Option<&[f64]>,
    ) -> Result<Vec<f64>> {
        need_replayable(self, velocity)?;
        let n = self.grid.cells;
        if seq.cells != n || u0.len() != n || source.is_some_and(|s| s.len() != n) {
            return Err(Error::shape("piece-locked replay", format!("the grid has {n} cells")));
        }
        let slope = self.scheme.slope().expect("a linear scheme");
        let a = velocity[0];
        let lambda = self.lambda();
        let (mut ext, mut fl, mut u, mut next) = (Vec::new(), vec![0.0; n], u0.to_vec(), vec![0.0; n]);
        for (s, pieces) in seq.pieces.chunks(n).enumerate() {
            crate::cancel::check(format_args!("replay, time step {} of {}", s + 1, seq.steps()))?;
            extend(&u, &mut ext);
            if a > 0.0 {
                locked_fluxes::<Pos>(slope, a, lambda, &ext, pieces, &mut fl)?;
            } else {
                locked_fluxes::<Neg>(slope, a, lambda, &ext, pieces, &mut fl)?;
            }
            update(lambda, self.dt, &u, &fl, source, &mut next);
            std::mem::swap(&mut u, &mut next);
        }
        Ok(u)
    }
}

/// The fluxes of one step on side `S` with the slope's piece `pieces[j]` at face `j`.
fn locked_fluxes<S: Side>(
    slope: Slope,
    a: f64,
    lambda: f64,
    ext: &[f64],
    pieces: &[u8],
    out: &mut [f64],
) -> Result<()> {
    for (j, (o, &q)) in out.iter_mut().zip(pieces).enumerate() {
        let w = &ext[j..j + 4];
        let (x, y) = jumps::<S>(w[0], w[1], w[2], w[3]);
        let b = match slope {
            Slope::Zero => 0.0,
            Slope::Unlimited => x,
            Slope::Limited(l) => {
                let p = l.piecewise().expect("a limiter with declared pieces");
                if q as usize >= p.pieces().len() {
                    return Err(Error::invalid(
                        "piece sequence",
                        format!("piece {q} at face {j}: the limiter has {}", p.pieces().len()),
                    ));
                }
                p.piece_value(q as usize, &[x, y])
            }
        };
        *o = flux::<S>(a, lambda, w[1], w[2], b);
    }
    Ok(())
}
