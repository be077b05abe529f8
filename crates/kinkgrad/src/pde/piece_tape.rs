//! The piece tape: store-all gradients of a constant-velocity scheme that keep the selected pieces
//! instead of the states.
//!
//! For a constant velocity `a != 0`, one step of upwind, Lax-Wendroff or a limited Lax-Wendroff
//! scheme whose limiter is piecewise affine (minmod, superbee, MC) is
//!
//! ```text
//! u_i^{n+1} = u_i - λ (F_i - F_{i-1}) + dt s_i,     F_j = a (u_U + s k B(x_j, y_j))
//! ```
//!
//! with `B` affine on each piece ([`super::face`]). The step's associated gradient with respect to `u`
//! is therefore the same linear map for every state that selects the same pieces: it depends on the
//! state only through the set of selected pieces of the limiter at each face (a tied set at a kink,
//! weighted by the representation's rule, or one piece after locking). The reverse sweep needs one
//! byte per face and step (that set, as a bit mask of the limiter's pieces: the code of
//! [`super::forward::SlopeKernel`]) instead of the state (eight bytes per cell), and it does not
//! recompute slopes. For upwind and unlimited Lax-Wendroff the map does not depend on the state at
//! all, and nothing is stored.
//!
//! With tangents along `k` directions ([`Probe`]) the forward sweep locks every step's kink faces
//! lexicographically ([`super::lock::lock_faces`]) before recording their codes, and advances the
//! tangents on the locked pieces: the codes then name one piece per face, and the reverse sweep is the
//! gradient of the locked composition (modes `safe` and `lex`).
//!
//! The gradient with respect to the velocity needs the states (`∂F/∂a` involves `u`), so the tape
//! applies only when that gradient is not requested; the source gradient `dt Σ_n ḡ^{n+1}` needs no
//! state. The kernels are the state-based paths' ([`super::kernel`]), fed with the same partials, so
//! both give the same bits.

use super::face::{slope_coef, Slope};
use super::forward::{count_kinks, extend, fluxes_const_coded, update};
use super::kernel::{self, CellTable, OnTheFly, Tabled, Uniform};
use super::limiter::{Limiter, PieceTable};
use super::lock::{is_kink_code, lock_faces, Tangents};
use super::lookup::lookup;
use super::rules::Rules;
use super::scheme::{Scheme, Transport};
use crate::error::Result;

/// A scheme with this velocity can keep a piece tape: a constant velocity `a != 0` and a slope with
/// declared pieces (upwind, Lax-Wendroff, minmod, superbee, MC; not van Leer, not Burgers).
pub(crate) fn eligible(scheme: Scheme, velocity: &[f64]) -> bool {
    velocity.len() == 1
        && velocity[0] != 0.0
        && matches!(scheme.slope(), Some(s) if s != Slope::Limited(super::limiter::Limiter::VanLeer))
}

/// The tape stores codes (a limiter; upwind and Lax-Wendroff have one piece and store nothing).
pub(crate) fn stores_codes(scheme: Scheme) -> bool {
    matches!(scheme.slope(), Some(Slope::Limited(_)))
}

/// Scratch buffers of the taped kernels.
#[derive(Default)]
pub(crate) struct Scratch {
    ext: Vec<f64>,
    flux: Vec<f64>,
    gx: Vec<f64>,
    gy: Vec<f64>,
    fb: Vec<f64>,
    df: Vec<f64>,
    /// The adjoint's three partials per face ([`CellTable`] looked up by the codes).
    taps: [Vec<f64>; 3],
    codes: Vec<u8>,
}

impl Scratch {
    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        let [t0, t1, t2] = &self.taps;
        8 * [&self.ext, &self.flux, &self.gx, &self.gy, &self.fb, &self.df, t0, t1, t2]
            .iter()
            .map(|v| v.capacity())
            .sum::<usize>()
            + self.codes.capacity()
    }
}

wide_fn! {
    /// One step `u -> out` for the constant velocity `a != 0`, writing the code of every face into
    /// `codes`; returns the number of kinks met. Same arithmetic as [`Transport::step_values`], so the
    /// same bits.
    pub(crate) fn step_taped(
        t: &Transport,
        a: f64,
        u: &[f64],
        s: Option<&[f64]>,
        sc: &mut Scratch,
        codes: &mut [u8],
        out: &mut [f64],
    ) -> usize = step_taped_body;
}

#[inline(always)]
fn step_taped_body(
    t: &Transport,
    a: f64,
    u: &[f64],
    s: Option<&[f64]>,
    sc: &mut Scratch,
    codes: &mut [u8],
    out: &mut [f64],
) -> usize {
    let n = u.len();
    let lambda = t.lambda();
    extend(u, &mut sc.ext);
    sc.flux.resize(n, 0.0);
    let slope = t.scheme.slope().expect("a linear scheme");
    // minmod: the explicit vector loop writes the codes in the same pass where the CPU level has one
    let wide = slope == Slope::Limited(Limiter::Minmod)
        && with_side!(a, S => super::minmod_wide::fluxes::<S>(a, lambda, &sc.ext, &mut sc.flux, Some(&mut *codes)));
    let kinks = if wide {
        count_kinks(&codes[..n])
    } else {
        with_slope_kernel!(slope, k => with_side!(a, S => fluxes_const_coded::<S, _>(k, a, lambda, &sc.ext, &mut sc.flux, codes)))
    };
    update(lambda, t.dt, u, &sc.flux, s, out);
    kinks
}

wide_fn! {
    /// The adjoint of one taped step: `out = J_u^T g` from the step's codes (`None`: a one-piece
    /// slope, every face code 1), the limiter partials per code and the cell partials per code
    /// (formed from them).
    pub(crate) fn adjoint_taped(
        lambda: f64,
        a: f64,
        table: &PieceTable,
        cells: &CellTable,
        codes: Option<&[u8]>,
        g: &[f64],
        sc: &mut Scratch,
        out: &mut [f64],
    ) = adjoint_taped_body;
}

// the body of `adjoint_taped`, whose signature the `wide_fn!` wrappers repeat (they allow the same)
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn adjoint_taped_body(
    lambda: f64,
    a: f64,
    table: &PieceTable,
    cells: &CellTable,
    codes: Option<&[u8]>,
    g: &[f64],
    sc: &mut Scratch,
    out: &mut [f64],
) {
    // a table of at most 8 codes (minmod) on AVX-512 or AVX2: one fused pass reading the codes as
    // lanes (the same bits as the routes below)
    if let Some(codes) = codes {
        if with_side!(a, S => super::adjoint_wide::adjoint::<S>(lambda, cells, codes, g, out)) {
            return;
        }
    }
    with_side!(a, S => match codes {
        // (tables of more than 8 codes: superbee, MC; or the baseline level) AVX-512: two lookups and
        // the partials formed per tap on the fly; the same values either way, so the same bits
        Some(codes) if crate::simd::simd_level() == crate::simd::Simd::Avx512 => {
            lookup(codes, table.len, [&table.gx, &table.gy], [&mut sc.gx, &mut sc.gy]);
            let c = OnTheFly::<S>::new(a, slope_coef::<S>(a, lambda), &sc.gx, &sc.gy);
            kernel::adjoint(lambda, &c, g, &mut sc.fb, out)
        }
        Some(codes) => {
            // the three partials per face looked up once
            let [t0, t1, t2] = &cells.taps;
            let [p0, p1, p2] = &mut sc.taps;
            lookup(codes, cells.len, [t0, t1, t2], [p0, p1, p2]);
            let [p0, p1, p2] = &sc.taps;
            kernel::adjoint(lambda, &Tabled::<S>::new([p0, p1, p2]), g, &mut sc.fb, out)
        }
        None => kernel::adjoint(lambda, &Uniform::<S>::new(cells.code(1)), g, &mut sc.fb, out),
    })
}

wide_fn! {
    /// The adjoint of one step of a one-piece slope (every face code 1), `out = J_u^T g`, and
    /// `source += dt g` when given, in one pass ([`super::fused::adjoint`]).
    fn adjoint_one_piece(
        lambda: f64,
        a: f64,
        dt: f64,
        cells: &CellTable,
        g: &[f64],
        source: Option<&mut [f64]>,
        out: &mut [f64],
    ) = adjoint_one_piece_body;
}

#[inline(always)]
fn adjoint_one_piece_body(
    lambda: f64,
    a: f64,
    dt: f64,
    cells: &CellTable,
    g: &[f64],
    source: Option<&mut [f64]>,
    out: &mut [f64],
) {
    with_side!(a, S => super::fused::adjoint(lambda, &Uniform::<S>::new(cells.code(1)), dt, g, source, out))
}

wide_fn! {
    /// The tangent of one taped step on its codes, in place: `t <- J_u t`.
    pub(crate) fn tangent_taped(
        lambda: f64,
        a: f64,
        table: &PieceTable,
        codes: &[u8],
        t: &mut [f64],
        sc: &mut Scratch,
    ) = tangent_taped_body;
}

#[inline(always)]
fn tangent_taped_body(lambda: f64, a: f64, table: &PieceTable, codes: &[u8], t: &mut [f64], sc: &mut Scratch) {
    lookup(codes, table.len, [&table.gx, &table.gy], [&mut sc.gx, &mut sc.gy]);
    with_side!(a, S => {
        let c = OnTheFly::<S>::new(a, slope_coef::<S>(a, lambda), &sc.gx, &sc.gy);
        kernel::tangent_in_place(lambda, &c, t, &mut sc.df)
    })
}

/// Tangents carried through a forward sweep: `t` (`k n` values, direction-major) of the state, and
/// `ds` (`k n`, constant in time; empty: zero) of the source.
pub(crate) struct Probe<'a> {
    /// The state's tangents, advanced in place.
    pub t: &'a mut [f64],
    /// The source's tangents.
    pub ds: &'a [f64],
    /// Number of directions.
    pub k: usize,
    /// Lock step 0 too. A caller whose initial state does not depend on the probed variables (the
    /// time-loop op: `u0` is data) passes `false`: the tangents are zero there, so step 0's ties are
    /// constant in them and cannot be resolved, and its pieces reach no derivative (they multiply the
    /// zero tangent, and the adjoint of step 0 is the gradient with respect to `u0`, not asked for).
    pub lock_first: bool,
    /// The caller reads the tangents of `u(T)` (lex's LD-derivative, the time-loop op's JVP). Without
    /// it, a run that locks nothing leaves `t` as it came (see [`forward`]).
    pub final_tangents: bool,
}

impl Probe<'_> {
    /// Advance the tangents over one step with the step's codes: `t <- J_u t + dt ds`.
    fn advance(&mut self, lambda: f64, a: f64, dt: f64, rules: &Rules, codes: &[u8], sc: &mut Scratch) {
        let n = codes.len();
        for c in 0..self.k {
            let tc = &mut self.t[c * n..(c + 1) * n];
            tangent_taped(lambda, a, &rules.table, codes, tc, sc);
            if !self.ds.is_empty() {
                tc.iter_mut().zip(&self.ds[c * n..(c + 1) * n]).for_each(|(t, v)| *t += dt * v);
            }
        }
    }
}

/// The forward sweep over `steps` steps from `u0` with the constant velocity `a != 0` and source `s`,
/// recording every step's codes into `tape` (`steps n` bytes when the scheme stores codes); with a
/// probe, every step's kink faces are locked along its tangents and the tangents advanced. Returns
/// `(u(T), kinks, unresolved ties)`. With `cancellable`, every step first polls the cancellation token
/// ([`crate::cancel`]; the only error).
///
/// When the codes are stored, the tangents are advanced lazily: only the locks read them, and the
/// tape holds every step's final codes (a step's locks happen before its tangents would be advanced
/// over it), so they are brought up to a step from the tape when that step has kink faces to lock:
/// the same kernels on the same codes in the same order, hence the same bits as advancing them step
/// by step. A run without a lock (the common case off kinks) costs no tangent pass at all, unless the
/// caller wants the final tangents ([`Probe::final_tangents`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    cancellable: bool,
    tr: &Transport,
    rules: &Rules,
    a: f64,
    u0: &[f64],
    s: Option<&[f64]>,
    steps: usize,
    tape: &mut Vec<u8>,
    mut probe: Option<Probe>,
    sc: &mut Scratch,
) -> Result<(Vec<f64>, usize, usize)> {
    let n = u0.len();
    let (lambda, dt) = (tr.lambda(), tr.dt);
    let stored = stores_codes(tr.scheme);
    // every byte is written below: no need to clear what a previous run left
    let len = if stored { steps * n } else { 0 };
    tape.truncate(len);
    tape.resize(len, 0);
    let mut step_codes = std::mem::take(&mut sc.codes);
    // a one-piece slope (upwind, Lax-Wendroff) selects code 1 at every face, and meets no kink
    step_codes.clear();
    step_codes.resize(n, 1);
    let (mut u, mut next) = (u0.to_vec(), vec![0.0; n]);
    let (mut kinks, mut unresolved) = (0, 0);
    // the steps the tangents have been advanced over (step by step when the codes are not stored)
    let mut advanced = 0;
    for st in 0..steps {
        if cancellable {
            crate::cancel::check(format_args!("time step {} of {steps}", st + 1))?;
        }
        let (past, codes) = if stored {
            let (past, rest) = tape.split_at_mut(st * n);
            (&past[..], &mut rest[..n])
        } else {
            (&[][..], &mut step_codes[..])
        };
        let kk = if stored {
            step_taped(tr, a, &u, s, sc, codes, &mut next)
        } else {
            // the value step: the same fluxes (the coded loop's value half), no codes to write
            tr.step_values(&u, &[a], s, &mut sc.ext, &mut sc.flux, &mut next);
            0
        };
        kinks += kk;
        if let Some(p) = probe.as_mut() {
            if kk > 0 && (st > 0 || p.lock_first) {
                for past_codes in past.chunks_exact(n).skip(advanced) {
                    p.advance(lambda, a, dt, rules, past_codes, sc);
                }
                advanced = st;
                let faces: Vec<usize> = (0..n).filter(|&j| is_kink_code(codes[j])).collect();
                let tan = Tangents { u: p.t, a: &[], k: p.k };
                unresolved += lock_faces(rules, lambda, &u, &[a], faces.into_iter(), tan, |j, sel| codes[j] = sel.code);
            }
            if !stored {
                p.advance(lambda, a, dt, rules, codes, sc);
                advanced = st + 1;
            }
        }
        std::mem::swap(&mut u, &mut next);
    }
    if let Some(p) = probe.as_mut().filter(|p| p.final_tangents) {
        for past_codes in tape.chunks_exact(n).skip(advanced) {
            p.advance(lambda, a, dt, rules, past_codes, sc);
        }
    }
    sc.codes = step_codes;
    Ok((u, kinks, unresolved))
}

/// The reverse sweep of a piece tape from `g = ∂J/∂u(T)`: returns `∂J/∂u0`, and accumulates
/// `dt Σ_n ḡ^{n+1}` into `source` when given. Polls the cancellation token as [`forward`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn reverse(
    cancellable: bool,
    tr: &Transport,
    rules: &Rules,
    a: f64,
    tape: &[u8],
    steps: usize,
    mut g: Vec<f64>,
    mut source: Option<&mut [f64]>,
    sc: &mut Scratch,
) -> Result<Vec<f64>> {
    let n = g.len();
    let (lambda, dt) = (tr.lambda(), tr.dt);
    let stored = stores_codes(tr.scheme);
    let cells = with_side!(a, S => CellTable::new::<S>(a, slope_coef::<S>(a, lambda), &rules.table));
    let mut out = vec![0.0; n];
    for st in (0..steps).rev() {
        if cancellable {
            crate::cancel::check(format_args!("adjoint of time step {} of {steps}", st + 1))?;
        }
        if stored {
            if let Some(acc) = source.as_deref_mut() {
                acc.iter_mut().zip(&g).for_each(|(a, v)| *a += dt * v);
            }
            adjoint_taped(lambda, a, &rules.table, &cells, Some(&tape[st * n..(st + 1) * n]), &g, sc, &mut out);
        } else {
            // a one-piece slope: the adjoint and the source's term in one pass (the same bits)
            adjoint_one_piece(lambda, a, dt, &cells, &g, source.as_deref_mut(), &mut out);
        }
        std::mem::swap(&mut g, &mut out);
    }
    Ok(g)
}
