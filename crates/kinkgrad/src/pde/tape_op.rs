//! One time step as one fused tape op ([`Transport::step_var`]): the path for gradients of gradients
//! and for locking the scheme's kinks jointly with other ops (a network) on one tape.
//!
//! The forward pass linearises the step by the representation's rules ([`StepPieces`]) and counts its
//! kinks; [`Op::jvp`] locks the kink faces lexicographically along the tangents it receives
//! ([`super::lock::lock_faces`], the same routine as every other path) and applies the one tangent
//! kernel; [`Op::vjp`] records the adjoint kernel as a linear op ([`LinOp`]) whose own VJP is the
//! tangent kernel, so gradients of gradients see the adjoint's dependence on the cotangent. The
//! partials themselves are constants there (their dependence on `u` and `a` is not differentiated:
//! exact for the `u`-part of the linear schemes, whose pieces are linear in `u`).

use super::linearize::{Linearization, StepPieces};
use super::lock::{lock_faces, Tangents};
use super::rules::Rules;
use super::scheme::Transport;
use crate::error::{Error, Result};
use crate::reverse::{JvpCx, Op, OpCx, Tape, Var};
use crate::scalar::Real;
use crate::tensor::Tensor;
use std::sync::Arc;

impl Transport {
    /// One time step recorded on the tape as one fused op: `u^{n+1}` from `u` (shape `[cells]`), the
    /// velocity `a` (shape `[]`, `[1]` or `[cells]`; `None` for Burgers) and the source `s`
    /// (`[cells]`, optional). Kinks go to the tape's kink log under the op name
    /// `transport-<scheme>`. Refuses a Courant number above the bound unless forced.
    ///
    /// ```
    /// use kinkgrad::pde::{grid::Grid, scheme::{Scheme, Transport}};
    /// use kinkgrad::{Mode, Tape, Tensor};
    /// let g = Grid::unit(20).unwrap();
    /// let t = Transport::from_courant(g, "lw-minmod".parse().unwrap(), 1.0, 0.5, false).unwrap();
    /// let tape = Tape::<f64>::new();
    /// let u0 = tape.var(Tensor::vector(g.cell_averages(|x| (6.0 * x).sin())));
    /// let a = tape.var(Tensor::scalar(1.0));
    /// let mut u = u0;
    /// for _ in 0..5 {
    ///     u = t.step_var(u, Some(a), None).unwrap();
    /// }
    /// let j = u.square().sum();
    /// let gr = tape.gradient(j, &[u0, a], &Mode::Assoc).unwrap();
    /// assert_eq!(gr.values[0].shape(), &[20]);
    /// ```
    pub fn step_var<'t, T: Real>(
        &self,
        u: Var<'t, T>,
        a: Option<Var<'t, T>>,
        s: Option<Var<'t, T>>,
    ) -> Result<Var<'t, T>> {
        let tape = u.tape();
        let uv = u.value().to_f64_vec();
        let ushape = u.shape();
        if ushape.len() != 1 {
            return Err(Error::shape("transport step", format!("the state must be 1-d, its shape is {ushape:?}")));
        }
        let av = a.map(|a| a.value().to_f64_vec());
        let ashape = a.map(|a| a.shape());
        if let Some(sh) = &ashape {
            if sh.len() > 1 {
                return Err(Error::shape("transport step", format!("the velocity must be 0-d or 1-d, got {sh:?}")));
            }
        }
        let sv = s.map(|s| s.value().to_f64_vec());
        self.check_shapes(uv.len(), av.as_ref().map(|v| v.len()), sv.as_ref().map(|v| v.len()))?;
        let a_slice: &[f64] = av.as_deref().unwrap_or(&[]);
        self.check_cfl(if self.scheme.is_linear() { a_slice } else { &uv })?;
        let rules = Rules::new(self.scheme.slope(), tape.representation());
        let mut pieces = StepPieces::default();
        let (kinks, _) = pieces.select(&rules, self.lambda(), &uv, a_slice, None);
        let mut out = vec![0.0; uv.len()];
        let mut flux = Vec::new();
        self.step_values(&uv, a_slice, sv.as_deref(), &mut Vec::new(), &mut flux, &mut out);
        let kink_faces = pieces.kink_faces.clone();
        let lin = pieces.to_linearization(a_slice.len());
        let mut inputs = vec![u];
        let a_idx = a.map(|a| {
            inputs.push(a);
            inputs.len() - 1
        });
        let s_idx = s.map(|s| {
            inputs.push(s);
            inputs.len() - 1
        });
        let op = StepOp {
            transport: self.clone(),
            rules,
            lin: Arc::new(lin),
            locked: None,
            kink_faces,
            kinks,
            unresolved: 0,
            a_idx,
            s_idx,
            a_shape: ashape.map(crate::tensor::pool::Buf::into_vec).unwrap_or_default(),
        };
        let value = Tensor::from_f64(ushape.into_vec(), &out)?;
        Ok(tape.push(op, &inputs, value))
    }
}

/// The fused step op.
struct StepOp {
    transport: Transport,
    rules: Rules,
    lin: Arc<Linearization>,
    locked: Option<Arc<Linearization>>,
    kink_faces: Vec<usize>,
    kinks: usize,
    unresolved: usize,
    a_idx: Option<usize>,
    s_idx: Option<usize>,
    a_shape: Vec<usize>,
}

fn tensor<T: Real>(shape: Vec<usize>, data: &[f64]) -> Tensor<T> {
    crate::reverse::var::ok(Tensor::from_f64(shape, data))
}

impl<T: Real> Op<T> for StepOp {
    fn name(&self) -> &'static str {
        self.transport.scheme.op_name()
    }
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let lin = self.locked.clone().unwrap_or_else(|| self.lin.clone());
        let mut out = vec![None; cx.inputs.len()];
        if cx.wanted[0] {
            out[0] = Some(LinOp::apply(cx.tape, lin.clone(), LinKind::AdjU, g, &self.a_shape));
        }
        if let Some(i) = self.a_idx {
            if cx.wanted[i] {
                out[i] = Some(LinOp::apply(cx.tape, lin.clone(), LinKind::AdjA, g, &self.a_shape));
            }
        }
        if let Some(i) = self.s_idx {
            if cx.wanted[i] {
                out[i] = Some(g.scale(self.transport.dt));
            }
        }
        out
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let k = cx.k;
        let u = cx.inputs[0].to_f64_vec();
        let n = u.len();
        let a_len = self.lin.a_len;
        let ut = cx.tangents[0].map(|t| t.to_f64_vec()).unwrap_or_default();
        let at = self.a_idx.and_then(|i| cx.tangents[i]).map(|t| t.to_f64_vec()).unwrap_or_default();
        let st = self.s_idx.and_then(|i| cx.tangents[i]).map(|t| t.to_f64_vec());
        // lexicographic selection at the kink faces, locked for the next VJP
        if !self.kink_faces.is_empty() {
            let a = self.a_idx.map(|i| cx.inputs[i].to_f64_vec()).unwrap_or_default();
            let mut lin = (*self.lin).clone();
            let tan = Tangents { u: &ut, a: &at, k };
            let unresolved = lock_faces(
                &self.rules,
                self.transport.lambda(),
                &u,
                &a,
                self.kink_faces.iter().copied(),
                tan,
                |j, s| lin.set(j, &s.c),
            );
            // Neither the state nor the velocity has a tangent (they depend on no differentiated
            // input, e.g. the initial state of a loop differentiated in a source): the pieces then
            // enter neither the output tangent (`dt` times the source's) nor any wanted cotangent, so
            // a tie that no direction resolves does not change the result and is not counted.
            let moved = cx.tangents[0].is_some() || self.a_idx.is_some_and(|i| cx.tangents[i].is_some());
            self.unresolved = if moved { unresolved } else { 0 };
            self.locked = Some(Arc::new(lin));
        }
        let lin = self.locked.clone().unwrap_or_else(|| self.lin.clone());
        let mut out = vec![0.0; k * n];
        let mut df = Vec::new();
        for c in 0..k {
            let o = &mut out[c * n..(c + 1) * n];
            if !ut.is_empty() {
                super::kernel::tangent(lin.lambda, &*lin, &ut[c * n..(c + 1) * n], &mut df, o);
            }
            if !at.is_empty() {
                super::kernel::add_velocity_tangent(lin.lambda, &lin.ca[..n], &at[c * a_len..(c + 1) * a_len], o);
            }
            if let Some(t) = &st {
                o.iter_mut().zip(&t[c * n..(c + 1) * n]).for_each(|(o, v)| *o += self.transport.dt * v);
            }
        }
        tensor(vec![k, n], &out)
    }
    fn kinks(&self) -> usize {
        self.kinks
    }
    fn unresolved(&self) -> usize {
        self.unresolved
    }
    fn held_bytes(&self) -> usize {
        // the linearisation (five partials per face), its locked copy, the kink faces
        let lin = |l: &Linearization| 8 * (l.ca.len() + l.cm1.len() + l.c0.len() + l.cp1.len() + l.cp2.len());
        lin(&self.lin) + self.locked.as_deref().map_or(0, lin) + 8 * self.kink_faces.len()
    }
    fn unlock(&mut self) {
        self.locked = None;
        self.unresolved = 0;
    }
}

/// The linear maps of a step's linearization, recorded by the VJP (so gradients of gradients work):
/// `AdjU: g -> J_u^T g`, `AdjA: g -> J_a^T g` and their transposes `TanU: h -> J_u h`,
/// `TanA: h -> J_a h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LinKind {
    AdjU,
    AdjA,
    TanU,
    TanA,
}

struct LinOp {
    lin: Arc<Linearization>,
    kind: LinKind,
    a_shape: Vec<usize>,
}

impl LinOp {
    fn eval(&self, x: &[f64]) -> Vec<f64> {
        let l = &self.lin;
        let mut fb = Vec::new();
        match self.kind {
            LinKind::AdjU => {
                let mut o = vec![0.0; l.n];
                l.adj_u(x, &mut o, &mut fb);
                o
            }
            LinKind::AdjA => {
                let mut o = vec![0.0; l.a_len];
                l.adj_a(x, &mut o, &mut fb);
                o
            }
            LinKind::TanU => {
                let mut o = vec![0.0; l.n];
                l.tan_u(x, &mut o);
                o
            }
            LinKind::TanA => {
                let mut o = vec![0.0; l.n];
                l.tan_a(x, &mut o);
                o
            }
        }
    }
    fn out_shape(&self) -> Vec<usize> {
        match self.kind {
            LinKind::AdjA => self.a_shape.clone(),
            _ => vec![self.lin.n],
        }
    }
    fn apply<'t, T: Real>(
        tape: &'t Tape<T>,
        lin: Arc<Linearization>,
        kind: LinKind,
        x: Var<'t, T>,
        a_shape: &[usize],
    ) -> Var<'t, T> {
        let op = LinOp { lin, kind, a_shape: a_shape.to_vec() };
        let v = op.eval(&x.value().to_f64_vec());
        let value = tensor(op.out_shape(), &v);
        tape.push(op, &[x], value)
    }
}

impl<T: Real> Op<T> for LinOp {
    fn name(&self) -> &'static str {
        match self.kind {
            LinKind::AdjU => "transport-adjoint-u",
            LinKind::AdjA => "transport-adjoint-a",
            LinKind::TanU => "transport-tangent-u",
            LinKind::TanA => "transport-tangent-a",
        }
    }
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        if !cx.wanted[0] {
            return crate::reverse::cotangents([None]);
        }
        let t = match self.kind {
            LinKind::AdjU => LinKind::TanU,
            LinKind::TanU => LinKind::AdjU,
            LinKind::AdjA => LinKind::TanA,
            LinKind::TanA => LinKind::AdjA,
        };
        crate::reverse::cotangents([Some(LinOp::apply(cx.tape, self.lin.clone(), t, g, &self.a_shape))])
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let k = cx.k;
        let out_shape = self.out_shape();
        let m: usize = out_shape.iter().product();
        let Some(t) = cx.tangents[0] else {
            return Tensor::zeros(&[&[k][..], &out_shape[..]].concat());
        };
        let t = t.to_f64_vec();
        let per = t.len() / k.max(1);
        let mut out = Vec::with_capacity(k * m);
        for c in 0..k {
            out.extend(self.eval(&t[c * per..(c + 1) * per]));
        }
        tensor([&[k][..], &out_shape[..]].concat(), &out)
    }
}
