//! `kinkgrad hybrid train`: fit the network source with Adam; checkpoints at the end, every
//! `--save-every` iterations and on Ctrl-C (exit 130); `--resume` continues bit for bit.

use crate::budget;
use crate::diff_args::DiffArgs;
use crate::hybrid::{check_width, dataset, Problem};
use crate::output::num;
use crate::plot::{LineChart, Series};
use crate::report::CliError;
use kinkgrad::hybrid::{self, checkpoint, Dataset, HybridModel, Position, Snapshot, SourceForm, TrainConfig};
use kinkgrad::nn::Optimizer;
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::{Mode, Representation};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    problem: Problem,
    /// Data file, safetensors or .npz, from `kinkgrad hybrid generate` or written from Python
    /// (schema: docs/formats.md); default: generate from the problem flags.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Mode and representation: safe locks the network's and the scheme's kinks together (both
    /// source forms, every scheme; it records every time step, so only --checkpoint all); assoc
    /// follows any schedule; lex is refused for training (one direction per weight).
    #[command(flatten)]
    diff: DiffArgs,
    /// Checkpoint schedule of the time loop: all, sqrt, revolve:S.
    #[arg(long, default_value = "all")]
    checkpoint: String,
    /// Adam iterations.
    #[arg(long, default_value_t = 1000)]
    iterations: usize,
    /// Learning rate [default: 0.01; on --resume, the file's rate unless given].
    #[arg(long)]
    lr: Option<f64>,
    /// Samples per iteration (0: all training samples).
    #[arg(long, default_value_t = 0)]
    batch: usize,
    /// Hidden width of the 2-hidden-layer ReLU network [default: 32; on --resume, the file's, and
    /// another given width is refused].
    #[arg(long)]
    width: Option<usize>,
    /// Seed of the weights and the batches (`--seed` is safe mode's probe seed).
    #[arg(long, default_value_t = 0)]
    init_seed: u64,
    /// Evaluate the test loss every this many iterations.
    #[arg(long, default_value_t = 50)]
    eval_every: usize,
    /// Save a checkpoint at the end, on Ctrl-C and every --save-every iterations: the weights-only
    /// file here (PyTorch names) and its state file STEM.state.safetensors beside it (atomic).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Also save the checkpoint every N iterations (needs --save).
    #[arg(long)]
    save_every: Option<usize>,
    /// Resume from a checkpoint of --save (the weights file; its state file beside it): continues
    /// bit for bit (same batches, same Adam state) with the file's learning rate unless --lr.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Check dJ/dW before training by the library's check for the run: central differences where no
    /// kink was hit, one-sided quotients against lex's one-sided derivatives in safe at kinks, none
    /// (said so) in assoc at kinks; 3 directions.
    #[arg(long)]
    grad_check: bool,
    /// Write plots into this folder: loss, source, states (.svg, or .png with --plot-format png).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Format of the --plot files.
    #[arg(long, default_value = "svg", value_parser = ["svg", "png"])]
    plot_format: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Peak resident memory of this process (VmHWM), when the OS tells it.
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

/// Run `kinkgrad hybrid train`.
pub fn run(a: TrainArgs) -> Result<String, CliError> {
    let f = fit(&a)?;
    Ok(if a.json { format!("{}\n", f.json) } else { f.text })
}

/// A finished `hybrid train` run: its summary (JSON and text), its history, the trained model and
/// its data set.
pub(crate) struct Fit {
    /// The summary `--json` prints.
    pub json: serde_json::Value,
    /// The summary printed without `--json`.
    pub text: String,
    /// Train loss (every iteration) and test loss (every `--eval-every`).
    pub history: Vec<hybrid::TrainStep>,
    /// The trained model.
    pub model: HybridModel,
    /// The data set it was trained on.
    pub data: Dataset,
}

/// Train as `kinkgrad hybrid train` does (checkpoints and plots included) and return the run.
pub(crate) fn fit(a: &TrainArgs) -> Result<Fit, CliError> {
    let d = dataset(&a.problem, &a.data)?;
    if d.test_indices().is_empty() {
        return Err("the data set has no test samples (n_train equals the number of samples)".to_string().into());
    }
    let schedule: Schedule = a.checkpoint.parse()?;
    let (mode, rep) = a.diff.build()?;
    if let Some(lr) = a.lr.filter(|lr| !(*lr > 0.0 && lr.is_finite())) {
        return Err(format!("--lr must be a positive number, got {lr}").into());
    }
    if a.width == Some(0) {
        return Err("--width must be positive".to_string().into());
    }
    if a.save_every.is_some() && a.save.is_none() {
        return Err("--save-every needs --save (where to write the checkpoints)".to_string().into());
    }
    if a.save_every == Some(0) {
        return Err("--save-every must be positive".to_string().into());
    }
    if a.plot.is_some() && a.plot_format != "svg" && a.plot_format != "png" {
        return Err(format!("--plot-format {}: expected svg or png", a.plot_format).into());
    }
    budget::steps("--iterations", a.iterations as f64)?;
    let mut resumed = None;
    let (mut model, mut opt, mut pos) = match &a.resume {
        Some(p) => {
            let r = checkpoint::resume(p, &d, budget::get())?;
            let (m, mut o, pos) = (r.model, r.opt, r.position);
            let it = pos.iteration;
            let width = m.net.params[0].shape()[0];
            if let Some(w) = a.width.filter(|&w| w != width) {
                return Err(format!("--width {w}: the checkpoint {} has width {width}: refused", p.display()).into());
            }
            if r.batch != a.batch {
                return Err(format!(
                    "--batch {}: the checkpoint {} was saved with --batch {}; resuming bit for bit needs the same: \
                     refused",
                    a.batch,
                    p.display(),
                    r.batch
                )
                .into());
            }
            check_width(width, &d, a.batch)?;
            if it >= a.iterations {
                return Err(format!(
                    "{} has already run {it} iterations, as many as --iterations {}: nothing to resume (raise \
                     --iterations)",
                    p.display(),
                    a.iterations
                )
                .into());
            }
            // the given rate replaces the file's (said in the report); without --lr the file's is kept
            let file_lr = o.lr;
            if let Some(lr) = a.lr {
                o.lr = lr;
            }
            resumed = Some((p.clone(), it, file_lr, o.lr));
            (m, o, pos)
        }
        None => {
            let width = a.width.unwrap_or(32);
            check_width(width, &d, a.batch)?;
            let sizes = [HybridModel::inputs(d.source, d.params()), width, width, 1];
            let m = HybridModel::with_sizes(d.source, &sizes, a.init_seed)?;
            let o = hybrid::adam(&m, a.lr.unwrap_or(1e-2));
            (m, o, Position::new(a.init_seed, d.n_train))
        }
    };
    let start = pos.iteration;
    if let Some(dir) = &a.plot {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create folder: {e}", dir.display()))?;
    }
    let cfg = TrainConfig {
        iterations: a.iterations,
        lr: opt.lr,
        batch: a.batch,
        eval_every: a.eval_every,
        mode: mode.clone(),
        rep: rep.clone(),
        schedule,
        seed: a.init_seed,
    };
    let (tr, te) = (d.train_indices(), d.test_indices());
    let train0 = model.loss(&d, &tr)?;
    let test0 = model.loss(&d, &te)?;
    let grad_check = if a.grad_check { Some(grad_check(&model, &d, &mode, &rep, &schedule)?) } else { None };
    // time a forward and a gradient on the training set: the median of 5 calls after a warm-up call
    // (the first call also pays for thread start-up and fresh memory)
    let median5 = |f: &dyn Fn() -> kinkgrad::Result<()>| -> kinkgrad::Result<f64> {
        f()?;
        let mut ts = Vec::with_capacity(5);
        for _ in 0..5 {
            let t0 = Instant::now();
            f()?;
            ts.push(t0.elapsed().as_secs_f64());
        }
        ts.sort_by(f64::total_cmp);
        Ok(ts[2])
    };
    let fwd = median5(&|| model.loss(&d, &tr).map(|_| ()))?;
    let grad_s = median5(&|| model.loss_and_gradient(&d, &tr, &mode, &rep, &schedule).map(|_| ()))?;

    let bar = crate::progress::Progress::new(a.iterations.saturating_sub(start) as u64, "iterations");
    let t0 = Instant::now();
    let mut last_test = test0;
    let run = hybrid::train(&mut model, &mut opt, &d, &cfg, &mut pos, &mut |s, snap| {
        if let Some(t) = s.test_loss {
            last_test = t;
        }
        let line = || {
            format!(
                "iteration {} train {:.3e} test {:.3e} kinks net {} scheme {}",
                s.iteration,
                s.train_loss,
                last_test,
                s.net_kinks(),
                s.scheme_kinks()
            )
        };
        bar.message(line);
        bar.step(line);
        bar.inc();
        match (&a.save, a.save_every) {
            (Some(p), Some(n)) if s.iteration % n == 0 => checkpoint::save(p, snap, a.batch),
            _ => Ok(()),
        }
    });
    bar.finish();
    let run = match run {
        Ok(r) => r,
        Err(e) => return Err(interrupted(e, &model, &opt, &pos, a.save.as_deref(), a.batch).into()),
    };
    let history = &run.steps;
    let seconds = t0.elapsed().as_secs_f64();
    let iteration = pos.iteration;
    if let Some(p) = &a.save {
        checkpoint::save(p, &Snapshot { model: &model, opt: &opt, position: &pos }, a.batch)?;
    }
    let train1 = model.loss(&d, &tr)?;
    let test1 = model.loss(&d, &te)?;
    let rel = model.source_rel_l2(&d, &te)?;
    // the part of the source the observations see (alpha form): its effect on the final state
    let observable = match d.source {
        SourceForm::Alpha => model.observable_rel_l2(&d, &te)?,
        SourceForm::State => None,
    };
    if let Some(dir) = &a.plot {
        figures(&model, &d, history, &mut |name, fig| {
            crate::plot::save(&dir.join(format!("{name}.{}", a.plot_format)), fig)
        })?;
    }
    let cert = &run.certificate;
    let (net_kinks, scheme_kinks) =
        (hybrid::scope_kinks(&cert.kinks, hybrid::NET), hybrid::scope_kinks(&cert.kinks, hybrid::SCHEME));
    let peak = history.iter().map(|s| s.peak_bytes).max().unwrap_or(0);
    let mut j = serde_json::json!({
        "scheme": d.scheme.name(), "source": d.source.name(), "cells": d.cells, "steps": d.steps,
        "mode": mode.name(), "checkpoint": schedule.to_string(), "iterations": iteration,
        "train_loss_initial": num(train0), "train_loss_final": num(train1),
        "test_loss_initial": num(test0), "test_loss_final": num(test1),
        "test_loss_reduction": num(test0 / test1),
        "source_rel_l2": rel.map(num), "observable_rel_l2": observable.map(num), "seconds": num(seconds),
        "forward_seconds": num(fwd), "gradient_seconds": num(grad_s), "gradient_forward_ratio": num(grad_s / fwd),
        "kinks_network": net_kinks, "kinks_scheme": scheme_kinks, "certificate": cert,
        "peak_gradient_bytes": peak,
        "peak_rss_bytes": peak_rss(),
    });
    if let Some(g) = &grad_check {
        j["grad_check"] = serde_json::json!(g);
    }
    if let Some((p, it, file_lr, lr)) = &resumed {
        j["resumed"] =
            serde_json::json!({"file": p.display().to_string(), "iteration": it, "file_lr": file_lr, "lr": lr});
    }
    let mut s = match &resumed {
        Some((p, it, file_lr, lr)) if file_lr != lr => {
            format!("resumed {} at iteration {it}, learning rate {lr} (--lr; the file had {file_lr})\n", p.display())
        }
        Some((p, it, _, lr)) => format!("resumed {} at iteration {it}, learning rate {lr} (the file's)\n", p.display()),
        None => String::new(),
    };
    s += &format!(
        "hybrid {} / source {} / {} cells, {} steps / mode {} / checkpoint {}\n",
        d.scheme.name(),
        d.source.name(),
        d.cells,
        d.steps,
        mode.name(),
        schedule
    );
    s += &format!(
        "train loss  {train0:.4e} -> {train1:.4e}\ntest loss   {test0:.4e} -> {test1:.4e}  ({})\n",
        change_factor(test0, test1)
    );
    s += &match rel {
        Some(r) => format!("source relative L2 error (test samples) {r:.4}\n"),
        None => "source relative L2 error: not computed (the data set has no true source)\n".to_string(),
    };
    if let Some(o) = observable {
        s += &format!("  of the part the observations see (the source's effect on u(T) from u0 = 0) {o:.4}\n");
    }
    s += &format!(
        "{iteration} iterations in {seconds:.1} s; one gradient {:.2} ms, one forward {:.2} ms (ratio {:.2})\n",
        grad_s * 1e3,
        fwd * 1e3,
        grad_s / fwd
    );
    s += &format!("kinks hit: network {net_kinks}, scheme {scheme_kinks}\ncertificate {cert}\n");
    if let Some(g) = &grad_check {
        match g.max_rel_error {
            Some(e) => {
                s += &format!(
                    "gradient check {}: max relative error {e:.2e} over {} directions ({})\n",
                    g.kind.as_str(),
                    g.directions,
                    g.note
                )
            }
            None => s += &format!("gradient check {}: {}\n", g.kind.as_str(), g.note),
        }
    }
    if let Some(p) = &a.save {
        s += &format!("saved {}\n", p.display());
    }
    let history = run.steps;
    Ok(Fit { json: j, text: s, history, model, data: d })
}

fn grad_check(
    m: &HybridModel,
    d: &Dataset,
    mode: &Mode,
    rep: &Representation,
    sch: &Schedule,
) -> kinkgrad::Result<kinkgrad::check::GradCheck> {
    let idx = d.train_indices();
    let r = m.loss_and_gradient(d, &idx, mode, rep, sch)?;
    kinkgrad::check::hybrid::check_hybrid(m, d, &idx, mode, &r, 3)
}

/// The figures of `--plot`, each handed to `draw` with its name: `loss` (train and test loss against
/// the iteration), `source` (learned against true source, three test samples), `states` (final
/// states against observations).
pub(crate) fn figures(
    m: &HybridModel,
    d: &Dataset,
    h: &[hybrid::TrainStep],
    draw: &mut dyn FnMut(&str, &LineChart) -> Result<(), String>,
) -> Result<(), String> {
    let mut chart =
        |name: &str, title: &str, xlabel: &str, ylabel: &str, series: &[Series], log_y: bool, paired: bool| {
            draw(name, &LineChart { title, xlabel, ylabel, series, log_y, paired })
        };
    let train =
        Series { name: "train loss".into(), points: h.iter().map(|s| (s.iteration as f64, s.train_loss)).collect() };
    let test = Series {
        name: "test loss".into(),
        points: h.iter().filter_map(|s| s.test_loss.map(|t| (s.iteration as f64, t))).collect(),
    };
    chart("loss", "Hybrid training: J(W)", "iteration", "J", &[train, test], true, false)?;
    let t = d.transport().map_err(|e| e.to_string())?;
    let x = t.grid.centers();
    let mut src = Vec::new();
    let mut states = Vec::new();
    for (k, &i) in d.test_indices().iter().take(3).enumerate() {
        let u = if m.form == SourceForm::State { Some(d.gamma[i].as_slice()) } else { None };
        let s = m.source(&t, &d.alpha[i], u).map_err(|e| e.to_string())?;
        src.push(Series { name: format!("learned, test {k}"), points: x.iter().copied().zip(s).collect() });
        // the true source only when the data carry one (paired with the learned curve)
        if let Some(truth) = d.true_source_at(i, &x, u) {
            src.push(Series { name: format!("true, test {k}"), points: x.iter().copied().zip(truth).collect() });
        }
        let u_t = m.simulate(d, &t, i).map_err(|e| e.to_string())?;
        states.push(Series { name: format!("model u(T), test {k}"), points: x.iter().copied().zip(u_t).collect() });
        states.push(Series {
            name: format!("observed, test {k}"),
            points: x.iter().copied().zip(d.gamma[i].clone()).collect(),
        });
    }
    let paired = d.truth != kinkgrad::hybrid::TrueSource::Unknown;
    let title = if paired { "Learned vs true source (test samples)" } else { "Learned source (test samples)" };
    chart("source", title, "x", "s", &src, false, paired)?;
    chart("states", "Final states vs observations (test samples)", "x", "u(T)", &states, false, true)
}

/// A cancelled run saves its checkpoint when --save was given and says so in the error's one line.
fn interrupted(
    e: kinkgrad::Error,
    model: &HybridModel,
    opt: &Optimizer,
    pos: &Position,
    save: Option<&Path>,
    batch: usize,
) -> kinkgrad::Error {
    let kinkgrad::Error::Cancelled { at } = &e else { return e };
    let at = match save {
        None => format!("{at}; nothing saved (no --save)"),
        Some(p) => match checkpoint::save(p, &Snapshot { model, opt, position: pos }, batch) {
            Ok(()) => format!(
                "{at}; saved iteration {} to {} and {} (resume with --resume {})",
                pos.iteration,
                p.display(),
                kinkgrad::nn::state_path(p).display(),
                p.display()
            ),
            Err(s) => format!("{at}; saving the checkpoint failed: {s}"),
        },
    };
    kinkgrad::Error::Cancelled { at }
}

/// How a loss changed, in words: `12.3x lower`, `1.5x higher` or `unchanged`.
fn change_factor(before: f64, after: f64) -> String {
    if after == 0.0 && before > 0.0 {
        "down to 0".to_string()
    } else if after < before {
        format!("{:.1}x lower", before / after)
    } else if after > before {
        format!("{:.1}x higher", after / before)
    } else {
        "unchanged".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::change_factor;

    /// By hand: 2.0 -> 0.5 is 4x lower, 0.5 -> 0.6 is 1.2x higher (the old text said "0.8x lower").
    #[test]
    fn loss_change_in_words() {
        assert_eq!(change_factor(2.0, 0.5), "4.0x lower");
        assert_eq!(change_factor(0.5, 0.6), "1.2x higher");
        assert_eq!(change_factor(0.5, 0.5), "unchanged");
        assert_eq!(change_factor(0.5, 0.0), "down to 0");
    }
}
