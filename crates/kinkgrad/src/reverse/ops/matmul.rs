//! Matrix product of 2-d variables, `C = op(A) op(B)` with optional transposes (read through
//! strides by the `gemm` crate; see `tensor/matmul.rs` for the one copied case).
//!
//! VJP (for `C = A B`): `dA = G B^T`, `dB = A^T G`; the transposed variants permute these.
//! JVP: `dC = op(dA) op(B) + op(A) op(dB)`.

use super::tangent;
use crate::error::{Error, Result};
use crate::reverse::var::ok;
use crate::reverse::{JvpCx, Op, OpCx, Var};
use crate::scalar::Real;
use crate::tensor::Tensor;

struct MatMul {
    ta: bool,
    tb: bool,
}

impl<T: Real> Op<T> for MatMul {
    fn name(&self) -> &'static str {
        "matmul"
    }
    fn vjp<'t>(&self, cx: &OpCx<'t, T>, g: Var<'t, T>) -> Vec<Option<Var<'t, T>>> {
        let (a, b) = (cx.inputs[0], cx.inputs[1]);
        let ga = cx.wanted[0].then(|| {
            ok(match (self.ta, self.tb) {
                (false, false) => g.matmul_t(b, false, true),
                (false, true) => g.matmul_t(b, false, false),
                (true, false) => b.matmul_t(g, false, true),
                (true, true) => b.matmul_t(g, true, true),
            })
        });
        let gb = cx.wanted[1].then(|| {
            ok(match (self.ta, self.tb) {
                (false, false) => a.matmul_t(g, true, false),
                (false, true) => g.matmul_t(a, true, false),
                (true, false) => a.matmul_t(g, false, false),
                (true, true) => g.matmul_t(a, true, true),
            })
        });
        crate::reverse::cotangents([ga, gb])
    }
    fn jvp(&mut self, cx: &JvpCx<'_, T>) -> Tensor<T> {
        let (a, b) = (cx.inputs[0], cx.inputs[1]);
        let (ta, tb) = (self.ta, self.tb);
        let out = cx.out.shape();
        let da = cx.tangents[0].map(|t| {
            if !ta {
                // fold the k directions into the rows: [k*m, n] @ op(B)
                let s = a.shape();
                let r = ok(ok(t.reshape(&[cx.k * s[0], s[1]])).matmul_t(b, false, tb));
                ok(r.reshape(&tangent::tshape(cx.k, out)))
            } else {
                tangent::per_direction(t, cx.k, a.shape(), |d| ok(d.matmul_t(b, true, tb)))
            }
        });
        let db = cx.tangents[1].map(|t| tangent::per_direction(t, cx.k, b.shape(), |d| ok(a.matmul_t(d, ta, tb))));
        tangent::add_opt(da, db).unwrap_or_else(|| tangent::zeros(cx.k, out))
    }
}

impl<'t, T: Real> Var<'t, T> {
    /// Matrix product of 2-d variables, `op(self) op(other)`, `op` transposing when the flag is set.
    pub fn matmul_t(self, other: Var<'t, T>, ta: bool, tb: bool) -> Result<Var<'t, T>> {
        let (a, b) = (self.value(), other.value());
        if a.ndim() != 2 || b.ndim() != 2 {
            return Err(Error::shape(
                "matmul",
                format!("expects 2-d operands, got {:?} and {:?}", a.shape(), b.shape()),
            ));
        }
        let value = a.matmul_t(&b, ta, tb)?;
        Ok(self.tape.push(MatMul { ta, tb }, &[self, other], value))
    }
    /// Matrix product `self @ other` of 2-d variables.
    pub fn matmul(self, other: Var<'t, T>) -> Result<Var<'t, T>> {
        self.matmul_t(other, false, false)
    }
}
