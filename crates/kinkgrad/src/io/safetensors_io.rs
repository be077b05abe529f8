//! Saving and loading named tensors in the safetensors format.
//!
//! Files are written with the `safetensors` crate's own serializer, so they
//! can be read by Hugging Face's `safetensors` library and PyTorch
//! (`safetensors.torch.load_file`), and files those tools write can be read
//! here as long as their tensors are F64, F32, F16 or BF16.

use super::atomic::write_atomic_as;
use super::error::{fmt_dims, IoError, IoErrorKind};
use safetensors::tensor::TensorView;
use safetensors::SafeTensors;
use std::collections::{BTreeMap, BTreeSet, HashMap};
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

    fn to_st(self) -> safetensors::Dtype {
        match self {
            Dtype::F64 => safetensors::Dtype::F64,
            Dtype::F32 => safetensors::Dtype::F32,
            Dtype::F16 => safetensors::Dtype::F16,
            Dtype::BF16 => safetensors::Dtype::BF16,
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
/// The file is produced by the `safetensors` crate's serializer, which orders
/// tensors by dtype and then name; an empty `metadata` map writes no
/// `__metadata__` entry.
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

fn serialize(tensors: &[NamedTensor], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>, IoError> {
    let invalid = |message: String| IoError::memory(IoErrorKind::InvalidInput, WHAT, message);

    let mut names = BTreeSet::new();
    let mut encoded: Vec<(&str, &NamedTensor, Vec<u8>)> = Vec::with_capacity(tensors.len());
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
        let mut bytes = Vec::with_capacity(t.data.len() * t.dtype.size_in_bytes());
        for &v in &t.data {
            t.dtype.push_le(v, &mut bytes);
        }
        encoded.push((t.name.as_str(), t, bytes));
    }

    let mut views = Vec::with_capacity(encoded.len());
    for (name, t, bytes) in &encoded {
        let view = TensorView::new(t.dtype.to_st(), t.shape.clone(), bytes)
            .map_err(|e| invalid(format!("cannot save tensor '{name}': {e}")))?;
        views.push((*name, view));
    }
    let info: Option<HashMap<String, String>> =
        if metadata.is_empty() { None } else { Some(metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect()) };
    safetensors::serialize(views, info).map_err(|e| invalid(format!("cannot serialize tensors: {e}")))
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
    match first_kind {
        None => Ok(()),
        Some(kind) => Err(IoError::unnamed(kind, WHAT, problems.join("; ")).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::TempDir;
    use super::*;
    use std::fs;

    const THIRD: f64 = 1.0 / 3.0;
    const VALUES: [f64; 8] = [0.1, THIRD, -2.5, 65504.0, 70000.0, 1e-8, std::f64::consts::PI, 0.0];

    fn no_meta() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    fn round_trip(dtype: Dtype, values: &[f64]) -> Vec<f64> {
        let dir = TempDir::new("st-dtype");
        let path = dir.path().join(format!("{dtype}.safetensors"));
        let t = NamedTensor::new("w", vec![2, values.len() / 2], dtype, values.to_vec());
        save(&path, &[t], &no_meta()).unwrap();
        let (loaded, meta) = load(&path).unwrap();
        assert!(meta.is_empty());
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].name, "w");
        assert_eq!(loaded[0].shape, vec![2, values.len() / 2]);
        assert_eq!(loaded[0].dtype, dtype);
        loaded[0].data.clone()
    }

    #[test]
    fn f64_round_trip_is_exact() {
        assert_eq!(round_trip(Dtype::F64, &VALUES), VALUES);
    }

    #[test]
    fn f32_round_trip_rounds_to_f32() {
        let expected: Vec<f64> = VALUES.iter().map(|&v| f64::from(v as f32)).collect();
        let got = round_trip(Dtype::F32, &VALUES);
        assert_eq!(got, expected);
        assert_eq!(got[0], 0.100_000_001_490_116_12);
    }

    #[test]
    fn f16_round_trip_rounds_to_half() {
        let got = round_trip(Dtype::F16, &VALUES);
        assert_eq!(
            got,
            [
                0.099_975_585_937_5,
                0.333_251_953_125,
                -2.5,
                65504.0,
                f64::INFINITY, // beyond f16's largest finite value
                0.0,           // below half of f16's smallest subnormal
                3.140_625,
                0.0,
            ]
        );
    }

    #[test]
    fn bf16_round_trip_rounds_to_bfloat16() {
        let got = round_trip(Dtype::BF16, &VALUES);
        assert_eq!(
            got,
            [0.100_097_656_25, 0.333_984_375, -2.5, 65536.0, 70144.0, 1.001_171_767_711_639_4e-8, 3.140_625, 0.0,]
        );
    }

    #[test]
    fn mixed_tensors_and_metadata_round_trip() {
        let dir = TempDir::new("st-mixed");
        let path = dir.path().join("model.safetensors");
        let tensors = vec![
            NamedTensor::new("layer1.weight", vec![2, 3], Dtype::F32, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            NamedTensor::new("layer1.bias", vec![2], Dtype::F64, vec![0.25, -0.5]),
            NamedTensor::new("emb", vec![1, 2], Dtype::BF16, vec![1.0, -1.0]),
            NamedTensor::new("scale", vec![], Dtype::F16, vec![0.5]),
            NamedTensor::new("empty", vec![0, 3], Dtype::F32, vec![]),
        ];
        let mut meta = BTreeMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        meta.insert("epoch".to_string(), "12".to_string());
        meta.insert("note".to_string(), "unicode ✓ and \"quotes\"".to_string());
        save(&path, &tensors, &meta).unwrap();

        let (loaded, loaded_meta) = load(&path).unwrap();
        assert_eq!(loaded_meta, meta);
        let mut expected = tensors.clone();
        expected.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(loaded, expected);

        // Saving again replaces the file.
        save(&path, &tensors[..1], &no_meta()).unwrap();
        let (loaded, loaded_meta) = load(&path).unwrap();
        assert_eq!(loaded.len(), 1);
        assert!(loaded_meta.is_empty());
    }

    #[test]
    fn file_layout_is_standard_safetensors() {
        let dir = TempDir::new("st-layout");
        let path = dir.path().join("w.safetensors");
        let t = NamedTensor::new("a", vec![2], Dtype::F16, vec![1.0, -2.0]);
        let mut meta = BTreeMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        save(&path, &[t], &meta).unwrap();

        let bytes = fs::read(&path).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0, "header is padded to 8 bytes");
        let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
        assert!(header.contains(r#""__metadata__":{"format":"pt"}"#), "{header}");
        assert!(header.contains(r#""a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}"#), "{header}");
        // f16 1.0 = 0x3C00 and -2.0 = 0xC000, little-endian.
        assert_eq!(&bytes[8 + n..], &[0x00, 0x3C, 0x00, 0xC0]);
    }

    /// Builds a safetensors file by hand, the way other tools write them.
    fn hand_built(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn reads_a_file_written_by_another_tool() {
        let dir = TempDir::new("st-foreign");
        let path = dir.path().join("foreign.safetensors");
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        fs::write(&path, hand_built(r#"{"test":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#, &data)).unwrap();
        let (t, meta) = load(&path).unwrap();
        assert!(meta.is_empty());
        assert_eq!(t, vec![NamedTensor::new("test", vec![2, 2], Dtype::F32, vec![1.0, 2.0, 3.0, 4.0])]);
    }

    #[test]
    fn unsupported_dtype_is_reported() {
        let dir = TempDir::new("st-i64");
        let path = dir.path().join("ints.safetensors");
        fs::write(&path, hand_built(r#"{"step":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, &[0; 8])).unwrap();
        let e = load(&path).unwrap_err();
        assert_eq!(e.io_kind(), Some(IoErrorKind::Invalid));
        let msg = e.to_string();
        assert!(msg.contains("ints.safetensors") && msg.contains("tensor 'step' has dtype I64"), "{msg}");
    }

    #[test]
    fn missing_file() {
        let dir = TempDir::new("st-missing");
        let path = dir.path().join("nope.safetensors");
        let e = load(&path).unwrap_err();
        assert_eq!(e.io_kind(), Some(IoErrorKind::NotFound));
        assert_eq!(e.to_string(), format!("weights file {}: cannot read: no such file", path.display()));
    }

    fn assert_corrupt(dir: &TempDir, name: &str, bytes: &[u8]) {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        let e = load(&path).unwrap_err();
        assert_eq!(e.io_kind(), Some(IoErrorKind::Corrupt), "{name}: {e}");
        let msg = e.to_string();
        assert!(msg.contains(name) && msg.contains("not a valid safetensors file"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn corrupt_files() {
        let dir = TempDir::new("st-corrupt");
        // Pseudo-random bytes (a fixed linear congruential sequence).
        let mut x: u32 = 12345;
        let random: Vec<u8> = (0..4096)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        assert_corrupt(&dir, "random.safetensors", &random);
        assert_corrupt(&dir, "empty.safetensors", &[]);
        assert_corrupt(&dir, "tiny.safetensors", &[1, 2, 3]);

        // A valid file cut short: in the header, and in the data.
        let path = dir.path().join("good.safetensors");
        let t = NamedTensor::new("w", vec![4, 4], Dtype::F32, vec![0.5; 16]);
        save(&path, &[t], &no_meta()).unwrap();
        let good = fs::read(&path).unwrap();
        assert_corrupt(&dir, "cut-header.safetensors", &good[..20]);
        assert_corrupt(&dir, "cut-data.safetensors", &good[..good.len() - 4]);

        // A header that is not JSON, and one whose offsets do not match.
        assert_corrupt(&dir, "not-json.safetensors", &hand_built("{not json}      ", &[]));
        assert_corrupt(
            &dir,
            "bad-offsets.safetensors",
            &hand_built(r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, &[0; 4]),
        );
    }

    #[test]
    fn save_rejects_bad_input_and_keeps_the_old_file() {
        let dir = TempDir::new("st-bad-save");
        let path = dir.path().join("keep.safetensors");
        let good = NamedTensor::new("w", vec![2], Dtype::F32, vec![1.0, 2.0]);
        save(&path, std::slice::from_ref(&good), &no_meta()).unwrap();
        let before = fs::read(&path).unwrap();

        let wrong_len = NamedTensor::new("layer1.weight", vec![2, 3], Dtype::F32, vec![0.0; 5]);
        let e = save(&path, &[wrong_len], &no_meta()).unwrap_err();
        assert_eq!(e.io_kind(), Some(IoErrorKind::InvalidInput));
        assert_eq!(
            e.to_string(),
            format!(
                "weights file {}: cannot save: tensor 'layer1.weight' has shape [2, 3] (6 values) but 5 values were given",
                path.display()
            )
        );

        let e = save(&path, &[good.clone(), good.clone()], &no_meta()).unwrap_err();
        assert_eq!(e.io_kind(), Some(IoErrorKind::InvalidInput));
        assert!(e.io_detail().contains("two tensors are named 'w'"), "{e}");

        let reserved = NamedTensor::new("__metadata__", vec![1], Dtype::F32, vec![0.0]);
        let e = save(&path, &[reserved], &no_meta()).unwrap_err();
        assert_eq!(e.io_kind(), Some(IoErrorKind::InvalidInput));

        assert_eq!(fs::read(&path).unwrap(), before);
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "keep.safetensors")
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    fn model() -> Vec<NamedTensor> {
        vec![
            NamedTensor::new("layer1.weight", vec![10, 3], Dtype::F32, vec![0.0; 30]),
            NamedTensor::new("layer1.bias", vec![10], Dtype::F32, vec![0.0; 10]),
        ]
    }

    #[test]
    fn expect_shapes_accepts_matching_and_ignores_extra() {
        expect_shapes(&model(), &[("layer1.bias", &[10]), ("layer1.weight", &[10, 3])]).unwrap();
        expect_shapes(&model(), &[("layer1.bias", &[10])]).unwrap();
        expect_shapes(&model(), &[]).unwrap();
    }

    #[test]
    fn expect_shapes_reports_wrong_shape() {
        let e = expect_shapes(&model(), &[("layer1.weight", &[10, 4])]).unwrap_err();
        assert_eq!(e.io_kind(), Some(IoErrorKind::ShapeMismatch));
        assert_eq!(e.to_string(), "weights: tensor 'layer1.weight' has shape [10, 3], expected [10, 4]");
        let e = e.with_path(Path::new("/tmp/model.safetensors"));
        assert_eq!(
            e.to_string(),
            "weights file /tmp/model.safetensors: tensor 'layer1.weight' has shape [10, 3], expected [10, 4]"
        );
    }

    #[test]
    fn expect_shapes_reports_missing_and_all_problems() {
        let e = expect_shapes(&model(), &[("layer2.bias", &[5])]).unwrap_err();
        assert_eq!(e.io_kind(), Some(IoErrorKind::MissingTensor));
        assert_eq!(e.io_detail(), "missing tensor 'layer2.bias'");

        let e = expect_shapes(&model(), &[("layer1.bias", &[10]), ("layer1.weight", &[3, 10]), ("layer2.bias", &[5])])
            .unwrap_err();
        assert_eq!(e.io_kind(), Some(IoErrorKind::ShapeMismatch));
        assert_eq!(
            e.io_detail(),
            "tensor 'layer1.weight' has shape [10, 3], expected [3, 10]; missing tensor 'layer2.bias'"
        );
    }

    #[test]
    fn expect_shapes_after_load() {
        let dir = TempDir::new("st-expect-load");
        let path = dir.path().join("m.safetensors");
        save(&path, &model(), &no_meta()).unwrap();
        let (tensors, _) = load(&path).unwrap();
        let e = expect_shapes(&tensors, &[("layer1.weight", &[10, 4])]).map_err(|e| e.with_path(&path)).unwrap_err();
        assert!(e.to_string().starts_with(&format!("weights file {}: tensor 'layer1.weight'", path.display())));
    }
}
