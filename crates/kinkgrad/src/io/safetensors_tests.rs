//! Tests of the safetensors reader and writer.

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
    let leftovers: Vec<_> =
        fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n != "keep.safetensors").collect();
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

#[test]
fn equal_content_gives_byte_identical_files() {
    // many metadata keys: a hash-map order would differ between calls
    let dir = TempDir::new("st-repro");
    let meta: BTreeMap<String, String> = (0..20).map(|i| (format!("key{i}"), format!("v{i}"))).collect();
    let tensors = vec![
        NamedTensor::new("b", vec![2], Dtype::F32, vec![1.0, 2.0]),
        NamedTensor::new("a", vec![1], Dtype::F64, vec![3.0]),
        NamedTensor::new("c", vec![3], Dtype::F16, vec![1.0, 2.0, 3.0]),
    ];
    let (p1, p2) = (dir.path().join("1.safetensors"), dir.path().join("2.safetensors"));
    save(&p1, &tensors, &meta).unwrap();
    let mut reversed = tensors.clone();
    reversed.reverse();
    save(&p2, &reversed, &meta).unwrap();
    let (b1, b2) = (fs::read(&p1).unwrap(), fs::read(&p2).unwrap());
    assert_eq!(b1, b2);
    // layout by hand: F64 'a' first (8 bytes), then F32 'b' (8), then F16 'c' (6); header padded to 8
    let n = u64::from_le_bytes(b1[..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0);
    let header = std::str::from_utf8(&b1[8..8 + n]).unwrap().trim_end();
    assert!(header.starts_with(r#"{"__metadata__":{"key0":"v0","key1":"v1","key10":"v10""#), "{header}");
    assert!(header.ends_with(
        r#""a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"c":{"dtype":"F16","shape":[3],"data_offsets":[16,22]}}"#
    ), "{header}");
    assert_eq!(b1.len(), 8 + n + 22);
    let (loaded, m) = load(&p1).unwrap();
    assert_eq!(m, meta);
    assert_eq!(loaded[0], tensors[1]);
}

#[test]
fn expect_exact_shapes_names_an_extra_tensor() {
    let e = expect_exact_shapes(&model(), &[("layer1.weight", &[10, 3])]).unwrap_err();
    assert_eq!(e.io_kind(), Some(IoErrorKind::Invalid));
    assert_eq!(e.io_detail(), "unexpected tensor 'layer1.bias'");
    expect_exact_shapes(&model(), &[("layer1.weight", &[10, 3]), ("layer1.bias", &[10])]).unwrap();
}
