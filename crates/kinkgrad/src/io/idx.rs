//! Reading and writing the IDX format, the file format of MNIST.
//!
//! An IDX file is: two zero bytes; a type byte (0x08 `u8`, 0x09 `i8`,
//! 0x0B `i16`, 0x0C `i32`, 0x0D `f32`, 0x0E `f64`); a byte giving the number
//! of dimensions; each dimension as a big-endian `u32`; then the elements in
//! row-major order, big-endian. Files may be gzip-compressed; readers detect
//! that from the gzip magic bytes `1f 8b`, not from the file name.

use super::atomic::write_atomic_as;
use super::error::{fmt_dims, IoError, IoErrorKind};
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::{self, Read, Write};
use std::path::Path;

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Names the data in error messages: "IDX file ..." / "IDX data: ...".
const WHAT: &str = "IDX";

/// The elements of an IDX array, one variant per IDX element type.
#[derive(Debug, Clone, PartialEq)]
pub enum IdxData {
    /// Type byte 0x08: unsigned bytes (MNIST images and labels).
    U8(Vec<u8>),
    /// Type byte 0x09: signed bytes.
    I8(Vec<i8>),
    /// Type byte 0x0B: 16-bit signed integers.
    I16(Vec<i16>),
    /// Type byte 0x0C: 32-bit signed integers.
    I32(Vec<i32>),
    /// Type byte 0x0D: 32-bit floats.
    F32(Vec<f32>),
    /// Type byte 0x0E: 64-bit floats.
    F64(Vec<f64>),
}

impl IdxData {
    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            IdxData::U8(v) => v.len(),
            IdxData::I8(v) => v.len(),
            IdxData::I16(v) => v.len(),
            IdxData::I32(v) => v.len(),
            IdxData::F32(v) => v.len(),
            IdxData::F64(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The IDX type byte of this element type (0x08 for `U8`, ...).
    pub fn type_byte(&self) -> u8 {
        match self {
            IdxData::U8(_) => 0x08,
            IdxData::I8(_) => 0x09,
            IdxData::I16(_) => 0x0B,
            IdxData::I32(_) => 0x0C,
            IdxData::F32(_) => 0x0D,
            IdxData::F64(_) => 0x0E,
        }
    }

    /// The Rust name of the element type (`"u8"`, `"f32"`, ...), for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            IdxData::U8(_) => "u8",
            IdxData::I8(_) => "i8",
            IdxData::I16(_) => "i16",
            IdxData::I32(_) => "i32",
            IdxData::F32(_) => "f32",
            IdxData::F64(_) => "f64",
        }
    }
}

/// An n-dimensional array read from or written to an IDX file.
///
/// `data` holds `dims.iter().product()` elements in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// The size of each dimension, outermost first (e.g. `[10000, 28, 28]`).
    pub dims: Vec<usize>,
    /// The elements, row-major.
    pub data: IdxData,
}

/// Element types as read from a header, before the data is decoded.
#[derive(Clone, Copy)]
enum ElemType {
    U8,
    I8,
    I16,
    I32,
    F32,
    F64,
}

impl ElemType {
    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0x08 => ElemType::U8,
            0x09 => ElemType::I8,
            0x0B => ElemType::I16,
            0x0C => ElemType::I32,
            0x0D => ElemType::F32,
            0x0E => ElemType::F64,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            ElemType::U8 | ElemType::I8 => 1,
            ElemType::I16 => 2,
            ElemType::I32 | ElemType::F32 => 4,
            ElemType::F64 => 8,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ElemType::U8 => "u8",
            ElemType::I8 => "i8",
            ElemType::I16 => "i16",
            ElemType::I32 => "i32",
            ElemType::F32 => "f32",
            ElemType::F64 => "f64",
        }
    }
}

/// Reads an IDX file, raw or gzip-compressed.
///
/// Compression is detected from the gzip magic bytes, so the file name does
/// not matter. The whole file must be exactly one IDX array: its length must
/// match the dims in its header.
///
/// # Errors
///
/// An [`Error::Io`](crate::Error::Io) naming `path` and saying what was wrong: the file is missing
/// ([`IoErrorKind::NotFound`]) or unreadable ([`IoErrorKind::Io`]), bad magic,
/// an unknown type byte, truncated header or data ("expected N bytes of data,
/// found M"), trailing bytes after the data, dims whose byte size overflows
/// `usize`, or a corrupt gzip stream.
pub fn read_idx(path: &Path) -> crate::Result<IdxArray> {
    Ok(read_idx_file(path)?)
}

/// [`read_idx`] with the crate-private error builder, for the readers built on it.
pub(crate) fn read_idx_file(path: &Path) -> Result<IdxArray, IoError> {
    read_idx_file_within(path, u64::MAX)
}

/// [`read_idx`], refusing (before reading the data) a header whose data take more than `max_bytes`
/// bytes: a gzip stream is decompressed only as far as the header allows.
///
/// # Errors
///
/// Those of [`read_idx`]; [`IoErrorKind::DimsOverflow`] for data over `max_bytes`.
pub fn read_idx_within(path: &Path, max_bytes: u64) -> crate::Result<IdxArray> {
    Ok(read_idx_file_within(path, max_bytes)?)
}

pub(crate) fn read_idx_file_within(path: &Path, max_bytes: u64) -> Result<IdxArray, IoError> {
    let bytes = std::fs::read(path).map_err(|e| IoError::os(WHAT, path, "cannot read", e))?;
    parse_bytes_within(&bytes, max_bytes).map_err(|e| e.with_path(path))
}

/// Parses an IDX array from bytes in memory, raw or gzip-compressed
/// (detected from the gzip magic bytes `1f 8b`).
///
/// # Errors
///
/// The same checks as [`read_idx`]; the error says "IDX data" instead of
/// naming a file (attach one with [`Error::with_path`](crate::Error::with_path)).
pub fn read_idx_bytes(bytes: &[u8]) -> crate::Result<IdxArray> {
    Ok(parse_bytes(bytes)?)
}

/// [`read_idx_bytes`] with the crate-private error builder.
pub(crate) fn parse_bytes(bytes: &[u8]) -> Result<IdxArray, IoError> {
    parse_bytes_within(bytes, u64::MAX)
}

/// [`parse_bytes`] refusing data of more than `max_bytes` bytes.
pub(crate) fn parse_bytes_within(bytes: &[u8], max_bytes: u64) -> Result<IdxArray, IoError> {
    if bytes.starts_with(&GZIP_MAGIC) {
        parse(&mut MultiGzDecoder::new(bytes), true, max_bytes)
    } else {
        let mut reader = bytes;
        parse(&mut reader, false, max_bytes)
    }
}

/// Encodes an array as uncompressed IDX bytes.
///
/// # Errors
///
/// [`IoErrorKind::InvalidInput`] if `arr.data` does not hold exactly
/// `product(arr.dims)` elements; [`IoErrorKind::DimsOverflow`] if there are
/// more than 255 dims, a dim exceeds `u32::MAX`, or the product overflows.
pub fn encode_idx(arr: &IdxArray) -> crate::Result<Vec<u8>> {
    Ok(encode(arr)?)
}

fn encode(arr: &IdxArray) -> Result<Vec<u8>, IoError> {
    if arr.dims.len() > 255 {
        return Err(IoError::memory(
            IoErrorKind::DimsOverflow,
            WHAT,
            format!("dims overflow: {} dims, but IDX allows at most 255", arr.dims.len()),
        ));
    }
    if let Some(&d) = arr.dims.iter().find(|&&d| u32::try_from(d).is_err()) {
        return Err(IoError::memory(
            IoErrorKind::DimsOverflow,
            WHAT,
            format!("dims overflow: dim {d} in {} does not fit IDX's 32-bit dims", fmt_dims(&arr.dims)),
        ));
    }
    let count = element_count(&arr.dims).ok_or_else(|| {
        IoError::memory(
            IoErrorKind::DimsOverflow,
            WHAT,
            format!("dims overflow: the product of {} does not fit in usize", fmt_dims(&arr.dims)),
        )
    })?;
    if count != arr.data.len() {
        return Err(IoError::memory(
            IoErrorKind::InvalidInput,
            WHAT,
            format!(
                "cannot write: dims {} need {count} elements but the data has {}",
                fmt_dims(&arr.dims),
                arr.data.len()
            ),
        ));
    }

    let elem = match arr.data {
        IdxData::U8(_) | IdxData::I8(_) => 1,
        IdxData::I16(_) => 2,
        IdxData::I32(_) | IdxData::F32(_) => 4,
        IdxData::F64(_) => 8,
    };
    let mut out = Vec::with_capacity(4 + 4 * arr.dims.len() + count.saturating_mul(elem));
    out.extend_from_slice(&[0, 0, arr.data.type_byte(), arr.dims.len() as u8]);
    for &d in &arr.dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    match &arr.data {
        IdxData::U8(v) => out.extend_from_slice(v),
        IdxData::I8(v) => out.extend(v.iter().flat_map(|x| x.to_be_bytes())),
        IdxData::I16(v) => out.extend(v.iter().flat_map(|x| x.to_be_bytes())),
        IdxData::I32(v) => out.extend(v.iter().flat_map(|x| x.to_be_bytes())),
        IdxData::F32(v) => out.extend(v.iter().flat_map(|x| x.to_be_bytes())),
        IdxData::F64(v) => out.extend(v.iter().flat_map(|x| x.to_be_bytes())),
    }
    Ok(out)
}

/// Writes an IDX file, gzip-compressed if `gzip` is true (whatever the file
/// name), atomically: see [`write_atomic`](super::atomic::write_atomic).
///
/// # Errors
///
/// The checks of [`encode_idx`], then any failure to create, write, sync or
/// rename the file; the error names `path`, and on error an existing file at
/// `path` is left untouched.
pub fn write_idx(path: &Path, arr: &IdxArray, gzip: bool) -> crate::Result<()> {
    let bytes = encode(arr).map_err(|e| e.with_path(path))?;
    Ok(write_atomic_as(WHAT, path, |w| {
        if gzip {
            let mut enc = GzEncoder::new(w, Compression::default());
            enc.write_all(&bytes)?;
            enc.finish()?;
            Ok(())
        } else {
            w.write_all(&bytes)
        }
    })?)
}

/// The number of elements for `dims`, or `None` on overflow.
fn element_count(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Reads up to `n` bytes (fewer only at end of stream).
fn read_up_to(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

fn parse(r: &mut dyn Read, gz: bool, max_bytes: u64) -> Result<IdxArray, IoError> {
    let err = |kind, message: String| IoError::memory(kind, WHAT, message);
    let gz_err = |e: io::Error| {
        IoError::memory(IoErrorKind::Gzip, WHAT, format!("gzip data is corrupt or cut short: {e}")).with_source(e)
    };
    // "the file" for raw data; for gzip the sizes below are after decompression.
    let the_data = if gz { "the decompressed data" } else { "the data" };

    let head = read_up_to(r, 4).map_err(gz_err)?;
    if head.len() < 4 {
        return Err(err(
            IoErrorKind::Truncated,
            format!("truncated header: {the_data} is only {} bytes, an IDX header needs at least 4", head.len()),
        ));
    }
    if head[0] != 0 || head[1] != 0 {
        return Err(err(
            IoErrorKind::BadMagic,
            format!(
                "bad magic: expected an IDX header starting 00 00, found {:02x} {:02x} {:02x} {:02x}{}",
                head[0],
                head[1],
                head[2],
                head[3],
                if gz { " (after gunzip)" } else { "" }
            ),
        ));
    }
    let elem = ElemType::from_byte(head[2]).ok_or_else(|| {
        err(
            IoErrorKind::UnknownType,
            format!(
                "unknown type byte 0x{:02X} (expected 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32 or 0x0E f64)",
                head[2]
            ),
        )
    })?;
    let ndims = usize::from(head[3]);

    let dim_bytes = read_up_to(r, 4 * ndims).map_err(gz_err)?;
    if dim_bytes.len() < 4 * ndims {
        return Err(err(
            IoErrorKind::Truncated,
            format!(
                "truncated header: it declares {ndims} dims, needing {} header bytes, but {the_data} has only {}",
                4 + 4 * ndims,
                4 + dim_bytes.len()
            ),
        ));
    }
    let mut dims = Vec::with_capacity(ndims);
    for c in dim_bytes.chunks_exact(4) {
        let d = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        let d = usize::try_from(d)
            .map_err(|_| err(IoErrorKind::DimsOverflow, format!("dims overflow: dim {d} does not fit in usize")))?;
        dims.push(d);
    }
    let n_bytes = element_count(&dims).and_then(|n| n.checked_mul(elem.size())).ok_or_else(|| {
        err(
            IoErrorKind::DimsOverflow,
            format!("dims overflow: {} {} elements take more bytes than fit in usize", fmt_dims(&dims), elem.name()),
        )
    })?;

    if n_bytes as u64 > max_bytes {
        return Err(err(
            IoErrorKind::DimsOverflow,
            format!(
                "dims {} of {} need {} of data, more than the memory budget of {}",
                fmt_dims(&dims),
                elem.name(),
                crate::limits::human_bytes(n_bytes as u64),
                crate::limits::human_bytes(max_bytes)
            ),
        ));
    }
    // Reads at most `n_bytes`, so a header that claims huge dims over a
    // short file only allocates what the file really holds.
    let raw = read_up_to(r, n_bytes).map_err(gz_err)?;
    if raw.len() < n_bytes {
        return Err(err(
            IoErrorKind::Truncated,
            format!(
                "truncated: dims {} of {} need {n_bytes} bytes of data, found {}",
                fmt_dims(&dims),
                elem.name(),
                raw.len()
            ),
        ));
    }
    // Read to the end even when there is nothing left: for gzip this is
    // where the checksum is verified.
    let extra = io::copy(r, &mut io::sink()).map_err(gz_err)?;
    if extra > 0 {
        return Err(err(
            IoErrorKind::TrailingBytes,
            format!(
                "trailing bytes: expected {n_bytes} bytes of data for dims {}, found {} ({extra} extra after the data)",
                fmt_dims(&dims),
                (n_bytes as u64).saturating_add(extra)
            ),
        ));
    }

    let data = decode(elem, raw);
    Ok(IdxArray { dims, data })
}

macro_rules! decode_be {
    ($raw:expr, $t:ty, $n:literal) => {
        $raw.chunks_exact($n)
            .map(|c| {
                let mut b = [0u8; $n];
                b.copy_from_slice(c);
                <$t>::from_be_bytes(b)
            })
            .collect()
    };
}

fn decode(elem: ElemType, raw: Vec<u8>) -> IdxData {
    match elem {
        ElemType::U8 => IdxData::U8(raw),
        ElemType::I8 => IdxData::I8(raw.iter().map(|&b| b as i8).collect()),
        ElemType::I16 => IdxData::I16(decode_be!(raw, i16, 2)),
        ElemType::I32 => IdxData::I32(decode_be!(raw, i32, 4)),
        ElemType::F32 => IdxData::F32(decode_be!(raw, f32, 4)),
        ElemType::F64 => IdxData::F64(decode_be!(raw, f64, 8)),
    }
}

#[cfg(test)]
#[path = "idx_tests.rs"]
mod tests;
