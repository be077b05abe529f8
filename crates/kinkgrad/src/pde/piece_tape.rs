//! The piece tape: store-all gradients of a constant-velocity scheme that keep the selected pieces
//! instead of the states.
//!
//! For a constant velocity `a != 0`, one step of upwind, Lax-Wendroff or a limited Lax-Wendroff
//! scheme whose limiter is piecewise affine (minmod, superbee, MC) is
//!
//! ```text
//! u_i^{n+1} = u_i - λ (F_i - F_{i-1}) + dt s_i,     F_j = a (u_j + k B(x_j, y_j))            (a > 0)
//! ```
//!
//! with `x_j = u_{j+1} - u_j`, `y_j = u_j - u_{j-1}`, `k = (1 - aλ)/2`, and `B` affine on each
//! piece. The step's associated gradient with respect to `u` is therefore the same linear map for
//! every state that selects the same pieces: it depends on the state only through the set of active
//! pieces of the limiter at each face (a tied set at a kink, weighted by the representation's tie
//! rule). The reverse sweep needs one byte per face and step (that set, as a bit mask of the
//! limiter's pieces) instead of the state (eight bytes per cell), and it does not recompute slopes.
//! For upwind and unlimited Lax-Wendroff the map does not depend on the state at all.
//!
//! The gradient with respect to the velocity does need the states (`∂F/∂a` involves `u`), so the
//! tape applies only when that gradient is not requested
//! ([`super::scheme::TransportStepper::velocity_gradient`] is `false`); the source gradient
//! `dt Σ_n ḡ^{n+1}` needs no state. The adjoint performs the same products in the same order as the
//! stepper's state-based adjoint, so both give the same bits (tested).

use super::limiter::{Limiter, RuledLimiter};
use super::scheme::{Scheme, Transport};

/// The limiter's contribution to the taped step.
pub(crate) enum Pieces<'a> {
    /// Upwind (`B = 0`, `gx = 0`) or unlimited Lax-Wendroff (`B(x, y) = x`, `gx = 1`): no pieces.
    Linear { gx: f64 },
    /// A piecewise-affine limiter with its tie rule: codes are masks of its active pieces, and
    /// `(tx[mask], ty[mask])` are the associated partials `(∂B/∂x, ∂B/∂y)` for that tied set.
    Limited { r: &'a RuledLimiter, tx: Box<[f64; 256]>, ty: Box<[f64; 256]> },
}

impl<'a> Pieces<'a> {
    /// The pieces of `scheme`, or `None` when the scheme has no piece tape (van Leer is not
    /// piecewise affine; Burgers' flux depends on the state through its speed).
    pub(crate) fn of(scheme: Scheme, ruled: Option<&'a RuledLimiter>) -> Option<Self> {
        match (scheme, ruled) {
            (Scheme::Upwind, _) => Some(Pieces::Linear { gx: 0.0 }),
            (Scheme::LaxWendroff, _) => Some(Pieces::Linear { gx: 1.0 }),
            (Scheme::Limited(Limiter::VanLeer), _) => None,
            (Scheme::Limited(_), Some(r)) if !r.table().is_empty() && r.table().len() <= 256 => {
                let (mut tx, mut ty) = (Box::new([0.0; 256]), Box::new([0.0; 256]));
                for (m, &(gx, gy)) in r.table().iter().enumerate() {
                    tx[m] = gx;
                    ty[m] = gy;
                }
                Some(Pieces::Limited { r, tx, ty })
            }
            _ => None,
        }
    }
}

/// minmod with its tied set: `(value, mask)`, the mask's bits naming the active pieces `x`
/// (`0b001`), `y` (`0b010`) and `0` (`0b100`), more than one bit at a kink. Branch-free, so the face
/// loop vectorises. The value is [`Limiter::value`]'s and the mask is
/// [`crate::primitive::active`]'s for minmod's switching functions `x`, `y`, `x - y`: the zero piece
/// is active unless `x` and `y` have the same strict sign; on `x, y >= 0` (the minimum) the piece `x`
/// is active where `x - y <= 0` and `y` where `x - y >= 0`, mirrored on `x, y <= 0`. (Tested against
/// `active` on every sign pattern and tie.)
#[inline(always)]
fn minmod_coded(x: f64, y: f64) -> (f64, u8) {
    let (ax, ay) = (x.abs(), y.abs());
    let pos = (x > 0.0) & (y > 0.0);
    let neg = (x < 0.0) & (y < 0.0);
    let m = ax.min(ay);
    let v = if pos {
        m
    } else if neg {
        -m
    } else {
        0.0
    };
    // off opposite strict signs, x - y <= 0 on x, y >= 0 (and x - y >= 0 on x, y <= 0) is |x| <= |y|
    // (a difference of finite doubles is 0 only when they are equal)
    let opp = ((x > 0.0) & (y < 0.0)) | ((x < 0.0) & (y > 0.0));
    let pa = !opp & (ax <= ay);
    let pb = !opp & (ay <= ax);
    let code = pa as u8 | (pb as u8) << 1 | (!(pos | neg) as u8) << 2;
    (v, code)
}

wide_fn! {
    /// One step `u -> out` for the constant velocity `a != 0`, writing the active-piece mask of every
    /// face into `codes` (limited schemes); returns the number of kinks met. Same arithmetic as
    /// [`Transport::step_values`], so the same bits.
    pub(crate) fn step_taped(
        t: &Transport,
        a: f64,
        pieces: &Pieces<'_>,
        u: &[f64],
        s: Option<&[f64]>,
        ext: &mut Vec<f64>,
        flux: &mut Vec<f64>,
        codes: &mut [u8],
        out: &mut [f64],
    ) -> usize = step_taped_body;
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn step_taped_body(
    t: &Transport,
    a: f64,
    pieces: &Pieces<'_>,
    u: &[f64],
    s: Option<&[f64]>,
    ext: &mut Vec<f64>,
    flux: &mut Vec<f64>,
    codes: &mut [u8],
    out: &mut [f64],
) -> usize {
    let r = match pieces {
        Pieces::Linear { .. } => {
            t.step_values(u, &[a], s, ext, flux, out);
            return 0;
        }
        Pieces::Limited { r, .. } => *r,
    };
    Transport::extend(u, ext);
    let n = u.len();
    flux.resize(n, 0.0);
    let kinks = if let Limiter::Minmod = r.limiter {
        minmod_faces(t.lambda(), a, ext, &mut flux[..n], &mut codes[..n])
    } else {
        let lambda = t.lambda();
        let (e0, e1, e2, e3) = (&ext[..n], &ext[1..n + 1], &ext[2..n + 2], &ext[3..n + 3]);
        let mut kinks = 0;
        for j in 0..n {
            let (x, y) = if a > 0.0 { (e2[j] - e1[j], e1[j] - e0[j]) } else { (e2[j] - e1[j], e3[j] - e2[j]) };
            let mask = r.mask(x, y);
            kinks += (mask.count_ones() > 1) as usize;
            codes[j] = mask as u8;
            let v = r.limiter.value(x, y);
            flux[j] = if a > 0.0 {
                a * (e1[j] + 0.5 * (1.0 - a * lambda) * v)
            } else {
                a * (e2[j] - 0.5 * (1.0 + a * lambda) * v)
            };
        }
        kinks
    };
    t.update(u, flux, s, out);
    kinks
}

/// The minmod face loop: fluxes and tied sets; returns the number of kinks (faces with more than one
/// active piece).
#[inline(always)]
fn minmod_faces(lambda: f64, a: f64, ext: &[f64], flux: &mut [f64], codes: &mut [u8]) -> usize {
    let n = flux.len();
    let (e0, e1, e2, e3) = (&ext[..n], &ext[1..n + 1], &ext[2..n + 2], &ext[3..n + 3]);
    let codes = &mut codes[..n];
    let mut kinks = 0u32;
    if a > 0.0 {
        let k = 0.5 * (1.0 - a * lambda);
        for j in 0..n {
            let (v, c) = minmod_coded(e2[j] - e1[j], e1[j] - e0[j]);
            flux[j] = a * (e1[j] + k * v);
            codes[j] = c;
            kinks += (c & c.wrapping_sub(1) != 0) as u32;
        }
    } else {
        let k = 0.5 * (1.0 + a * lambda);
        for j in 0..n {
            let (v, c) = minmod_coded(e2[j] - e1[j], e3[j] - e2[j]);
            flux[j] = a * (e2[j] - k * v);
            codes[j] = c;
            kinks += (c & c.wrapping_sub(1) != 0) as u32;
        }
    }
    kinks as usize
}

/// The most probe directions [`lock_step`] uses.
pub(crate) const MAX_DIRECTIONS: usize = 8;

/// The lexicographic selection of one taped step (branch locking, mode `safe`). `codes` holds the
/// step's tied sets from [`step_taped`] and `ext` its periodic extension of `u`; `tang[d]` are the
/// tangents of `u` along the probe directions, in order. At every kink face the tied set is narrowed
/// by the signs of the switching functions' derivatives along the directions, one direction at a
/// time ([`crate::primitive::lex_select`]); then every tangent is advanced with the selected pieces'
/// partials (ties that survive every direction keep the rule's weights: their pieces agree along
/// each direction, so the tangents do not depend on the weights). Returns the number of surviving
/// ties. The source does not depend on the probed variable (`u0`), so it adds no tangent.
#[allow(clippy::too_many_arguments)]
pub(crate) fn lock_step(
    lambda: f64,
    a: f64,
    pieces: &Pieces<'_>,
    ext: &[f64],
    codes: &mut [u8],
    tang: &mut [Vec<f64>],
    text: &mut Vec<f64>,
    tflux: &mut Vec<f64>,
) -> usize {
    let n = ext.len() - 3;
    // tangents extended periodically like the state: direction d occupies text[d (n + 3)..]
    text.clear();
    for t in tang.iter() {
        Transport::extend(t, &mut *tflux);
        text.extend_from_slice(tflux);
    }
    let w = n + 3;
    let ruled = match pieces {
        Pieces::Linear { .. } => None,
        Pieces::Limited { r, .. } => Some(*r),
    };
    let slopes = |e: &[f64], j: usize| {
        if a > 0.0 {
            (e[j + 2] - e[j + 1], e[j + 1] - e[j])
        } else {
            (e[j + 2] - e[j + 1], e[j + 3] - e[j + 2])
        }
    };
    let mut unresolved = 0;
    if let Some(r) = ruled {
        let p = r.limiter.piecewise().expect("a tabulated limiter is piecewise affine");
        let k = tang.len().min(MAX_DIRECTIONS);
        let mut dirs = [[0.0; 2]; MAX_DIRECTIONS];
        for j in 0..n {
            if codes[j] & codes[j].wrapping_sub(1) == 0 {
                continue;
            }
            let (x, y) = slopes(ext, j);
            for (d, dir) in dirs[..k].iter_mut().enumerate() {
                let (dx, dy) = slopes(&text[d * w..(d + 1) * w], j);
                *dir = [dx, dy];
            }
            let refs: [&[f64]; MAX_DIRECTIONS] = std::array::from_fn(|d| &dirs[d][..]);
            let mask = crate::primitive::lex_select(p, &[x, y], &refs[..k]);
            codes[j] = mask as u8;
            unresolved += (mask.count_ones() > 1) as usize;
        }
    }
    for t in tang.iter_mut() {
        tangent_step(lambda, a, pieces, codes, t, text, tflux);
    }
    unresolved
}

/// The tangent map of one taped step with its (locked) pieces: `t <- J_u t` (no source term).
pub(crate) fn tangent_step(
    lambda: f64,
    a: f64,
    pieces: &Pieces<'_>,
    codes: &[u8],
    t: &mut [f64],
    e: &mut Vec<f64>,
    tflux: &mut Vec<f64>,
) {
    let n = t.len();
    Transport::extend(t, e);
    tflux.resize(n, 0.0);
    let (gx_lin, table) = match pieces {
        Pieces::Linear { gx } => (*gx, None),
        Pieces::Limited { tx, ty, .. } => (0.0, Some((&**tx, &**ty))),
    };
    let coef = |j: usize| match table {
        None => (gx_lin, 0.0),
        Some((tx, ty)) => (tx[codes[j] as usize], ty[codes[j] as usize]),
    };
    if a > 0.0 {
        let k = 0.5 * (1.0 - a * lambda);
        for j in 0..n {
            let (gx, gy) = coef(j);
            tflux[j] = a * (e[j + 1] + k * (gx * (e[j + 2] - e[j + 1]) + gy * (e[j + 1] - e[j])));
        }
    } else {
        let k = 0.5 * (1.0 + a * lambda);
        for j in 0..n {
            let (gx, gy) = coef(j);
            tflux[j] = a * (e[j + 2] - k * (gx * (e[j + 2] - e[j + 1]) + gy * (e[j + 3] - e[j + 2])));
        }
    }
    t[0] -= lambda * (tflux[0] - tflux[n - 1]);
    for j in 1..n {
        t[j] -= lambda * (tflux[j] - tflux[j - 1]);
    }
}

/// Scratch buffers of [`adjoint_taped`].
#[derive(Default)]
pub(crate) struct Scratch {
    gx: Vec<f64>,
    gy: Vec<f64>,
    fb: Vec<f64>,
}

wide_fn! {
    /// The adjoint of one taped step: `out = J_u^T g` from the step's piece codes. The products and
    /// the order of the sums are those of the stepper's state-based adjoint.
    pub(crate) fn adjoint_taped(
        lambda: f64,
        a: f64,
        pieces: &Pieces<'_>,
        codes: &[u8],
        g: &[f64],
        sc: &mut Scratch,
        out: &mut [f64],
    ) = adjoint_kernel;
}

#[inline(always)]
fn adjoint_kernel(
    lambda: f64,
    a: f64,
    pieces: &Pieces<'_>,
    codes: &[u8],
    g: &[f64],
    sc: &mut Scratch,
    out: &mut [f64],
) {
    let n = g.len();
    let (mut gx, mut gy) = (std::mem::take(&mut sc.gx), std::mem::take(&mut sc.gy));
    gx.resize(n, 0.0);
    gy.resize(n, 0.0);
    match pieces {
        Pieces::Linear { gx: c } => {
            gx.iter_mut().for_each(|v| *v = *c);
            gy.iter_mut().for_each(|v| *v = 0.0);
        }
        // look the partials up once per face (eight table entries fit one AVX-512 register)
        Pieces::Limited { r, tx, ty } => lookup(&codes[..n], tx, ty, r.table().len(), &mut gx[..n], &mut gy[..n]),
    }
    adjoint_faces(lambda, a, &gx, &gy, g, sc, out);
    (sc.gx, sc.gy) = (gx, gy);
}

/// `out_i = g_i + Σ_faces fb_j ∂F_j/∂u_i` with `fb_j = λ (g_{j+1} - g_j)` and the face partials
/// from the limiter partials `(gx_j, gy_j)` (one pass, no per-face product arrays); the products and
/// the order of the sums are the state-based adjoint's.
#[inline(always)]
fn adjoint_faces(lambda: f64, a: f64, gx: &[f64], gy: &[f64], g: &[f64], sc: &mut Scratch, out: &mut [f64]) {
    let n = g.len();
    sc.fb.resize(n, 0.0);
    let fb = &mut sc.fb[..n];
    for j in 0..n - 1 {
        fb[j] = lambda * (g[j + 1] - g[j]);
    }
    fb[n - 1] = lambda * (g[0] - g[n - 1]);
    let fb = &*fb;
    let (gx, gy, out) = (&gx[..n], &gy[..n], &mut out[..n]);
    if a > 0.0 {
        // face j: F_j = a u_j + cl B(u_{j+1} - u_j, u_j - u_{j-1}), cl = a (1 - aλ) / 2; its partials
        // pl_j on u_{j-1}, p0_j on u_j, pr_j on u_{j+1}
        let cl = 0.5 * a * (1.0 - a * lambda);
        let pl = |j: usize| fb[j] * (-cl * gy[j]);
        let p0 = |j: usize| fb[j] * (a + cl * (gy[j] - gx[j]));
        let pr = |j: usize| fb[j] * (cl * gx[j]);
        out[0] = g[0] + pl(1) + p0(0) + pr(n - 1);
        out[n - 1] = g[n - 1] + pl(0) + p0(n - 1) + pr(n - 2);
        let (o, gg) = (&mut out[1..n - 1], &g[1..n - 1]);
        let (f1, y1) = (&fb[2..n], &gy[2..n]);
        let (f0, x0, y0) = (&fb[1..n - 1], &gx[1..n - 1], &gy[1..n - 1]);
        let (fm, xm) = (&fb[..n - 2], &gx[..n - 2]);
        for k in 0..n - 2 {
            o[k] = gg[k] + f1[k] * (-cl * y1[k]) + f0[k] * (a + cl * (y0[k] - x0[k])) + fm[k] * (cl * xm[k]);
        }
    } else {
        // face j: F_j = a u_{j+1} - cr' B(u_{j+1} - u_j, u_{j+2} - u_{j+1}); its partials pl_j on
        // u_j, p0_j on u_{j+1}, pr_j on u_{j+2}
        let cr = -0.5 * a * (1.0 + a * lambda);
        let pl = |j: usize| fb[j] * (-cr * gx[j]);
        let p0 = |j: usize| fb[j] * (a + cr * (gx[j] - gy[j]));
        let pr = |j: usize| fb[j] * (cr * gy[j]);
        out[0] = g[0] + pl(0) + p0(n - 1) + pr(n - 2);
        out[1] = g[1] + pl(1) + p0(0) + pr(n - 1);
        let (o, gg) = (&mut out[2..n], &g[2..n]);
        let (f0, x0) = (&fb[2..n], &gx[2..n]);
        let (f1, x1, y1) = (&fb[1..n - 1], &gx[1..n - 1], &gy[1..n - 1]);
        let (f2, y2) = (&fb[..n - 2], &gy[..n - 2]);
        for k in 0..n - 2 {
            o[k] = gg[k] + f0[k] * (-cr * x0[k]) + f1[k] * (a + cr * (x1[k] - y1[k])) + f2[k] * (cr * y2[k]);
        }
    }
}

/// `gx[j] = tx[codes[j]]`, `gy[j] = ty[codes[j]]` for tables of `len` entries.
#[inline(always)]
fn lookup(codes: &[u8], tx: &[f64; 256], ty: &[f64; 256], len: usize, gx: &mut [f64], gy: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if len <= 8 && super::wide::simd_level() == super::wide::Simd::Avx512 {
            // SAFETY: the CPU supports AVX-512F (`simd_level` checked it); the slices have equal lengths.
            unsafe { lookup8_avx512(codes, tx, ty, gx, gy) };
            return;
        }
    }
    let _ = len;
    for j in 0..codes.len() {
        gx[j] = tx[codes[j] as usize];
        gy[j] = ty[codes[j] as usize];
    }
}

/// [`lookup`] for codes below 8: the tables sit in one register each, and eight codes are widened to
/// indices and permuted at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn lookup8_avx512(codes: &[u8], tx: &[f64; 256], ty: &[f64; 256], gx: &mut [f64], gy: &mut [f64]) {
    use std::arch::x86_64::*;
    let n = codes.len();
    assert!(gx.len() == n && gy.len() == n);
    let (vx, vy) = (_mm512_loadu_pd(tx.as_ptr()), _mm512_loadu_pd(ty.as_ptr()));
    let chunks = n / 8;
    for c in 0..chunks {
        // SAFETY: 8 c + 8 <= n for the loads from codes and the stores to gx, gy
        let b = _mm_loadl_epi64(codes.as_ptr().add(8 * c) as *const __m128i);
        let idx = _mm512_cvtepu8_epi64(b);
        _mm512_storeu_pd(gx.as_mut_ptr().add(8 * c), _mm512_permutexvar_pd(idx, vx));
        _mm512_storeu_pd(gy.as_mut_ptr().add(8 * c), _mm512_permutexvar_pd(idx, vy));
    }
    for j in 8 * chunks..n {
        gx[j] = tx[codes[j] as usize & 7];
        gy[j] = ty[codes[j] as usize & 7];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitive::{active, minmod::Minmod};

    /// The branch-free tied set equals the generic `active` (minmod's declared switching functions and
    /// selection rule) on every sign pattern, on ties, on signed zeros and on subnormal differences.
    #[test]
    fn minmod_code_is_the_declared_tied_set() {
        let vals = [-2.0, -1.0, -1e-310, -0.0, 0.0, 1e-310, 1.0, 2.0, 0.5];
        for &x in &vals {
            for &y in &vals {
                let (v, code) = minmod_coded(x, y);
                assert_eq!(code as u32, active(&Minmod, &[x, y]), "mask at ({x}, {y})");
                assert_eq!(v.to_bits(), Limiter::Minmod.value(x, y).to_bits(), "value at ({x}, {y})");
            }
        }
    }

    /// The AVX-512 table lookup and the scalar one agree (codes below 8, lengths around the vector width).
    #[test]
    fn table_lookup_paths_agree() {
        let (mut tx, mut ty) = (Box::new([0.0; 256]), Box::new([0.0; 256]));
        for m in 0..8 {
            tx[m] = m as f64 + 0.25;
            ty[m] = -(m as f64) - 0.5;
        }
        for n in [1, 7, 8, 9, 17, 100] {
            let codes: Vec<u8> = (0..n).map(|j| ((j * 5 + 3) % 8) as u8).collect();
            let (mut gx, mut gy) = (vec![0.0; n], vec![0.0; n]);
            lookup(&codes, &tx, &ty, 8, &mut gx, &mut gy);
            for j in 0..n {
                assert_eq!(gx[j], tx[codes[j] as usize]);
                assert_eq!(gy[j], ty[codes[j] as usize]);
            }
        }
    }
}
