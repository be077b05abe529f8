//! Typed errors. User input never panics: shapes, arguments, files and configurations are checked
//! and reported through [`Error`]. A kink is never an error.

use std::fmt;
use std::path::Path;

pub use crate::io::IoErrorKind;

/// Every failure the library reports.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// Shapes do not fit the operation.
    Shape {
        /// The operation that was called.
        op: &'static str,
        /// What was expected and what was found.
        detail: String,
    },
    /// An argument is out of its domain (a negative stride, an unknown name, ...).
    Invalid {
        /// The argument or setting that was wrong.
        what: String,
        /// What was expected.
        detail: String,
    },
    /// A value or a gradient became NaN or infinite; `op` is where it first appeared.
    NonFinite {
        /// The operation whose output was first non-finite.
        op: String,
        /// `"value"` or `"gradient"`.
        stage: &'static str,
    },
    /// A file could not be read or written, or its content is malformed.
    Io {
        /// What the file is, with where it came from (`"IDX file"`, `"weights file"`, `"MNIST
        /// directory"`, `"IDX data"` for bytes in memory); empty when unknown.
        what: String,
        /// The file (empty for data that came from memory).
        path: String,
        /// The class of the failure, for programs that match on it.
        kind: IoErrorKind,
        /// What went wrong, on one line, without the file name.
        detail: String,
    },
    /// A combination the library has no path for (a mode on a path that cannot lock its kinks, a
    /// schedule a path cannot follow, ...): refused, never served by a silent fallback.
    Unsupported {
        /// What was asked for.
        what: String,
        /// What is missing for it.
        missing: String,
    },
    /// Long work stopped at a step boundary because cancellation was requested
    /// ([`crate::cancel`]).
    Cancelled {
        /// Where it stopped (e.g. `step 651 of 5000`).
        at: String,
    },
}

/// The class of an [`Error`], for front ends that map errors to exit codes or JSON error kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A value, an expression, a shape, data or a combination of settings was wrong.
    Input,
    /// A file could not be read or written, or its content is malformed.
    Io,
    /// A value or a derivative became NaN or infinite.
    Numeric,
    /// The work was cancelled.
    Cancelled,
}

impl ErrorKind {
    /// `input`, `io`, `numeric` or `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Input => "input",
            ErrorKind::Io => "io",
            ErrorKind::Numeric => "numeric",
            ErrorKind::Cancelled => "cancelled",
        }
    }
}

impl Error {
    /// A shape error for `op`.
    pub fn shape(op: &'static str, detail: impl Into<String>) -> Self {
        Error::Shape { op, detail: detail.into() }
    }
    /// An invalid-argument error naming `what`.
    pub fn invalid(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Invalid { what: what.into(), detail: detail.into() }
    }
    /// A file error naming `path`: its content is not what was expected ([`IoErrorKind::Invalid`]).
    pub fn io(path: impl fmt::Display, detail: impl Into<String>) -> Self {
        Error::Io { what: String::new(), path: path.to_string(), kind: IoErrorKind::Invalid, detail: detail.into() }
    }
    /// The class of a file error ([`Error::Io`]); `None` for every other error.
    pub fn io_kind(&self) -> Option<IoErrorKind> {
        match self {
            Error::Io { kind, .. } => Some(*kind),
            _ => None,
        }
    }
    /// What was wrong with the file, without its name (e.g. `truncated: expected 784 bytes of data,
    /// found 100`); empty for errors that are not [`Error::Io`].
    pub fn io_detail(&self) -> &str {
        match self {
            Error::Io { detail, .. } => detail,
            _ => "",
        }
    }
    /// Attaches the file a file error is about, for errors made from data in memory (such as
    /// [`crate::io::idx::read_idx_bytes`] or [`crate::io::safetensors_io::expect_shapes`]): `IDX data:
    /// ...` becomes `IDX file PATH: ...`. Other errors are returned unchanged.
    pub fn with_path(self, file: &Path) -> Self {
        match self {
            Error::Io { what, kind, detail, .. } => {
                let base = ["data", "file", "directory"]
                    .iter()
                    .find_map(|s| what.strip_suffix(s).map(|b| b.trim_end().to_string()))
                    .unwrap_or(what);
                let what = if base.is_empty() { base } else { format!("{base} file") };
                Error::Io { what, path: file.display().to_string(), kind, detail }
            }
            other => other,
        }
    }
    /// An unsupported combination: `what` was asked for, `missing` says what no path provides.
    pub fn unsupported(what: impl Into<String>, missing: impl Into<String>) -> Self {
        Error::Unsupported { what: what.into(), missing: missing.into() }
    }
    /// The class of the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Shape { .. } | Error::Invalid { .. } | Error::Unsupported { .. } => ErrorKind::Input,
            Error::Io { .. } => ErrorKind::Io,
            Error::NonFinite { .. } => ErrorKind::Numeric,
            Error::Cancelled { .. } => ErrorKind::Cancelled,
        }
    }
}

impl fmt::Display for Error {
    /// One line: control characters in the message (a newline in a tensor name or a metadata
    /// value read from a file) are written as escapes (`\n`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let raw = Raw(self).to_string();
        if !raw.chars().any(char::is_control) {
            return f.write_str(&raw);
        }
        for c in raw.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// The message before escaping.
struct Raw<'a>(&'a Error);

impl fmt::Display for Raw<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Error::Shape { op, detail } => write!(f, "shape error in {op}: {detail}"),
            Error::Invalid { what, detail } => write!(f, "invalid {what}: {detail}"),
            Error::NonFinite { op, stage } => {
                write!(f, "non-finite {stage} first produced by {op}")
            }
            Error::Io { what, path, detail, .. } => match (what.is_empty(), path.is_empty()) {
                (false, false) => write!(f, "{what} {path}: {detail}"),
                (false, true) => write!(f, "{what}: {detail}"),
                (true, false) => write!(f, "{path}: {detail}"),
                (true, true) => write!(f, "{detail}"),
            },
            Error::Unsupported { what, missing } => write!(f, "unsupported: {what}: {missing}"),
            Error::Cancelled { at } => write!(f, "cancelled at {at}"),
        }
    }
}

impl std::error::Error for Error {}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line() {
        let e = Error::io("/tmp/a\nb", "metadata: 'scheme' = 'x\ny'");
        assert_eq!(e.to_string(), "/tmp/a\\nb: metadata: 'scheme' = 'x\\ny'");
        assert_eq!(Error::invalid("x", "tab\there").to_string(), "invalid x: tab\\there");
    }
}
