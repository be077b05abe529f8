//! Fuzz targets for the readers of untrusted files, as proptest properties with structured
//! generators: valid IDX headers (raw and gzip'd) with mutated fields, safetensors files with
//! mutated headers and metadata read as hybrid weights files, and hybrid data sets with mutated
//! metadata and shapes. The property: every input gives `Ok` or a one-line `Err`, never a panic, an
//! abort or an allocation beyond the file's size and the budget.
//!
//! `cargo test` runs 2 000 cases per target; `KINKGRAD_FUZZ_CASES=100000 cargo test --release -p
//! kinkgrad --test it fuzz_inputs` runs 100 000 (docs/formats.md, "Fuzzing the readers").

use flate2::{write::GzEncoder, Compression};
use kinkgrad::hybrid::{checkpoint, data, HybridModel, SourceForm};
use kinkgrad::io::idx::read_idx_bytes;
use kinkgrad::io::mnist::mnist_from_bytes;
use kinkgrad::limits::Budget;
use proptest::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};

fn cases() -> u32 {
    std::env::var("KINKGRAD_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

/// A file path private to this test thread.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kinkgrad-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}-{:?}", std::thread::current().id()).replace(['(', ')'], ""))
}

fn one_line(e: &kinkgrad::Error) {
    let m = e.to_string();
    assert!(!m.is_empty() && !m.contains('\n'), "not one line: {m:?}");
}

// ---------------------------------------------------------------- IDX and gzip

/// A dimension: mostly small, sometimes the extremes of the field.
fn dim() -> impl Strategy<Value = u32> {
    prop_oneof![8 => 0u32..6, 1 => Just(u32::MAX), 1 => Just(1 << 31), 1 => any::<u32>()]
}

#[derive(Debug, Clone)]
struct IdxCase {
    type_byte: u8,
    dims: Vec<u32>,
    /// Bytes of data relative to what the header needs (negative: truncated).
    data_delta: i64,
    gzip: bool,
    /// Replace the two zero magic bytes.
    magic: Option<[u8; 2]>,
}

fn idx_case() -> impl Strategy<Value = IdxCase> {
    (
        prop_oneof![6 => prop::sample::select(vec![0x08u8, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]), 1 => any::<u8>()],
        prop::collection::vec(dim(), 0..5),
        prop_oneof![6 => Just(0i64), 2 => -8i64..8, 1 => Just(-1_000_000), 1 => Just(1_000_000)],
        any::<bool>(),
        prop_oneof![9 => Just(None), 1 => any::<[u8; 2]>().prop_map(Some)],
    )
        .prop_map(|(type_byte, dims, data_delta, gzip, magic)| IdxCase {
            type_byte,
            dims,
            data_delta,
            gzip,
            magic,
        })
}

fn idx_bytes(c: &IdxCase) -> Vec<u8> {
    let elem = match c.type_byte {
        0x0B => 2,
        0x0C | 0x0D => 4,
        0x0E => 8,
        _ => 1,
    };
    let mut out = vec![0, 0, c.type_byte, c.dims.len() as u8];
    if let Some(m) = c.magic {
        out[..2].copy_from_slice(&m);
    }
    for d in &c.dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    // the data the header asks for, capped (a huge header is written with a short body: the
    // reader must not trust it)
    let need = c.dims.iter().try_fold(elem as u64, |a, &d| a.checked_mul(d as u64)).unwrap_or(u64::MAX);
    let len = (need.min(1 << 16) as i64 + c.data_delta).clamp(0, 1 << 20) as usize;
    out.extend((0..len).map(|i| (i % 7) as u8));
    if c.gzip {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(&out).unwrap();
        // a bomb: a header over a long run of zeros compresses to almost nothing
        if c.data_delta == 1_000_000 {
            enc.write_all(&vec![0u8; 4 << 20]).unwrap();
        }
        enc.finish().unwrap()
    } else {
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn idx_readers_never_panic(c in idx_case(), labels in idx_case()) {
        let bytes = idx_bytes(&c);
        match read_idx_bytes(&bytes) {
            Ok(a) => {
                let n: usize = a.dims.iter().product();
                prop_assert_eq!(n, a.data.len());
            }
            Err(e) => one_line(&e),
        }
        let (img, lbl) = (Path::new("img"), Path::new("lbl"));
        if let Err(e) = mnist_from_bytes(&bytes, &idx_bytes(&labels), img, lbl) {
            one_line(&e);
        }
    }
}

// ---------------------------------------------------------------- safetensors checkpoints

#[derive(Debug, Clone)]
struct StTensor {
    name: String,
    dtype: String,
    shape: Vec<u64>,
    /// Bytes of data written for it, relative to what the shape needs.
    delta: i64,
}

fn dtype_size(d: &str) -> u64 {
    match d {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" => 4,
        "F16" | "BF16" => 2,
        _ => 1,
    }
}

/// A safetensors file, written by hand so that its header can say anything.
fn st_bytes(tensors: &[StTensor], meta: &[(String, String)], offset_shift: i64) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if !meta.is_empty() {
        let m: serde_json::Map<String, serde_json::Value> =
            meta.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        header.insert("__metadata__".into(), m.into());
    }
    let mut data = Vec::new();
    for t in tensors {
        let need = t.shape.iter().try_fold(dtype_size(&t.dtype), |a, &d| a.checked_mul(d)).unwrap_or(u64::MAX);
        let len = (need.min(1 << 14) as i64 + t.delta).clamp(0, 1 << 16) as u64;
        let start = data.len() as u64;
        data.extend((0..len).map(|i| (i * 31 % 251) as u8));
        let end = (data.len() as i64 + offset_shift).max(0) as u64;
        header.insert(
            t.name.clone(),
            serde_json::json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": [start, end]}),
        );
    }
    let h = serde_json::Value::Object(header).to_string();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(&data);
    out
}

fn hostile_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("1".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551615".to_string()),
        Just("100000".to_string()),
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("1e308".to_string()),
        Just("alpha".to_string()),
        Just("state".to_string()),
        Just("line\nbreak".to_string()),
        Just(String::new()),
        "[a-z0-9.\\-]{0,12}",
    ]
}

/// A hybrid weights file of width 4 as the saver writes it, with fields mutated.
fn checkpoint_case() -> impl Strategy<Value = (Vec<StTensor>, Vec<(String, String)>, i64)> {
    let m = HybridModel::new(SourceForm::Alpha, 4, 0).unwrap();
    let tensors: Vec<StTensor> = m
        .net
        .param_names
        .iter()
        .zip(&m.net.params)
        .map(|(n, p)| StTensor {
            name: n.clone(),
            dtype: "F64".into(),
            shape: p.shape().iter().map(|&d| d as u64).collect(),
            delta: 0,
        })
        .collect();
    let meta: Vec<(String, String)> = [
        ("format", "kinkgrad-weights-1"),
        ("model", "hybrid"),
        ("source", "alpha"),
        ("params", "2"),
        ("sizes", "4,4,4,1"),
        ("dtype", "F64"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let n_t = tensors.len();
    let n_m = meta.len();
    (
        prop::collection::vec((0..n_t, 0usize..4, any::<u32>(), -3i64..3), 0..4),
        prop::collection::vec((0..n_m, hostile_value()), 0..3),
        prop_oneof![8 => Just(0i64), 1 => -16i64..16, 1 => Just(1 << 40)],
        any::<bool>(),
    )
        .prop_map(move |(tmut, mmut, shift, drop_one)| {
            let (mut t, mut m) = (tensors.clone(), meta.clone());
            for (i, what, v, delta) in tmut {
                match what {
                    0 => t[i].dtype = ["F32", "F16", "BF16", "I64", "U8", "XX"][v as usize % 6].into(),
                    1 => {
                        let dims = t[i].shape.len().max(1);
                        let d = v as usize % dims;
                        if d < t[i].shape.len() {
                            t[i].shape[d] = [0, 1, 5, u32::MAX as u64, u64::MAX][v as usize % 5];
                        }
                    }
                    2 => t[i].delta = delta,
                    _ => t[i].name = format!("{}\n", t[i].name),
                }
            }
            for (i, v) in mmut {
                m[i].1 = v;
            }
            if drop_one && !t.is_empty() {
                t.pop();
            }
            (t, m, shift)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn hybrid_checkpoints_never_panic((tensors, meta, shift) in checkpoint_case()) {
        let path = scratch("ckpt.safetensors");
        std::fs::write(&path, st_bytes(&tensors, &meta, shift)).unwrap();
        match checkpoint::load_weights(&path, SourceForm::Alpha, 2, &Budget::default()) {
            Ok(m) => {
                prop_assert_eq!(m.net.params.last().unwrap().len(), 1);
                prop_assert!(m.net.params.iter().all(|p| p.data().iter().all(|v| v.is_finite())));
            }
            Err(e) => one_line(&e),
        }
    }
}

// ---------------------------------------------------------------- hybrid data sets

fn dataset_case() -> impl Strategy<Value = (Vec<StTensor>, Vec<(String, String)>)> {
    let (s, n) = (5u64, 8u64);
    let tensors = vec![
        StTensor { name: "alpha".into(), dtype: "F64".into(), shape: vec![s, 2], delta: 0 },
        StTensor { name: "beta".into(), dtype: "F64".into(), shape: vec![s, n], delta: 0 },
        StTensor { name: "gamma".into(), dtype: "F64".into(), shape: vec![s, n], delta: 0 },
    ];
    let meta: Vec<(String, String)> = [
        ("scheme", "upwind"),
        ("courant", "0.5"),
        ("steps", "4"),
        ("velocity", "1"),
        ("source", "alpha"),
        ("n_train", "4"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    (
        prop::collection::vec(
            (0usize..3, 0usize..2, prop::sample::select(vec![0u64, 1, 2, 3, 9, u32::MAX as u64, u64::MAX])),
            0..3,
        ),
        prop::collection::vec((0usize..6, hostile_value()), 0..3),
    )
        .prop_map(move |(tmut, mmut)| {
            let (mut t, mut m) = (tensors.clone(), meta.clone());
            for (i, d, v) in tmut {
                t[i].shape[d] = v;
            }
            for (i, v) in mmut {
                m[i].1 = v;
            }
            (t, m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn hybrid_data_sets_never_panic((tensors, meta) in dataset_case()) {
        let path = scratch("data.safetensors");
        std::fs::write(&path, st_bytes(&tensors, &meta, 0)).unwrap();
        match data::load(&path, &Budget::default()) {
            Ok(d) => {
                prop_assert!(d.steps >= 1 && d.n_train >= 1 && d.n_train <= d.len());
                prop_assert_eq!(d.beta.len(), d.len());
            }
            Err(e) => one_line(&e),
        }
    }
}

/// Regression corpus: the failures the targets above found (fixed by escaping control characters
/// in every error message and naming the file in a checkpoint's bad `form`).
#[test]
fn found_by_fuzzing() {
    let s = StTensor { name: "alpha".into(), dtype: "F64".into(), shape: vec![5, 2], delta: 0 };
    let b = StTensor { name: "beta".into(), dtype: "F64".into(), shape: vec![5, 8], delta: 0 };
    let g = StTensor { name: "gamma".into(), ..b.clone() };
    let meta = |k: &str, v: &str| -> Vec<(String, String)> {
        [
            ("scheme", "upwind"),
            ("courant", "0.5"),
            ("steps", "4"),
            ("velocity", "1"),
            ("source", "alpha"),
            ("n_train", "4"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), if *a == k { v.to_string() } else { b.to_string() }))
        .collect()
    };
    let path = scratch("found.safetensors");
    for (k, v) in [("scheme", "line\nbreak"), ("courant", "line\nbreak")] {
        std::fs::write(&path, st_bytes(&[s.clone(), b.clone(), g.clone()], &meta(k, v), 0)).unwrap();
        let e = data::load(&path, &Budget::default()).unwrap_err().to_string();
        assert!(e.contains("line\\nbreak") && !e.contains('\n'), "{e}");
    }
    let m = HybridModel::new(SourceForm::Alpha, 4, 0).unwrap();
    checkpoint::save_weights(&path, &m).unwrap();
    let (t, mut md) = kinkgrad::io::safetensors_io::load(&path).unwrap();
    md.insert("source".into(), "line\nbreak".into());
    kinkgrad::io::safetensors_io::save(&path, &t, &md).unwrap();
    let e = checkpoint::load_weights(&path, SourceForm::Alpha, 2, &Budget::default()).unwrap_err().to_string();
    assert!(e.contains("found.safetensors") && e.contains("line\\nbreak") && !e.contains('\n'), "{e}");
}
