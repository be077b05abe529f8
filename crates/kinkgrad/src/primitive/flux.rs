//! The family of the numerical fluxes' kinks: the upwind flux `F(a, u_l, u_r) = R(a) u_l - R(-a) u_r`
//! at `a = 0` (pieces `a > 0` and `a < 0`, in that order) and the Godunov flux of Burgers' equation
//! on its switching surfaces (pieces left, right, zero). The schemes that use them are in
//! [`crate::pde`].

use crate::repr::{Family, Rule};

/// Ties of numerical fluxes (the upwind switch at `a = 0`, Burgers' Godunov flux). The frameworks
/// have no flux primitive (a flux written with `where`/`maximum` inherits those ops' rules, which
/// depend on how it is written), so every preset uses the minimum-norm rule.
pub const FLUX: Family = Family {
    key: "flux",
    what: "ties of numerical fluxes (upwind switch at a = 0, Burgers' Godunov flux)",
    value_range: None,
    minnorm: Rule::MinNorm,
    conventions: &[],
};
