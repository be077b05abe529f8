//! Checkers used by the tests and offered to users: central finite differences along random
//! directions, the dot-product test for VJPs, and gradient checks valid at kinks ([`valid`]:
//! central, one-sided along locked probe directions, or not applicable; [`transport`] and
//! [`hybrid`] run them on the library's models).

pub mod hybrid;
pub mod transport;
pub mod valid;

pub use valid::{CheckKind, GradCheck, Quotient};

use crate::error::Result;
use crate::rng::Rng;

/// Result of a finite-difference check.
#[derive(Clone, Debug)]
pub struct FdReport {
    /// Largest relative error `|fd - ad| / max(|fd|, |ad|, floor)` over the directions.
    pub max_rel_error: f64,
    /// Number of random directions.
    pub directions: usize,
}

/// Compare the gradient `grad` of `f` at `x` with central finite differences along `directions`
/// seeded random unit directions: `(f(x + h d) - f(x - h d)) / 2h` against `grad . d`.
pub fn finite_differences(
    f: &mut dyn FnMut(&[f64]) -> Result<f64>,
    x: &[f64],
    grad: &[f64],
    directions: usize,
    h: f64,
    seed: u64,
) -> Result<FdReport> {
    let mut rng = Rng::new(seed);
    let mut worst: f64 = 0.0;
    for _ in 0..directions {
        let mut d: Vec<f64> = (0..x.len()).map(|_| rng.normal()).collect();
        let n = d.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
        d.iter_mut().for_each(|v| *v /= n);
        let xp: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + h * b).collect();
        let xm: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a - h * b).collect();
        let fd = (f(&xp)? - f(&xm)?) / (2.0 * h);
        let ad: f64 = grad.iter().zip(&d).map(|(a, b)| a * b).sum();
        let scale = fd.abs().max(ad.abs()).max(1e-8);
        worst = worst.max((fd - ad).abs() / scale);
    }
    Ok(FdReport { max_rel_error: worst, directions })
}

/// The dot-product test: for a linear map `J` given as a JVP and its VJP, `<J u, v> = <u, J^T v>`
/// for random `u`, `v`. Returns the relative mismatch.
pub fn dot_product_test(
    jvp: &mut dyn FnMut(&[f64]) -> Vec<f64>,
    vjp: &mut dyn FnMut(&[f64]) -> Vec<f64>,
    n_in: usize,
    n_out: usize,
    seed: u64,
) -> f64 {
    let mut rng = Rng::new(seed);
    let u: Vec<f64> = (0..n_in).map(|_| rng.normal()).collect();
    let v: Vec<f64> = (0..n_out).map(|_| rng.normal()).collect();
    let ju = jvp(&u);
    let jtv = vjp(&v);
    let a: f64 = ju.iter().zip(&v).map(|(x, y)| x * y).sum();
    let b: f64 = u.iter().zip(&jtv).map(|(x, y)| x * y).sum();
    (a - b).abs() / a.abs().max(b.abs()).max(1e-12)
}
