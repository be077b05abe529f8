//! Deep Ritz for `-u'' = pi^2 sin(pi x)`: the usual quadrature recipe against exact integration
//! between sorted breakpoints, the `ritz` command's code path with each method.

use super::command::{figure, Line};
use crate::plot::Series;
use crate::report::CliError;
use crate::reproduce::row::{Ctx, Row, Section, Verdict};

const ID: &str = "ritz";
const DOCS: &str = "docs/nn.md, Deep Ritz table (kinkgrad, width 32, 3000 Adam iterations, lr 1e-2, seed 0)";

/// One method's run: its JSON summary and learned solution.
struct Run {
    v: serde_json::Value,
    u: crate::ritz::Solution,
}

/// The section: both methods with the docs' settings (the same in `--quick` and full runs: they
/// take seconds). `iterations` is the number of Adam iterations (tests pass fewer).
pub fn run(ctx: &Ctx) -> Result<Section, CliError> {
    run_with(ctx, 3000)
}

/// The section with `iterations` Adam iterations per method.
pub fn run_with(ctx: &Ctx, iterations: usize) -> Result<Section, CliError> {
    let _quiet = crate::progress::hide_bars();
    let it = iterations.to_string();
    let line = |m: &str| Line::new("ritz", &["--method", m, "--width", "32", "--iterations", &it]);
    let mut runs = Vec::new();
    for (k, m) in ["quadrature", "exact"].into_iter().enumerate() {
        (ctx.progress)(k as u64, 2);
        let args: crate::ritz::Args = line(m).parse()?;
        let (v, _, u) = crate::ritz::run_with_solution(&args)?;
        runs.push(Run { v, u });
    }
    (ctx.progress)(2, 2);
    let f = |r: &Run, k: &str| r.v[k].as_f64().unwrap_or(f64::NAN);
    let (quad, exact) = (&runs[0], &runs[1]);
    let (eq, ee) = (f(quad, "l2_rel_error"), f(exact, "l2_rel_error"));
    let cert = |r: &Run| format!("certificate: {}", r.v["certificate"]["kind"].as_str().unwrap_or("?"));
    let mut rows = vec![
        Row {
            section: ID,
            name: "quadrature recipe (u' by autodiff at 1000 midpoints): relative L2 error".into(),
            reference: "1.215e-2 (stalls)".into(),
            source: DOCS.into(),
            measured: format!("{eq:.3e}"),
            verdict: Verdict::Info,
            note: cert(quad),
        },
        Row {
            section: ID,
            name: "exact integration between sorted breakpoints: relative L2 error".into(),
            reference: "1.33e-3".into(),
            source: DOCS.into(),
            measured: format!("{ee:.3e}"),
            verdict: Verdict::Info,
            note: cert(exact),
        },
        Row {
            section: ID,
            name: "exact integration beats the quadrature recipe (L2 error ratio quadrature / exact)".into(),
            reference: "at least 5 (the docs: 9.1)".into(),
            source: DOCS.into(),
            measured: format!("{:.2}", eq / ee),
            verdict: super::verdict(eq / ee >= 5.0),
            note: String::new(),
        },
    ];
    let (e, e_star) = (f(exact, "energy"), f(exact, "exact_energy"));
    rows.push(Row {
        section: ID,
        name: "exact method: energy against the minimum -pi^2/4".into(),
        reference: format!("{e_star:.6}, within 1%"),
        source: "analytic: min of the integral of u'^2/2 - f u is -(1/2) int f u* = -pi^2/4".into(),
        measured: format!("{e:.6} (gap {:.2e})", (e - e_star).abs() / e_star.abs()),
        verdict: super::verdict((e - e_star).abs() <= 1e-2 * e_star.abs()),
        note: String::new(),
    });
    rows.push(Row {
        section: ID,
        name: "breakpoints inside (0, 1): quadrature, exact".into(),
        reference: "6, 24".into(),
        source: DOCS.into(),
        measured: format!("{}, {}", quad.v["breakpoints_inside"], exact.v["breakpoints_inside"]),
        verdict: Verdict::Info,
        note: "counted, not judged".into(),
    });
    let learned = [
        Series { name: "u (quadrature)".into(), points: quad.u.clone() },
        Series { name: "u (exact)".into(), points: exact.u.clone() },
    ];
    let fig = figure(
        "Learned solutions (solid) against sin(pi x) (dashed), both methods.",
        crate::ritz::solution_chart(&learned, "quadrature and exact", |c| crate::plot::svg(c)),
    )?;
    Ok(Section {
        id: ID,
        title: "Deep Ritz: quadrature against exact integration".into(),
        settings: format!("{} (M = quadrature, exact)", line("M")),
        rows,
        figures: vec![fig],
    })
}
