//! Output helpers: number formatting, and the one call through which the command line writes a file
//! (the library's atomic write, [`kinkgrad::io::atomic::write_atomic`]).

use std::path::Path;

/// Write `bytes` to `path` through the library's atomic write (temporary file, fsync, rename, fsync
/// of the folder; stale temporary files of dead runs removed); the error as one line naming the file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    kinkgrad::io::atomic::write_atomic_bytes(path, bytes).map_err(|e| e.to_string())
}

/// A number for JSON: finite values as numbers, others as null.
pub fn num(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
}
