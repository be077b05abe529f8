//! `kinkgrad reproduce [--quick] [--out DIR]`: every finding of the talk and of the papers kinkgrad
//! answers, computed in this run, one section per topic, written as a self-contained page
//! (`DIR/index.html`, inline SVG, no network, no script) and as `DIR/report.json`
//! (`{"rows": [{"section", "name", "reference", "source", "measured", "verdict", "note"}], ...}`).
//!
//! A section is a function of [`Ctx`] returning a [`Section`] (rows and figures); the ordered list
//! is `sections::all()`. Each section gets its own progress bar and is timed.

mod html;
pub mod row;
mod sections;

use crate::report::CliError;
use row::{Ctx, Section, Verdict};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `kinkgrad reproduce`.
#[derive(clap::Args)]
pub struct Args {
    /// Reduced settings (each section states them on the page): the whole report in minutes. A
    /// reduced study that cannot reach its reference finding says `info`, not `pass`.
    #[arg(long)]
    pub quick: bool,
    /// Folder for index.html and report.json (created when missing; files replaced atomically).
    #[arg(long, default_value = "report", value_name = "DIR")]
    pub out: PathBuf,
    /// Python with JAX and PyTorch for the performance section (as in `bench`); without it that
    /// section is one `info` row saying so.
    #[arg(long, value_name = "PATH")]
    pub peer_python: Option<PathBuf>,
    /// Only these sections, comma-separated ids (default: all, in the report's order).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub sections: Option<Vec<String>>,
    /// Print report.json on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
}

/// The sections named by `--sections` (in the report's order), or all of them.
fn select(wanted: Option<&[String]>) -> Result<Vec<(&'static str, sections::SectionFn)>, CliError> {
    let all = sections::all();
    let Some(wanted) = wanted else { return Ok(all) };
    let ids: Vec<&str> = all.iter().map(|(id, _)| *id).collect();
    for w in wanted {
        if !ids.contains(&w.as_str()) {
            return Err(CliError::new(
                "usage",
                format!("--sections: unknown section '{w}': expected some of {}", ids.join(", ")),
            ));
        }
    }
    Ok(all.into_iter().filter(|(id, _)| wanted.iter().any(|w| w == id)).collect())
}

/// Creates the output folder and proves it writable before any section runs (a probe file, written
/// atomically and removed), so a bad `--out` costs no computation.
fn prepare(out: &Path) -> Result<(), CliError> {
    let io = |e: String| CliError::new("io", format!("--out {}: {e}", out.display()));
    std::fs::create_dir_all(out).map_err(|e| io(format!("cannot create the folder: {e}")))?;
    let probe = out.join(".kinkgrad-reproduce-probe");
    kinkgrad::io::atomic::write_atomic_bytes(&probe, b"").map_err(|e| io(format!("not writable: {e}")))?;
    std::fs::remove_file(&probe).map_err(|e| io(format!("cannot remove the probe file: {e}")))?;
    Ok(())
}

/// A finished section and the seconds it took.
pub struct Timed {
    /// The section.
    pub section: Section,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Counts of (pass, miss, info) over `rows`.
fn counts<'a>(rows: impl Iterator<Item = &'a row::Row>) -> (usize, usize, usize) {
    rows.fold((0, 0, 0), |(p, m, i), r| match r.verdict {
        Verdict::Pass => (p + 1, m, i),
        Verdict::Miss => (p, m + 1, i),
        Verdict::Info => (p, m, i + 1),
    })
}

/// report.json: every row, then one object per section (id, title, settings, seconds, counts) and
/// the totals.
fn report_json(done: &[Timed], ctx: &Ctx, seconds: f64) -> Value {
    let rows: Vec<Value> = done.iter().flat_map(|t| t.section.rows.iter().map(row::Row::to_json)).collect();
    let sections: Vec<Value> = done
        .iter()
        .map(|t| {
            let (p, m, i) = counts(t.section.rows.iter());
            json!({"id": t.section.id, "title": t.section.title, "settings": t.section.settings,
                   "seconds": t.seconds, "figures": t.section.figures.len(), "pass": p, "miss": m, "info": i})
        })
        .collect();
    let (p, m, i) = counts(done.iter().flat_map(|t| t.section.rows.iter()));
    json!({
        "rows": rows,
        "sections": sections,
        "summary": {"pass": p, "miss": m, "info": i},
        "quick": ctx.quick,
        "peer_python": ctx.peer_python.as_ref().map(|p| p.display().to_string()),
        "seconds": seconds,
        "version": env!("CARGO_PKG_VERSION"),
    })
}

/// The text printed when the report is written: one line per section, then the misses.
fn summary(done: &[Timed], out: &Path, seconds: f64) -> String {
    let mut s = String::new();
    for t in done {
        let (p, m, i) = counts(t.section.rows.iter());
        s += &format!(
            "{:<20} {:>3} rows: {p} pass, {m} miss, {i} info   {:.1} s\n",
            t.section.id,
            t.section.rows.len(),
            t.seconds
        );
    }
    let (p, m, i) = counts(done.iter().flat_map(|t| t.section.rows.iter()));
    s += &format!("total: {p} pass, {m} miss, {i} info in {seconds:.1} s\n");
    for r in done.iter().flat_map(|t| t.section.rows.iter()).filter(|r| r.verdict == Verdict::Miss) {
        s += &format!("  miss [{}] {}: measured {}, reference {}\n", r.section, r.name, r.measured, r.reference);
    }
    s += &format!("report: {} and {}\n", out.join("index.html").display(), out.join("report.json").display());
    s
}

/// Run `kinkgrad reproduce`: every selected section in order, then the page and the JSON file.
pub fn run(a: Args) -> Result<String, CliError> {
    let chosen = select(a.sections.as_deref())?;
    prepare(&a.out)?;
    let start = Instant::now();
    let mut done = Vec::new();
    // the bar of the running section (one per section), advanced through the context
    let bar: RefCell<Option<(&str, crate::progress::Progress)>> = RefCell::new(None);
    let progress = |d: u64, total: u64| {
        if let Some((id, b)) = bar.borrow().as_ref() {
            b.set_length(total.max(1));
            b.set(d, || id.to_string());
        }
    };
    let ctx = Ctx { quick: a.quick, peer_python: a.peer_python.clone(), progress: &progress };
    for (id, f) in chosen {
        let b = crate::progress::Progress::new(1, "steps");
        b.message(|| id.to_string());
        *bar.borrow_mut() = Some((id, b));
        let t0 = Instant::now();
        let section = f(&ctx).map_err(|e| CliError::new(e.kind, format!("section {id}: {}", e.message)))?;
        let seconds = t0.elapsed().as_secs_f64();
        if let Some((_, b)) = bar.borrow_mut().take() {
            b.step(|| format!("{id}: {} rows in {seconds:.1} s", section.rows.len()));
            b.finish();
        }
        done.push(Timed { section, seconds });
    }
    let seconds = start.elapsed().as_secs_f64();
    let report = report_json(&done, &ctx, seconds);
    let page = html::page(&done, ctx.quick, seconds);
    let io = |e: kinkgrad::Error| CliError::from(e);
    kinkgrad::io::atomic::write_atomic_bytes(&a.out.join("report.json"), format!("{report:#}\n").as_bytes())
        .map_err(io)?;
    kinkgrad::io::atomic::write_atomic_bytes(&a.out.join("index.html"), page.as_bytes()).map_err(io)?;
    Ok(if a.json { format!("{report}\n") } else { summary(&done, &a.out, seconds) })
}
