//! Sums and means: over all elements or along one axis. The adjoint of a sum is a broadcast.

use super::tangent;
use crate::error::Result;
use crate::reverse::var::ok;
use crate::reverse::{JvpCx, Op, OpCx, Var};
use crate::scalar::Real;
use crate::tensor::pool::{self, Buf};
use crate::tensor::Tensor;

struct Sum {
    /// `None`: all elements.
    axis: Option<usize>,
    keepdim: bool,
    input: Buf<usize>,
}

impl<T: Real> Op<T> for Sum {
    fn name(&self) -> &'static str {
        "sum"
    }
    fn vjp<'t>(&self, _cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let kept = match self.axis {
            None => pool::filled(self.input.len(), 1),
            Some(a) => {
                let mut s = pool::copied(&self.input);
                s[a] = 1;
                s
            }
        };
        let g = ok(ok(g.reshape(&kept)).expand(&self.input));
        pool::give(kept);
        crate::reverse::cotangents([Some(g)])
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let t = cx.tangents[0].expect("tangent");
        let r = match self.axis {
            None => ok(ok(t.reshape(&[cx.k, t.len() / cx.k.max(1)])).sum_axis(1, false)),
            Some(a) => ok(t.sum_axis(a + 1, self.keepdim)),
        };
        ok(r.reshape(&tangent::tshape(cx.k, cx.out.shape())))
    }
}

impl<'t, T: Real> Var<'t, T> {
    /// Sum of all elements (0-d result).
    pub fn sum(self) -> Var<'t, T> {
        let v = self.value();
        let value = v.sum_all();
        self.tape.push(Sum { axis: None, keepdim: false, input: Buf::copied(v.shape()) }, &[self], value)
    }
    /// Mean of all elements (0-d result).
    pub fn mean(self) -> Var<'t, T> {
        let n = self.value().len().max(1);
        self.sum().scale(1.0 / n as f64)
    }
    /// Sum along `axis`.
    pub fn sum_axis(self, axis: usize, keepdim: bool) -> Result<Var<'t, T>> {
        let v = self.value();
        let value = v.sum_axis(axis, keepdim)?;
        Ok(self.tape.push(Sum { axis: Some(axis), keepdim, input: Buf::copied(v.shape()) }, &[self], value))
    }
    /// Mean along `axis`.
    pub fn mean_axis(self, axis: usize, keepdim: bool) -> Result<Var<'t, T>> {
        let n = *self.shape().get(axis).unwrap_or(&1);
        Ok(self.sum_axis(axis, keepdim)?.scale(1.0 / n.max(1) as f64))
    }
}
