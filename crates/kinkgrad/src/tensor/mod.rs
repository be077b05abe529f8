//! Dense, contiguous, row-major n-d tensors generic over the scalar type.
//!
//! A [`Tensor`] is an immutable value: its data sit behind an `Arc`, so clones are cheap and the tape
//! can keep every intermediate value without copying. Kernels live in the submodules: element-wise
//! maps with broadcasting ([`elementwise`]), reductions ([`reduce`]), layout changes ([`layout`]) and
//! matrix products through the `gemm` crate ([`matmul`]).

pub(crate) mod balance;
pub mod elementwise;
pub mod layout;
pub mod matmul;
pub mod pool;
pub mod reduce;
pub mod shape;
pub(crate) mod transpose;

use crate::error::{Error, Result};
use crate::scalar::Real;
use std::mem::ManuallyDrop;
use std::sync::Arc;

/// A dense row-major tensor of `T`.
///
/// Its storage returns to the [`pool::Workspace`] installed on the dropping thread, if any, when
/// its last handle drops.
#[derive(PartialEq)]
pub struct Tensor<T: Real> {
    /// Taken out only in `Drop` (to hand it to the pool).
    data: ManuallyDrop<Arc<Vec<T>>>,
    shape: Vec<usize>,
}

impl<T: Real> Clone for Tensor<T> {
    fn clone(&self) -> Self {
        Self { data: self.data.clone(), shape: pool::copied(&self.shape) }
    }
}

impl<T: Real> Drop for Tensor<T> {
    fn drop(&mut self) {
        // SAFETY: `data` is taken once, here, and not used afterwards.
        let data = unsafe { ManuallyDrop::take(&mut self.data) };
        pool::give_storage(data);
        pool::give(std::mem::take(&mut self.shape));
    }
}

impl<T: Real> std::fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor<{}>{:?}", T::NAME, self.shape)?;
        if self.len() <= 16 {
            write!(f, " {:?}", self.data)?;
        }
        Ok(())
    }
}

impl<T: Real> Tensor<T> {
    /// A tensor from its shape and row-major data; the data length must be the shape's product.
    ///
    /// ```
    /// use kinkgrad::Tensor;
    /// let t = Tensor::new(vec![2, 2], vec![1.0f64, 2.0, 3.0, 4.0]).unwrap();
    /// assert_eq!(t.shape(), &[2, 2]);
    /// assert!(Tensor::new(vec![3], vec![1.0f64]).is_err());
    /// ```
    pub fn new(shape: Vec<usize>, data: Vec<T>) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::shape(
                "Tensor::new",
                format!("shape {shape:?} holds {n} elements, data has {}", data.len()),
            ));
        }
        Ok(Self { data: ManuallyDrop::new(pool::storage(data)), shape })
    }
    /// Internal constructor for kernels that computed a buffer of the right size.
    pub(crate) fn from_parts(shape: Vec<usize>, data: Vec<T>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Self { data: ManuallyDrop::new(pool::storage(data)), shape }
    }
    /// A tensor from `f64` values, rounded to `T`.
    pub fn from_f64(shape: Vec<usize>, data: &[f64]) -> Result<Self> {
        Self::new(shape, data.iter().map(|&v| T::from_f64(v)).collect())
    }
    /// A 1-d tensor.
    pub fn vector(data: Vec<T>) -> Self {
        let n = data.len();
        Self::from_parts(vec![n], data)
    }
    /// A 0-d tensor holding one value.
    pub fn scalar(v: T) -> Self {
        Self::from_parts(vec![], pool::filled(1, v))
    }
    /// Every element equal to `v`.
    pub fn full(shape: &[usize], v: T) -> Self {
        Self::from_parts(pool::copied(shape), pool::filled(shape.iter().product(), v))
    }
    /// Zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, T::ZERO)
    }
    /// Ones.
    pub fn ones(shape: &[usize]) -> Self {
        Self::full(shape, T::ONE)
    }
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }
    /// True when the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// The row-major data.
    pub fn data(&self) -> &[T] {
        &self.data
    }
    /// The row-major data for writing in place (copied first when the buffer is shared).
    pub fn data_mut(&mut self) -> &mut [T] {
        let v: &mut Vec<T> = Arc::make_mut(&mut *self.data);
        v
    }
    /// The data, copied only when shared.
    pub fn into_vec(mut self) -> Vec<T> {
        std::mem::take(Arc::make_mut(&mut self.data))
    }
    /// The values widened to `f64`.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.data.iter().map(|v| v.to_f64()).collect()
    }
    /// The single value of a tensor with one element.
    pub fn item(&self) -> Result<T> {
        if self.len() == 1 {
            Ok(self.data[0])
        } else {
            Err(Error::shape("item", format!("expected one element, shape is {:?}", self.shape)))
        }
    }
    /// Convert to another precision (through `f64`, rounding to nearest).
    pub fn cast<U: Real>(&self) -> Tensor<U> {
        Tensor::from_parts(self.shape.clone(), self.data.iter().map(|v| U::from_f64(v.to_f64())).collect())
    }
    /// Index of the first non-finite element, if any.
    pub fn first_non_finite(&self) -> Option<usize> {
        // blocks tested without early exit (the test vectorises, in the wide registers), then the
        // position inside the block; a large tensor (e.g. a weight gradient checked after the
        // backward pass) is read by rayon's threads in spans of `SPAN` values, the first failing
        // span (in order) searched again for the position
        const BLOCK: usize = 256;
        const SPAN: usize = 1 << 15;
        let first = |d: &[T]| {
            crate::simd::wide(|| {
                for (k, c) in d.chunks(BLOCK).enumerate() {
                    if !c.iter().fold(true, |all, v| all & v.is_finite()) {
                        return c.iter().position(|v| !v.is_finite()).map(|i| k * BLOCK + i);
                    }
                }
                None
            })
        };
        if self.data.len() < 4 * SPAN {
            return first(&self.data);
        }
        use rayon::prelude::*;
        self.data.par_chunks(SPAN).enumerate().find_map_first(|(s, d)| first(d).map(|i| s * SPAN + i))
    }
    /// True when the two tensors hold bitwise-identical values (treating `-0.0` and `0.0` as different).
    pub fn bit_eq(&self, other: &Self) -> bool {
        self.shape == other.shape
            && self.data.iter().zip(other.data.iter()).all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits())
    }
}
