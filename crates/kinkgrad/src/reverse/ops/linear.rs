//! The affine map of a linear layer, `y = x W^T + b`, as one op (one output buffer: the bias is added
//! in place to the product, so the values are those of `matmul_t` followed by a broadcast `add`, bit
//! for bit).
//!
//! Shapes: `x: [rows, in]`, `W: [out, in]`, `b: [out]`, `y: [rows, out]`.
//! VJP: `dx = G W`, `dW = G^T x`, `db = sum over rows of G`.
//! JVP: `dy = dx W^T + x dW^T + db` (the bias tangent broadcast over the rows).

use super::tangent;
use crate::error::{Error, Result};
use crate::reverse::var::ok;
use crate::reverse::{JvpCx, Op, OpCx, Var};
use crate::scalar::Real;
use crate::tensor::elementwise::wide;
use crate::tensor::Tensor;

struct Linear {
    bias: Vec<usize>,
}

impl<T: Real> Op<T> for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let (x, w) = (cx.inputs[0], cx.inputs[1]);
        vec![
            cx.wanted[0].then(|| ok(g.matmul_t(w, false, false))),
            cx.wanted[1].then(|| ok(g.matmul_t(x, true, false))),
            cx.wanted[2].then(|| g.sum_to(&self.bias)),
        ]
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let (x, w) = (cx.inputs[0], cx.inputs[1]);
        let k = cx.k;
        let out = cx.out.shape();
        let dx = cx.tangents[0].map(|t| {
            // fold the k directions into the rows: [k*rows, in] @ W^T
            let s = x.shape();
            let r = ok(ok(t.reshape(&[k * s[0], s[1]])).matmul_t(w, false, true));
            ok(r.reshape(&tangent::tshape(k, out)))
        });
        let dw = cx.tangents[1].map(|t| tangent::per_direction(t, k, w.shape(), |d| ok(x.matmul_t(d, false, true))));
        let db = cx.tangents[2].map(|t| tangent::expand(t, k, &self.bias, out));
        let d = tangent::add_opt(dx, dw);
        tangent::add_opt(d, db).unwrap_or_else(|| tangent::zeros(k, out))
    }
}

impl<'t, T: Real> Var<'t, T> {
    /// `self W^T + b` for `self: [rows, in]`, `w: [out, in]`, `b: [out]` (a linear layer, PyTorch's
    /// layout), recorded as one op; the same values as `self.matmul_t(w, false, true)?.add(b)`.
    pub fn linear(self, w: Var<'t, T>, b: Var<'t, T>) -> Result<Var<'t, T>> {
        let (xv, wv, bv) = (self.value(), w.value(), b.value());
        let (xs, ws, bs) = (xv.shape(), wv.shape(), bv.shape());
        if xs.len() != 2 || ws.len() != 2 || bs.len() != 1 || xs[1] != ws[1] || bs[0] != ws[0] {
            return Err(Error::shape(
                "linear",
                format!("expects x [rows, in], W [out, in], b [out]; got {xs:?}, {ws:?}, {bs:?}"),
            ));
        }
        let y = xv.matmul_t(&wv, false, true)?;
        let shape = y.shape().to_vec();
        let mut data = y.into_vec();
        let bd = bv.data();
        if !bd.is_empty() {
            wide(|| {
                for row in data.chunks_mut(bd.len()) {
                    for (v, &c) in row.iter_mut().zip(bd) {
                        *v = *v + c;
                    }
                }
            });
        }
        let value = Tensor::from_parts(shape, data);
        Ok(self.tape.push(Box::new(Linear { bias: bs.to_vec() }), &[self, w, b], value))
    }
}
