//! Finite-volume schemes on a periodic grid: the scheme, its time step, and the value of a step.
//!
//! # The update
//! Conservative form with an optional source `s`:
//! `u_j^{n+1} = u_j - lambda (F_{j+1/2} - F_{j-1/2}) + dt s_j`, `lambda = dt / dx`. Face `j` is
//! `x_{j+1/2}`, between cells `j` and `j + 1`; its flux reads `u_{j-1}, u_j, u_{j+1}, u_{j+2}`.
//! Mass `sum_j u_j dx` changes only by `dt sum_j s_j dx` (telescoping: conserved to round-off).
//!
//! # Linear transport `u_t + (a u)_x = 0`
//! The velocity is one constant or one value per face (`a_j` at `x_{j+1/2}`; it may change sign,
//! so the upwind side switches from face to face). With `nu = |a| lambda` the flux is the talk's upwind
//! flux `F(a, u_l, u_r) = R(a) u_l - R(-a) u_r` applied to reconstructed states:
//!
//! ```text
//! F = R(a) (u_j     + (1 - nu)/2 sigma_L)  -  R(-a) (u_{j+1} - (1 - nu)/2 sigma_R)
//! sigma_L = B(u_{j+1} - u_j, u_j - u_{j-1})        slope of cell j   (upwind when a > 0)
//! sigma_R = B(u_{j+1} - u_j, u_{j+2} - u_{j+1})    slope of cell j+1 (upwind when a < 0)
//! ```
//!
//! `B = 0` is first-order upwind; `B(x, y) = x` is the unlimited Lax-Wendroff scheme (its flux is
//! `a (u_j + u_{j+1})/2 - a^2 lambda (u_{j+1} - u_j)/2` for either sign of `a`); a [`Limiter`] gives
//! the limited (TVD for `nu <= 1`) Lax-Wendroff scheme. The formula and its partials are written once,
//! in [`super::face`].
//!
//! **The `a < 0` branch of the talk's slide.** The slide writes, for `a < 0`,
//! `u_{j+1/2} = u_{j+1} + (1 - nu)/2 minmod(u_{j+1} - u_j, u_j - u_{j-1})`. Deriving it from
//! Lax-Wendroff (`F = a (u_j + u_{j+1})/2 - a^2 lambda (u_{j+1} - u_j)/2`, and for `a < 0`
//! `a/2 + a^2 lambda/2 = a (1 - nu)/2`) gives
//! `u_{j+1/2} = u_{j+1} - (1 - nu)/2 (u_{j+1} - u_j)`: the correction has a **minus** sign (one
//! reconstructs cell `j+1`'s value half a cell to its left), and its limited slope is that of the
//! upwind cell `j + 1`, `minmod(u_{j+1} - u_j, u_{j+2} - u_{j+1})`, not cell `j`'s. Both are typos
//! on the slide: with the slide's sign the scheme is not consistent with Lax-Wendroff (it equals
//! `u_{j+1} + (1 - nu)/2 (u_{j+1} - u_j)` on smooth data, first order with a wrong sign of the
//! correction) and it is not the mirror image of the `a > 0` branch. The test
//! `negative_velocity_is_the_mirror_image` checks the mirror symmetry of the formula used here, and
//! `slide_formula_for_negative_velocity_is_inconsistent` that the slide's version is not.
//!
//! # Burgers `u_t + (u^2/2)_x = 0`, Godunov flux
//! The exact Riemann solution at the face gives `F(u_l, u_r) = max(f(max(u_l, 0)), f(min(u_r, 0)))`,
//! `f(u) = u^2/2` ([`crate::primitive::godunov`]).
//!
//! # Kinks and representations
//! Kinks counted per step (exact floating-point equality, `-0.0` is 0): every limiter evaluation on
//! a switching surface (a slope exactly 0, equal slopes, ...), every face with `a = 0` exactly (the
//! pieces `a > 0` and `a < 0` of the flux tie; they have the same value 0 and the same
//! `u`-derivatives 0 but `dF/da` is `u_j + sigma_L/2` on one and `u_{j+1} - sigma_R/2` on the other),
//! and every Burgers face on a switching surface. Ties follow the representation's limiter and flux
//! rules ([`super::rules`]); every rule gives convex weights over the tied pieces (admissible). The
//! lexicographic rule (modes `lex`, `safe`) is [`super::lock`]'s.
//!
//! How a gradient through many steps is computed (the tape op, the checkpointed and locked steppers,
//! the piece tape, the time-loop op) is in the module docs of [`crate::pde`].

use super::face::Slope;
use super::forward::{extend, fluxes, update};
use super::grid::{check_cfl, Grid};
use super::limiter::Limiter;
use crate::error::{Error, Result};

/// A finite-volume scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// First-order upwind for linear transport (the talk's flux).
    Upwind,
    /// Unlimited Lax-Wendroff for linear transport (second order, oscillates at discontinuities).
    LaxWendroff,
    /// Lax-Wendroff with a slope limiter for linear transport (TVD for Courant numbers up to 1).
    Limited(Limiter),
    /// Godunov's scheme for Burgers' equation with the exact Riemann flux.
    BurgersGodunov,
}

impl std::str::FromStr for Scheme {
    type Err = Error;
    /// `upwind`, `lw`, `lw-minmod`, `lw-superbee`, `lw-mc`, `lw-vanleer`, `burgers-godunov`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "upwind" => Ok(Scheme::Upwind),
            "lw" => Ok(Scheme::LaxWendroff),
            "burgers-godunov" | "burgers" => Ok(Scheme::BurgersGodunov),
            _ => match s.strip_prefix("lw-") {
                Some(l) => Ok(Scheme::Limited(l.parse()?)),
                None => Err(Error::invalid(
                    "scheme",
                    format!("'{s}', expected upwind, lw, lw-minmod, lw-superbee, lw-mc, lw-vanleer or burgers-godunov"),
                )),
            },
        }
    }
}

impl Scheme {
    /// The name used on the command line and in kink logs.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Upwind => "upwind",
            Scheme::LaxWendroff => "lw",
            Scheme::Limited(Limiter::Minmod) => "lw-minmod",
            Scheme::Limited(Limiter::Superbee) => "lw-superbee",
            Scheme::Limited(Limiter::Mc) => "lw-mc",
            Scheme::Limited(Limiter::VanLeer) => "lw-vanleer",
            Scheme::BurgersGodunov => "burgers-godunov",
        }
    }
    /// The op name of a step in kink logs: `transport-<name>`.
    pub fn op_name(self) -> &'static str {
        match self {
            Scheme::Upwind => "transport-upwind",
            Scheme::LaxWendroff => "transport-lw",
            Scheme::Limited(Limiter::Minmod) => "transport-lw-minmod",
            Scheme::Limited(Limiter::Superbee) => "transport-lw-superbee",
            Scheme::Limited(Limiter::Mc) => "transport-lw-mc",
            Scheme::Limited(Limiter::VanLeer) => "transport-lw-vanleer",
            Scheme::BurgersGodunov => "transport-burgers-godunov",
        }
    }
    /// Largest stable Courant number (1 for all of these explicit schemes).
    pub fn cfl_bound(self) -> f64 {
        1.0
    }
    /// True for the linear-transport schemes (they take a velocity).
    pub fn is_linear(self) -> bool {
        !matches!(self, Scheme::BurgersGodunov)
    }
    /// The reconstruction slope (`None` for Burgers).
    pub(crate) fn slope(self) -> Option<Slope> {
        match self {
            Scheme::Upwind => Some(Slope::Zero),
            Scheme::LaxWendroff => Some(Slope::Unlimited),
            Scheme::Limited(l) => Some(Slope::Limited(l)),
            Scheme::BurgersGodunov => None,
        }
    }
}

/// A scheme with its time step on a grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Transport {
    /// The grid.
    pub grid: Grid,
    /// The scheme.
    pub scheme: Scheme,
    /// The time step.
    pub dt: f64,
    /// Run even above the stability bound.
    pub force: bool,
}

impl Transport {
    /// A scheme with time step `dt` (positive, finite).
    pub fn new(grid: Grid, scheme: Scheme, dt: f64) -> Result<Self> {
        if !(dt.is_finite() && dt > 0.0) {
            return Err(Error::invalid("time step", format!("{dt}: expected a positive finite number")));
        }
        Ok(Self { grid, scheme, dt, force: false })
    }
    /// The time step of Courant number `courant` for the largest speed `max_speed`; refused above
    /// the scheme's stability bound unless `force`.
    ///
    /// ```
    /// use kinkgrad::pde::{grid::Grid, scheme::{Scheme, Transport}};
    /// let g = Grid::unit(100).unwrap();
    /// let t = Transport::from_courant(g, "lw-minmod".parse().unwrap(), 1.0, 0.5, false).unwrap();
    /// assert!((t.dt - 0.005).abs() < 1e-15);
    /// assert!(Transport::from_courant(g, Scheme::Upwind, 1.0, 1.5, false).is_err());
    /// assert!(Transport::from_courant(g, Scheme::Upwind, 1.0, 1.5, true).is_ok());
    /// ```
    pub fn from_courant(grid: Grid, scheme: Scheme, max_speed: f64, courant: f64, force: bool) -> Result<Self> {
        let dt = super::grid::courant_dt(&grid, max_speed, courant)?;
        check_cfl(courant, scheme.cfl_bound(), force, scheme.name())?;
        Ok(Self { grid, scheme, dt, force })
    }
    /// `dt / dx`.
    pub fn lambda(&self) -> f64 {
        self.dt / self.grid.dx()
    }
    /// The Courant number `max|speed| dt / dx` for the speeds `v` (the velocity of linear transport,
    /// the state itself for Burgers).
    pub fn courant(&self, v: &[f64]) -> f64 {
        v.iter().fold(0.0f64, |m, x| m.max(x.abs())) * self.lambda()
    }
    /// Refuse a step whose Courant number exceeds the stability bound (unless forced).
    pub fn check_cfl(&self, v: &[f64]) -> Result<()> {
        check_cfl(self.courant(v), self.scheme.cfl_bound(), self.force, self.scheme.name())
    }
    /// Check the lengths of a state (`u`), a velocity (`a`, `None` when absent) and a source (`s`).
    pub(crate) fn check_shapes(&self, u: usize, a: Option<usize>, s: Option<usize>) -> Result<()> {
        let n = self.grid.cells;
        if u != n {
            return Err(Error::shape("transport step", format!("the state has {u} cells, the grid {n}")));
        }
        match (self.scheme.is_linear(), a) {
            (true, None) => return Err(Error::invalid("velocity", "linear transport needs a velocity")),
            (false, Some(l)) if l > 0 => {
                return Err(Error::invalid("velocity", "Burgers' equation carries its own speed u: give no velocity"))
            }
            (true, Some(l)) if l != 1 && l != n => {
                return Err(Error::shape(
                    "transport step",
                    format!("the velocity has {l} values: expected 1 (constant) or {n} (one per face)"),
                ))
            }
            _ => {}
        }
        if let Some(l) = s {
            if l != n {
                return Err(Error::shape("transport step", format!("the source has {l} values, the grid {n} cells")));
            }
        }
        Ok(())
    }

    /// One step, value only: `out = u^{n+1}`. `a`: velocity (empty for Burgers), `s`: source.
    /// No CFL check here (see [`Transport::check_cfl`]); shapes must fit (checked by the public
    /// entry points).
    pub fn step_values(
        &self,
        u: &[f64],
        a: &[f64],
        s: Option<&[f64]>,
        ext: &mut Vec<f64>,
        flux: &mut Vec<f64>,
        out: &mut [f64],
    ) {
        // the same arithmetic compiled for the CPU's vector units (same bits on every path)
        step_values_wide(self, u, a, s, ext, flux, out)
    }

    /// Run `steps` steps from `u0` (value only); checks shapes and the CFL bound (on the velocity,
    /// or for Burgers on the initial state: Godunov's scheme does not increase `max|u|`). Every step
    /// polls the cancellation token ([`crate::cancel`]).
    ///
    /// ```
    /// use kinkgrad::pde::{grid::Grid, scheme::{Scheme, Transport}};
    /// let g = Grid::unit(50).unwrap();
    /// let t = Transport::from_courant(g, Scheme::Upwind, 1.0, 1.0, false).unwrap();
    /// let u0: Vec<f64> = (0..50).map(|j| j as f64).collect();
    /// // Courant number 1: upwind is the exact shift by one cell
    /// let u = t.simulate(&u0, &[1.0], None, 3).unwrap();
    /// assert_eq!(u[5], 2.0);
    /// ```
    pub fn simulate(&self, u0: &[f64], a: &[f64], s: Option<&[f64]>, steps: usize) -> Result<Vec<f64>> {
        self.check_shapes(
            u0.len(),
            Some(a.len()).filter(|_| self.scheme.is_linear() || !a.is_empty()),
            s.map(|s| s.len()),
        )?;
        self.check_cfl(if self.scheme.is_linear() { a } else { u0 })?;
        let (mut ext, mut flux) = (Vec::new(), Vec::new());
        let mut u = u0.to_vec();
        let mut next = vec![0.0; u.len()];
        for k in 0..steps {
            crate::cancel::check(format_args!("time step {} of {steps}", k + 1))?;
            self.step_values(&u, a, s, &mut ext, &mut flux, &mut next);
            std::mem::swap(&mut u, &mut next);
        }
        Ok(u)
    }
}

#[inline(always)]
fn step_values_body(
    t: &Transport,
    u: &[f64],
    a: &[f64],
    s: Option<&[f64]>,
    ext: &mut Vec<f64>,
    flux: &mut Vec<f64>,
    out: &mut [f64],
) {
    // upwind and Lax-Wendroff at a constant velocity: one pass over the cells (the same bits)
    match t.scheme.slope() {
        Some(slope) if super::fused::one_piece(slope) && a.len() == 1 && a[0] != 0.0 => {
            return super::fused::step(slope, a[0], t.lambda(), t.dt, u, s, out);
        }
        _ => {}
    }
    extend(u, ext);
    fluxes(t.scheme.slope(), a, t.lambda(), ext, flux);
    update(t.lambda(), t.dt, u, flux, s, out);
}

wide_fn! {
    /// [`Transport::step_values`] compiled for the CPU's vector units.
    fn step_values_wide(
        t: &Transport,
        u: &[f64],
        a: &[f64],
        s: Option<&[f64]>,
        ext: &mut Vec<f64>,
        flux: &mut Vec<f64>,
        out: &mut [f64],
    ) = step_values_body;
}
