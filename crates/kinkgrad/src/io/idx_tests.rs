//! Tests of the IDX reader and writer (`super` is `io::idx`).

use super::super::testutil::TempDir;
use super::*;
use std::fs;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A hand-built u8 IDX file: dims [2, 3], values 1..=6.
fn u8_bytes() -> Vec<u8> {
    vec![0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]
}

/// A hand-built f32 IDX file: dims [2], values 1.5 and -2.0.
fn f32_bytes() -> Vec<u8> {
    vec![0, 0, 0x0D, 1, 0, 0, 0, 2, 0x3F, 0xC0, 0, 0, 0xC0, 0, 0, 0]
}

fn u8_array() -> IdxArray {
    IdxArray { dims: vec![2, 3], data: IdxData::U8(vec![1, 2, 3, 4, 5, 6]) }
}

fn f32_array() -> IdxArray {
    IdxArray { dims: vec![2], data: IdxData::F32(vec![1.5, -2.0]) }
}

fn read_err(dir: &TempDir, name: &str, bytes: &[u8]) -> crate::Error {
    let path = dir.path().join(name);
    fs::write(&path, bytes).unwrap();
    let e = read_idx(&path).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(name), "error does not name the file: {msg}");
    assert!(!msg.contains('\n'), "error is not one line: {msg}");
    assert!(matches!(&e, crate::Error::Io { path: p, .. } if *p == path.display().to_string()), "{e:?}");
    e
}

#[test]
fn reads_hand_built_u8_and_f32_raw_and_gzip() {
    let dir = TempDir::new("idx-read");
    for (name, bytes, expected) in [("u8.idx", u8_bytes(), u8_array()), ("f32.idx", f32_bytes(), f32_array())] {
        let raw = dir.path().join(name);
        fs::write(&raw, &bytes).unwrap();
        assert_eq!(read_idx(&raw).unwrap(), expected);

        let gz = dir.path().join(format!("{name}.gz"));
        fs::write(&gz, gzip(&bytes)).unwrap();
        assert_eq!(read_idx(&gz).unwrap(), expected);
    }
}

#[test]
fn gzip_is_detected_by_content_not_name() {
    let dir = TempDir::new("idx-detect");
    let gz_named_plain = dir.path().join("plain-name");
    fs::write(&gz_named_plain, gzip(&u8_bytes())).unwrap();
    assert_eq!(read_idx(&gz_named_plain).unwrap(), u8_array());

    let raw_named_gz = dir.path().join("looks-compressed.gz");
    fs::write(&raw_named_gz, u8_bytes()).unwrap();
    assert_eq!(read_idx(&raw_named_gz).unwrap(), u8_array());
}

#[test]
fn writes_exact_big_endian_bytes() {
    assert_eq!(encode_idx(&u8_array()).unwrap(), u8_bytes());
    assert_eq!(encode_idx(&f32_array()).unwrap(), f32_bytes());

    let dir = TempDir::new("idx-write");
    let raw = dir.path().join("a.idx");
    write_idx(&raw, &f32_array(), false).unwrap();
    assert_eq!(fs::read(&raw).unwrap(), f32_bytes());

    let gz = dir.path().join("a.idx.gz");
    write_idx(&gz, &f32_array(), true).unwrap();
    let on_disk = fs::read(&gz).unwrap();
    assert_eq!(&on_disk[..2], &GZIP_MAGIC);
    let mut plain = Vec::new();
    MultiGzDecoder::new(&on_disk[..]).read_to_end(&mut plain).unwrap();
    assert_eq!(plain, f32_bytes());
    assert_eq!(read_idx(&gz).unwrap(), f32_array());
}

#[test]
fn round_trips_every_type_raw_and_gzip() {
    let dir = TempDir::new("idx-roundtrip");
    let arrays = [
        IdxArray { dims: vec![3, 2], data: IdxData::U8(vec![0, 1, 127, 128, 254, 255]) },
        IdxArray { dims: vec![4], data: IdxData::I8(vec![-128, -1, 0, 127]) },
        IdxArray { dims: vec![2, 2], data: IdxData::I16(vec![i16::MIN, -2, 300, i16::MAX]) },
        IdxArray { dims: vec![1, 3], data: IdxData::I32(vec![i32::MIN, 70_000, i32::MAX]) },
        IdxArray { dims: vec![2, 1, 2], data: IdxData::F32(vec![0.1, -0.0, f32::MAX, f32::INFINITY]) },
        IdxArray { dims: vec![3], data: IdxData::F64(vec![std::f64::consts::PI, -1e-300, 1e300]) },
        IdxArray { dims: vec![0, 28, 28], data: IdxData::U8(vec![]) },
        IdxArray { dims: vec![], data: IdxData::F64(vec![42.0]) },
    ];
    for (i, arr) in arrays.iter().enumerate() {
        for gz in [false, true] {
            let path = dir.path().join(format!("t{i}-{gz}"));
            write_idx(&path, arr, gz).unwrap();
            assert_eq!(&read_idx(&path).unwrap(), arr, "array {i}, gzip {gz}");
        }
        assert_eq!(&read_idx_bytes(&encode_idx(arr).unwrap()).unwrap(), arr);
    }
}

#[test]
fn i16_bytes_are_big_endian() {
    let arr = IdxArray { dims: vec![1], data: IdxData::I16(vec![0x0102]) };
    assert_eq!(encode_idx(&arr).unwrap(), [0, 0, 0x0B, 1, 0, 0, 0, 1, 1, 2]);
}

#[test]
fn truncated_data_raw_and_gzip() {
    let dir = TempDir::new("idx-trunc");
    let mut bytes = u8_bytes();
    bytes.truncate(bytes.len() - 2);
    for (name, content) in [("t.idx", bytes.clone()), ("t.idx.gz", gzip(&bytes))] {
        let e = read_err(&dir, name, &content);
        assert_eq!(e.io_kind(), Some(IoErrorKind::Truncated), "{e}");
        assert!(e.io_detail().contains("need 6 bytes of data, found 4"), "{e}");
    }
}

#[test]
fn truncated_header() {
    let dir = TempDir::new("idx-trunc-header");
    let e = read_err(&dir, "short", &[0, 0, 8]);
    assert_eq!(e.io_kind(), Some(IoErrorKind::Truncated));
    assert!(e.io_detail().contains("only 3 bytes"), "{e}");

    // Declares 3 dims but holds only one.
    let e = read_err(&dir, "short-dims", &[0, 0, 8, 3, 0, 0, 0, 1]);
    assert_eq!(e.io_kind(), Some(IoErrorKind::Truncated));
    assert!(e.io_detail().contains("3 dims"), "{e}");

    let e = read_err(&dir, "empty", &[]);
    assert_eq!(e.io_kind(), Some(IoErrorKind::Truncated));
}

#[test]
fn bad_magic() {
    let dir = TempDir::new("idx-magic");
    let mut bytes = u8_bytes();
    bytes[0] = 0x01;
    let e = read_err(&dir, "bad.idx", &bytes);
    assert_eq!(e.io_kind(), Some(IoErrorKind::BadMagic));
    assert!(e.io_detail().contains("bad magic"), "{e}");
    assert!(e.io_detail().contains("01 00 08 02"), "{e}");

    let e = read_err(&dir, "text.gz", &gzip(b"hello, world"));
    assert_eq!(e.io_kind(), Some(IoErrorKind::BadMagic));
    assert!(e.io_detail().contains("after gunzip"), "{e}");
}

#[test]
fn unknown_type_byte() {
    let dir = TempDir::new("idx-type");
    let mut bytes = u8_bytes();
    bytes[2] = 0x07;
    let e = read_err(&dir, "type.idx", &bytes);
    assert_eq!(e.io_kind(), Some(IoErrorKind::UnknownType));
    assert!(e.io_detail().contains("0x07"), "{e}");
}

#[test]
fn trailing_bytes_raw_and_gzip() {
    let dir = TempDir::new("idx-trailing");
    let mut bytes = u8_bytes();
    bytes.extend_from_slice(&[9, 9, 9]);
    for (name, content) in [("x.idx", bytes.clone()), ("x.idx.gz", gzip(&bytes))] {
        let e = read_err(&dir, name, &content);
        assert_eq!(e.io_kind(), Some(IoErrorKind::TrailingBytes), "{e}");
        assert!(e.io_detail().contains("expected 6 bytes of data") && e.io_detail().contains("found 9"), "{e}");
    }
}

#[test]
fn dims_overflow() {
    let dir = TempDir::new("idx-overflow");
    let mut bytes = vec![0, 0, 0x0E, 3];
    for _ in 0..3 {
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
    }
    let e = read_err(&dir, "huge.idx", &bytes);
    assert_eq!(e.io_kind(), Some(IoErrorKind::DimsOverflow), "{e}");
}

#[test]
fn huge_dims_over_a_short_file_is_truncated_not_an_allocation() {
    let dir = TempDir::new("idx-bigdims");
    // 4e9 bytes claimed, 2 present.
    let mut bytes = vec![0, 0, 0x08, 1];
    bytes.extend_from_slice(&4_000_000_000u32.to_be_bytes());
    bytes.extend_from_slice(&[1, 2]);
    let e = read_err(&dir, "big.idx", &bytes);
    assert_eq!(e.io_kind(), Some(IoErrorKind::Truncated), "{e}");
    assert!(e.io_detail().contains("found 2"), "{e}");
}

#[test]
fn corrupt_gzip() {
    let dir = TempDir::new("idx-gzip");
    let good = gzip(&u8_bytes());

    // Cut the compressed stream in half.
    let e = read_err(&dir, "cut.gz", &good[..good.len() / 2]);
    assert_eq!(e.io_kind(), Some(IoErrorKind::Gzip), "{e}");
    assert!(e.io_detail().contains("gzip"), "{e}");

    // Damage the CRC in the trailer: only noticed at the end of the stream.
    let mut bad_crc = good.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xFF;
    let e = read_err(&dir, "crc.gz", &bad_crc);
    assert_eq!(e.io_kind(), Some(IoErrorKind::Gzip), "{e}");

    // A gzip header followed by garbage.
    let mut garbage = good[..10].to_vec();
    garbage.extend_from_slice(&[0xFF; 40]);
    let e = read_err(&dir, "garbage.gz", &garbage);
    assert_eq!(e.io_kind(), Some(IoErrorKind::Gzip), "{e}");
}

#[test]
fn missing_file() {
    let dir = TempDir::new("idx-missing");
    let path = dir.path().join("nope-idx3-ubyte");
    let e = read_idx(&path).unwrap_err();
    assert_eq!(e.io_kind(), Some(IoErrorKind::NotFound));
    let msg = e.to_string();
    assert!(msg.contains("nope-idx3-ubyte") && msg.contains("no such file"), "{msg}");
}

#[test]
fn bytes_errors_say_data() {
    let e = read_idx_bytes(&[1, 2, 3, 4]).unwrap_err();
    assert!(matches!(&e, crate::Error::Io { path, .. } if path.is_empty()));
    assert!(e.to_string().starts_with("IDX data: bad magic"), "{e}");
}

#[test]
fn write_rejects_mismatched_data() {
    let dir = TempDir::new("idx-write-bad");
    let path = dir.path().join("bad.idx");
    let arr = IdxArray { dims: vec![2, 3], data: IdxData::U8(vec![1, 2, 3]) };
    let e = write_idx(&path, &arr, false).unwrap_err();
    assert_eq!(e.io_kind(), Some(IoErrorKind::InvalidInput));
    assert!(e.to_string().contains("bad.idx"), "{e}");
    assert!(e.io_detail().contains("need 6 elements but the data has 3"), "{e}");
    assert!(!path.exists());

    let arr = IdxArray { dims: vec![1; 256], data: IdxData::U8(vec![1]) };
    assert_eq!(encode_idx(&arr).unwrap_err().io_kind(), Some(IoErrorKind::DimsOverflow));
}

#[cfg(target_pointer_width = "64")]
#[test]
fn write_rejects_dims_beyond_u32() {
    let arr = IdxArray { dims: vec![1 << 32, 0], data: IdxData::U8(vec![]) };
    assert_eq!(encode_idx(&arr).unwrap_err().io_kind(), Some(IoErrorKind::DimsOverflow));
}
