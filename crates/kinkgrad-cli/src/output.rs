//! Output helpers: number formatting (every file goes through the library's atomic write,
//! [`kinkgrad::io::atomic::write_atomic`]).

/// A number for JSON: finite values as numbers, others as null.
pub fn num(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
}
