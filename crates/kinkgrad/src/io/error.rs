//! The error type shared by every reader and writer in this crate.

use std::fmt;
use std::path::{Path, PathBuf};

/// What went wrong, in a form a program can match on.
///
/// The human-readable detail lives in [`crate::Error::Io`]'s message; this enum only
/// classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoErrorKind {
    /// The file or directory does not exist.
    NotFound,
    /// Any other operating-system I/O failure (permissions, disk full, a
    /// failing writer, ...).
    Io,
    /// The file does not start with the expected magic bytes.
    BadMagic,
    /// An IDX type byte that is not one of 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E.
    UnknownType,
    /// The file ends before the data its header promises.
    Truncated,
    /// The file has bytes after the data its header promises.
    TrailingBytes,
    /// The dimensions in a header multiply to more than fits in memory
    /// (`usize`), or a dimension does not fit the format's field.
    DimsOverflow,
    /// The gzip stream is corrupt or cut short.
    Gzip,
    /// The file is well formed but its content is not what was asked for
    /// (e.g. MNIST images that are not 3-D bytes, mismatched counts, labels
    /// out of range, an unsupported tensor dtype).
    Invalid,
    /// A safetensors file whose header or layout cannot be parsed.
    Corrupt,
    /// A tensor has a different shape than expected.
    ShapeMismatch,
    /// An expected tensor is absent.
    MissingTensor,
    /// The caller passed inconsistent data to a writer (e.g. a data length
    /// that does not match the dims).
    InvalidInput,
}

/// An error from reading or writing a data or weights file.
///
/// Its [`Display`](fmt::Display) is a single line that names the file (or says
/// the data came from memory) and what was wrong, for example
/// `IDX file /data/train-images-idx3-ubyte: truncated: expected 47040000 bytes of data, found 1000`.
#[derive(Debug)]
pub struct IoError {
    kind: IoErrorKind,
    what: &'static str,
    place: Place,
    message: String,
    source: Option<std::io::Error>,
}

#[derive(Debug, Clone)]
enum Place {
    /// Parsed from bytes in memory: "IDX data: ...".
    Memory,
    /// About values that never came from a file: "weights: ...".
    Unnamed,
    File(PathBuf),
    Dir(PathBuf),
}

impl IoError {
    /// An error about the file at `path`; `what` describes the file
    /// ("IDX", "weights", ...), giving e.g. "IDX file /x: message".
    pub(crate) fn file(kind: IoErrorKind, what: &'static str, path: &Path, message: impl Into<String>) -> Self {
        IoError { kind, what, place: Place::File(path.to_path_buf()), message: message.into(), source: None }
    }

    /// An error about the directory at `path`.
    pub(crate) fn dir(kind: IoErrorKind, what: &'static str, path: &Path, message: impl Into<String>) -> Self {
        IoError { kind, what, place: Place::Dir(path.to_path_buf()), message: message.into(), source: None }
    }

    /// An error about in-memory data that has no path.
    pub(crate) fn memory(kind: IoErrorKind, what: &'static str, message: impl Into<String>) -> Self {
        IoError { kind, what, place: Place::Memory, message: message.into(), source: None }
    }

    /// An error about values that came from no file (such as tensors
    /// checked by `expect_shapes`): "weights: message".
    pub(crate) fn unnamed(kind: IoErrorKind, what: &'static str, message: impl Into<String>) -> Self {
        IoError { kind, what, place: Place::Unnamed, message: message.into(), source: None }
    }

    /// An error from the operating system while accessing `path`, classified
    /// as [`IoErrorKind::NotFound`] or [`IoErrorKind::Io`].
    pub(crate) fn os(what: &'static str, path: &Path, action: &str, err: std::io::Error) -> Self {
        let (kind, message) = if err.kind() == std::io::ErrorKind::NotFound {
            (IoErrorKind::NotFound, format!("{action}: no such file"))
        } else {
            (IoErrorKind::Io, format!("{action}: {err}"))
        };
        IoError { kind, what, place: Place::File(path.to_path_buf()), message, source: Some(err) }
    }

    /// Attaches the underlying `std::io::Error`, returned by
    /// [`std::error::Error::source`].
    pub(crate) fn with_source(mut self, err: std::io::Error) -> Self {
        self.source = Some(err);
        self
    }

    /// Replaces the description of the file ("IDX", "MNIST images", ...).
    pub(crate) fn with_what(mut self, what: &'static str) -> Self {
        self.what = what;
        self
    }

    /// Attaches the path of the file the error is about, for errors made
    /// from in-memory data (such as [`read_idx_bytes`](super::idx::read_idx_bytes)
    /// or [`expect_shapes`](super::safetensors_io::expect_shapes)), so the
    /// message names the file. Typical use, after
    /// `let (tensors, _) = load(path)?;`, is
    /// `expect_shapes(&tensors, &[("w", &[10, 4])]).map_err(|e| e.with_path(path))?`.
    pub fn with_path(mut self, path: &Path) -> Self {
        self.place = Place::File(path.to_path_buf());
        self
    }

    /// The classification of this error.
    pub fn kind(&self) -> IoErrorKind {
        self.kind
    }

    /// The file or directory the error is about, if it came from one.
    pub fn path(&self) -> Option<&Path> {
        match &self.place {
            Place::Memory | Place::Unnamed => None,
            Place::File(p) | Place::Dir(p) => Some(p),
        }
    }

    /// What was wrong, without the file name (e.g.
    /// `truncated: expected 784 bytes of data, found 100`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Place::Memory => write!(f, "{} data: {}", self.what, self.message),
            Place::Unnamed => write!(f, "{}: {}", self.what, self.message),
            Place::File(p) => write!(f, "{} file {}: {}", self.what, p.display(), self.message),
            Place::Dir(p) => write!(f, "{} directory {}: {}", self.what, p.display(), self.message),
        }
    }
}

impl std::error::Error for IoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Renders a shape as `[10, 3]`.
pub(crate) fn fmt_dims(dims: &[usize]) -> String {
    let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

impl From<IoError> for crate::Error {
    /// Keeps the kind, what the file is, its path and the one-line message: the
    /// [`Display`](fmt::Display) of both is the same line.
    fn from(e: IoError) -> Self {
        let (what, path) = match e.place {
            Place::Memory => (format!("{} data", e.what), String::new()),
            Place::Unnamed => (e.what.to_string(), String::new()),
            Place::File(p) => (format!("{} file", e.what), p.display().to_string()),
            Place::Dir(p) => (format!("{} directory", e.what), p.display().to_string()),
        };
        crate::Error::Io { what, path, kind: e.kind, detail: e.message }
    }
}
