//! How a run ends: the result on stdout, or one error line on stderr (user text escaped) and, with
//! `--json`, one JSON object `{"error": {"kind", "message"}}` on stdout; exit code 2 for usage,
//! input, file and numeric errors, 130 when cancelled.

use std::io::Write;
use std::process::ExitCode;

/// An error of a command, with its class: `usage` (flags), `input` (values, expressions, data),
/// `io` (files), `numeric` (non-finite results) or `cancelled`.
#[derive(Debug)]
pub struct CliError {
    /// One of `usage`, `input`, `io`, `numeric`, `cancelled`.
    pub kind: &'static str,
    /// The message (may hold user text; escaped when printed).
    pub message: String,
}

impl CliError {
    /// An error of class `kind`.
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        CliError { kind, message: message.into() }
    }
}

impl From<String> for CliError {
    /// Messages built by the command line itself are about values: `input`.
    fn from(message: String) -> Self {
        CliError::new("input", message)
    }
}

impl From<&str> for CliError {
    fn from(message: &str) -> Self {
        CliError::new("input", message)
    }
}

impl From<kinkgrad::Error> for CliError {
    fn from(e: kinkgrad::Error) -> Self {
        CliError::new(e.kind().as_str(), e.to_string())
    }
}

/// `s` on one line: control characters (newlines, tabs, escapes) written as Rust escapes, so user
/// text such as a binding or tensor name with a newline cannot break the line.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes `text` to stdout, ignoring a closed pipe (`kinkgrad ... | head` must not panic).
pub fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
}

/// Reports `e` (one line on stderr; also a JSON object on stdout with `json`) and returns the exit
/// code: 130 for `cancelled`, 2 otherwise.
pub fn fail(e: &CliError, json: bool) -> ExitCode {
    let message = one_line(&e.message);
    if e.kind == "cancelled" {
        eprintln!("interrupted: {message}");
    } else {
        eprintln!("error: {message}");
    }
    if json {
        let obj = serde_json::json!({"error": {"kind": e.kind, "message": message}});
        print_stdout(&format!("{obj}\n"));
    }
    ExitCode::from(if e.kind == "cancelled" { crate::interrupt::EXIT_CODE } else { 2 })
}

/// Clap's error reduced to its first line, without the `error: ` prefix, plus where to look.
pub fn usage_error(e: &clap::Error) -> CliError {
    let rendered = e.render().to_string();
    let first = rendered.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    CliError::new("usage", format!("{first} (see --help)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(one_line("a\nb\tc\u{1b}[31m"), "a\\nb\\tc\\u{1b}[31m");
        assert_eq!(one_line("naïve ✓"), "naïve ✓");
    }
}
