//! The training, study and performance sections run the commands' own code paths (`train`, `ritz`,
//! `hybrid train`, `study`, `bench`) with flags, as a user would type them: one place parses them
//! (the command's clap arguments, defaults included), and the section's settings quote the command
//! line, so a reader can rerun any row by hand.

use crate::report::{one_line, CliError};
use crate::reproduce::row::{Figure, Verdict};

/// A command line of the report: the command's words (e.g. `study relu-prime`) and its flags.
pub struct Line {
    /// The command's words, e.g. `train` or `hybrid train`.
    pub command: &'static str,
    /// The flags, e.g. `["--precision", "f16", "--epochs", "2"]`.
    pub flags: Vec<String>,
}

impl Line {
    /// The line `command flags...`.
    pub fn new(command: &'static str, flags: &[&str]) -> Self {
        Line { command, flags: flags.iter().map(|f| f.to_string()).collect() }
    }

    /// The same line with `flags` appended.
    pub fn with(mut self, flags: &[&str]) -> Self {
        self.flags.extend(flags.iter().map(|f| f.to_string()));
        self
    }

    /// The arguments of the command, parsed by its own clap definition (a refused flag is a
    /// `usage` error naming the line).
    pub fn parse<A: clap::Args>(&self) -> Result<A, CliError> {
        let cmd = A::augment_args(clap::Command::new(self.command).no_binary_name(true));
        let bad = |e: clap::Error| {
            CliError::new("usage", format!("{}: {}", self, one_line(e.to_string().lines().next().unwrap_or(""))))
        };
        let m = cmd.try_get_matches_from(&self.flags).map_err(bad)?;
        A::from_arg_matches(&m).map_err(bad)
    }
}

impl std::fmt::Display for Line {
    /// `kinkgrad COMMAND FLAGS...`, as a user types it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "kinkgrad {}", self.command)?;
        for a in &self.flags {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

/// `Pass` when the finding is reached; otherwise `Miss` in a full run and `Info` in a reduced one
/// (`--quick` settings may not reach a finding that the full settings must).
pub fn reached(ok: bool, quick: bool) -> Verdict {
    use Verdict::*;
    match (ok, quick) {
        (true, _) => Pass,
        (false, true) => Info,
        (false, false) => Miss,
    }
}

/// The note of a row judged by [`reached`]: why a reduced run says `info`.
pub fn reduced_note(ok: bool, quick: bool) -> &'static str {
    if !ok && quick {
        "reduced (--quick) settings do not reach the finding; the full run decides"
    } else {
        ""
    }
}

/// A figure from a chart handed over by one of the commands' chart builders.
pub fn figure(caption: impl Into<String>, svg: Result<String, String>) -> Result<Figure, CliError> {
    Ok(Figure { caption: caption.into(), svg: svg.map_err(|e| CliError::new("input", e))? })
}
