//! The `relu'(0)` bifurcation (Bertoin, Bolte, Gerchinovitz, Pauwels, NeurIPS 2021): the
//! `study relu-prime` command's code path, against the issue's PyTorch figures and the paper's.

use super::command::{figure, reached, reduced_note, Line};
use crate::plot::{LineChart, Series};
use crate::report::CliError;
use crate::reproduce::row::{Ctx, Row, Section, Verdict};
use kinkgrad::study::ReluPrimeRow;

const ID: &str = "relu-prime";
const ISSUE: &str = "issue 13 (PyTorch 2.15 CPU, built-in 8 000 digits, 784-256-256-256-10, batch 100, 40 inits)";
const PAPER: &str = "Bertoin et al., NeurIPS 2021, Section 3 (60 000 digits, 600 minibatches, 200 inits)";

/// The flags of the section's run: `--quick` uses the docs' cross-check configuration (10
/// initialisations on the first 2 000 digits); the full run the issue's (40 on 8 000).
pub fn flags(ctx: &Ctx) -> Vec<&'static str> {
    if ctx.quick {
        vec!["--inits", "10", "--limit", "2000"]
    } else {
        vec!["--inits", "40"]
    }
}

/// The section with the settings of `ctx`.
pub fn run(ctx: &Ctx) -> Result<Section, CliError> {
    run_with(ctx, &flags(ctx))
}

fn row_of<'a>(rows: &'a [ReluPrimeRow], p: &str) -> Option<&'a ReluPrimeRow> {
    rows.iter().find(|r| r.precision == p)
}

fn count(r: &ReluPrimeRow) -> String {
    format!(
        "{}/{} = {:.3}; {} exact zeros, in {}/{} minibatches",
        r.bifurcated, r.inits, r.fraction, r.exact_zeros, r.batches_with_zeros, r.batches
    )
}

/// The section with explicit `study relu-prime` flags (tests shrink the network and the data).
pub fn run_with(ctx: &Ctx, flags: &[&str]) -> Result<Section, CliError> {
    let _quiet = crate::progress::hide_bars();
    let line = Line::new("study relu-prime", flags);
    let study = crate::study::relu_rows(&line.parse()?, &mut |d, t, _| (ctx.progress)(d, t))?;
    let rows = &study.rows;
    let q = ctx.quick;
    let mut out = Vec::new();
    let row = |name: String, reference: &str, source: &str, measured: String, verdict: Verdict, note: &str| Row {
        section: ID,
        name,
        reference: reference.into(),
        source: source.into(),
        measured,
        verdict,
        note: note.into(),
    };
    let both = format!("{ISSUE}; {PAPER}");
    let frac = |p: &str| row_of(rows, p).map(|r| r.fraction);
    if let Some(r) = row_of(rows, "f64") {
        // any bifurcation in f64 contradicts the finding, whatever the size of the run
        let v = super::verdict(r.bifurcated == 0);
        out.push(row(
            "f64: fraction of initialisations that bifurcate".into(),
            "0 (PyTorch 0/40; paper 0)",
            &both,
            count(r),
            v,
            "",
        ));
    }
    if let Some(r) = row_of(rows, "f32") {
        let (lo, hi) = (frac("f64").unwrap_or(0.0), frac("f16").unwrap_or(1.0));
        let ok = (lo < r.fraction && r.fraction < hi) || r.bifurcated == 0;
        let note = if r.bifurcated == 0 {
            "0: measured reason in the exact-zero count (a minibatch without an exact zero cannot bifurcate)"
        } else {
            reduced_note(ok, q)
        };
        out.push(row(
            "f32: fraction (strictly between f64 and f16, or 0 with its exact zeros counted)".into(),
            "1/40 = 0.025 (PyTorch); 0.445 (paper)",
            &both,
            count(r),
            reached(ok, q),
            note,
        ));
    }
    if let Some(r) = row_of(rows, "bf16") {
        out.push(row("bf16: fraction".into(), "not measured by the references", "-", count(r), Verdict::Info, ""));
    }
    if let Some(r) = row_of(rows, "f16") {
        let ok = r.fraction >= 0.7;
        out.push(row(
            "f16: fraction (at least 0.7)".into(),
            "34/40 = 0.85 (PyTorch); 1.0 (paper, 16 bit)",
            &both,
            count(r),
            reached(ok, q),
            reduced_note(ok, q),
        ));
        out.push(row(
            "f16 on the cross-check settings, beside PyTorch's nn.Linear (both round x W^T + b once)".into(),
            "PyTorch nn.Linear 2/10 with 2 zeros (two roundings, (x @ W.T) + b: 10/10 with 1219 zeros)",
            "docs/studies.md, cross-check with benchmarks/relu_prime_torch.py (2 000 digits, 10 inits)",
            format!("{}/{} with {} zeros", r.bifurcated, r.inits, r.exact_zeros),
            Verdict::Info,
            "comparable when the run uses the cross-check's 2 000 digits and 10 initialisations (--quick does)",
        ));
    }
    let safe: Vec<String> =
        rows.iter().map(|r| format!("{} {}/{}", r.precision, r.safe_bifurcated.unwrap_or(0), r.inits)).collect();
    let unresolved: usize = rows.iter().map(|r| r.safe_unresolved).sum();
    let safe_ok = rows.iter().all(|r| r.safe_bifurcated == Some(0));
    out.push(row(
        "safe mode: fraction that bifurcates, every precision".into(),
        "0 (by construction: the locked gradient does not read relu'(0))",
        "issue 13, item 2; docs/studies.md",
        format!("{}; {unresolved} zeros survived every probe direction", safe.join(", ")),
        super::verdict(safe_ok),
        "",
    ));
    let fig = figure(
        "Fraction of initialisations whose first-layer gradient depends on relu'(0), against the significand bits of the precision (bf16 8, f16 11, f32 24, f64 53).",
        chart(rows),
    )?;
    Ok(Section {
        id: ID,
        title: "relu'(0) bifurcation (Bertoin et al. 2021)".into(),
        settings: format!(
            "{line} (MLP {:?}, batch 100, learning rate 0, {} training digits; every precision of the default list)",
            study.sizes, study.train_n
        ),
        rows: out,
        figures: vec![fig],
    })
}

/// The fractions (assoc, safe) against the significand bits, beside the issue's PyTorch figures.
fn chart(rows: &[ReluPrimeRow]) -> Result<String, String> {
    let bits = |p: &str| match p {
        "bf16" => 8.0,
        "f16" => 11.0,
        "f32" => 24.0,
        _ => 53.0,
    };
    let mut assoc: Vec<(f64, f64)> = rows.iter().map(|r| (bits(r.precision), r.fraction)).collect();
    let mut safe: Vec<(f64, f64)> =
        rows.iter().filter_map(|r| r.safe_fraction.map(|s| (bits(r.precision), s))).collect();
    assoc.sort_by(|a, b| a.0.total_cmp(&b.0));
    safe.sort_by(|a, b| a.0.total_cmp(&b.0));
    let series = [
        Series { name: "kinkgrad assoc".into(), points: assoc },
        Series { name: "kinkgrad safe".into(), points: safe },
        Series { name: "PyTorch (issue 13)".into(), points: vec![(11.0, 0.85), (24.0, 0.025), (53.0, 0.0)] },
    ];
    crate::plot::svg(&LineChart {
        title: "relu'(0) bifurcation fraction",
        xlabel: "significand bits",
        ylabel: "fraction of initialisations",
        series: &series,
        log_y: false,
        paired: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows are computed in the run: the first 100 and 200 digits in minibatches of 100 are 1 and 2
    /// minibatches (by hand), and the f16 row counts them; `safe` stays at 0 by construction.
    #[test]
    fn a_changed_input_changes_the_row() {
        let ctx = Ctx { quick: true, peer_python: None, progress: &|_, _| {} };
        for (limit, batches) in [("100", "/1 minibatches"), ("200", "/2 minibatches")] {
            let s = run_with(&ctx, &["--inits", "1", "--limit", limit, "--precision", "f16"]).unwrap();
            let f16 = s.rows.iter().find(|r| r.name.starts_with("f16: fraction")).unwrap();
            assert!(f16.measured.ends_with(batches), "{}", f16.measured);
            let safe = s.rows.iter().find(|r| r.name.starts_with("safe mode")).unwrap();
            assert!(safe.measured.starts_with("f16 0/1") && safe.verdict == Verdict::Pass, "{}", safe.measured);
        }
    }
}
