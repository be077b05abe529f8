//! The forward loops over faces: fluxes (values), and the selected pieces of every face as 1-byte
//! codes (the limiter's tied set), for a constant velocity (side hoisted) or a velocity per face (both
//! sides evaluated, one selected, branch-free). Every loop applies the one face formula of
//! [`super::face`] with a slope's branch-free kernel ([`SlopeKernel`]), so every path computes the
//! same fluxes bit for bit.

use super::face::{flux, jumps, Neg, Pos, Side, Slope};
use super::limiter::Limiter;
use super::lock::is_kink_code;
use crate::primitive::godunov::Godunov;
use crate::primitive::mc::Mc;
use crate::primitive::minmod::Minmod;
use crate::primitive::superbee::Superbee;

/// A slope's branch-free kernel for the hot loops: `(B(x, y), code)`, the code the bit mask of the
/// active pieces (the tied set on a kink). Upwind and Lax-Wendroff have one piece (code 1); van
/// Leer has no declared pieces (code 0, unused).
pub(crate) trait SlopeKernel: Copy {
    /// `(value, code)`.
    fn value_code(self, x: f64, y: f64) -> (f64, u8);
}

#[derive(Clone, Copy)]
pub(crate) struct ZeroK;
#[derive(Clone, Copy)]
pub(crate) struct UnlimitedK;
#[derive(Clone, Copy)]
pub(crate) struct MinmodK;
#[derive(Clone, Copy)]
pub(crate) struct SuperbeeK;
#[derive(Clone, Copy)]
pub(crate) struct McK;
#[derive(Clone, Copy)]
pub(crate) struct VanLeerK;

impl SlopeKernel for ZeroK {
    #[inline(always)]
    fn value_code(self, _: f64, _: f64) -> (f64, u8) {
        (0.0, 1)
    }
}
impl SlopeKernel for UnlimitedK {
    #[inline(always)]
    fn value_code(self, x: f64, _: f64) -> (f64, u8) {
        (x, 1)
    }
}
impl SlopeKernel for MinmodK {
    #[inline(always)]
    fn value_code(self, x: f64, y: f64) -> (f64, u8) {
        Minmod::value_and_pieces(x, y)
    }
}
impl SlopeKernel for SuperbeeK {
    #[inline(always)]
    fn value_code(self, x: f64, y: f64) -> (f64, u8) {
        Superbee::value_and_pieces(x, y)
    }
}
impl SlopeKernel for McK {
    #[inline(always)]
    fn value_code(self, x: f64, y: f64) -> (f64, u8) {
        Mc::value_and_pieces(x, y)
    }
}
impl SlopeKernel for VanLeerK {
    #[inline(always)]
    fn value_code(self, x: f64, y: f64) -> (f64, u8) {
        (Limiter::VanLeer.value(x, y), 0)
    }
}

/// Run `$body` with `$k` bound to the slope's kernel (one monomorphic copy of the loop per slope).
macro_rules! with_slope_kernel {
    ($slope:expr, $k:ident => $body:expr) => {
        match $slope {
            $crate::pde::face::Slope::Zero => {
                let $k = $crate::pde::forward::ZeroK;
                $body
            }
            $crate::pde::face::Slope::Unlimited => {
                let $k = $crate::pde::forward::UnlimitedK;
                $body
            }
            $crate::pde::face::Slope::Limited($crate::pde::limiter::Limiter::Minmod) => {
                let $k = $crate::pde::forward::MinmodK;
                $body
            }
            $crate::pde::face::Slope::Limited($crate::pde::limiter::Limiter::Superbee) => {
                let $k = $crate::pde::forward::SuperbeeK;
                $body
            }
            $crate::pde::face::Slope::Limited($crate::pde::limiter::Limiter::Mc) => {
                let $k = $crate::pde::forward::McK;
                $body
            }
            $crate::pde::face::Slope::Limited($crate::pde::limiter::Limiter::VanLeer) => {
                let $k = $crate::pde::forward::VanLeerK;
                $body
            }
        }
    };
}

/// Run `$body` with the type `$s` bound to the side of the constant velocity `$a != 0`.
macro_rules! with_side {
    ($a:expr, $s:ident => $body:expr) => {
        if $a > 0.0 {
            type $s = $crate::pde::face::Pos;
            $body
        } else {
            type $s = $crate::pde::face::Neg;
            $body
        }
    };
}

/// Periodic extension `ext[i] = u[(i - 1) mod n]`, `i = 0..n+3`: face `j` reads `ext[j..j+4]`.
pub(crate) fn extend(u: &[f64], ext: &mut Vec<f64>) {
    let n = u.len();
    ext.clear();
    ext.push(u[n - 1]);
    ext.extend_from_slice(u);
    ext.push(u[0]);
    ext.push(u[1]);
}

/// The window slices of an extension: `(u_{j-1}, u_j, u_{j+1}, u_{j+2})` over the faces `j`.
#[inline(always)]
fn windows(ext: &[f64]) -> (&[f64], &[f64], &[f64], &[f64]) {
    let n = ext.len() - 3;
    (&ext[..n], &ext[1..n + 1], &ext[2..n + 2], &ext[3..n + 3])
}

/// The flux of one face of a constant velocity `a` (side `S`) from its window
/// `(u_{j-1}, u_j, u_{j+1}, u_{j+2})`: the face formula with the slope's value.
#[inline(always)]
pub(crate) fn face_flux<S: Side, K: SlopeKernel>(k: K, a: f64, lambda: f64, [w0, w1, w2, w3]: [f64; 4]) -> f64 {
    let (x, y) = jumps::<S>(w0, w1, w2, w3);
    flux::<S>(a, lambda, w1, w2, k.value_code(x, y).0)
}

/// Fluxes of a constant velocity `a` (side `S`).
#[inline(always)]
pub(crate) fn fluxes_const<S: Side, K: SlopeKernel>(k: K, a: f64, lambda: f64, ext: &[f64], out: &mut [f64]) {
    let (e0, e1, e2, e3) = windows(ext);
    let out = &mut out[..e0.len()];
    for j in 0..out.len() {
        out[j] = face_flux::<S, K>(k, a, lambda, [e0[j], e1[j], e2[j], e3[j]]);
    }
}

/// Fluxes and codes of a constant velocity `a` (side `S`); returns the number of kink faces (codes
/// with more than one piece).
#[inline(always)]
pub(crate) fn fluxes_const_coded<S: Side, K: SlopeKernel>(
    k: K,
    a: f64,
    lambda: f64,
    ext: &[f64],
    out: &mut [f64],
    codes: &mut [u8],
) -> usize {
    let (e0, e1, e2, e3) = windows(ext);
    let n = e0.len();
    let (out, codes) = (&mut out[..n], &mut codes[..n]);
    for j in 0..n {
        let (x, y) = jumps::<S>(e0[j], e1[j], e2[j], e3[j]);
        let (b, c) = k.value_code(x, y);
        out[j] = flux::<S>(a, lambda, e1[j], e2[j], b);
        codes[j] = c;
    }
    count_kinks(codes)
}

/// Slope values and codes of a constant velocity's side `S` (no fluxes); returns the kink faces.
#[inline(always)]
pub(crate) fn slopes_coded<S: Side, K: SlopeKernel>(k: K, ext: &[f64], b: &mut [f64], codes: &mut [u8]) -> usize {
    let (e0, e1, e2, e3) = windows(ext);
    let n = e0.len();
    let (b, codes) = (&mut b[..n], &mut codes[..n]);
    for j in 0..n {
        let (x, y) = jumps::<S>(e0[j], e1[j], e2[j], e3[j]);
        let (v, c) = k.value_code(x, y);
        b[j] = v;
        codes[j] = c;
    }
    count_kinks(codes)
}

/// The kink faces among `codes` (codes with more than one piece), counted in a byte loop of its own:
/// counted inside the face loop, the count widened every code to the faces' 64-bit lanes (on AVX2
/// that cost a quarter of the coded step).
#[inline(always)]
pub(crate) fn count_kinks(codes: &[u8]) -> usize {
    // per chunk of at most 255 codes an 8-bit count cannot overflow
    codes.chunks(255).map(|ch| ch.iter().fold(0u8, |acc, &c| acc + is_kink_code(c) as u8) as usize).sum()
}

/// Fluxes of a velocity per face: both sides evaluated, the upwind one selected (`0` at `a_j = 0`).
#[inline(always)]
pub(crate) fn fluxes_per_face<K: SlopeKernel>(k: K, a: &[f64], lambda: f64, ext: &[f64], out: &mut [f64]) {
    let (e0, e1, e2, e3) = windows(ext);
    let n = e0.len();
    let (a, out) = (&a[..n], &mut out[..n]);
    for j in 0..n {
        let (x, yl) = jumps::<Pos>(e0[j], e1[j], e2[j], e3[j]);
        let (_, yr) = jumps::<Neg>(e0[j], e1[j], e2[j], e3[j]);
        let plus = flux::<Pos>(a[j], lambda, e1[j], e2[j], k.value_code(x, yl).0);
        let minus = flux::<Neg>(a[j], lambda, e1[j], e2[j], k.value_code(x, yr).0);
        out[j] = if a[j] > 0.0 {
            plus
        } else if a[j] < 0.0 {
            minus
        } else {
            0.0
        };
    }
}

/// Godunov fluxes of Burgers' equation.
#[inline(always)]
pub(crate) fn fluxes_burgers(ext: &[f64], out: &mut [f64]) {
    let (_, e1, e2, _) = windows(ext);
    let out = &mut out[..e1.len()];
    for j in 0..out.len() {
        out[j] = Godunov::value(e1[j], e2[j]);
    }
}

/// A cell's new value before the source from its two faces' fluxes: `u_i - λ (F_i - F_{i-1})`.
#[inline(always)]
pub(crate) fn cell_value(lambda: f64, u: f64, f1: f64, f0: f64) -> f64 {
    u - lambda * (f1 - f0)
}

/// `out_i = u_i - λ (F_i - F_{i-1}) + dt s_i`.
#[inline(always)]
pub(crate) fn update(lambda: f64, dt: f64, u: &[f64], flux: &[f64], s: Option<&[f64]>, out: &mut [f64]) {
    let n = u.len();
    out[0] = cell_value(lambda, u[0], flux[0], flux[n - 1]);
    let (o, uu, f1, f0) = (&mut out[1..n], &u[1..n], &flux[1..n], &flux[..n - 1]);
    for j in 0..n - 1 {
        o[j] = cell_value(lambda, uu[j], f1[j], f0[j]);
    }
    if let Some(s) = s {
        for j in 0..n {
            out[j] += dt * s[j];
        }
    }
}

/// The fluxes of one step: `flux_j` for the velocity `a` (one value or one per face; empty for
/// Burgers, `slope == None`).
#[inline(always)]
pub(crate) fn fluxes(slope: Option<Slope>, a: &[f64], lambda: f64, ext: &[f64], flux: &mut Vec<f64>) {
    let n = ext.len() - 3;
    // every arm writes all n fluxes: no zero-fill of the kept length
    flux.resize(n, 0.0);
    match slope {
        None => fluxes_burgers(ext, flux),
        Some(_) if a.len() == 1 && a[0] == 0.0 => flux.fill(0.0), // every flux is 0
        Some(slope) if a.len() == 1 => {
            // minmod: the explicit vector loop where the CPU level has one (the same bits)
            let wide = slope == Slope::Limited(Limiter::Minmod)
                && with_side!(a[0], S => super::minmod_wide::fluxes::<S>(a[0], lambda, ext, flux, None));
            if !wide {
                with_slope_kernel!(slope, k => with_side!(a[0], S => fluxes_const::<S, _>(k, a[0], lambda, ext, flux)))
            }
        }
        Some(slope) => with_slope_kernel!(slope, k => fluxes_per_face(k, a, lambda, ext, flux)),
    }
}
