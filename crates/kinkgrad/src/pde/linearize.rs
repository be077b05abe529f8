//! One step's linearisation: the selected pieces of every face, in the form the kernels read.
//!
//! [`StepPieces::select`] decides the pieces of every face of one step at the state `u`: by the
//! representation's rules, and, given tangents along `k` directions, locked lexicographically at the
//! kink faces by [`super::lock::lock_faces`]. For a constant velocity `a != 0` the upwind side is
//! hoisted and the pieces are kept as the limiter's value, code and partials per face (the kernels
//! form the face partials on the fly, [`OnTheFly`]); otherwise (a velocity per face, `a = 0`, Burgers)
//! the face partials are materialised in a [`Linearization`].

use super::face::{flux_da, jumps, partials, slope_coef, Neg, Pos};
use super::forward::{extend, slopes_coded, SlopeKernel};
use super::kernel::{self, CoefView, FaceCoefs, OnTheFly};
use super::limiter::Limiter;
use super::lock::{is_kink_code, lock_faces, select_face, Decide, Tangents};
use super::lookup::lookup;
use super::rules::Rules;
use crate::primitive::godunov::Godunov;

/// Per-face derivative coefficients of one step: `dF_j/da_j` and `dF_j/du_{j-1..j+2}`. The step's
/// Jacobian is `d u^{n+1}_j = d u_j - lambda (dF_j - dF_{j-1}) + dt d s_j`.
#[derive(Clone, Debug, Default)]
pub struct Linearization {
    /// Number of cells.
    pub n: usize,
    /// `dt / dx`.
    pub lambda: f64,
    /// Length of the velocity (1 for a constant, `n` per face; 0 for Burgers).
    pub a_len: usize,
    /// `dF_j / da_j`.
    pub ca: Vec<f64>,
    /// `dF_j / du_{j-1}`.
    pub cm1: Vec<f64>,
    /// `dF_j / du_j`.
    pub c0: Vec<f64>,
    /// `dF_j / du_{j+1}`.
    pub cp1: Vec<f64>,
    /// `dF_j / du_{j+2}`.
    pub cp2: Vec<f64>,
}

impl FaceCoefs for Linearization {
    const M1: bool = true;
    const P2: bool = true;
    type View<'a> = LinView<'a>;
    #[inline(always)]
    fn view(&self, start: usize, len: usize) -> LinView<'_> {
        let r = start..start + len;
        LinView { cm1: &self.cm1[r.clone()], c0: &self.c0[r.clone()], cp1: &self.cp1[r.clone()], cp2: &self.cp2[r] }
    }
}

/// A run of faces of a [`Linearization`].
pub(crate) struct LinView<'a> {
    cm1: &'a [f64],
    c0: &'a [f64],
    cp1: &'a [f64],
    cp2: &'a [f64],
}

impl CoefView for LinView<'_> {
    #[inline(always)]
    fn cm1(&self, k: usize) -> f64 {
        self.cm1[k]
    }
    #[inline(always)]
    fn c0(&self, k: usize) -> f64 {
        self.c0[k]
    }
    #[inline(always)]
    fn cp1(&self, k: usize) -> f64 {
        self.cp1[k]
    }
    #[inline(always)]
    fn cp2(&self, k: usize) -> f64 {
        self.cp2[k]
    }
}

impl Linearization {
    fn resize(&mut self, n: usize, lambda: f64, a_len: usize) {
        self.n = n;
        self.lambda = lambda;
        self.a_len = a_len;
        for v in [&mut self.ca, &mut self.cm1, &mut self.c0, &mut self.cp1, &mut self.cp2] {
            v.resize(n, 0.0);
        }
    }
    pub(crate) fn set(&mut self, j: usize, c: &[f64; 5]) {
        self.ca[j] = c[0];
        self.cm1[j] = c[1];
        self.c0[j] = c[2];
        self.cp1[j] = c[3];
        self.cp2[j] = c[4];
    }
    /// Tangent of the update from a tangent `h` of `u`: `h_j - lambda (dF_j - dF_{j-1})`.
    pub fn tan_u(&self, h: &[f64], out: &mut [f64]) {
        kernel::tangent(self.lambda, self, h, &mut Vec::new(), out);
    }
    /// Tangent of the update from a tangent `h` of the velocity (length `a_len`).
    pub fn tan_a(&self, h: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        kernel::add_velocity_tangent(self.lambda, &self.ca[..self.n], h, out);
    }
    /// Adjoint with respect to `u`: `out = J_u^T g` (`fb` receives the face cotangents).
    pub fn adj_u(&self, g: &[f64], out: &mut [f64], fb: &mut Vec<f64>) {
        kernel::adjoint(self.lambda, self, g, fb, out);
    }
    /// Adjoint with respect to the velocity: `out = J_a^T g` (length `a_len`).
    pub fn adj_a(&self, g: &[f64], out: &mut [f64], fb: &mut Vec<f64>) {
        kernel::face_cotangent(self.lambda, g, fb);
        kernel::velocity_adjoint(fb, &self.ca[..self.n], out, &mut Vec::new());
    }
}

/// The selected pieces of one step.
#[derive(Default)]
pub(crate) struct StepPieces {
    /// Constant velocity `a != 0` (side hoisted): the fields below; otherwise [`Self::lin`].
    hoisted: bool,
    a: f64,
    lambda: f64,
    /// Periodic extension of the state.
    pub ext: Vec<f64>,
    /// Per face: the upwind side's slope value, its code (selected pieces), their partials.
    pub b: Vec<f64>,
    pub codes: Vec<u8>,
    pub gx: Vec<f64>,
    pub gy: Vec<f64>,
    /// The materialised partials (velocity per face, `a = 0`, Burgers).
    pub lin: Linearization,
    /// Faces on a kink.
    pub kink_faces: Vec<usize>,
    ca: Vec<f64>,
    scratch: Vec<f64>,
    pub fb: Vec<f64>,
}

impl StepPieces {
    /// Decide the pieces of every face at `u` (velocity `a`: one value, one per face, or none for
    /// Burgers) by the rules, locking the kink faces along `lock`'s tangents when given. Returns
    /// `(kinks, unresolved ties)`.
    #[inline(always)]
    pub(crate) fn select(
        &mut self,
        rules: &Rules,
        lambda: f64,
        u: &[f64],
        a: &[f64],
        lock: Option<Tangents>,
    ) -> (usize, usize) {
        let n = u.len();
        extend(u, &mut self.ext);
        self.lambda = lambda;
        self.kink_faces.clear();
        self.hoisted = a.len() == 1 && a[0] != 0.0 && rules.slope.is_some();
        if !self.hoisted {
            let kinks = self.linearize(rules, lambda, a);
            let mut unresolved = 0;
            if let Some(tan) = lock {
                let lin = &mut self.lin;
                unresolved =
                    lock_faces(rules, lambda, u, a, self.kink_faces.iter().copied(), tan, |j, s| lin.set(j, &s.c));
            }
            return (kinks, unresolved);
        }
        let slope = rules.slope.expect("a linear scheme");
        self.a = a[0];
        for v in [&mut self.b, &mut self.gx, &mut self.gy] {
            v.resize(n, 0.0);
        }
        self.codes.resize(n, 0);
        let kinks;
        let mut unresolved = 0;
        if rules.coded() {
            kinks = with_slope_kernel!(slope, k => with_side!(self.a, S => slopes_coded::<S, _>(k, &self.ext, &mut self.b, &mut self.codes)));
            if kinks > 0 {
                let codes = &mut self.codes;
                self.kink_faces.extend((0..n).filter(|&j| is_kink_code(codes[j])));
                if let Some(tan) = lock {
                    let faces = self.kink_faces.iter().copied();
                    unresolved = lock_faces(rules, lambda, u, a, faces, tan, |j, s| codes[j] = s.code);
                }
            }
            let t = &rules.table;
            lookup(&self.codes, t.len, [&t.gx, &t.gy], [&mut self.gx, &mut self.gy]);
        } else {
            // van Leer: its rule per face (not coded)
            let mut k = 0;
            for j in 0..n {
                let e = &self.ext[j..j + 4];
                let (x, y) = if self.a > 0.0 {
                    jumps::<Pos>(e[0], e[1], e[2], e[3])
                } else {
                    jumps::<Neg>(e[0], e[1], e[2], e[3])
                };
                let r = Limiter::VanLeer.select(x, y, 0, |_, _| {}, &rules.limiter);
                (self.b[j], self.gx[j], self.gy[j]) = (r.value, r.gx, r.gy);
                if r.kink {
                    k += 1;
                    self.kink_faces.push(j);
                }
            }
            kinks = k;
            if let Some(tan) = lock {
                let (gx, gy) = (&mut self.gx, &mut self.gy);
                unresolved = lock_faces(rules, lambda, u, a, self.kink_faces.iter().copied(), tan, |j, s| {
                    (gx[j], gy[j]) = (s.gx, s.gy);
                });
            }
        }
        (kinks, unresolved)
    }

    /// The materialised linearisation by the rules; kink faces noted. Returns the kinks.
    fn linearize(&mut self, rules: &Rules, lambda: f64, a: &[f64]) -> usize {
        let n = self.ext.len() - 3;
        self.lin.resize(n, lambda, a.len());
        let (ext, lin, faces) = (&self.ext, &mut self.lin, &mut self.kink_faces);
        let window = |j: usize| [ext[j], ext[j + 1], ext[j + 2], ext[j + 3]];
        let mut kinks = 0;
        match rules.slope {
            // Burgers: the branch-free tied set, the rule at its kinks
            None => {
                for j in 0..n {
                    let (ul, ur) = (ext[j + 1], ext[j + 2]);
                    let (_, code) = Godunov::value_and_pieces(ul, ur);
                    let c = match code {
                        0b001 => [0.0, 0.0, ul, 0.0, 0.0],
                        0b010 => [0.0, 0.0, 0.0, ur, 0.0],
                        0b100 => [0.0; 5],
                        _ => {
                            let s = select_face(rules, 0.0, lambda, &window(j), Decide::Rule);
                            kinks += s.kinks as usize;
                            faces.push(j);
                            s.c
                        }
                    };
                    lin.set(j, &c);
                }
            }
            // a velocity per face (coded slopes): both sides from the table, the upwind one kept; the
            // faces with a_j = 0 by the rule
            Some(slope) if a.len() == n && rules.coded() => with_slope_kernel!(slope, k => {
                let t = &rules.table;
                for j in 0..n {
                    let w = window(j);
                    let aj = a[j];
                    if aj == 0.0 {
                        let s = select_face(rules, aj, lambda, &w, Decide::Rule);
                        lin.set(j, &s.c);
                        kinks += s.kinks as usize;
                        faces.push(j);
                        continue;
                    }
                    let code = if aj > 0.0 {
                        let (x, y) = jumps::<Pos>(w[0], w[1], w[2], w[3]);
                        let (b, c) = k.value_code(x, y);
                        lin.set(j, &partials::<Pos>(aj, lambda, &w, b, t.gx[c as usize], t.gy[c as usize]));
                        c
                    } else {
                        let (x, y) = jumps::<Neg>(w[0], w[1], w[2], w[3]);
                        let (b, c) = k.value_code(x, y);
                        lin.set(j, &partials::<Neg>(aj, lambda, &w, b, t.gx[c as usize], t.gy[c as usize]));
                        c
                    };
                    if is_kink_code(code) {
                        kinks += 1;
                        faces.push(j);
                    }
                }
            }),
            // anything else (van Leer per face, a constant a = 0): the rule face by face
            Some(_) => {
                for j in 0..n {
                    let aj = if a.len() == 1 { a[0] } else { a[j] };
                    let s = select_face(rules, aj, lambda, &window(j), Decide::Rule);
                    lin.set(j, &s.c);
                    if s.kinks > 0 {
                        kinks += s.kinks as usize;
                        faces.push(j);
                    }
                }
            }
        }
        kinks
    }

    /// `out = J_u^T g` on the selected pieces; the face cotangents stay in `self.fb`.
    #[inline(always)]
    pub(crate) fn adjoint(&mut self, g: &[f64], out: &mut [f64]) {
        if !self.hoisted {
            return kernel::adjoint(self.lambda, &self.lin, g, &mut self.fb, out);
        }
        let (a, lambda) = (self.a, self.lambda);
        with_side!(a, S => {
            let c = OnTheFly::<S>::new(a, slope_coef::<S>(a, lambda), &self.gx, &self.gy);
            kernel::adjoint(lambda, &c, g, &mut self.fb, out)
        })
    }

    /// `out = J_u h` on the selected pieces.
    #[inline(always)]
    pub(crate) fn tangent(&mut self, h: &[f64], out: &mut [f64]) {
        if !self.hoisted {
            return kernel::tangent(self.lambda, &self.lin, h, &mut self.scratch, out);
        }
        let (a, lambda) = (self.a, self.lambda);
        with_side!(a, S => {
            let c = OnTheFly::<S>::new(a, slope_coef::<S>(a, lambda), &self.gx, &self.gy);
            kernel::tangent(lambda, &c, h, &mut self.scratch, out)
        })
    }

    /// `dF_j/da` per face.
    #[inline(always)]
    pub(crate) fn velocity_partials(&mut self) -> &[f64] {
        if !self.hoisted {
            return &self.lin.ca[..self.lin.n];
        }
        let n = self.b.len();
        let (a, lambda, e) = (self.a, self.lambda, &self.ext);
        self.ca.resize(n, 0.0);
        let (ca, b) = (&mut self.ca[..n], &self.b[..n]);
        let (e1, e2) = (&e[1..n + 1], &e[2..n + 2]);
        with_side!(a, S => {
            for j in 0..n {
                ca[j] = flux_da::<S>(a, lambda, e1[j], e2[j], b[j]);
            }
        });
        &self.ca[..n]
    }

    /// `J_a^T g` after [`Self::adjoint`] (its face cotangents): one value for a constant velocity,
    /// one per face otherwise.
    #[inline(always)]
    pub(crate) fn velocity_adjoint(&mut self, out: &mut [f64]) {
        self.velocity_partials();
        let mut scratch = std::mem::take(&mut self.scratch);
        let ca = if self.hoisted { &self.ca[..self.b.len()] } else { &self.lin.ca[..self.lin.n] };
        kernel::velocity_adjoint(&self.fb, ca, out, &mut scratch);
        self.scratch = scratch;
    }

    /// Adds the velocity tangent's share `-λ (ca_j ha_j - ca_{j-1} ha_{j-1})` to `out`.
    pub(crate) fn add_velocity_tangent(&mut self, ha: &[f64], out: &mut [f64]) {
        let lambda = self.lambda;
        let ca = self.velocity_partials();
        kernel::add_velocity_tangent(lambda, ca, ha, out);
    }

    /// A copy of the materialised linearisation (for the tape's recorded linear maps): the hoisted
    /// pieces are written out by the same face formula.
    pub(crate) fn to_linearization(&self, a_len: usize) -> Linearization {
        if !self.hoisted {
            return self.lin.clone();
        }
        let n = self.b.len();
        let mut lin = Linearization::default();
        lin.resize(n, self.lambda, a_len);
        let (a, lambda, e) = (self.a, self.lambda, &self.ext);
        with_side!(a, S => {
            for j in 0..n {
                let w = [e[j], e[j + 1], e[j + 2], e[j + 3]];
                lin.set(j, &partials::<S>(a, lambda, &w, self.b[j], self.gx[j], self.gy[j]));
            }
        });
        lin
    }

    /// The per-face codes of a hoisted step (constant velocity `a != 0`); `None` otherwise.
    pub(crate) fn hoisted_codes(&self) -> Option<&[u8]> {
        self.hoisted.then(|| &self.codes[..self.b.len()])
    }

    /// Bytes of the buffers held.
    pub(crate) fn bytes(&self) -> usize {
        let l = &self.lin;
        8 * [
            &self.ext,
            &self.b,
            &self.gx,
            &self.gy,
            &self.ca,
            &self.scratch,
            &self.fb,
            &l.ca,
            &l.cm1,
            &l.c0,
            &l.cp1,
            &l.cp2,
        ]
        .iter()
        .map(|v| v.capacity())
        .sum::<usize>()
            + self.codes.capacity()
            + 8 * self.kink_faces.capacity()
    }
}
