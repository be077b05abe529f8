//! A step and its adjoint each in one pass over the cells, for a one-piece slope (upwind,
//! Lax-Wendroff) at a constant velocity `a != 0`: the cells read their windows straight from the
//! state (no periodic extension copied, no flux array, the source added in the same pass), and the
//! adjoint forms each face cotangent where it is read (no cotangent array) and accumulates the
//! source gradient `dt g` in the same pass.
//!
//! Both apply the formulas of the multi-pass loops, operation for operation: the face flux
//! ([`super::forward::face_flux`]), the cell update ([`super::forward::cell_value`], then `+ dt s`),
//! the face cotangent ([`super::kernel::face_cotangent_of`]) and the adjoint term
//! ([`super::kernel::adjoint_term`]); a face shared by two cells is evaluated twice, the same way
//! both times. So they give the same bits as `forward::{fluxes, update}` and `kernel::adjoint`
//! (tested below). For `n = 128` cells the passes, copies and calls they save were about half the
//! time of the hybrid model's time loops.

use super::face::{Side, Slope};
use super::forward::{cell_value, face_flux, SlopeKernel, UnlimitedK, ZeroK};
use super::kernel::{adjoint_term, face_cotangent_of, CoefView, FaceCoefs};

/// The slope has one piece (upwind, Lax-Wendroff): the fused loops apply.
pub(crate) fn one_piece(slope: Slope) -> bool {
    matches!(slope, Slope::Zero | Slope::Unlimited)
}

/// `out = u^{n+1}` for the one-piece `slope` (see [`one_piece`]; panics otherwise) and the
/// constant velocity `a != 0`, with the source `s`.
#[inline(always)]
pub(crate) fn step(slope: Slope, a: f64, lambda: f64, dt: f64, u: &[f64], s: Option<&[f64]>, out: &mut [f64]) {
    match slope {
        Slope::Zero => with_side!(a, S => step_with::<S, _>(ZeroK, a, lambda, dt, u, s, out)),
        Slope::Unlimited => with_side!(a, S => step_with::<S, _>(UnlimitedK, a, lambda, dt, u, s, out)),
        Slope::Limited(_) => unreachable!("fused::step serves one-piece slopes only"),
    }
}

/// The interior cells `2..n-2` (their windows `u_{i-2}..u_{i+2}` need no wrap), empty below 5 cells.
#[inline(always)]
fn interior(n: usize) -> usize {
    n.saturating_sub(4)
}

/// The cells the interior loop leaves: `0, 1, n-2, n-1` (all cells below 5).
#[inline(always)]
fn boundary(n: usize) -> impl Iterator<Item = usize> {
    let edges = [0, 1, n - 2, n - 1];
    let small = interior(n) == 0;
    (0..if small { n } else { 4 }).map(move |k| if small { k } else { edges[k] })
}

/// The periodic indices of cells `i-2..i+2`.
#[inline(always)]
fn around(n: usize, i: usize) -> [usize; 5] {
    [wrap(n, i, -2), wrap(n, i, -1), i, wrap(n, i, 1), wrap(n, i, 2)]
}

/// The periodic index `i + d` for `|d| <= 2` (and `n >= 3`): one correction, no division.
#[inline(always)]
fn wrap(n: usize, i: usize, d: isize) -> usize {
    let j = i as isize + d;
    let n = n as isize;
    (if j < 0 {
        j + n
    } else if j >= n {
        j - n
    } else {
        j
    }) as usize
}

#[inline(always)]
fn step_with<S: Side, K: SlopeKernel>(
    k: K,
    a: f64,
    lambda: f64,
    dt: f64,
    u: &[f64],
    s: Option<&[f64]>,
    out: &mut [f64],
) {
    let n = u.len();
    // (plain loops and `#[inline(always)]` functions only: a closure here is not inlined, and not
    // compiled for the caller's vector level)
    for i in boundary(n) {
        let c = around(n, i);
        let w = [u[c[0]], u[c[1]], u[c[2]], u[c[3]], u[c[4]]];
        let f1 = face_flux::<S, K>(k, a, lambda, [w[1], w[2], w[3], w[4]]);
        let f0 = face_flux::<S, K>(k, a, lambda, [w[0], w[1], w[2], w[3]]);
        let v = cell_value(lambda, u[i], f1, f0);
        out[i] = match s {
            Some(s) => v + dt * s[i],
            None => v,
        };
    }
    let m = interior(n);
    if m == 0 {
        return;
    }
    let (u0, u1, u2, u3, u4) = (&u[..m], &u[1..m + 1], &u[2..m + 2], &u[3..m + 3], &u[4..m + 4]);
    let o = &mut out[2..m + 2];
    match s {
        Some(s) => {
            let s = &s[2..m + 2];
            for j in 0..m {
                let f1 = face_flux::<S, K>(k, a, lambda, [u1[j], u2[j], u3[j], u4[j]]);
                let f0 = face_flux::<S, K>(k, a, lambda, [u0[j], u1[j], u2[j], u3[j]]);
                o[j] = cell_value(lambda, u2[j], f1, f0) + dt * s[j];
            }
        }
        None => {
            for j in 0..m {
                let f1 = face_flux::<S, K>(k, a, lambda, [u1[j], u2[j], u3[j], u4[j]]);
                let f0 = face_flux::<S, K>(k, a, lambda, [u0[j], u1[j], u2[j], u3[j]]);
                o[j] = cell_value(lambda, u2[j], f1, f0);
            }
        }
    }
}

/// The adjoint term of cell `j` of a run, from `g` at its cells `j-2..j+2` (`g[0..5]`) and the
/// partials of its faces `j+1, j, j-1, j-2` (views `v[0..4]`, index `k` in each).
#[inline(always)]
fn adjoint_cell<V: CoefView>(m1: bool, p2: bool, lambda: f64, g: [f64; 5], v: [(&V, usize); 4]) -> f64 {
    let f1 = face_cotangent_of(lambda, g[4], g[3]);
    let f0 = face_cotangent_of(lambda, g[3], g[2]);
    let fm = face_cotangent_of(lambda, g[2], g[1]);
    let fmm = face_cotangent_of(lambda, g[1], g[0]);
    adjoint_term(m1, p2, g[2], (f1, v[0].0, v[0].1), (f0, v[1].0, v[1].1), (fm, v[2].0, v[2].1), (fmm, v[3].0, v[3].1))
}

/// The adjoint of a step with respect to `u`, `out = J_u^T g`, the partials read from `c`; with
/// `source`, also `source += dt g` (the source gradient's term of this step).
#[inline(always)]
pub(crate) fn adjoint<C: FaceCoefs>(
    lambda: f64,
    c: &C,
    dt: f64,
    g: &[f64],
    source: Option<&mut [f64]>,
    out: &mut [f64],
) {
    let n = g.len();
    let (m1, p2) = (C::M1, C::P2);
    let all = c.view(0, n);
    for i in boundary(n) {
        let w = around(n, i);
        let faces = [(&all, w[3]), (&all, i), (&all, w[1]), (&all, w[0])];
        out[i] = adjoint_cell(m1, p2, lambda, [g[w[0]], g[w[1]], g[w[2]], g[w[3]], g[w[4]]], faces);
    }
    let m = interior(n);
    let mut source = source;
    if let Some(acc) = source.as_deref_mut() {
        for i in boundary(n) {
            acc[i] += dt * g[i];
        }
    }
    if m == 0 {
        return;
    }
    // cell i reads faces i+1, i, i-1, i-2, whose cotangents read g_{i-2}..g_{i+2}
    let (v1, v0, vm, vmm) = (c.view(3, m), c.view(2, m), c.view(1, m), c.view(0, m));
    let (g0, g1, g2, g3, g4) = (&g[..m], &g[1..m + 1], &g[2..m + 2], &g[3..m + 3], &g[4..m + 4]);
    let o = &mut out[2..m + 2];
    for j in 0..m {
        let gw = [g0[j], g1[j], g2[j], g3[j], g4[j]];
        o[j] = adjoint_cell(m1, p2, lambda, gw, [(&v1, j), (&v0, j), (&vm, j), (&vmm, j)]);
    }
    if let Some(acc) = source {
        let acc = &mut acc[2..m + 2];
        for j in 0..m {
            acc[j] += dt * g2[j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pde::face::{slope_coef, Neg, Pos};
    use crate::pde::forward::{extend, fluxes, update};
    use crate::pde::kernel::{self, CellTable, Uniform};
    use crate::pde::rules::Rules;
    use crate::repr::Representation;

    /// A state with repeated values (ties), signed zeros and a spread of magnitudes.
    fn state(n: usize, seed: u64) -> Vec<f64> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match i % 7 {
                    0 => -0.0,
                    1 => 0.25,
                    _ => (x >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0,
                }
            })
            .collect()
    }

    fn same_bits(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    // expected values: the multi-pass loops (extension, flux array, update; cotangent array, adjoint
    // kernel, then the source sum), an independent evaluation order of the same formulas
    #[test]
    fn step_equals_the_multi_pass_loops_bit_for_bit() {
        for n in [3, 4, 5, 6, 9, 128] {
            for slope in [Slope::Zero, Slope::Unlimited] {
                for a in [1.0f64, -1.0, 0.7, -1.3] {
                    for with_source in [false, true] {
                        let (lambda, dt) = (0.5 / a.abs(), 0.01);
                        let u = state(n, n as u64);
                        let s = state(n, 99);
                        let s = with_source.then_some(&s[..]);
                        let (mut ext, mut flux) = (Vec::new(), Vec::new());
                        let mut want = vec![0.0; n];
                        extend(&u, &mut ext);
                        fluxes(Some(slope), &[a], lambda, &ext, &mut flux);
                        update(lambda, dt, &u, &flux, s, &mut want);
                        let mut got = vec![f64::NAN; n];
                        step(slope, a, lambda, dt, &u, s, &mut got);
                        assert!(same_bits(&got, &want), "n {n} {slope:?} a {a} source {with_source}");
                    }
                }
            }
        }
    }

    #[test]
    fn adjoint_equals_the_kernel_and_the_source_sum_bit_for_bit() {
        let rep = Representation::default();
        for n in [3, 4, 5, 6, 9, 128] {
            for slope in [Slope::Zero, Slope::Unlimited] {
                let table = Rules::new(Some(slope), &rep).table;
                for a in [1.0f64, -1.0, 0.7, -1.3] {
                    let (lambda, dt) = (0.5 / a.abs(), 0.01);
                    let g = state(n, 7 + n as u64);
                    let acc0 = state(n, 3);
                    let (mut want, mut fb) = (vec![0.0; n], Vec::new());
                    let mut want_acc = acc0.clone();
                    want_acc.iter_mut().zip(&g).for_each(|(s, v)| *s += dt * v);
                    let (mut got, mut got_acc) = (vec![f64::NAN; n], acc0.clone());
                    if a > 0.0 {
                        let cells = CellTable::new::<Pos>(a, slope_coef::<Pos>(a, lambda), &table);
                        let c = Uniform::<Pos>::new(cells.code(1));
                        kernel::adjoint(lambda, &c, &g, &mut fb, &mut want);
                        adjoint(lambda, &c, dt, &g, Some(&mut got_acc), &mut got);
                    } else {
                        let cells = CellTable::new::<Neg>(a, slope_coef::<Neg>(a, lambda), &table);
                        let c = Uniform::<Neg>::new(cells.code(1));
                        kernel::adjoint(lambda, &c, &g, &mut fb, &mut want);
                        adjoint(lambda, &c, dt, &g, Some(&mut got_acc), &mut got);
                    }
                    assert!(same_bits(&got, &want), "n {n} {slope:?} a {a}");
                    assert!(same_bits(&got_acc, &want_acc), "source: n {n} {slope:?} a {a}");
                }
            }
        }
    }
}
