//! Parsing of `--at` variable bindings such as `x=0,y=1.5`.

use crate::expr::lexer::{is_name_continue, number_value, scan_number};

/// True if `name` matches `[a-z][a-z0-9_]*`.
fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(is_name_continue)
}

/// Parses a signed numeric literal (`-2.5e-3`, `+4`, `.5`); the reason on failure.
fn parse_value(text: &str) -> Result<f64, &'static str> {
    let chars: Vec<char> = text.chars().collect();
    let start = usize::from(matches!(chars.first(), Some('+' | '-')));
    let (end, scanned) = scan_number(&chars, start);
    if end != chars.len() {
        return Err("expected a decimal number such as 1.5, -2 or 1e-3");
    }
    scanned?;
    number_value(text)
}

/// Parses the value of the `--at` flag: comma-separated `name=value` pairs.
///
/// Names follow the variable rule `[a-z][a-z0-9_]*`; values are decimal
/// numbers with an optional sign and exponent (`-1`, `2.5`, `.5`, `1e-3`).
/// Whitespace around names, values and commas is ignored. The pairs are
/// returned in input order.
///
/// Errors (as a one-line message naming the offending piece): an empty list,
/// an empty piece (`x=1,,y=2`), a piece without `=`, an invalid name, a
/// missing or malformed value, a non-finite value, and a name bound twice.
///
/// ```
/// use kinkgrad::expr::parse_bindings;
///
/// assert_eq!(
///     parse_bindings("x=0, y=-1.5e-3").unwrap(),
///     vec![("x".to_string(), 0.0), ("y".to_string(), -1.5e-3)]
/// );
/// assert!(parse_bindings("x=1,x=2").unwrap_err().contains("'x'"));
/// ```
pub fn parse_bindings(s: &str) -> Result<Vec<(String, f64)>, String> {
    if s.trim().is_empty() {
        return Err("no bindings given; expected a list like 'x=0,y=1.5'".to_string());
    }
    let mut out: Vec<(String, f64)> = Vec::new();
    for (index, piece) in s.split(',').enumerate() {
        let piece = piece.trim();
        if piece.is_empty() {
            return Err(format!("empty binding at position {} in '{s}'; expected name=value", index + 1));
        }
        let Some((name, value)) = piece.split_once('=') else {
            return Err(format!("binding '{piece}' is missing '='; expected name=value, e.g. x=0"));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return Err(format!("binding '{piece}' has no variable name before '='"));
        }
        if !is_variable_name(name) {
            return Err(format!(
                "invalid variable name '{name}' in binding '{piece}': names must match \
                 [a-z][a-z0-9_]*"
            ));
        }
        if value.is_empty() {
            return Err(format!("binding '{piece}' has no value after '='"));
        }
        let value =
            parse_value(value).map_err(|reason| format!("invalid number '{value}' in binding '{piece}': {reason}"))?;
        if out.iter().any(|(seen, _)| seen == name) {
            return Err(format!("variable '{name}' is bound more than once (again in '{piece}')"));
        }
        out.push((name.to_string(), value));
    }
    Ok(out)
}
