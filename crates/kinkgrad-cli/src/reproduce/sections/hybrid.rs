//! The hybrid model: a ReLU network as the source term of a transport scheme, trained from
//! observations through every time step (the `hybrid train` command's code path on its built-in
//! problem); its training curve and how much of the true source it recovers.

use super::command::{reached, reduced_note, Line};
use crate::report::CliError;
use crate::reproduce::row::{Ctx, Figure, Row, Section, Verdict};

const ID: &str = "hybrid";
const DOCS: &str = "docs/hybrid.md, Training (kinkgrad hybrid train, upwind, 1000 Adam iterations)";

/// The section: 300 iterations with `--quick`, the command's default 1000 otherwise.
pub fn run(ctx: &Ctx) -> Result<Section, CliError> {
    run_with(ctx, if ctx.quick { 300 } else { 1000 }, &[])
}

/// The section with `iterations` Adam iterations and `extra` flags (tests shrink the problem).
pub fn run_with(ctx: &Ctx, iterations: usize, extra: &[&str]) -> Result<Section, CliError> {
    let _quiet = crate::progress::hide_bars();
    let it = iterations.to_string();
    let line = Line::new("hybrid train", &["--iterations", &it]).with(extra);
    (ctx.progress)(0, 1);
    let fit = crate::hybrid_train::fit(&line.parse()?)?;
    (ctx.progress)(1, 1);
    let j = &fit.json;
    let f = |k: &str| j[k].as_f64().unwrap_or(f64::NAN);
    let (t0, t1) = (f("test_loss_initial"), f("test_loss_final"));
    let (src, obs) = (f("source_rel_l2"), f("observable_rel_l2"));
    let lower = t0 / t1;
    let mut rows = vec![
        Row {
            section: ID,
            name: format!("test loss after {iterations} iterations: how many times lower"),
            reference: "at least 100 (the docs: 616 after 1000 iterations, 2.144e-1 -> 3.48e-4)".into(),
            source: DOCS.into(),
            measured: format!("{lower:.0} ({t0:.3e} -> {t1:.3e})"),
            verdict: reached(lower >= 100.0, ctx.quick),
            note: reduced_note(lower >= 100.0, ctx.quick).into(),
        },
        Row {
            section: ID,
            name: "source recovery: relative L2 error of the learned source (test samples)".into(),
            reference: "0.72".into(),
            source: DOCS.into(),
            measured: format!("{src:.3}"),
            verdict: Verdict::Info,
            note: "the observations hide part of the source (a Fourier mode k with kaT near an integer barely \
                   reaches u(T); docs/hybrid.md, What the observations determine)"
                .into(),
        },
        Row {
            section: ID,
            name: "relative L2 error of the part the observations see (the source's effect on u(T))".into(),
            reference: "0.24".into(),
            source: DOCS.into(),
            measured: format!("{obs:.3}"),
            verdict: Verdict::Info,
            note: String::new(),
        },
    ];
    let ok = obs < src;
    rows.push(Row {
        section: ID,
        name: "the observable part is recovered better than the whole source".into(),
        reference: "observable error below the source error (the docs: 0.24 < 0.72)".into(),
        source: DOCS.into(),
        measured: format!("{obs:.3} < {src:.3}: {}", if ok { "yes" } else { "no" }),
        verdict: reached(ok, ctx.quick),
        note: reduced_note(ok, ctx.quick).into(),
    });
    rows.push(Row {
        section: ID,
        name: "kinks hit over training (network, scheme) and the run's certificate".into(),
        reference: "-".into(),
        source: "measured only".into(),
        measured: format!(
            "{}, {}; {}",
            j["kinks_network"],
            j["kinks_scheme"],
            j["certificate"]["kind"].as_str().unwrap_or("?")
        ),
        verdict: Verdict::Info,
        note: format!("mode {}", j["mode"].as_str().unwrap_or("?")),
    });
    let mut figures: Vec<Figure> = Vec::new();
    crate::hybrid_train::figures(&fit.model, &fit.data, &fit.history, &mut |name, chart| {
        let caption = match name {
            "loss" => "Training and test loss J(W) against the Adam iteration.",
            "source" => "Learned source (solid) against the true source (dashed), three test samples.",
            _ => return Ok(()),
        };
        figures.push(Figure { caption: caption.into(), svg: crate::plot::svg(chart)? });
        Ok(())
    })?;
    Ok(Section {
        id: ID,
        title: "Hybrid model: training curve and source recovery".into(),
        settings: format!("{line} (the built-in problem: upwind, 128 cells, 90 steps, 64 + 16 samples, safe mode)"),
        rows,
        figures,
    })
}
