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

use super::piece_tape::{self, Probe, Scratch};
use super::rules::Rules;
use super::scheme::Transport;
use crate::error::{Error, Result};
use crate::reverse::{JvpCx, Op, OpCx, Tape, Var};
use crate::scalar::Real;
use crate::tensor::Tensor;
use rayon::prelude::*;
use std::sync::Arc;

/// What the loop's linear maps need: the scheme and its constants, and the pieces of every face,
/// step and sample (`codes[(i * steps + k) * n + j]`; none for upwind and Lax-Wendroff).
struct Loop {
    transport: Transport,
    rules: Rules,
    a: f64,
    steps: usize,
    m: usize,
    n: usize,
}

impl Loop {
    /// The codes of one sample (`steps n` bytes, or none).
    fn per(&self) -> usize {
        if piece_tape::stores_codes(self.transport.scheme) {
            self.steps * self.n
        } else {
            0
        }
    }

    /// Run sample `i` forward from `u0` with source `s`, recording its codes (locked along `probe`
    /// when given); returns `(u(T), kinks, unresolved)`. With `cancellable` (the recording, not the
    /// op's JVP), every step polls the cancellation token.
    fn forward(
        &self,
        cancellable: bool,
        u0: &[f64],
        s: &[f64],
        codes: &mut Vec<u8>,
        probe: Option<Probe>,
    ) -> Result<(Vec<f64>, usize, usize)> {
        let mut sc = Scratch::default();
        let (t, r) = (&self.transport, &self.rules);
        piece_tape::forward(cancellable, t, r, self.a, u0, Some(s), self.steps, codes, probe, &mut sc)
    }

    /// `dt Σ_n ḡ^{n+1}` from `ḡ^N = g`, for one sample with its codes.
    fn adjoint(&self, codes: &[u8], g: &[f64]) -> Vec<f64> {
        let mut acc = vec![0.0; self.n];
        let mut sc = Scratch::default();
        piece_tape::reverse(
            false,
            &self.transport,
            &self.rules,
            self.a,
            codes,
            self.steps,
            g.to_vec(),
            Some(&mut acc),
            &mut sc,
        )
        .expect("not cancellable: no error");
        acc
    }

    /// `Σ_n J_{N-1} ⋯ J_{n+1} dt δs`, for one sample with its codes.
    fn tangent(&self, codes: &[u8], ds: &[f64]) -> Vec<f64> {
        let (n, lambda, dt) = (self.n, self.transport.lambda(), self.transport.dt);
        let mut t = vec![0.0; n];
        let ones = vec![1u8; n];
        let mut sc = Scratch::default();
        for k in 0..self.steps {
            let c = if codes.is_empty() { &ones[..] } else { &codes[k * n..(k + 1) * n] };
            piece_tape::tangent_taped(lambda, self.a, &self.rules.table, c, &mut t, &mut sc);
            t.iter_mut().zip(ds).for_each(|(t, d)| *t += dt * d);
        }
        t
    }

    /// Apply the adjoint (`adjoint = true`) or the tangent map to every sample of `x` (`m n` values).
    fn apply(&self, codes: &[u8], x: &[f64], adjoint: bool) -> Vec<f64> {
        let (n, per) = (self.n, self.per());
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
            return crate::reverse::cotangents([None]);
        }
        let codes = self.locked.clone().unwrap_or_else(|| self.codes.clone());
        crate::reverse::cotangents([Some(LoopLin::apply(cx.tape, self.lp.clone(), codes, true, g, &self.shape))])
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let k = cx.k;
        let lp = self.lp.clone();
        let (n, m) = (lp.n, lp.m);
        let out_shape = [&[k][..], &self.shape[..]].concat();
        let Some(ts) = cx.tangents[0] else {
            // s has no tangent: neither has u(T), and nothing can be locked
            return Tensor::zeros(&out_shape);
        };
        let ts = ts.to_f64_vec();
        let per = lp.per();
        // per sample: rerun the forward sweep with the tangents, locking every kink face along them
        let results: Vec<(Vec<u8>, Vec<f64>, usize)> = (0..m)
            .into_par_iter()
            .map(|i| {
                let si = &self.s[i * n..(i + 1) * n];
                let mut ds = vec![0.0; k * n];
                for d in 0..k {
                    ds[d * n..(d + 1) * n].copy_from_slice(&ts[d * m * n + i * n..d * m * n + (i + 1) * n]);
                }
                let mut t = vec![0.0; k * n];
                let mut codes = Vec::new();
                let probe = Probe { t: &mut t, ds: &ds, k, lock_first: false, final_tangents: true };
                let (_, _, unresolved) = lp
                    .forward(false, &self.u0[i * n..(i + 1) * n], si, &mut codes, Some(probe))
                    .expect("not cancellable: no error");
                (codes, t, unresolved)
            })
            .collect();
        let mut locked = Vec::with_capacity(m * per);
        let mut out = vec![0.0; k * m * n];
        let mut unresolved = 0;
        for (i, (codes, tang, u)) in results.into_iter().enumerate() {
            locked.extend_from_slice(&codes);
            for d in 0..k {
                out[d * m * n + i * n..d * m * n + (i + 1) * n].copy_from_slice(&tang[d * n..(d + 1) * n]);
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
        tape.push(op, &[x], tensor(shape.to_vec(), &v))
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
            return crate::reverse::cotangents([None]);
        }
        crate::reverse::cotangents([Some(LoopLin::apply(
            cx.tape,
            self.lp.clone(),
            self.codes.clone(),
            !self.adjoint,
            g,
            &self.shape,
        ))])
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
    /// True when [`Self::time_loop_var`] serves this scheme with the constant velocity `velocity`:
    /// finite and non-zero, and a scheme whose pieces fit the 1-byte piece tape (upwind, Lax-Wendroff,
    /// a minmod, superbee or MC limiter).
    pub fn time_loop_supports(&self, velocity: f64) -> bool {
        velocity != 0.0 && velocity.is_finite() && piece_tape::eligible(self.scheme, &[velocity])
    }

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
        if !piece_tape::eligible(self.scheme, &[velocity]) {
            return Err(Error::invalid(
                "scheme",
                format!("the loop op needs upwind, lw or a minmod/superbee/mc limiter, not {}", self.scheme.name()),
            ));
        }
        let m = u0.len() / n;
        let rules = Rules::new(self.scheme.slope(), tape.representation());
        let lp = Arc::new(Loop { transport: self.clone(), rules, a: velocity, steps, m, n });
        let results: Vec<(Vec<f64>, usize, Vec<u8>)> = (0..m)
            .into_par_iter()
            .map(|i| {
                let mut codes = Vec::new();
                let (u, kinks, _) =
                    lp.forward(true, &u0[i * n..(i + 1) * n], &sv[i * n..(i + 1) * n], &mut codes, None)?;
                Ok((u, kinks, codes))
            })
            .collect::<Result<_>>()?;
        let kinks = results.iter().map(|r| r.1).sum();
        let mut codes = Vec::with_capacity(m * lp.per());
        let mut out = Vec::with_capacity(m * n);
        for (u, _, c) in results {
            out.extend(u);
            codes.extend(c);
        }
        let shape = s.shape();
        let op = LoopOp {
            lp,
            u0: Arc::new(u0.to_vec()),
            s: sv,
            codes: Arc::new(codes),
            locked: None,
            kinks,
            unresolved: 0,
            shape: shape.to_vec(),
        };
        let value = Tensor::from_f64(shape.into_vec(), &out)?;
        Ok(tape.push(op, &[s], value))
    }
}
