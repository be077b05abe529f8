//! Arithmetic with broadcasting: `a + b`, `a - b`, `a * b`, `a / b`, and the two ops that move
//! between shapes, `sum_to` (the adjoint of broadcasting) and `expand` (broadcasting itself).
//!
//! Derivatives: d(a+b) = da + db; d(a-b) = da - db; d(ab) = b da + a db; d(a/b) = (da - (a/b) db)/b.

use super::tangent;
use crate::error::Result;
use crate::reverse::var::ok;
use crate::reverse::{JvpCx, Op, OpCx, Var};
use crate::scalar::Real;
use crate::tensor::pool::Buf;
use crate::tensor::Tensor;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Add,
    Sub,
    Mul,
    Div,
}

struct Binary {
    kind: Kind,
    a: Buf<usize>,
    b: Buf<usize>,
}

impl<T: Real> Op<T> for Binary {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Add => "add",
            Kind::Sub => "sub",
            Kind::Mul => "mul",
            Kind::Div => "div",
        }
    }
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let (a, b) = (cx.inputs[0], cx.inputs[1]);
        let ga = cx.wanted[0].then(|| {
            let v = match self.kind {
                Kind::Add | Kind::Sub => g,
                Kind::Mul => ok(g.mul(b)),
                Kind::Div => ok(g.div(b)),
            };
            v.sum_to(&self.a)
        });
        let gb = cx.wanted[1].then(|| {
            let v = match self.kind {
                Kind::Add => g,
                Kind::Sub => g.neg(),
                Kind::Mul => ok(g.mul(a)),
                Kind::Div => ok(ok(g.mul(cx.out)).div(b)).neg(),
            };
            v.sum_to(&self.b)
        });
        crate::reverse::cotangents([ga, gb])
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let out = cx.out.shape();
        let (a, b) = (cx.inputs[0], cx.inputs[1]);
        let ta = cx.tangents[0].map(|t| {
            let t = tangent::expand(t, cx.k, &self.a, out);
            match self.kind {
                Kind::Add | Kind::Sub => t,
                Kind::Mul => ok(t.zip(b, "mul", |x, y| x * y)),
                Kind::Div => ok(t.zip(b, "div", |x, y| x / y)),
            }
        });
        let tb = cx.tangents[1].map(|t| {
            let t = tangent::expand(t, cx.k, &self.b, out);
            match self.kind {
                Kind::Add => t,
                Kind::Sub => t.map(|x| -x),
                Kind::Mul => ok(t.zip(a, "mul", |x, y| x * y)),
                Kind::Div => {
                    let q = ok(cx.out.zip(b, "div", |x, y| x / y));
                    ok(t.zip(&q, "mul", |x, y| -(x * y)))
                }
            }
        });
        tangent::add_opt(ta, tb).unwrap_or_else(|| tangent::zeros(cx.k, out))
    }
}

fn binary<'t, T: Real>(kind: Kind, a: Var<'t, T>, b: Var<'t, T>) -> Result<Var<'t, T>> {
    let (va, vb) = (a.value(), b.value());
    let value = match kind {
        Kind::Add => va.zip(&vb, "add", |x, y| x + y)?,
        Kind::Sub => va.zip(&vb, "sub", |x, y| x - y)?,
        Kind::Mul => va.zip(&vb, "mul", |x, y| x * y)?,
        Kind::Div => va.zip(&vb, "div", |x, y| x / y)?,
    };
    let op = Binary { kind, a: Buf::copied(va.shape()), b: Buf::copied(vb.shape()) };
    Ok(a.tape.push(op, &[a, b], value))
}

struct SumTo {
    from: Buf<usize>,
    to: Buf<usize>,
}

impl<T: Real> Op<T> for SumTo {
    fn name(&self) -> &'static str {
        "sum_to"
    }
    fn vjp<'t>(&self, _cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        crate::reverse::cotangents([Some(ok(g.expand(&self.from)))])
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        tangent::sum_to(cx.tangents[0].expect("tangent"), cx.k, &self.to, &self.from)
    }
}

struct Expand {
    from: Buf<usize>,
    to: Buf<usize>,
}

impl<T: Real> Op<T> for Expand {
    fn name(&self) -> &'static str {
        "expand"
    }
    fn vjp<'t>(&self, _cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        crate::reverse::cotangents([Some(g.sum_to(&self.from))])
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        tangent::expand(cx.tangents[0].expect("tangent"), cx.k, &self.from, &self.to)
    }
}

impl<'t, T: Real> Var<'t, T> {
    /// `self + other` with broadcasting.
    pub fn add(self, other: Var<'t, T>) -> Result<Var<'t, T>> {
        binary(Kind::Add, self, other)
    }
    /// `self - other` with broadcasting.
    pub fn sub(self, other: Var<'t, T>) -> Result<Var<'t, T>> {
        binary(Kind::Sub, self, other)
    }
    /// `self * other` (element-wise) with broadcasting.
    pub fn mul(self, other: Var<'t, T>) -> Result<Var<'t, T>> {
        binary(Kind::Mul, self, other)
    }
    /// `self / other` (element-wise) with broadcasting.
    pub fn div(self, other: Var<'t, T>) -> Result<Var<'t, T>> {
        binary(Kind::Div, self, other)
    }
    /// Sum over broadcast axes down to `shape` (the adjoint of broadcasting). A no-op when the shape
    /// already matches.
    pub fn sum_to(self, shape: &[usize]) -> Var<'t, T> {
        let from = self.shape();
        if *from == *shape {
            return self;
        }
        let value = ok(self.value().sum_to_shape(shape));
        self.tape.push(SumTo { from, to: Buf::copied(shape) }, &[self], value)
    }
    /// Broadcast to `shape`.
    pub fn expand(self, shape: &[usize]) -> Result<Var<'t, T>> {
        let from = self.shape();
        if *from == *shape {
            return Ok(self);
        }
        let value = self.value().expand(shape)?;
        Ok(self.tape.push(Expand { from, to: Buf::copied(shape) }, &[self], value))
    }
}
