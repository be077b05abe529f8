//! MNIST training per precision (f64, f32, bf16, f16) with the kinks each run hit: the `train`
//! command's code path on the built-in digits, one run per precision.

use super::command::{figure, Line};
use crate::plot::{LineChart, Series};
use crate::report::CliError;
use crate::reproduce::row::{Ctx, Row, Section, Verdict};

const ID: &str = "training";
const PRECISIONS: [&str; 4] = ["f64", "f32", "bf16", "f16"];
/// docs/nn.md, "Measured": MLP, 5 epochs, assoc, seed 0: test accuracy and relu zeros of a precision.
fn docs(precision: &str) -> (f64, u64) {
    match precision {
        "bf16" => (0.9350, 1),
        "f16" => (0.9370, 1),
        _ => (0.9370, 0),
    }
}
const DOCS_SOURCE: &str = "docs/nn.md, Measured (kinkgrad, MLP 784-256-10, 5 epochs, Adam 1e-3, batch 64, assoc)";

/// The settings of a run of this section: precisions, epochs, the accuracy floor they must reach, and
/// extra flags (tests shrink the run with `--limit`).
pub struct Settings {
    /// The precisions, one run each (the docs' figures are looked up by name).
    pub precisions: Vec<&'static str>,
    /// Epochs per run.
    pub epochs: usize,
    /// The test accuracy every precision must reach (this project's floor for these epochs).
    pub floor: f64,
    /// More flags for every run.
    pub extra: Vec<&'static str>,
}

impl Settings {
    /// `--quick`: 2 epochs (floor 0.90); full: the docs' 5 epochs (floor 0.92).
    pub fn of(ctx: &Ctx) -> Self {
        if ctx.quick {
            Settings { precisions: PRECISIONS.to_vec(), epochs: 2, floor: 0.90, extra: vec![] }
        } else {
            Settings { precisions: PRECISIONS.to_vec(), epochs: 5, floor: 0.92, extra: vec![] }
        }
    }
}

/// The section with the settings of `ctx`.
pub fn run(ctx: &Ctx) -> Result<Section, CliError> {
    run_with(ctx, &Settings::of(ctx))
}

/// One precision's run: test accuracy, relu zeros, certificate line, and the loss per batch.
struct Run {
    accuracy: f64,
    zeros: u64,
    certificate: String,
    losses: Vec<(f64, f64)>,
}

/// The section with explicit settings.
pub fn run_with(ctx: &Ctx, s: &Settings) -> Result<Section, CliError> {
    let _quiet = crate::progress::hide_bars();
    let epochs = s.epochs.to_string();
    let line = |p: &str| {
        Line::new("train", &["--model", "mlp", "--precision", p, "--epochs", &epochs, "--mode", "assoc"]).with(&s.extra)
    };
    let mut runs = Vec::new();
    let n = s.precisions.len() as u64;
    for (k, p) in s.precisions.iter().enumerate() {
        (ctx.progress)(k as u64, n);
        let args: crate::train::Args = line(p).parse()?;
        let (v, cert, losses) = crate::train::run_with_losses(&args)?;
        let zeros = v["kinks_per_layer"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| l["relu_zeros"].as_u64().unwrap_or(0))
            .sum::<u64>();
        let accuracy = v["test_accuracy"].as_f64().ok_or("train: no test accuracy")?;
        runs.push(Run { accuracy, zeros, certificate: cert.to_string(), losses });
    }
    (ctx.progress)(n, n);
    let mut rows = Vec::new();
    for (p, r) in s.precisions.iter().zip(&runs) {
        let (docs_acc, docs_zeros) = docs(p);
        rows.push(Row {
            section: ID,
            name: format!("{p}: test accuracy after {} epochs", s.epochs),
            reference: format!(
                "at least {} (this project's floor; the docs measured {docs_acc} after 5 epochs)",
                s.floor
            ),
            source: DOCS_SOURCE.into(),
            measured: format!("{:.4}", r.accuracy),
            verdict: super::verdict(r.accuracy >= s.floor),
            note: String::new(),
        });
        rows.push(Row {
            section: ID,
            name: format!("{p}: exact-zero pre-activations (relu kinks) over training"),
            reference: format!("{docs_zeros} after 5 epochs"),
            source: DOCS_SOURCE.into(),
            measured: r.zeros.to_string(),
            verdict: Verdict::Info,
            note: format!("certificate {}", r.certificate),
        });
    }
    let (lo, hi) = runs.iter().fold((f64::MAX, f64::MIN), |(a, b), r| (a.min(r.accuracy), b.max(r.accuracy)));
    rows.push(Row {
        section: ID,
        name: "spread of the test accuracy over the four precisions".into(),
        reference: "at most 0.01 (the docs: 0.9350 to 0.9370)".into(),
        source: DOCS_SOURCE.into(),
        measured: format!("{:.4} ({lo:.4} to {hi:.4})", hi - lo),
        verdict: super::verdict(hi - lo <= 0.01),
        note: "the precision barely moves the MLP's accuracy, while its kinks grow".into(),
    });
    rows.push(Row {
        section: ID,
        name: "relu kinks by precision (0 in f64 and f32, some in 16 bits)".into(),
        reference: "f64 0, f32 0, bf16 1, f16 1".into(),
        source: DOCS_SOURCE.into(),
        measured: s
            .precisions
            .iter()
            .zip(&runs)
            .map(|(p, r)| format!("{p} {}", r.zeros))
            .collect::<Vec<_>>()
            .join(", "),
        verdict: Verdict::Info,
        note: "exact zeros follow the training trajectory: a count, not a claim".into(),
    });
    let series: Vec<Series> =
        s.precisions.iter().zip(&runs).map(|(p, r)| Series { name: p.to_string(), points: r.losses.clone() }).collect();
    let chart = LineChart {
        title: "MLP training loss per batch",
        xlabel: "epoch",
        ylabel: "loss",
        series: &series,
        log_y: true,
        paired: false,
    };
    let fig = figure(
        "Training loss of the MLP 784-256-10 per batch, one curve per precision (the curves overlap: the precision barely changes training).",
        crate::plot::svg(&chart),
    )?;
    Ok(Section {
        id: ID,
        title: "MNIST training per precision, with its kinks".into(),
        settings: format!(
            "{} (P = {}); built-in 10 000 digits, 8 000 train / 2 000 test",
            line("P"),
            s.precisions.join(", ")
        ),
        rows,
        figures: vec![fig],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows are computed in the run: one epoch on the first 128 and 192 digits in batches of 64
    /// takes 2 and 3 gradients per precision (by hand), which each run's certificate counts.
    #[test]
    fn a_changed_input_changes_the_row() {
        let ctx = Ctx { quick: true, peer_python: None, progress: &|_, _| {} };
        for (limit, grads) in [("128", "over 2 gradients"), ("192", "over 3 gradients")] {
            let settings =
                Settings { precisions: vec!["f64", "f32"], epochs: 1, floor: 0.0, extra: vec!["--limit", limit] };
            let s = run_with(&ctx, &settings).unwrap();
            let kinks: Vec<&Row> = s.rows.iter().filter(|r| r.name.contains("relu kinks) over")).collect();
            assert_eq!(kinks.len(), 2);
            assert!(kinks.iter().all(|r| r.note.ends_with(grads)), "{:?}", kinks[0].note);
            assert_eq!(s.figures.len(), 1);
        }
    }
}
