//! A whole time loop as one tape op: `u(T) = Φ(s)` for a batch of samples, differentiated in the
//! source `s` through a piece tape.
//!
//! The hybrid models need the scheme's kinks and the network's kinks locked *together* in mode
//! `safe`: the probe directions live in the space of the network's weights, and the tangent of the
//! source along them must reach every kink face of every step. Recording the loop as one op on the
//! network's tape does exactly that: the tape's safe mode sends the tangents of `s` into
//! [`Op::jvp`], which carries them through the steps and narrows the tied set of every kink face
//! lexicographically (the tangent of the state is zero at step 0, since `u0` does not depend on `s`:
//! ties there are constant in `s`, so any of their pieces gives the same derivative and they are not
//! counted as unresolved); [`Op::vjp`] then runs the adjoint on the locked pieces. In mode `assoc`
//! the pieces are the representation's (tie rules at the kinks).
//!
//! One step is `u^{n+1} = S(u^n) + dt s` with the explicit source of [`super::scheme`]; so
//! `∂u(T)/∂s · δs = Σ_n J_{N-1} ⋯ J_{n+1} dt δs` and the VJP is `dt Σ_n ḡ^{n+1}` with
//! `ḡ^{n} = J_n^T ḡ^{n+1}` on the taped pieces. Both linear maps are recorded as ops (each the other's
//! VJP), so gradients of gradients through the loop are exact (the pieces are locally constant).
//! Memory: one byte per face, step and sample.

use super::limiter::RuledLimiter;
use super::piece_tape::{self, Pieces};
use super::scheme::{Scheme, Transport};
use crate::error::{Error, Result};
use crate::reverse::{JvpCx, Op, OpCx, Tape, Var};
use crate::scalar::Real;
use crate::tensor::Tensor;
use rayon::prelude::*;
use std::sync::Arc;

/// What the loop's linear maps need: the scheme and its constants, and the pieces of every face,
/// step and sample (`codes[(i * steps + k) * n + j]`).
struct Loop {
    transport: Transport,
    ruled: Option<RuledLimiter>,
    a: f64,
    steps: usize,
    m: usize,
    n: usize,
}

impl Loop {
    fn pieces(&self) -> Pieces<'_> {
        Pieces::of(self.transport.scheme, self.ruled.as_ref()).expect("checked when the op was recorded")
    }

    /// Run sample `i` forward from `u0` with source `s`, writing its codes; returns `(u(T), kinks)`.
    fn forward(&self, u0: &[f64], s: &[f64], codes: &mut [u8]) -> (Vec<f64>, usize) {
        let (n, pieces) = (self.n, self.pieces());
        let (mut u, mut next) = (u0.to_vec(), vec![0.0; n]);
        let (mut ext, mut flux) = (Vec::new(), Vec::new());
        let mut kinks = 0;
        for k in 0..self.steps {
            let c = &mut codes[k * n..(k + 1) * n];
            kinks += piece_tape::step_taped(
                &self.transport,
                self.a,
                &pieces,
                &u,
                Some(s),
                &mut ext,
                &mut flux,
                c,
                &mut next,
            );
            std::mem::swap(&mut u, &mut next);
        }
        (u, kinks)
    }

    /// `dt Σ_n ḡ^{n+1}` from `ḡ^N = g`, for one sample with its codes.
    fn adjoint(&self, codes: &[u8], g: &[f64]) -> Vec<f64> {
        let (n, pieces, lambda, dt) = (self.n, self.pieces(), self.transport.lambda(), self.transport.dt);
        let mut g = g.to_vec();
        let mut out = vec![0.0; n];
        let mut acc = vec![0.0; n];
        let mut sc = piece_tape::Scratch::default();
        for k in (0..self.steps).rev() {
            acc.iter_mut().zip(&g).for_each(|(a, v)| *a += dt * v);
            piece_tape::adjoint_taped(lambda, self.a, &pieces, &codes[k * n..(k + 1) * n], &g, &mut sc, &mut out);
            std::mem::swap(&mut g, &mut out);
        }
        acc
    }

    /// `Σ_n J_{N-1} ⋯ J_{n+1} dt δs`, for one sample with its codes.
    fn tangent(&self, codes: &[u8], ds: &[f64]) -> Vec<f64> {
        let (n, pieces, lambda, dt) = (self.n, self.pieces(), self.transport.lambda(), self.transport.dt);
        let mut t = vec![0.0; n];
        let (mut e, mut f) = (Vec::new(), Vec::new());
        for k in 0..self.steps {
            piece_tape::tangent_step(lambda, self.a, &pieces, &codes[k * n..(k + 1) * n], &mut t, &mut e, &mut f);
            t.iter_mut().zip(ds).for_each(|(t, d)| *t += dt * d);
        }
        t
    }

    /// Apply the adjoint (`adjoint = true`) or the tangent map to every sample of `x` (`m n` values).
    fn apply(&self, codes: &[u8], x: &[f64], adjoint: bool) -> Vec<f64> {
        let (n, per) = (self.n, self.steps * self.n);
        let parts: Vec<Vec<f64>> = (0..self.m)
            .into_par_iter()
            .map(|i| {
                let (c, xi) = (&codes[i * per..(i + 1) * per], &x[i * n..(i + 1) * n]);
                if adjoint {
                    self.adjoint(c, xi)
                } else {
                    self.tangent(c, xi)
                }
            })
            .collect();
        parts.concat()
    }
}

/// The loop op: input the source `s` (`m n` values in any shape), output `u(T)` in the same shape.
struct LoopOp {
    lp: Arc<Loop>,
    u0: Arc<Vec<f64>>,
    s: Vec<f64>,
    /// The representation's pieces, and the lexicographically locked ones after a JVP.
    codes: Arc<Vec<u8>>,
    locked: Option<Arc<Vec<u8>>>,
    kinks: usize,
    unresolved: usize,
    shape: Vec<usize>,
}

fn tensor<T: Real>(shape: Vec<usize>, data: &[f64]) -> Tensor<T> {
    Tensor::from_f64(shape, data).expect("shape matches by construction")
}

impl<T: Real> Op<T> for LoopOp {
    fn name(&self) -> &'static str {
        "transport-loop"
    }
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        if !cx.wanted[0] {
            return vec![None];
        }
        let codes = self.locked.clone().unwrap_or_else(|| self.codes.clone());
        vec![Some(LoopLin::apply(cx.tape, self.lp.clone(), codes, true, g, &self.shape))]
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let k = cx.k;
        let lp = self.lp.clone();
        let (n, m, per) = (lp.n, lp.m, lp.steps * lp.n);
        let out_shape = [&[k][..], &self.shape[..]].concat();
        let Some(ts) = cx.tangents[0] else {
            // s has no tangent: neither has u(T), and nothing can be locked
            return Tensor::zeros(&out_shape);
        };
        let ts = ts.to_f64_vec();
        let (lambda, dt, a) = (lp.transport.lambda(), lp.transport.dt, lp.a);
        // per sample: rerun the forward sweep with the tangents, lock, record the locked pieces
        let results: Vec<(Vec<u8>, Vec<Vec<f64>>, usize)> = (0..m)
            .into_par_iter()
            .map(|i| {
                let pieces = lp.pieces();
                let si = &self.s[i * n..(i + 1) * n];
                let mut codes = self.codes[i * per..(i + 1) * per].to_vec();
                let mut tang: Vec<Vec<f64>> = vec![vec![0.0; n]; k];
                let (mut u, mut next) = (self.u0[i * n..(i + 1) * n].to_vec(), vec![0.0; n]);
                let (mut ext, mut flux, mut text, mut tflux) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                let mut unresolved = 0;
                for st in 0..lp.steps {
                    let c = &mut codes[st * n..(st + 1) * n];
                    piece_tape::step_taped(&lp.transport, a, &pieces, &u, Some(si), &mut ext, &mut flux, c, &mut next);
                    if st > 0 {
                        // at step 0 the tangent of u is zero: its ties are constant in s
                        unresolved +=
                            piece_tape::lock_step(lambda, a, &pieces, &ext, c, &mut tang, &mut text, &mut tflux);
                    }
                    for (d, t) in tang.iter_mut().enumerate() {
                        let dsi = &ts[d * m * n + i * n..d * m * n + (i + 1) * n];
                        t.iter_mut().zip(dsi).for_each(|(t, v)| *t += dt * v);
                    }
                    std::mem::swap(&mut u, &mut next);
                }
                (codes, tang, unresolved)
            })
            .collect();
        let mut locked = Vec::with_capacity(m * per);
        let mut out = vec![0.0; k * m * n];
        let mut unresolved = 0;
        for (i, (codes, tang, u)) in results.into_iter().enumerate() {
            locked.extend_from_slice(&codes);
            for (d, t) in tang.iter().enumerate() {
                out[d * m * n + i * n..d * m * n + (i + 1) * n].copy_from_slice(t);
            }
            unresolved += u;
        }
        self.locked = Some(Arc::new(locked));
        self.unresolved = unresolved;
        tensor(out_shape, &out)
    }
    fn kinks(&self) -> usize {
        self.kinks
    }
    fn unresolved(&self) -> usize {
        self.unresolved
    }
    fn unlock(&mut self) {
        self.locked = None;
        self.unresolved = 0;
    }
}

/// The loop's adjoint map `g -> dt Σ ḡ^{n+1}` or its tangent map `δs -> δu(T)` on fixed pieces: linear,
/// each the other's VJP.
struct LoopLin {
    lp: Arc<Loop>,
    codes: Arc<Vec<u8>>,
    adjoint: bool,
    shape: Vec<usize>,
}

impl LoopLin {
    fn apply<'t, T: Real>(
        tape: &'t Tape<T>,
        lp: Arc<Loop>,
        codes: Arc<Vec<u8>>,
        adjoint: bool,
        x: Var<'t, T>,
        shape: &[usize],
    ) -> Var<'t, T> {
        let v = lp.apply(&codes, &x.value().to_f64_vec(), adjoint);
        let op = LoopLin { lp, codes, adjoint, shape: shape.to_vec() };
        tape.push(Box::new(op), &[x], tensor(shape.to_vec(), &v))
    }
}

impl<T: Real> Op<T> for LoopLin {
    fn name(&self) -> &'static str {
        if self.adjoint {
            "transport-loop-adjoint"
        } else {
            "transport-loop-tangent"
        }
    }
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        if !cx.wanted[0] {
            return vec![None];
        }
        vec![Some(LoopLin::apply(cx.tape, self.lp.clone(), self.codes.clone(), !self.adjoint, g, &self.shape))]
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let k = cx.k;
        let out_shape = [&[k][..], &self.shape[..]].concat();
        let Some(t) = cx.tangents[0] else {
            return Tensor::zeros(&out_shape);
        };
        let t = t.to_f64_vec();
        let per = t.len() / k.max(1);
        let mut out = Vec::with_capacity(t.len());
        for c in 0..k {
            out.extend(self.lp.apply(&self.codes, &t[c * per..(c + 1) * per], self.adjoint));
        }
        tensor(out_shape, &out)
    }
}

impl Transport {
    /// `u(T)` after `steps` steps of this scheme for a batch of samples, recorded as one tape op
    /// differentiable in the source `s` (see the module docs): `u0` holds `m` initial states of the
    /// grid's `n` cells one after the other, `s` the `m n` source values (any shape; the output has
    /// the same shape), `velocity` the constant velocity `a != 0`. The scheme must be upwind,
    /// Lax-Wendroff or limited with minmod, superbee or MC. Kinks are logged under the op name
    /// `transport-loop`.
    pub fn time_loop_var<'t, T: Real>(
        &self,
        s: Var<'t, T>,
        u0: &[f64],
        velocity: f64,
        steps: usize,
    ) -> Result<Var<'t, T>> {
        let tape = s.tape();
        let n = self.grid.cells;
        let sv = s.value().to_f64_vec();
        if !u0.len().is_multiple_of(n) || u0.is_empty() || sv.len() != u0.len() {
            return Err(Error::shape(
                "transport loop",
                format!("u0 ({}) and s ({}) must hold the same whole number of {n}-cell states", u0.len(), sv.len()),
            ));
        }
        if velocity == 0.0 || !velocity.is_finite() {
            return Err(Error::invalid("velocity", "the loop op needs a constant, finite, non-zero velocity"));
        }
        self.check_cfl(&[velocity])?;
        let ruled = match self.scheme {
            Scheme::Limited(l) => {
                Some(RuledLimiter::new(l, &tape.representation().ties(&crate::primitive::minmod::LIMITER)))
            }
            _ => None,
        };
        if Pieces::of(self.scheme, ruled.as_ref()).is_none() {
            return Err(Error::invalid(
                "scheme",
                format!("the loop op needs upwind, lw or a minmod/superbee/mc limiter, not {}", self.scheme.name()),
            ));
        }
        let m = u0.len() / n;
        let lp = Arc::new(Loop { transport: self.clone(), ruled, a: velocity, steps, m, n });
        let mut codes = vec![0u8; m * steps * n];
        let per = steps * n;
        let results: Vec<(Vec<f64>, usize)> = codes
            .par_chunks_mut(per.max(1))
            .take(m)
            .enumerate()
            .map(|(i, c)| lp.forward(&u0[i * n..(i + 1) * n], &sv[i * n..(i + 1) * n], c))
            .collect();
        let results: Vec<(Vec<f64>, usize)> =
            if per == 0 { (0..m).map(|i| (u0[i * n..(i + 1) * n].to_vec(), 0)).collect() } else { results };
        let kinks = results.iter().map(|r| r.1).sum();
        let out: Vec<f64> = results.into_iter().flat_map(|r| r.0).collect();
        let shape = s.shape();
        let op = LoopOp {
            lp,
            u0: Arc::new(u0.to_vec()),
            s: sv,
            codes: Arc::new(codes),
            locked: None,
            kinks,
            unresolved: 0,
            shape: shape.clone(),
        };
        let value = Tensor::from_f64(shape, &out)?;
        Ok(tape.push(Box::new(op), &[s], value))
    }
}
