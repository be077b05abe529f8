//! Data and weights I/O: the only place in the library that touches files, and only through the
//! explicit load/save functions below.
//!
//! - [`idx`]: read and write IDX files (the MNIST format), raw or gzip'd.
//! - [`mnist`]: load an MNIST-style data set from a pair of IDX files.
//! - [`atomic`]: replace a file atomically, so an interrupted save never leaves a corrupt file.
//! - [`safetensors_io`]: save and load named tensors as safetensors files readable by Hugging Face
//!   and PyTorch tools.
//!
//! Every function reports failures as a [`crate::Error::Io`], whose one-line message names the file
//! and what was wrong with it, and whose [`IoErrorKind`] classifies the failure
//! ([`crate::Error::io_kind`]).

pub mod atomic;
mod error;
pub mod idx;
pub mod mnist;
pub mod npy;
pub mod safetensors_io;
#[cfg(test)]
mod testutil;

pub use error::IoErrorKind;
