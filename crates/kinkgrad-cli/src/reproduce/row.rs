//! The report's unit: a row (one finding: reference, its source, the measured value, a verdict) and a
//! section (rows and inline-SVG figures of one topic). Sections compute their numbers in the run;
//! nothing here is copied from a document.

use serde_json::{json, Value};
use std::path::PathBuf;

/// What a measured value says against its reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The measurement reaches the reference finding.
    Pass,
    /// The measurement misses it (the row says by how much).
    Miss,
    /// No pass/miss claim: a figure reported for information, or a reduced (`--quick`) run that
    /// cannot reach the reference finding.
    Info,
}

impl Verdict {
    /// `pass`, `miss` or `info`, as report.json and the page print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Miss => "miss",
            Verdict::Info => "info",
        }
    }
}

/// One finding of the report.
#[derive(Clone, Debug)]
pub struct Row {
    /// The section id (e.g. `paradoxes`), as [`Section::id`].
    pub section: &'static str,
    /// What is measured, in words (e.g. `Boustany f'(0), assoc (PyTorch convention)`).
    pub name: String,
    /// The reference value, in words or numbers (e.g. `-1.5`).
    pub reference: String,
    /// Where the reference comes from (e.g. `talk, slide "Boustany paradox"; Boustany TMLR 2024`).
    pub source: String,
    /// The measured value, computed in this run.
    pub measured: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Optional remark (settings, why `info`, what limits a miss); empty when none.
    pub note: String,
}

impl Row {
    /// The row as a report.json object: `section, name, reference, source, measured, verdict, note`.
    pub fn to_json(&self) -> Value {
        json!({
            "section": self.section,
            "name": self.name,
            "reference": self.reference,
            "source": self.source,
            "measured": self.measured,
            "verdict": self.verdict.as_str(),
            "note": self.note,
        })
    }
}

/// A figure of a section: a caption and a self-contained SVG document (from `crate::plot::svg`).
#[derive(Clone, Debug)]
pub struct Figure {
    /// One sentence under the figure.
    pub caption: String,
    /// The SVG text, inlined into the page.
    pub svg: String,
}

/// One section of the report.
#[derive(Clone, Debug)]
pub struct Section {
    /// Short id, also each row's `section` (e.g. `paradoxes`, `transport-orders`, `relu-prime`).
    pub id: &'static str,
    /// Heading on the page.
    pub title: String,
    /// The settings the section ran with (states the reductions of `--quick`).
    pub settings: String,
    /// The findings.
    pub rows: Vec<Row>,
    /// The figures.
    pub figures: Vec<Figure>,
}

/// What every section receives.
pub struct Ctx<'a> {
    /// `--quick`: reduced settings (each section states them in [`Section::settings`]).
    pub quick: bool,
    /// `--peer-python`: the Python with JAX/PyTorch for the performance section (None: section skipped
    /// with an `info` row saying so).
    pub peer_python: Option<PathBuf>,
    /// Called with (done, total) as a section advances; drives the section's progress bar.
    pub progress: &'a dyn Fn(u64, u64),
}
