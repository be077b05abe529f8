//! What a run says while it runs, for every command: progress bars with an ETA on stderr, and the
//! per-step lines of `-v`.
//!
//! The global flags decide (read once in `main`, [`init`]):
//! - `-q/--quiet`: only the results (stdout) and errors (stderr): no bar, no per-step line;
//! - default: a bar on stderr for the long loops, drawn only when stderr is a terminal and `--json`
//!   was not given (stdout then holds one JSON object, and a pipe or a log file gets no escape codes);
//! - `-v/--verbose`: also one line per step (epoch, iteration, time step batch, workload) on stderr,
//!   printed above the bar when there is one.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::OnceLock;

/// How much a run says on stderr besides errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// `-q`: results and errors only.
    Quiet,
    /// The default: progress bars (on a terminal, without `--json`).
    Normal,
    /// `-v`: progress bars and one line per step.
    Verbose,
}

struct Settings {
    verbosity: Verbosity,
    bars: bool,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Sets the run's verbosity from the global flags; `json` (the command prints one JSON object) and a
/// stderr that is not a terminal turn the bars off.
pub fn init(quiet: bool, verbose: bool, json: bool) {
    let verbosity = match (quiet, verbose) {
        (true, _) => Verbosity::Quiet,
        (false, true) => Verbosity::Verbose,
        (false, false) => Verbosity::Normal,
    };
    let bars = verbosity != Verbosity::Quiet && !json && std::io::stderr().is_terminal();
    let _ = SETTINGS.set(Settings { verbosity, bars });
}

fn settings() -> &'static Settings {
    // unit tests do not call `init`: quiet, no bars
    SETTINGS.get_or_init(|| Settings { verbosity: Verbosity::Quiet, bars: false })
}

/// The run's verbosity.
pub fn verbosity() -> Verbosity {
    settings().verbosity
}

thread_local! {
    /// How many [`HiddenBars`] guards are alive on this thread.
    static HIDDEN: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// While this guard lives, bars created on this thread are hidden (`reproduce` runs commands whose
/// own bars would draw over the section's bar).
pub struct HiddenBars(());

/// Hides the bars created on this thread until the guard is dropped.
pub fn hide_bars() -> HiddenBars {
    HIDDEN.with(|h| h.set(h.get() + 1));
    HiddenBars(())
}

impl Drop for HiddenBars {
    fn drop(&mut self) {
        HIDDEN.with(|h| h.set(h.get().saturating_sub(1)));
    }
}

/// A progress bar (or a hidden one, see the module doc) with the one style of the tool: bar,
/// position, message, elapsed time and ETA.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar over `len` steps, `what` naming the unit (e.g. "epochs", "iterations").
    pub fn new(len: u64, what: &str) -> Self {
        let bar = if settings().bars && HIDDEN.with(|h| h.get()) == 0 {
            ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        let template = format!("{{bar:30}} {{pos}}/{{len}} {what} {{msg}} [{{elapsed_precise}} < ETA {{eta_precise}}]");
        bar.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()));
        Progress { bar }
    }

    /// Moves the bar to `pos` with the message `msg` (built only when the bar is drawn).
    pub fn set(&self, pos: u64, msg: impl FnOnce() -> String) {
        if !self.bar.is_hidden() {
            self.bar.set_message(msg());
        }
        self.bar.set_position(pos);
    }

    /// Sets the message (built only when the bar is drawn).
    pub fn message(&self, msg: impl FnOnce() -> String) {
        if !self.bar.is_hidden() {
            self.bar.set_message(msg());
        }
    }

    /// Sets the number of steps (for a bar whose length is learnt as the work proceeds).
    pub fn set_length(&self, len: u64) {
        self.bar.set_length(len);
    }

    /// Advances the bar by one step.
    pub fn inc(&self) {
        self.bar.inc(1);
    }

    /// With `-v`, prints the line built by `line` on stderr (above the bar when one is drawn).
    pub fn step(&self, line: impl FnOnce() -> String) {
        step(&self.bar, line);
    }

    /// Removes the bar (also done when the value is dropped, e.g. on an error path).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

fn step(bar: &ProgressBar, line: impl FnOnce() -> String) {
    if verbosity() == Verbosity::Verbose {
        let l = line();
        if bar.is_hidden() {
            eprintln!("{l}");
        } else {
            bar.println(l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_init_nothing_is_drawn() {
        // unit tests run without a terminal and without init: the bar is hidden, steps are silent
        let p = Progress::new(10, "steps");
        p.set(3, || unreachable!("the message of a hidden bar is never built"));
        p.inc();
        p.step(|| unreachable!("quiet: no per-step line"));
        assert!(p.bar.is_hidden());
        assert_eq!(p.bar.position(), 4);
    }
}
