//! The element types of a tape and their NumPy arrays: float64, float32 and float16 in and out as
//! they are; bfloat16 in from float32 and out as float32 (NumPy has no bfloat16).

use kinkgrad::{bf16, f16, Real, Tensor};
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{Element, IntoPyArray, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// An element type of a tape, with its conversions from and to NumPy arrays.
pub(crate) trait Dtype: Real {
    /// The NumPy dtype an input is converted to before it is read.
    const NUMPY_IN: &'static str;
    /// A tensor from a C-contiguous NumPy array of dtype [`Self::NUMPY_IN`].
    fn tensor(obj: &Bound<'_, PyAny>) -> PyResult<Tensor<Self>>;
    /// A NumPy array holding the tensor's values.
    fn array<'py>(py: Python<'py>, t: &Tensor<Self>) -> PyResult<Bound<'py, PyAny>>;
}

/// The values of a NumPy array of element type `E`, row-major, with its shape.
fn read<E: Element + Copy>(obj: &Bound<'_, PyAny>) -> PyResult<(Vec<usize>, Vec<E>)> {
    let a: PyReadonlyArrayDyn<'_, E> = obj.extract()?;
    let shape = a.shape().to_vec();
    let data = match a.as_slice() {
        Ok(s) => s.to_vec(),
        Err(_) => a.as_array().iter().copied().collect(),
    };
    Ok((shape, data))
}

/// A NumPy array of element type `E` with the given shape and row-major values.
fn write<'py, E: Element>(py: Python<'py>, shape: &[usize], data: Vec<E>) -> PyResult<Bound<'py, PyAny>> {
    let a = ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(a.into_pyarray(py).into_any())
}

macro_rules! native_dtype {
    ($t:ty, $name:literal) => {
        impl Dtype for $t {
            const NUMPY_IN: &'static str = $name;
            fn tensor(obj: &Bound<'_, PyAny>) -> PyResult<Tensor<Self>> {
                let (shape, data) = read::<$t>(obj)?;
                Tensor::new(shape, data).map_err(crate::to_py_err)
            }
            fn array<'py>(py: Python<'py>, t: &Tensor<Self>) -> PyResult<Bound<'py, PyAny>> {
                write(py, t.shape(), t.data().to_vec())
            }
        }
    };
}

native_dtype!(f64, "float64");
native_dtype!(f32, "float32");
native_dtype!(f16, "float16");

impl Dtype for bf16 {
    const NUMPY_IN: &'static str = "float32";
    fn tensor(obj: &Bound<'_, PyAny>) -> PyResult<Tensor<Self>> {
        let (shape, data) = read::<f32>(obj)?;
        Tensor::new(shape, data.into_iter().map(bf16::from_f32).collect()).map_err(crate::to_py_err)
    }
    fn array<'py>(py: Python<'py>, t: &Tensor<Self>) -> PyResult<Bound<'py, PyAny>> {
        write(py, t.shape(), t.data().iter().map(|v| v.to_f32()).collect::<Vec<f32>>())
    }
}

/// `obj` as a C-contiguous NumPy array of dtype `T::NUMPY_IN` (no copy when it already is one; a
/// 0-d input stays 0-d, which `ascontiguousarray` would not keep).
pub(crate) fn to_tensor<T: Dtype>(obj: &Bound<'_, PyAny>) -> PyResult<Tensor<T>> {
    let np = obj.py().import("numpy")?;
    let kwargs = pyo3::types::PyDict::new(obj.py());
    kwargs.set_item("dtype", T::NUMPY_IN)?;
    kwargs.set_item("order", "C")?;
    let arr = np.call_method("asarray", (obj,), Some(&kwargs))?;
    T::tensor(&arr)
}
