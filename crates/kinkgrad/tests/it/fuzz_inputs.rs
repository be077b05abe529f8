//! Fuzz targets for the readers of untrusted files, as proptest properties with structured
//! generators: valid IDX headers (raw and gzip'd) with mutated fields, safetensors files with
//! mutated headers and metadata read as hybrid weights files, and hybrid data sets with mutated
//! metadata and shapes, read from safetensors and from `.npz` archives (edited bytes, zip fields
//! with hostile sizes, offsets and zip64 values, random bytes). The property: every input gives
//! `Ok` or a one-line `Err`, never a panic, an abort or an allocation beyond the file's size and the
//! budget (the `.npz` targets use a 1 MiB budget against declared sizes up to 2^64 - 1).
//!
//! `cargo test` runs 2 000 cases per target; `KINKGRAD_FUZZ_CASES=100000 cargo test --release -p
//! kinkgrad --test it fuzz_inputs` runs 100 000 (docs/formats.md, "Fuzzing the readers").

use flate2::{write::GzEncoder, Compression};
use kinkgrad::hybrid::{checkpoint, data, HybridModel, SourceForm};
use kinkgrad::io::idx::read_idx_bytes;
use kinkgrad::io::mnist::mnist_from_bytes;
use kinkgrad::io::npy;
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

// ---------------------------------------------------------------- hybrid data sets as .npz

/// The members of a valid `.npz` data set (S = 5 samples, P = 2, N = 8 cells) as `numpy.savez` writes
/// them (docs/formats.md, "Hybrid data sets"): arrays as `<f8` `.npy` files, numbers as 0-d arrays,
/// words as NumPy strings.
fn npz_members() -> Vec<(String, Vec<u8>)> {
    let arr = |shape: &[usize]| {
        let len: usize = shape.iter().product();
        npy::npy_bytes(shape, &(0..len).map(|i| 0.5 + 0.01 * i as f64).collect::<Vec<_>>())
    };
    let num = |x: f64| npy::npy_bytes(&[], &[x]);
    vec![
        ("alpha".into(), arr(&[5, 2])),
        ("beta".into(), arr(&[5, 8])),
        ("gamma".into(), arr(&[5, 8])),
        ("scheme".into(), npy::npy_text_bytes("upwind")),
        ("source".into(), npy::npy_text_bytes("alpha")),
        ("courant".into(), num(0.5)),
        ("steps".into(), num(4.0)),
        ("velocity".into(), num(1.0)),
        ("n_train".into(), num(4.0)),
    ]
}

/// A 32-bit zip field: mostly the extremes and the values that switch to zip64.
fn hostile_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        prop::sample::select(vec![0u32, 1, 22, 46, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF]),
        any::<u32>()
    ]
}

/// A 64-bit zip64 value: the extremes, values that overflow an offset plus a record's length, and
/// sizes far above the budget.
fn hostile_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        prop::sample::select(vec![0u64, 1, 30, 1 << 32, 1 << 40, u64::MAX / 2, u64::MAX - 45, u64::MAX - 3, u64::MAX]),
        any::<u64>()
    ]
}

/// Edits of an archive's bytes: a byte, a 16-bit or 32-bit little-endian field overwritten, bytes
/// inserted or deleted, the file cut short.
#[derive(Debug, Clone)]
enum Edit {
    Byte(prop::sample::Index, u8),
    U16(prop::sample::Index, u16),
    U32(prop::sample::Index, u32),
    Insert(prop::sample::Index, Vec<u8>),
    Delete(prop::sample::Index, usize),
    Cut(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<prop::sample::Index>;
    prop_oneof![
        (at(), any::<u8>()).prop_map(|(i, b)| Edit::Byte(i, b)),
        (at(), prop::sample::select(vec![0u16, 1, 8, 99, 0xFFFF])).prop_map(|(i, v)| Edit::U16(i, v)),
        (at(), hostile_u32()).prop_map(|(i, v)| Edit::U32(i, v)),
        (at(), prop::collection::vec(any::<u8>(), 1..9)).prop_map(|(i, v)| Edit::Insert(i, v)),
        (at(), 1usize..9).prop_map(|(i, n)| Edit::Delete(i, n)),
        at().prop_map(Edit::Cut),
    ]
}

fn apply(mut b: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = b.len();
        match e {
            Edit::Byte(i, v) if n > 0 => b[i.index(n)] = *v,
            Edit::U16(i, v) if n >= 2 => {
                let at = i.index(n - 1);
                b[at..at + 2].copy_from_slice(&v.to_le_bytes());
            }
            Edit::U32(i, v) if n >= 4 => {
                let at = i.index(n - 3);
                b[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
            Edit::Insert(i, v) => {
                let at = i.index(n + 1);
                b.splice(at..at, v.iter().copied());
            }
            Edit::Delete(i, k) if n > 0 => {
                let at = i.index(n);
                b.drain(at..(at + k).min(n));
            }
            Edit::Cut(i) => b.truncate(i.index(n + 1)),
            _ => {}
        }
    }
    b
}

/// A one-member archive written field by field: the central record's sizes and offset (any of
/// them 0xFFFFFFFF takes its value from a zip64 extra field), its compression method, and
/// optionally a zip64 end record, all from the hostile values above; the member is a valid `.npy`.
#[derive(Debug, Clone)]
struct ZipCase {
    method: u16,
    sizes: [u32; 3],
    zip64: Vec<u64>,
    entries: u16,
    cd_off: Option<u32>,
    zip64_end: Option<(u64, u64, u64)>,
}

fn zip_case() -> impl Strategy<Value = ZipCase> {
    (
        prop::sample::select(vec![0u16, 8, 12]),
        [hostile_u32(), hostile_u32(), hostile_u32()],
        prop::collection::vec(hostile_u64(), 0..4),
        prop::sample::select(vec![1u16, 0, 2, 0xFFFF]),
        prop::option::weighted(0.2, hostile_u32()),
        prop::option::weighted(0.3, (hostile_u64(), hostile_u64(), hostile_u64())),
    )
        .prop_map(|(method, sizes, zip64, entries, cd_off, zip64_end)| ZipCase {
            method,
            sizes,
            zip64,
            entries,
            cd_off,
            zip64_end,
        })
}

fn zip_bytes(c: &ZipCase) -> Vec<u8> {
    let body = npy::npy_bytes(&[2], &[1.5, -2.0]);
    let name = b"alpha.npy";
    let le16 = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
    let le32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
    let mut b = b"PK\x03\x04".to_vec();
    for x in [20u16, 0, c.method, 0, 0x21] {
        le16(&mut b, x);
    }
    for x in [0u32, c.sizes[0], c.sizes[1]] {
        le32(&mut b, x);
    }
    le16(&mut b, name.len() as u16);
    le16(&mut b, 0);
    b.extend_from_slice(name);
    b.extend_from_slice(&body);
    let cd = b.len() as u32;
    let mut extra = Vec::new();
    if !c.zip64.is_empty() {
        le16(&mut extra, 1);
        le16(&mut extra, 8 * c.zip64.len() as u16);
        for v in &c.zip64 {
            extra.extend_from_slice(&v.to_le_bytes());
        }
    }
    b.extend_from_slice(b"PK\x01\x02");
    for x in [20u16, 20, 0, c.method, 0, 0x21] {
        le16(&mut b, x);
    }
    for x in [0u32, c.sizes[0], c.sizes[1]] {
        le32(&mut b, x);
    }
    for x in [name.len() as u16, extra.len() as u16, 0, 0, 0] {
        le16(&mut b, x);
    }
    le32(&mut b, 0);
    le32(&mut b, c.sizes[2]);
    b.extend_from_slice(name);
    b.extend_from_slice(&extra);
    let cd_len = b.len() as u32 - cd;
    if let Some((at, entries, off)) = c.zip64_end {
        // zip64 end record (entries at +32, directory offset at +48), then its locator (record at +8)
        let z = b.len() as u64;
        b.extend_from_slice(b"PK\x06\x06");
        b.extend_from_slice(&[0; 28]);
        b.extend_from_slice(&entries.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&off.to_le_bytes());
        b.extend_from_slice(b"PK\x06\x07");
        le32(&mut b, 0);
        b.extend_from_slice(&(if at % 2 == 0 { z } else { at }).to_le_bytes());
        le32(&mut b, 1);
    }
    b.extend_from_slice(b"PK\x05\x06");
    b.extend_from_slice(&[0; 4]);
    le16(&mut b, c.entries);
    le16(&mut b, c.entries);
    le32(&mut b, cd_len);
    le32(&mut b, c.cd_off.unwrap_or(cd));
    le16(&mut b, 0);
    b
}

/// The budget of the `.npz` targets: far below what the hostile sizes declare.
fn small_budget() -> Budget {
    Budget { max_bytes: 1 << 20, ..Budget::default() }
}

/// A scratch path private to this test thread that ends in `.npz` (the loader chooses the reader by
/// the extension).
fn scratch_npz(stem: &str) -> PathBuf {
    scratch(stem).with_extension("npz")
}

/// `bytes` as a data set file `.npz`: `Ok` with a consistent data set, or a one-line error.
fn load_npz_data(bytes: &[u8]) -> Result<(), TestCaseError> {
    let path = scratch_npz("data");
    std::fs::write(&path, bytes).unwrap();
    match data::load(&path, &small_budget()) {
        Ok(d) => {
            prop_assert!(d.steps >= 1 && d.n_train >= 1 && d.n_train <= d.len());
            prop_assert_eq!(d.beta.len(), d.len());
        }
        Err(e) => one_line(&e),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// A valid data set archive with up to four byte-level edits.
    #[test]
    fn npz_data_sets_never_panic(edits in prop::collection::vec(edit(), 0..5)) {
        let bytes = npy::npz_from_members(&npz_members()).unwrap();
        load_npz_data(&apply(bytes, &edits))?;
    }

    /// Archives built field by field with hostile sizes, offsets, zip64 values and methods.
    #[test]
    fn npz_zip_fields_never_panic(c in zip_case(), edits in prop::collection::vec(edit(), 0..2)) {
        let bytes = apply(zip_bytes(&c), &edits);
        load_npz_data(&bytes)?;
        // the archive reader alone, which the data set loader's checks do not shadow
        let path = scratch_npz("raw");
        std::fs::write(&path, &bytes).unwrap();
        if let Err(e) = npy::load_npz(&path, 1 << 20) {
            one_line(&e);
        }
    }

    /// Random bytes, half of them ending in an end-of-central-directory record's signature.
    #[test]
    fn npz_random_bytes_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..400), eocd in any::<bool>()) {
        if eocd {
            bytes.extend_from_slice(b"PK\x05\x06");
            bytes.extend_from_slice(&[0; 18]);
        }
        load_npz_data(&bytes)?;
    }
}

/// The archives the `.npz` targets start from are valid: the data set loads with the values written
/// (S = 5 samples, N = 8 cells, 4 of them for training, 4 steps), and the field-by-field archive with
/// honest fields reads back its one member.
#[test]
fn npz_fuzz_seeds_are_valid() {
    let path = scratch_npz("seed");
    std::fs::write(&path, npy::npz_from_members(&npz_members()).unwrap()).unwrap();
    let d = data::load(&path, &small_budget()).unwrap();
    assert_eq!((d.len(), d.beta[0].len(), d.n_train, d.steps), (5, 8, 4, 4));
    let honest = ZipCase { method: 0, sizes: [0, 0, 0], zip64: vec![], entries: 1, cd_off: None, zip64_end: None };
    let body_len = npy::npy_bytes(&[2], &[1.5, -2.0]).len() as u32;
    let honest = ZipCase { sizes: [body_len, body_len, 0], ..honest };
    std::fs::write(&path, zip_bytes(&honest)).unwrap();
    let a = npy::load_npz(&path, 1 << 20).unwrap();
    assert_eq!((a.len(), a[0].name.as_str(), &a[0].data[..]), (1, "alpha", &[1.5, -2.0][..]));
}

/// Regression corpus of the `.npz` targets: offsets near 2^64 in zip64 fields (the end record's
/// location, the central directory's offset, a member's local header) overflowed an addition in the
/// archive reader (`io/npy.rs`); each is now the error its record's check gives.
#[test]
fn npz_offsets_near_the_end_of_memory_are_errors() {
    let body_len = npy::npy_bytes(&[2], &[1.5, -2.0]).len() as u32;
    let honest =
        ZipCase { method: 0, sizes: [body_len, body_len, 0], zip64: vec![], entries: 1, cd_off: None, zip64_end: None };
    let path = scratch_npz("near-end");
    let cases = [
        // the locator names the zip64 end record at 2^64 - 3 (an odd value is used as given)
        (
            ZipCase { entries: 0xFFFF, zip64_end: Some((u64::MAX - 2, 1, 0)), ..honest.clone() },
            "malformed zip64 end-of-central-directory record",
        ),
        // an honest zip64 end record whose directory offset is 2^64 - 2
        (
            ZipCase { entries: 0xFFFF, zip64_end: Some((0, 1, u64::MAX - 1)), ..honest.clone() },
            "malformed zip central directory",
        ),
        // the member's local header offset, 0xFFFFFFFF in the record, is 2^64 - 4 in its zip64 field
        (
            ZipCase { sizes: [body_len, body_len, u32::MAX], zip64: vec![u64::MAX - 3], ..honest.clone() },
            "member 'alpha.npy': malformed local header",
        ),
    ];
    for (c, want) in cases {
        std::fs::write(&path, zip_bytes(&c)).unwrap();
        let e = npy::load_npz(&path, 1 << 20).unwrap_err().to_string();
        assert!(e.contains(want), "{c:?}: {e}");
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
