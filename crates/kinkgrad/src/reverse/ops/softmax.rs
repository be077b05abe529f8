//! Log-softmax along the last axis: `y_i = x_i - log sum_j exp x_j`, computed stably (max shift).
//! VJP: `g - softmax(x) * sum(g)`; JVP: `t - sum(softmax(x) * t)`.

use crate::error::{Error, Result};
use crate::reverse::var::ok;
use crate::reverse::{JvpCx, Op, OpCx, Var};
use crate::scalar::Real;
use crate::tensor::Tensor;

struct LogSoftmax;

fn log_softmax<T: Real>(x: &Tensor<T>) -> Tensor<T> {
    let n = *x.shape().last().unwrap_or(&1);
    let mut out = crate::tensor::pool::take(x.len());
    for row in x.data().chunks(n.max(1)) {
        let m = row.iter().fold(f64::NEG_INFINITY, |m, v| m.max(v.to_f64()));
        let s: f64 = row.iter().map(|v| (v.to_f64() - m).exp()).sum();
        let l = m + s.ln();
        out.extend(row.iter().map(|v| T::from_f64(v.to_f64() - l)));
    }
    Tensor::from_parts(crate::tensor::pool::copied(x.shape()), out)
}

impl<T: Real> Op<T> for LogSoftmax {
    fn name(&self) -> &'static str {
        "log_softmax"
    }
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let last = g.shape().len() - 1;
        let s = ok(g.sum_axis(last, true));
        crate::reverse::cotangents([Some(ok(g.sub(ok(cx.out.exp().mul(s)))))])
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let t = cx.tangents[0].expect("tangent");
        let p = cx.out.map(|v| v.map_f64(f64::exp));
        let pt = ok(t.zip(&p, "mul", |a, b| a * b));
        let s = ok(pt.sum_axis(pt.ndim() - 1, true));
        ok(t.zip(&s, "sub", |a, b| a - b))
    }
}

impl<'t, T: Real> Var<'t, T> {
    /// Log-softmax along the last axis.
    pub fn log_softmax(self) -> Result<Var<'t, T>> {
        let v = self.value();
        if v.ndim() == 0 {
            return Err(Error::shape("log_softmax", "needs at least one axis"));
        }
        let value = log_softmax(&v);
        Ok(self.tape.push(LogSoftmax, &[self], value))
    }
}
