//! The representation's rules as the schemes read them: the one place `pde/` looks into a
//! [`Representation`]. Each rule is read through the primitive that declares it (a limiter's tie rule
//! through [`Piecewise::tie_rule`] of the limiters, the flux's through the upwind flux's), so a change
//! of the representation's layout touches the primitives' declarations, not the schemes.

use super::face::Slope;
use super::limiter::{Limiter, PieceTable};
use crate::primitive::minmod::Minmod;
use crate::primitive::upwind::Upwind;
use crate::primitive::Piecewise;
use crate::repr::{Representation, TieRule};

/// The tie rule of the slope limiters.
pub(crate) fn limiter_ties(rep: &Representation) -> TieRule {
    Minmod.tie_rule(rep)
}

/// The tie rule of the fluxes' pieces (the upwind side at `a = 0`, Godunov's flux).
pub(crate) fn flux_ties(rep: &Representation) -> TieRule {
    Upwind.tie_rule(rep)
}

/// A scheme's rules under one representation, tabulated once.
pub(crate) struct Rules {
    /// The scheme's slope (`None` for Burgers).
    pub slope: Option<Slope>,
    /// The slope's partials per code (tied set) under the limiter rule (unused for van Leer).
    pub table: PieceTable,
    /// The limiter rule (van Leer reads it directly).
    pub limiter: TieRule,
    /// The fluxes' rule.
    pub flux: TieRule,
}

impl Rules {
    /// The rules of a scheme with slope `slope` under `rep`.
    pub(crate) fn new(slope: Option<Slope>, rep: &Representation) -> Self {
        let limiter = limiter_ties(rep);
        let table = match slope {
            Some(Slope::Zero) | None => PieceTable::single(0.0),
            Some(Slope::Unlimited) => PieceTable::single(1.0),
            Some(Slope::Limited(l)) => match l.piecewise() {
                Some(p) => PieceTable::new(p, &p.tie_rule(rep)),
                None => PieceTable::single(0.0),
            },
        };
        Self { slope, table, limiter, flux: flux_ties(rep) }
    }
    /// True when the slope's pieces are 1-byte codes with tabulated partials (all but van Leer).
    pub(crate) fn coded(&self) -> bool {
        !matches!(self.slope, Some(Slope::Limited(Limiter::VanLeer)) | None)
    }
}
