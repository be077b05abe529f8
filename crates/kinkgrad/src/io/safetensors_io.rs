//! Saving and loading named tensors in the safetensors format.
//!
//! Files are written in the standard layout (see `docs/formats.md`) with a
//! deterministic header, so they can be read by Hugging Face's `safetensors`
//! library and PyTorch (`safetensors.torch.load_file`) and the same content
//! always gives the same bytes; files those tools write are read with the
//! `safetensors` crate's parser, as long as their tensors are F64, F32, F16
//! or BF16.

use super::atomic::write_atomic_as;
use super::error::{fmt_dims, IoError, IoErrorKind};
use safetensors::SafeTensors;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

/// Names weights files in error messages: "weights file X: ...".
const WHAT: &str = "weights";

/// The key safetensors reserves in its header for the metadata map.
const METADATA_KEY: &str = "__metadata__";

/// The element type a tensor is stored as on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// 64-bit IEEE float: values are stored exactly.
    F64,
    /// 32-bit IEEE float: values are rounded to nearest.
    F32,
    /// 16-bit IEEE half float: values are rounded to nearest (overflow beyond
    /// ±65504 becomes infinity, tiny values become subnormal or zero).
    F16,
    /// bfloat16 (8 exponent bits, 7 mantissa bits): values are rounded to
    /// nearest, keeping f32's range but only about 3 significant digits.
    BF16,
}

impl Dtype {
    /// The safetensors name of this dtype (`"F64"`, `"F32"`, `"F16"`, `"BF16"`).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F64 => "F64",
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
        }
    }

    /// Bytes per element.
    pub fn size_in_bytes(self) -> usize {
        match self {
            Dtype::F64 => 8,
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
        }
    }

    fn from_st(d: safetensors::Dtype) -> Option<Self> {
        match d {
            safetensors::Dtype::F64 => Some(Dtype::F64),
            safetensors::Dtype::F32 => Some(Dtype::F32),
            safetensors::Dtype::F16 => Some(Dtype::F16),
            safetensors::Dtype::BF16 => Some(Dtype::BF16),
            _ => None,
        }
    }

    /// Appends `v`, converted to this dtype, as little-endian bytes.
    fn push_le(self, v: f64, out: &mut Vec<u8>) {
        match self {
            Dtype::F64 => out.extend_from_slice(&v.to_le_bytes()),
            Dtype::F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
            Dtype::F16 => out.extend_from_slice(&half::f16::from_f64(v).to_le_bytes()),
            Dtype::BF16 => out.extend_from_slice(&half::bf16::from_f64(v).to_le_bytes()),
        }
    }

    /// Decodes little-endian bytes of this dtype into `f64`s (exactly: every
    /// value of these dtypes is representable as `f64`).
    fn decode_le(self, bytes: &[u8]) -> Vec<f64> {
        match self {
            Dtype::F64 => bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
            Dtype::F32 => {
                bytes.chunks_exact(4).map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect()
            }
            Dtype::F16 => bytes.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64()).collect(),
            Dtype::BF16 => bytes.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64()).collect(),
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A named tensor to save or as loaded.
///
/// `data` holds `shape.iter().product()` values in row-major order. On
/// [`save`] they are rounded to `dtype`; on [`load`] they are the stored
/// values widened exactly to `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// The tensor's name in the file, e.g. `"layer1.weight"`.
    pub name: String,
    /// The size of each dimension, outermost first; `[]` for a scalar.
    pub shape: Vec<usize>,
    /// The element type on disk.
    pub dtype: Dtype,
    /// The values, row-major.
    pub data: Vec<f64>,
}

impl NamedTensor {
    /// Bundles the four fields (no checks; [`save`] checks that `data`
    /// matches `shape`).
    pub fn new(name: impl Into<String>, shape: Vec<usize>, dtype: Dtype, data: Vec<f64>) -> Self {
        NamedTensor { name: name.into(), shape, dtype, data }
    }
}

/// Saves tensors and string metadata to a safetensors file, atomically (see
/// [`write_atomic`](super::atomic::write_atomic)): on any error an existing
/// file at `path` is left untouched.
///
/// Each tensor's values are converted to its `dtype` (rounding to nearest).
/// Tensors are ordered by element size (largest first) and then name, and
/// metadata keys are sorted, so equal inputs give byte-identical files; an
/// empty `metadata` map writes no `__metadata__` entry.
///
/// # Errors
///
/// [`IoErrorKind::InvalidInput`] if a tensor's data length does not match
/// its shape, two tensors share a name, or a tensor is named
/// `__metadata__`; otherwise any failure to write the file. The error names
/// `path` and the offending tensor.
pub fn save(path: &Path, tensors: &[NamedTensor], metadata: &BTreeMap<String, String>) -> crate::Result<()> {
    let bytes = serialize(tensors, metadata).map_err(|e| e.with_path(path))?;
    Ok(write_atomic_as(WHAT, path, |w| w.write_all(&bytes))?)
}

/// The bytes [`save`] would write (for a caller that hashes or writes them itself).
///
/// # Errors
///
/// As [`save`], without a path.
pub fn to_bytes(tensors: &[NamedTensor], metadata: &BTreeMap<String, String>) -> crate::Result<Vec<u8>> {
    Ok(serialize(tensors, metadata)?)
}

/// The file's bytes: the 8-byte little-endian header length, the JSON header
/// (`__metadata__` first with its keys sorted, then the tensors ordered by
/// element size, largest first, then name, each `{"dtype", "shape",
/// "data_offsets"}`), padded with spaces to a multiple of 8 bytes, then the
/// data in the same order. The same tensors and metadata always give the same
/// bytes (no hash-map order, no timestamps), so checkpoints are
/// byte-reproducible, and every tensor starts aligned to its element size.
fn serialize(tensors: &[NamedTensor], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>, IoError> {
    let invalid = |message: String| IoError::memory(IoErrorKind::InvalidInput, WHAT, message);

    let mut names = BTreeSet::new();
    for t in tensors {
        if t.name == METADATA_KEY {
            return Err(invalid(format!("cannot save: the tensor name '{METADATA_KEY}' is reserved by safetensors")));
        }
        if !names.insert(t.name.as_str()) {
            return Err(invalid(format!("cannot save: two tensors are named '{}'", t.name)));
        }
        let count = t
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .filter(|n| n.checked_mul(t.dtype.size_in_bytes()).is_some());
        if count != Some(t.data.len()) {
            let need = count.map_or_else(|| "too many".to_string(), |n| n.to_string());
            return Err(invalid(format!(
                "cannot save: tensor '{}' has shape {} ({need} values) but {} values were given",
                t.name,
                fmt_dims(&t.shape),
                t.data.len()
            )));
        }
    }
    let mut order: Vec<&NamedTensor> = tensors.iter().collect();
    order.sort_by(|a, b| b.dtype.size_in_bytes().cmp(&a.dtype.size_in_bytes()).then_with(|| a.name.cmp(&b.name)));

    let mut entries = Vec::with_capacity(order.len() + 1);
    if !metadata.is_empty() {
        let kv: Vec<String> = metadata.iter().map(|(k, v)| format!("{}:{}", quote(k), quote(v))).collect();
        entries.push(format!("{}:{{{}}}", quote(METADATA_KEY), kv.join(",")));
    }
    let mut offset = 0usize;
    for t in &order {
        let end = offset + t.data.len() * t.dtype.size_in_bytes();
        let dims: Vec<String> = t.shape.iter().map(usize::to_string).collect();
        entries.push(format!(
            "{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
            quote(&t.name),
            t.dtype.name(),
            dims.join(",")
        ));
        offset = end;
    }
    let mut header = format!("{{{}}}", entries.join(","));
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for t in &order {
        for &v in &t.data {
            t.dtype.push_le(v, &mut out);
        }
    }
    Ok(out)
}

/// `s` as a JSON string literal (quotes, backslashes and control characters escaped).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Loads every tensor and the string metadata from a safetensors file.
///
/// Tensors are returned sorted by name, with values widened exactly to
/// `f64`. A file without a `__metadata__` entry gives an empty map.
///
/// # Errors
///
/// [`IoErrorKind::NotFound`] if the file is missing, [`IoErrorKind::Io`] if
/// it cannot be read, [`IoErrorKind::Corrupt`] if it is not a valid
/// safetensors file (bad or truncated header, offsets that do not match the
/// file size, ...), and [`IoErrorKind::Invalid`] if a tensor's dtype is not
/// F64, F32, F16 or BF16. The error names `path`.
pub fn load(path: &Path) -> crate::Result<(Vec<NamedTensor>, BTreeMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(|e| IoError::os(WHAT, path, "cannot read", e))?;
    Ok(deserialize(&bytes).map_err(|e| e.with_path(path))?)
}

fn deserialize(bytes: &[u8]) -> Result<(Vec<NamedTensor>, BTreeMap<String, String>), IoError> {
    let corrupt = |e: safetensors::SafeTensorError| {
        IoError::memory(IoErrorKind::Corrupt, WHAT, format!("not a valid safetensors file: {e}"))
    };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(corrupt)?;
    let st = SafeTensors::deserialize(bytes).map_err(corrupt)?;

    let mut tensors = Vec::with_capacity(st.len());
    for (name, view) in st.tensors() {
        let dtype = Dtype::from_st(view.dtype()).ok_or_else(|| {
            IoError::memory(
                IoErrorKind::Invalid,
                WHAT,
                format!(
                    "tensor '{name}' has dtype {}, which is not supported (only F64, F32, F16 and BF16 are)",
                    view.dtype()
                ),
            )
        })?;
        let data = dtype.decode_le(view.data());
        tensors.push(NamedTensor { name, shape: view.shape().to_vec(), dtype, data });
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));

    let metadata =
        header.metadata().as_ref().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    Ok((tensors, metadata))
}

/// Checks that each expected tensor is present with the expected shape.
///
/// Tensors not listed in `expected` are ignored. All problems are reported
/// in one line, in the order of `expected`, e.g.
/// `weights: tensor 'layer1.weight' has shape [10, 3], expected [10, 4]; missing tensor 'layer2.bias'`.
/// The error has no path, since `tensors` carry none; add the file's with
/// [`Error::with_path`](crate::Error::with_path) to get `weights file X: ...`.
///
/// # Errors
///
/// [`IoErrorKind::ShapeMismatch`] or [`IoErrorKind::MissingTensor`] (the kind
/// of the first problem found).
pub fn expect_shapes(tensors: &[NamedTensor], expected: &[(&str, &[usize])]) -> crate::Result<()> {
    check_shapes(tensors, expected, false)
}

/// [`expect_shapes`], and also refuses tensors not listed in `expected`
/// (`unexpected tensor 'x'`, kind [`IoErrorKind::Invalid`]): for files that
/// must hold exactly one model's weights.
///
/// # Errors
///
/// As [`expect_shapes`], plus [`IoErrorKind::Invalid`] for an extra tensor.
pub fn expect_exact_shapes(tensors: &[NamedTensor], expected: &[(&str, &[usize])]) -> crate::Result<()> {
    check_shapes(tensors, expected, true)
}

fn check_shapes(tensors: &[NamedTensor], expected: &[(&str, &[usize])], exact: bool) -> crate::Result<()> {
    let mut problems = Vec::new();
    let mut first_kind = None;
    for &(name, shape) in expected {
        let (kind, problem) = match tensors.iter().find(|t| t.name == name) {
            None => (IoErrorKind::MissingTensor, format!("missing tensor '{name}'")),
            Some(t) if t.shape != shape => (
                IoErrorKind::ShapeMismatch,
                format!("tensor '{name}' has shape {}, expected {}", fmt_dims(&t.shape), fmt_dims(shape)),
            ),
            Some(_) => continue,
        };
        first_kind.get_or_insert(kind);
        problems.push(problem);
    }
    if exact {
        for t in tensors.iter().filter(|t| !expected.iter().any(|(n, _)| *n == t.name)) {
            first_kind.get_or_insert(IoErrorKind::Invalid);
            problems.push(format!("unexpected tensor '{}'", t.name.escape_debug()));
        }
    }
    match first_kind {
        None => Ok(()),
        Some(kind) => Err(IoError::unnamed(kind, WHAT, problems.join("; ")).into()),
    }
}

#[cfg(test)]
#[path = "safetensors_tests.rs"]
mod tests;
