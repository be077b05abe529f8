//! Performance against JAX and PyTorch: the `bench` command's workloads and peers (in this
//! process; the peers run by the given Python), with the ratios judged against issue 14's goals.
//! Without `--peer-python` the section is one `info` row saying it was skipped.

use super::command::Line;
use crate::bench::{self, Step};
use crate::report::CliError;
use crate::reproduce::row::{Ctx, Row, Section, Verdict};
use serde_json::Value;

const ID: &str = "performance";
const GOALS: &str = "issue 14, goals (stated for three runs on a quiet 2-core machine)";

/// A goal: the workload's name prefix, the ratio's key and the keys of its two times (numerator,
/// denominator), the bound and whether the ratio must stay below it (`true`) or above it.
struct Goal {
    workload: &'static str,
    key: &'static str,
    times: (&'static str, &'static str),
    what: &'static str,
    bound: f64,
    at_most: bool,
}

const KG: &str = "kinkgrad_assoc_seconds";
const VG: (&str, &str) = ("jax_value_and_grad_seconds", "kinkgrad_value_and_grad_seconds");

const GOAL_LIST: [Goal; 7] = [
    goal("mlp_step", "kinkgrad_over_jax", (KG, "jax_seconds"), "MLP 784-512-512-10 step: kinkgrad / JAX", 0.9, true),
    goal(
        "mlp_small_step",
        "kinkgrad_over_pytorch",
        (KG, "pytorch_seconds"),
        "MLP 784-256-10 step: kinkgrad / PyTorch",
        1.0,
        true,
    ),
    goal("lenet_step", "kinkgrad_over_pytorch", (KG, "pytorch_seconds"), "LeNet step: kinkgrad / PyTorch", 1.0, true),
    goal("lenet_step", "safe_over_assoc", ("kinkgrad_safe_seconds", KG), "LeNet step: safe / assoc", 1.3, true),
    goal(
        "transport",
        "gradient_over_forward",
        ("kinkgrad_gradient_seconds", "kinkgrad_forward_seconds"),
        "transport (minmod LW 1000 x 1000): gradient / forward",
        3.0,
        true,
    ),
    goal("hybrid upwind", "jax_over_kinkgrad", VG, "hybrid upwind value and gradient: JAX / kinkgrad", 1.5, false),
    goal(
        "hybrid lw-minmod",
        "jax_over_kinkgrad",
        VG,
        "hybrid lw-minmod value and gradient: JAX / kinkgrad",
        1.0,
        false,
    ),
];

const fn goal(
    workload: &'static str,
    key: &'static str,
    times: (&'static str, &'static str),
    what: &'static str,
    bound: f64,
    at_most: bool,
) -> Goal {
    Goal { workload, key, times, what, bound, at_most }
}

/// The section: `bench` with the peers of `ctx.peer_python`, or one `info` row without them.
pub fn run(ctx: &Ctx) -> Result<Section, CliError> {
    let Some(py) = &ctx.peer_python else {
        return Ok(Section {
            id: ID,
            title: "Performance against JAX and PyTorch".into(),
            settings: "skipped: no --peer-python".into(),
            rows: vec![Row {
                section: ID,
                name: "performance table".into(),
                reference: "the goals of issue 14".into(),
                source: GOALS.into(),
                measured: "skipped: no --peer-python given (make one with benchmarks/setup_peers.sh DIR torch)".into(),
                verdict: Verdict::Info,
                note: String::new(),
            }],
            figures: vec![],
        });
    };
    let py = py.display().to_string();
    let line = Line::new("bench", &["--peer-python", &py]);
    let a: bench::Args = line.parse()?;
    let peers = bench::peers::Peers::new(a.peer_python.clone(), a.peers_dir.clone(), a.peer_isa)?;
    // every workload of `bench` but "all"
    let total = (bench::WORKLOADS.len() - 1) as u64;
    let mut done = 0;
    (ctx.progress)(0, total);
    let measured = bench::measure(&a, &peers, &mut |s| {
        if let Step::Done(_) = s {
            done += 1;
            (ctx.progress)(done, total);
        }
    })?;
    Ok(Section {
        id: ID,
        title: "Performance against JAX and PyTorch".into(),
        settings: format!(
            "{line} (kinkgrad and each peer in alternating blocks; ratios are medians of per-pair ratios; one run; not counted in the --quick budget)"
        ),
        rows: rows(&measured, &bench::cpu_features()),
        figures: vec![],
    })
}

/// The rows of one bench run: one per goal, `safe` on the built-in digits, then the machine.
fn rows(measured: &[Value], cpu: &Value) -> Vec<Row> {
    let mut out = Vec::new();
    for g in &GOAL_LIST {
        let row = measured.iter().find(|r| r["workload"].as_str().is_some_and(|w| w.starts_with(g.workload)));
        let ratio = row.and_then(|r| r[g.key].as_f64());
        let (measured, verdict, note) = match (row, ratio) {
            (_, Some(x)) => {
                let ok = if g.at_most { x <= g.bound } else { x >= g.bound };
                let ms = |k: &str| row.and_then(|r| r[k].as_f64()).map_or("?".into(), |t| format!("{:.3} ms", t * 1e3));
                let text = format!("{x:.3} ({} / {})", ms(g.times.0), ms(g.times.1));
                (text, super::verdict(ok), String::new())
            }
            (Some(r), None) => (
                "not measured".into(),
                Verdict::Info,
                format!("peer not run: {}", r["peer_not_run"].as_str().unwrap_or("no figure")),
            ),
            (None, None) => ("not measured".into(), Verdict::Info, "workload not run".into()),
        };
        let reference = match (g.workload, g.at_most) {
            ("hybrid lw-minmod", _) => "keep ahead of JAX (issue 14 measured 6.8-7.5)".to_string(),
            (_, true) => format!("at most {}", g.bound),
            (_, false) => format!("at least {}", g.bound),
        };
        out.push(Row { section: ID, name: g.what.into(), reference, source: GOALS.into(), measured, verdict, note });
    }
    // `safe` on real digits: measured, not judged (the 1.3 goal is stated for the random images of
    // the lenet workload)
    let digits = measured.iter().find(|r| r["workload"].as_str().is_some_and(|w| w.starts_with("lenet_digits_step")));
    if let Some(r) = digits {
        let ms = |k: &str| r[k].as_f64().map_or("?".into(), |t| format!("{:.3} ms", t * 1e3));
        out.push(Row {
            section: ID,
            name: "LeNet step on the built-in digits: safe / assoc".into(),
            reference: "-".into(),
            source: "measured only (issue 14 states its 1.3 for the random images of the LeNet step)".into(),
            measured: match r["safe_over_assoc"].as_f64() {
                Some(x) => format!("{x:.3} ({} / {})", ms("kinkgrad_safe_seconds"), ms("kinkgrad_assoc_seconds")),
                None => "not measured".into(),
            },
            verdict: Verdict::Info,
            note: "real images: the blank background's pooling ties that safe must decide".into(),
        });
    }
    out.push(Row {
        section: ID,
        name: "machine: SIMD level of the scheme kernels, matrix-product instructions".into(),
        reference: "-".into(),
        source: "measured only".into(),
        measured: format!("{}, {}", cpu["simd_level"].as_str().unwrap_or("?"), cpu["gemm"].as_str().unwrap_or("?")),
        verdict: Verdict::Info,
        note: "ratios of one run; the machine's load is not controlled here (docs/benchmarks.md gives quiet runs)"
            .into(),
    });
    out
}
