//! The affine map of a linear layer, `y = x W^T + b`, as one op (one output buffer,
//! [`Tensor::matmul_bias`]). In `f32`/`f64` the values are those of `matmul_t` followed by a broadcast
//! `add`, bit for bit; in `f16`/`bf16` the bias joins the `f32` accumulator of the product and each
//! output is rounded once (PyTorch's `nn.Linear` on the CPU), not twice as the composition would.
//! The backward pass is unchanged by this: `dx` and `dW` are products rounded once, `db` a sum
//! rounded once; the JVP's three terms are rounded each and then added.
//!
//! Shapes: `x: [rows, in]`, `W: [out, in]`, `b: [out]`, `y: [rows, out]`.
//! VJP: `dx = G W`, `dW = G^T x`, `db = sum over rows of G`.
//! JVP: `dy = dx W^T + x dW^T + db` (the bias tangent broadcast over the rows).

use super::equal::equal_vectors;
use super::tangent;
use crate::error::{Error, Result};
use crate::reverse::var::ok;
use crate::reverse::{ElementClasses, InputClasses, JvpCx, Op, OpCx, Var, CONSTANT_CLASS};
use crate::scalar::Real;
use crate::tensor::pool::Buf;
use crate::tensor::Tensor;

struct Linear {
    bias: Buf<usize>,
}

impl<T: Real> Op<T> for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let (x, w) = (cx.inputs[0], cx.inputs[1]);
        crate::reverse::cotangents([
            cx.wanted[0].then(|| ok(g.matmul_t(w, false, false))),
            cx.wanted[1].then(|| ok(g.matmul_t(x, true, false))),
            cx.wanted[2].then(|| g.sum_to(&self.bias)),
        ])
    }
    fn element_classes(
        &self,
        inputs: &[&Tensor<T>],
        at: &[usize],
        input: &mut dyn InputClasses,
    ) -> Option<ElementClasses> {
        // rows of `x` that are the same functions element by element (equal classes, and equal
        // values: constants of one value) give outputs `x_r W^T + b` that are the same function of
        // `x`, `W` and `b` in each column: class (row class, column). Only the rows of the listed
        // outputs are read (`at` is ascending, so are they)
        let (rows, cols) = (inputs[0].shape()[0], inputs[1].shape()[0]);
        let len = inputs[0].shape()[1];
        if rows.checked_mul(cols)? >= CONSTANT_CLASS as usize || cols == 0 {
            return None;
        }
        let mut rs: Vec<usize> = at.iter().map(|&e| e / cols).collect();
        rs.dedup();
        let list: Vec<usize> = rs.iter().flat_map(|&r| r * len..(r + 1) * len).collect();
        let c = input.classes(0, &list).filter(|c| c.len() == list.len())?;
        let x = inputs[0].data();
        let row_class = equal_vectors(
            rs.len(),
            rows,
            len,
            |q, i| c[q * len + i],
            |q, i| x[rs[q] * len + i].to_f64().to_bits(),
            |_| false,
            |_| false,
        );
        let mut q = 0;
        let out = at
            .iter()
            .map(|&e| {
                while rs[q] != e / cols {
                    q += 1;
                }
                (rs[row_class[q]] * cols + e % cols) as u32
            })
            .collect();
        crate::tensor::pool::give(row_class);
        Some(out)
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
    /// layout), recorded as one op; in `f32`/`f64` the same values as
    /// `self.matmul_t(w, false, true)?.add(b)`; in `f16`/`bf16` the products and the bias summed in
    /// `f32` and rounded once, instead of twice.
    pub fn linear(self, w: Var<'t, T>, b: Var<'t, T>) -> Result<Var<'t, T>> {
        let (xv, wv, bv) = (self.value(), w.value(), b.value());
        let (xs, ws, bs) = (xv.shape(), wv.shape(), bv.shape());
        if xs.len() != 2 || ws.len() != 2 || bs.len() != 1 || xs[1] != ws[1] || bs[0] != ws[0] {
            return Err(Error::shape(
                "linear",
                format!("expects x [rows, in], W [out, in], b [out]; got {xs:?}, {ws:?}, {bs:?}"),
            ));
        }
        let value = xv.matmul_bias(&wv, true, &bv)?;
        Ok(self.tape.push(Linear { bias: Buf::copied(bs) }, &[self, w, b], value))
    }
}
