//! Typed errors. User input never panics: shapes, arguments, files and configurations are checked
//! and reported through [`Error`]. A kink is never an error.

use std::fmt;

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
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
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
    /// A file error naming `path`.
    pub fn io(path: impl fmt::Display, detail: impl Into<String>) -> Self {
        Error::Io { path: path.to_string(), detail: detail.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape { op, detail } => write!(f, "shape error in {op}: {detail}"),
            Error::Invalid { what, detail } => write!(f, "invalid {what}: {detail}"),
            Error::NonFinite { op, stage } => {
                write!(f, "non-finite {stage} first produced by {op}")
            }
            Error::Io { path, detail } => write!(f, "{path}: {detail}"),
        }
    }
}

impl std::error::Error for Error {}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
