//! Matrix products through the `gemm` crate. Transposed operands are read through strides, except
//! a transposed `f32` right operand whose rows are a multiple of 128 values apart, which is copied
//! transposed first (`transpose.rs`; same bits). A leading batch dimension on the left operand is
//! folded into its rows.

use super::Tensor;
use crate::error::{Error, Result};
use crate::scalar::Real;

impl<T: Real> Tensor<T> {
    /// `op(self) @ op(other)` where `op` transposes the last two axes when the flag is set.
    ///
    /// Shapes: `[m, k] @ [k, n] -> [m, n]`; `[b, m, k] @ [k, n] -> [b, m, n]` (batch folded into rows,
    /// not allowed with `ta`); `[b, m, k] @ [b, k, n] -> [b, m, n]`.
    ///
    /// ```
    /// use kinkgrad::Tensor;
    /// let a = Tensor::new(vec![2, 3], vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    /// let b = Tensor::new(vec![3, 1], vec![1.0f64, 0.0, -1.0]).unwrap();
    /// assert_eq!(a.matmul_t(&b, false, false).unwrap().data(), &[-2.0, -2.0]);
    /// // a^T a is 3 x 3
    /// assert_eq!(a.matmul_t(&a, true, false).unwrap().shape(), &[3, 3]);
    /// ```
    pub fn matmul_t(&self, other: &Tensor<T>, ta: bool, tb: bool) -> Result<Tensor<T>> {
        self.product(other, ta, tb, &[])
    }

    /// `self @ op(other) + bias`, shapes as in [`Tensor::matmul_t`] (without `ta`), with a bias of
    /// `n` values added to every row: [`Tensor::matmul_t`] with the bias joining the product before
    /// its rounding ([`Real::gemm_bias`]: in `f32`/`f64` the bits of the product followed by a
    /// broadcast add; in `f16`/`bf16` one rounding of the `f32` sum of products and bias, as
    /// PyTorch's `addmm`).
    ///
    /// ```
    /// use kinkgrad::Tensor;
    /// let x = Tensor::new(vec![1, 2], vec![1.0f64, 2.0]).unwrap();
    /// let w = Tensor::new(vec![2, 2], vec![1.0, 0.0, 1.0, 1.0]).unwrap();
    /// let b = Tensor::vector(vec![10.0, 20.0]);
    /// // x W^T + b = (1 + 10, 3 + 20)
    /// assert_eq!(x.matmul_bias(&w, true, &b).unwrap().data(), &[11.0, 23.0]);
    /// ```
    pub fn matmul_bias(&self, other: &Tensor<T>, tb: bool, bias: &Tensor<T>) -> Result<Tensor<T>> {
        let n = if tb { other.shape().first() } else { other.shape().get(1) };
        if bias.shape().len() != 1 || n != Some(&bias.len()) {
            return Err(Error::shape(
                "matmul_bias",
                format!(
                    "bias {:?} does not fit {:?} @ {:?}{}",
                    bias.shape(),
                    self.shape(),
                    other.shape(),
                    if tb { "^T" } else { "" }
                ),
            ));
        }
        self.product(other, false, tb, bias.data())
    }

    /// The product of [`Tensor::matmul_t`] with `bias` (empty, or `n` values) added to every row
    /// before rounding.
    fn product(&self, other: &Tensor<T>, ta: bool, tb: bool, bias: &[T]) -> Result<Tensor<T>> {
        let (a, b) = (self.shape(), other.shape());
        let bad = || {
            Error::shape(
                "matmul",
                format!("cannot multiply {a:?}{} by {b:?}{}", if ta { "^T" } else { "" }, if tb { "^T" } else { "" }),
            )
        };
        match (a.len(), b.len()) {
            (2, 2) | (3, 2) => {
                if a.len() == 3 && ta {
                    return Err(bad());
                }
                let rows: usize = a[..a.len() - 1].iter().product();
                let (m, k) = if ta { (a[1], a[0]) } else { (rows, a[a.len() - 1]) };
                let (k2, n) = if tb { (b[1], b[0]) } else { (b[0], b[1]) };
                if k != k2 {
                    return Err(bad());
                }
                let mut c = super::pool::take(m * n);
                gemm_into_at(self.data(), ta, a[a.len() - 1], other.data(), tb, b[1], m, n, k, bias, &mut c, 0);
                let mut shape = super::pool::take(a.len());
                shape.extend_from_slice(if a.len() == 3 { &a[..2] } else { std::slice::from_ref(&m) });
                shape.push(n);
                Ok(Tensor::from_parts(shape, c))
            }
            (3, 3) => {
                if a[0] != b[0] {
                    return Err(bad());
                }
                let (m, k) = if ta { (a[2], a[1]) } else { (a[1], a[2]) };
                let (k2, n) = if tb { (b[2], b[1]) } else { (b[1], b[2]) };
                if k != k2 {
                    return Err(bad());
                }
                let mut c = super::pool::take(a[0] * m * n);
                let (sa, sb) = (a[1] * a[2], b[1] * b[2]);
                for i in 0..a[0] {
                    gemm_into_at(
                        &self.data()[i * sa..(i + 1) * sa],
                        ta,
                        a[2],
                        &other.data()[i * sb..(i + 1) * sb],
                        tb,
                        b[2],
                        m,
                        n,
                        k,
                        bias,
                        &mut c,
                        i * m * n,
                    );
                }
                Ok(Tensor::from_parts(super::pool::copied(&[a[0], m, n]), c))
            }
            _ => Err(bad()),
        }
    }

    /// `self @ other`.
    pub fn matmul(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.matmul_t(other, false, false)
    }
}

/// Writes `op(a) op(b) + bias` (`m x n`, row-major; `a` row-major with `a_cols` columns, `b` with
/// `b_cols`, `bias` empty or `n` values) at `c[at..at + m * n]` of a vector holding `at` values and
/// the capacity for the product; its length becomes `at + m * n`. The output is never zero-filled:
/// [`Real::gemm_bias_uninit`] writes every value.
#[allow(clippy::too_many_arguments)]
fn gemm_into_at<T: Real>(
    a: &[T],
    ta: bool,
    a_cols: usize,
    b: &[T],
    tb: bool,
    b_cols: usize,
    m: usize,
    n: usize,
    k: usize,
    bias: &[T],
    c: &mut Vec<T>,
    at: usize,
) {
    assert_eq!(c.len(), at, "gemm_into_at: the product must follow the values held");
    c.reserve(m * n);
    let (a_rs, a_cs) = if ta { (1, a_cols as isize) } else { (a_cols as isize, 1) };
    let (b_rs, b_cs) = if tb { (1, b_cols as isize) } else { (b_cols as isize, 1) };
    T::gemm_bias_uninit(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, bias, &mut c.spare_capacity_mut()[..m * n]);
    // SAFETY: `gemm_bias_uninit` wrote the `m * n` values after the `at` held ones
    unsafe { c.set_len(at + m * n) };
}
