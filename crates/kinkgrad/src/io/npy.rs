//! NumPy files: `.npy` (one array) and `.npz` (a zip archive of `.npy` members, as `numpy.savez` and
//! `numpy.savez_compressed` write them), read and written without Python.
//!
//! Read: little-endian `f8`, `f4`, `i8`, `i4` (converted to `f64`; integers beyond 2^53 are refused),
//! and strings (`<Uk`, `|Sk`: each element becomes its `k` code points, an extra trailing axis of
//! length `k`, NUL-padded; [`Array::text`] decodes them), C order, any number of dimensions; `.npz` members stored or deflated, zip64 sizes understood.
//! Written: `f8` little-endian C order (`.npy` format 1.0), `.npz` members stored, with a fixed
//! timestamp, so that equal arrays give byte-identical files. Every write goes through
//! [`super::atomic::write_atomic`].

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// A named array read from or written to a NumPy file.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Name (the `.npz` member without `.npy`; the file stem for a `.npy` file).
    pub name: String,
    /// Shape (C order).
    pub shape: Vec<usize>,
    /// Values.
    pub data: Vec<f64>,
}

impl Array {
    /// A numeric array.
    pub fn new(name: impl Into<String>, shape: Vec<usize>, data: Vec<f64>) -> Self {
        Array { name: name.into(), shape, data }
    }
    /// The text of a string array read from a `<Uk` or `|Sk` member (0-d: shape `[k]` of code
    /// points, NUL padding dropped); `None` when the values are not code points of one string.
    pub fn text(&self) -> Option<String> {
        if self.shape.len() != 1 {
            return None;
        }
        self.data
            .iter()
            .take_while(|&&c| c != 0.0)
            .map(
                |&c| if c.fract() == 0.0 && (1.0..=1_114_111.0).contains(&c) { char::from_u32(c as u32) } else { None },
            )
            .collect()
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// The bytes of a 0-d `.npy` string array (`<Uk`, as `numpy.save(f, numpy.array(text))` writes it).
pub fn npy_text_bytes(text: &str) -> Vec<u8> {
    let k = text.chars().count().max(1);
    let body: Vec<u8> =
        text.chars().chain(std::iter::repeat('\0')).take(k).flat_map(|c| (c as u32).to_le_bytes()).collect();
    npy_raw(&format!("<U{k}"), "()", &body)
}

/// The bytes of a `.npy` file (format 1.0, `<f8`, C order) holding `data` with `shape`.
pub fn npy_bytes(shape: &[usize], data: &[f64]) -> Vec<u8> {
    let dims = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let body: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_raw("<f8", &dims, &body)
}

/// A `.npy` file of dtype `descr`, shape `dims` (Python tuple syntax) and the raw little-endian `body`.
fn npy_raw(descr: &str, dims: &str, body: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    // magic (6) + version (2) + length (2) + header + '\n', padded with spaces to a multiple of 64
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

/// Write one array as a `.npy` file (atomically).
pub fn save_npy(path: &Path, shape: &[usize], data: &[f64]) -> Result<()> {
    check_len(shape, data.len())?;
    let bytes = npy_bytes(shape, data);
    super::atomic::write_atomic(path, |w| w.write_all(&bytes))
}

fn check_len(shape: &[usize], len: usize) -> Result<()> {
    if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(len) {
        return Err(Error::shape("npy", format!("shape {shape:?} does not hold {len} values")));
    }
    Ok(())
}

/// Parse the bytes of a `.npy` file; `what` names it in errors.
pub fn parse_npy(bytes: &[u8], what: &str) -> Result<(Vec<usize>, Vec<f64>)> {
    let bad = |d: String| Error::io(what, d);
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("not a .npy array (no \\x93NUMPY magic)".into()));
    }
    let (hlen, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(bad(format!("unsupported .npy format version {v}"))),
    };
    let header = bytes
        .get(start..start.saturating_add(hlen))
        .ok_or_else(|| bad("the header runs past the end of the file".into()))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("the header is not text".into()))?;
    let field = |key: &str| -> Result<&str> {
        let k = format!("'{key}':");
        let i = header.find(&k).ok_or_else(|| bad(format!("the header has no '{key}'")))?;
        Ok(header[i + k.len()..].trim_start())
    };
    let descr = field("descr")?;
    let descr = descr.strip_prefix('\'').and_then(|d| d.split('\'').next()).unwrap_or("");
    // strings: `<Uk` (UTF-32, 4 bytes a code point) or `|Sk` (bytes), `k` code points an element
    let text = |p: &str, w: usize| descr.strip_prefix(p).and_then(|k| k.parse::<usize>().ok()).map(|k| (k, w));
    let chars = text("<U", 4).or_else(|| text("|S", 1)).or_else(|| text("S", 1));
    let width = match (descr, chars) {
        ("<f8" | "<i8", _) => 8,
        ("<f4" | "<i4", _) => 4,
        (_, Some((k, w))) if k > 0 && k <= 1 << 20 => k * w,
        (d, _) => {
            return Err(bad(format!(
                "dtype '{}' is not supported (expected <f8, <f4, <i8, <i4 or a string <Uk, |Sk)",
                d.escape_debug()
            )))
        }
    };
    if !field("fortran_order")?.starts_with("False") {
        return Err(bad("Fortran-ordered arrays are not supported (save with C order)".into()));
    }
    let sh = field("shape")?;
    let sh = sh.strip_prefix('(').and_then(|s| s.split(')').next()).ok_or_else(|| bad("malformed shape".into()))?;
    let mut shape = sh
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| bad(format!("malformed shape ({})", sh.escape_debug()))))
        .collect::<Result<Vec<usize>>>()?;
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| bad("shape overflows".into()))?;
    let body = &bytes[start + hlen..];
    if count.checked_mul(width) != Some(body.len()) {
        return Err(bad(format!(
            "shape {shape:?} of {descr} needs {} bytes, the file holds {}",
            count.saturating_mul(width),
            body.len()
        )));
    }
    if let Some((k, w)) = chars {
        shape.push(k);
        let data = body
            .chunks_exact(w)
            .map(|c| if w == 4 { u32::from_le_bytes(c.try_into().expect("4 bytes")) as f64 } else { c[0] as f64 })
            .collect();
        return Ok((shape, data));
    }
    let data: Vec<f64> = match descr {
        "<f8" => body.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect(),
        "<f4" => body.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")) as f64).collect(),
        "<i4" => body.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as f64).collect(),
        _ => body
            .chunks_exact(8)
            .map(|c| {
                let v = i64::from_le_bytes(c.try_into().expect("8 bytes"));
                if v.unsigned_abs() > 1 << 53 {
                    Err(bad(format!("integer {v} is not exact as f64")))
                } else {
                    Ok(v as f64)
                }
            })
            .collect::<Result<_>>()?,
    };
    Ok((shape, data))
}

/// Read a `.npy` file (its size bounded by `max_bytes`).
pub fn load_npy(path: &Path, max_bytes: u64) -> Result<Array> {
    let bytes = read_bounded(path, max_bytes)?;
    let (shape, data) = parse_npy(&bytes, &path.display().to_string())?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Array { name, shape, data })
}

fn read_bounded(path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    let ioerr = |e: std::io::Error| Error::io(path.display(), format!("cannot read: {e}"));
    let f = std::fs::File::open(path).map_err(ioerr)?;
    let len = f.metadata().map_err(ioerr)?.len();
    if len > max_bytes {
        return Err(Error::io(path.display(), format!("{len} bytes, above the memory budget of {max_bytes}")));
    }
    let mut v = Vec::with_capacity(len as usize);
    f.take(max_bytes).read_to_end(&mut v).map_err(ioerr)?;
    Ok(v)
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(i..i.checked_add(2)?)?.try_into().ok()?))
}
fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i.checked_add(4)?)?.try_into().ok()?))
}
fn u64_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(i..i.checked_add(8)?)?.try_into().ok()?))
}

/// Read every array of a `.npz` archive, in archive order. The file and the declared uncompressed
/// size of all members together are bounded by `max_bytes`; a deflated member is read no further
/// than its declared size.
pub fn load_npz(path: &Path, max_bytes: u64) -> Result<Vec<Array>> {
    let b = read_bounded(path, max_bytes)?;
    let bad = |d: String| Error::io(path.display(), d);
    let trunc = || bad("truncated zip archive".to_string());
    // the end-of-central-directory record: the last PK\x05\x06 within the final 64 KiB + 22 bytes
    let lo = b.len().saturating_sub(22 + 65535);
    let eocd = (lo..b.len().saturating_sub(21))
        .rev()
        .find(|&i| b[i..i + 4] == *b"PK\x05\x06")
        .ok_or_else(|| bad("not a .npz file (no zip end-of-central-directory record)".into()))?;
    let mut entries = u16_at(&b, eocd + 10).ok_or_else(trunc)? as u64;
    let mut cd = u32_at(&b, eocd + 16).ok_or_else(trunc)? as u64;
    if (entries == 0xFFFF || cd == 0xFFFF_FFFF) && eocd >= 20 && b[eocd - 20..eocd - 16] == *b"PK\x06\x07" {
        let z = u64_at(&b, eocd - 12).ok_or_else(trunc)? as usize;
        if b.get(z..z.saturating_add(4)) != Some(b"PK\x06\x06") {
            return Err(bad("malformed zip64 end-of-central-directory record".into()));
        }
        entries = u64_at(&b, z + 32).ok_or_else(trunc)?;
        cd = u64_at(&b, z + 48).ok_or_else(trunc)?;
    }
    let mut out = Vec::new();
    let mut declared: u64 = 0;
    let mut p = usize::try_from(cd).map_err(|_| trunc())?;
    for _ in 0..entries {
        if b.get(p..p.saturating_add(4)) != Some(b"PK\x01\x02") {
            return Err(bad("malformed zip central directory".into()));
        }
        let method = u16_at(&b, p + 10).ok_or_else(trunc)?;
        let mut csize = u32_at(&b, p + 20).ok_or_else(trunc)? as u64;
        let mut usize_ = u32_at(&b, p + 24).ok_or_else(trunc)? as u64;
        let (nlen, elen, clen) = (
            u16_at(&b, p + 28).ok_or_else(trunc)? as usize,
            u16_at(&b, p + 30).ok_or_else(trunc)? as usize,
            u16_at(&b, p + 32).ok_or_else(trunc)? as usize,
        );
        let mut off = u32_at(&b, p + 42).ok_or_else(trunc)? as u64;
        let name = b.get(p + 46..p + 46 + nlen).ok_or_else(trunc)?;
        let name = String::from_utf8_lossy(name).into_owned();
        // zip64 extra field: the values that are 0xFFFFFFFF in the record, in this order
        let extra = b.get(p + 46 + nlen..p + 46 + nlen + elen).ok_or_else(trunc)?;
        let mut e = 0;
        while e + 4 <= extra.len() {
            let (id, len) = (u16_at(extra, e).unwrap_or(0), u16_at(extra, e + 2).unwrap_or(0) as usize);
            if id == 1 {
                let mut q = e + 4;
                for v in [&mut usize_, &mut csize, &mut off] {
                    if *v == 0xFFFF_FFFF {
                        *v = u64_at(extra, q).ok_or_else(trunc)?;
                        q += 8;
                    }
                }
            }
            e += 4 + len;
        }
        p += 46 + nlen + elen + clen;
        declared = declared.saturating_add(usize_);
        if declared > max_bytes {
            return Err(bad(format!("the members declare {declared} bytes, above the memory budget of {max_bytes}")));
        }
        let lh = usize::try_from(off).map_err(|_| trunc())?;
        if b.get(lh..lh.saturating_add(4)) != Some(b"PK\x03\x04") {
            return Err(bad(format!("member '{}': malformed local header", name.escape_debug())));
        }
        let data_at =
            lh + 30 + u16_at(&b, lh + 26).ok_or_else(trunc)? as usize + u16_at(&b, lh + 28).ok_or_else(trunc)? as usize;
        let raw =
            usize::try_from(csize).ok().and_then(|c| b.get(data_at..data_at.checked_add(c)?)).ok_or_else(trunc)?;
        let bytes = match method {
            0 => raw.to_vec(),
            8 => {
                let mut v = Vec::with_capacity(usize_ as usize);
                flate2::read::DeflateDecoder::new(raw)
                    .take(usize_)
                    .read_to_end(&mut v)
                    .map_err(|e| bad(format!("member '{}': {e}", name.escape_debug())))?;
                v
            }
            m => {
                return Err(bad(format!(
                    "member '{}': zip compression method {m} is not supported",
                    name.escape_debug()
                )))
            }
        };
        if bytes.len() as u64 != usize_ {
            return Err(bad(format!(
                "member '{}': {} bytes, the archive declares {usize_}",
                name.escape_debug(),
                bytes.len()
            )));
        }
        let stem = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        let (shape, data) = parse_npy(&bytes, &format!("{} (member '{}')", path.display(), name.escape_debug()))?;
        out.push(Array { name: stem, shape, data });
    }
    Ok(out)
}

/// The bytes of a `.npz` archive of `arrays` (members `NAME.npy`, stored, in the given order,
/// timestamp 1980-01-01 00:00).
pub fn npz_bytes(arrays: &[Array]) -> Result<Vec<u8>> {
    let mut members = Vec::with_capacity(arrays.len());
    for a in arrays {
        check_len(&a.shape, a.data.len())?;
        members.push((a.name.clone(), npy_bytes(&a.shape, &a.data)));
    }
    npz_from_members(&members)
}

/// The bytes of a `.npz` archive of ready `.npy` files `(NAME, bytes)` (e.g. from [`npy_bytes`] and
/// [`npy_text_bytes`]), stored, in the given order, timestamp 1980-01-01 00:00.
pub fn npz_from_members(members: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (stem, body) in members {
        let name = format!("{stem}.npy");
        let mut crc = flate2::Crc::new();
        crc.update(body);
        let crc = crc.sum();
        let size = u32::try_from(body.len()).map_err(|_| Error::invalid("npz", "a member above 4 GiB"))?;
        let off = u32::try_from(out.len()).map_err(|_| Error::invalid("npz", "an archive above 4 GiB"))?;
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&0u16.to_le_bytes()); // stored
            v.extend_from_slice(&0u16.to_le_bytes()); // time 00:00
            v.extend_from_slice(&0x21u16.to_le_bytes()); // date 1980-01-01
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra length
        };
        out.extend_from_slice(b"PK\x03\x04");
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(body);
        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        common(&mut central);
        central.extend_from_slice(&[0; 10]); // comment length, disk, internal and external attributes (2+2+2+4)
        central.extend_from_slice(&off.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_off = out.len() as u32;
    let n = u16::try_from(members.len()).map_err(|_| Error::invalid("npz", "more than 65535 members"))?;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_off.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    Ok(out)
}

/// Write `arrays` as a `.npz` archive (atomically).
pub fn save_npz(path: &Path, arrays: &[Array]) -> Result<()> {
    let bytes = npz_bytes(arrays)?;
    super::atomic::write_atomic(path, |w| w.write_all(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header of `numpy.save(f, np.zeros(3))` (numpy 1.x, format 1.0), byte for byte:
    /// `{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }` padded to a 128-byte preamble
    /// (NumPy 2.4: `len(np.save(BytesIO(), np.zeros(3)))` is 152 = 128 + 24, header length 118).
    #[test]
    fn npy_header_matches_numpy() {
        let b = npy_bytes(&[3], &[0.0; 3]);
        assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!(10 + hlen, 128);
        let h = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
        assert_eq!(h.trim_end(), "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }");
        assert_eq!(parse_npy(&b, "t").unwrap(), (vec![3], vec![0.0; 3]));
    }

    #[test]
    fn npz_round_trip_and_deflated_members() {
        let a = vec![
            Array { name: "x".into(), shape: vec![2, 3], data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5] },
            Array { name: "y".into(), shape: vec![], data: vec![7.0] },
        ];
        let dir = std::env::temp_dir().join(format!("kinkgrad-npz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.npz");
        save_npz(&p, &a).unwrap();
        assert_eq!(load_npz(&p, 1 << 20).unwrap(), a);
        // a deflated member (what numpy.savez_compressed writes): built here with flate2
        let body = npy_bytes(&[2], &[1.5, -2.0]);
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut z, &body).unwrap();
        let comp = z.finish().unwrap();
        let mut stored = npz_bytes(&[Array { name: "c".into(), shape: vec![2], data: vec![1.5, -2.0] }]).unwrap();
        // patch method 8 and the compressed size in both headers, splice the compressed body
        let name_len = 5;
        let local_end = 30 + name_len;
        let mut v = stored[..local_end].to_vec();
        v[8] = 8;
        v[18..22].copy_from_slice(&(comp.len() as u32).to_le_bytes());
        v.extend_from_slice(&comp);
        let cd_start = v.len();
        let mut cd = stored.split_off(local_end + body.len());
        cd[10] = 8;
        cd[20..24].copy_from_slice(&(comp.len() as u32).to_le_bytes());
        let n = cd.len();
        cd[n - 6..n - 2].copy_from_slice(&(cd_start as u32).to_le_bytes());
        v.extend_from_slice(&cd);
        std::fs::write(dir.join("c.npz"), &v).unwrap();
        let got = load_npz(&dir.join("c.npz"), 1 << 20).unwrap();
        assert_eq!(got[0].data, vec![1.5, -2.0]);
        assert!(load_npz(&dir.join("c.npz"), 10).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
