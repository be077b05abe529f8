//! The 1-D periodic grid, Courant numbers and the CFL check.
//!
//! `cells` cells of width `dx = length / cells` cover `[0, length)`; cell `j` has centre
//! `x_j = (j + 1/2) dx` and right face `x_{j+1/2} = (j + 1) dx`. Indices wrap around (periodic).
//! A time step `dt` has the Courant number `nu = max|speed| dt / dx`; the explicit schemes of
//! [`crate::pde::scheme`] are stable for `nu <= 1`, and a larger `nu` is refused with
//! [`crate::Error::Invalid`] unless the run is forced.

use crate::error::{Error, Result};

/// A uniform periodic grid on `[0, length)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    /// Number of cells (at least 3: a limited slope reads two neighbours).
    pub cells: usize,
    /// Length of the periodic domain.
    pub length: f64,
}

impl Grid {
    /// `cells` cells on `[0, length)`.
    ///
    /// ```
    /// use kinkgrad::pde::grid::Grid;
    /// let g = Grid::new(4, 1.0).unwrap();
    /// assert_eq!(g.dx(), 0.25);
    /// assert_eq!(g.centers(), vec![0.125, 0.375, 0.625, 0.875]);
    /// assert!(Grid::new(2, 1.0).is_err());
    /// ```
    pub fn new(cells: usize, length: f64) -> Result<Self> {
        if cells < 3 {
            return Err(Error::invalid("cells", format!("{cells}: a periodic grid needs at least 3 cells")));
        }
        if !(length.is_finite() && length > 0.0) {
            return Err(Error::invalid("length", format!("{length}: expected a positive finite length")));
        }
        Ok(Self { cells, length })
    }
    /// The unit interval `[0, 1)` with `cells` cells.
    pub fn unit(cells: usize) -> Result<Self> {
        Self::new(cells, 1.0)
    }
    /// Cell width.
    pub fn dx(&self) -> f64 {
        self.length / self.cells as f64
    }
    /// Cell centres `(j + 1/2) dx`.
    pub fn centers(&self) -> Vec<f64> {
        let dx = self.dx();
        (0..self.cells).map(|j| (j as f64 + 0.5) * dx).collect()
    }
    /// Right faces `(j + 1) dx` (face `j` sits between cells `j` and `j + 1`).
    pub fn faces(&self) -> Vec<f64> {
        let dx = self.dx();
        (0..self.cells).map(|j| (j as f64 + 1.0) * dx).collect()
    }
    /// Cell averages of `f` over each cell, by 3-point Gauss-Legendre quadrature (exact for
    /// polynomials of degree 5; use it for smooth initial data so that the discretisation error is
    /// the scheme's, not the sampling's).
    pub fn cell_averages(&self, f: impl Fn(f64) -> f64) -> Vec<f64> {
        let dx = self.dx();
        let r = (0.6f64).sqrt() / 2.0;
        let (w0, w1) = (5.0 / 18.0, 8.0 / 18.0);
        (0..self.cells)
            .map(|j| {
                let c = (j as f64 + 0.5) * dx;
                w0 * f(c - r * dx) + w1 * f(c) + w0 * f(c + r * dx)
            })
            .collect()
    }
    /// `sum_j u_j dx`: the discrete mass.
    pub fn mass(&self, u: &[f64]) -> f64 {
        u.iter().sum::<f64>() * self.dx()
    }
    /// Total variation `sum_j |u_{j+1} - u_j|` (periodic).
    pub fn total_variation(&self, u: &[f64]) -> f64 {
        let n = u.len();
        (0..n).map(|j| (u[(j + 1) % n] - u[j]).abs()).sum()
    }
    /// `sum_j |u_j - v_j| dx`.
    pub fn l1_distance(&self, u: &[f64], v: &[f64]) -> f64 {
        u.iter().zip(v).map(|(a, b)| (a - b).abs()).sum::<f64>() * self.dx()
    }
    /// `max_j |u_j - v_j|`.
    pub fn linf_distance(&self, u: &[f64], v: &[f64]) -> f64 {
        u.iter().zip(v).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
    }
}

/// The time step with Courant number `courant` for the largest speed `max_speed`:
/// `dt = courant dx / max_speed`. Errors when `max_speed` is not positive (no time scale) or the
/// Courant number is not positive.
///
/// ```
/// use kinkgrad::pde::grid::{courant_dt, Grid};
/// let g = Grid::unit(100).unwrap();
/// assert!((courant_dt(&g, 2.0, 0.5).unwrap() - 0.0025).abs() < 1e-15);
/// ```
pub fn courant_dt(grid: &Grid, max_speed: f64, courant: f64) -> Result<f64> {
    if !(courant.is_finite() && courant > 0.0) {
        return Err(Error::invalid("courant number", format!("{courant}: expected a positive number")));
    }
    if !(max_speed.is_finite() && max_speed > 0.0) {
        return Err(Error::invalid(
            "velocity",
            format!("largest speed {max_speed}: a Courant number needs a positive finite speed"),
        ));
    }
    Ok(courant * grid.dx() / max_speed)
}

/// Refuse a Courant number above `bound` unless `force` is set.
pub fn check_cfl(nu: f64, bound: f64, force: bool, scheme: &str) -> Result<()> {
    if !nu.is_finite() {
        return Err(Error::invalid("time step", format!("Courant number {nu} is not finite")));
    }
    if nu > bound && !force {
        return Err(Error::invalid(
            "time step",
            format!(
                "Courant number {nu:.6} exceeds the stability bound {bound} of {scheme}; \
                 lower the Courant number or force the run"
            ),
        ));
    }
    Ok(())
}
