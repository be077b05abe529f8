//! `kinkgrad hybrid generate|train|eval`: a ReLU network as the source term of a finite-volume
//! solver, fitted to observations.

use crate::budget;
use crate::diff_args::DiffArgs;
use crate::output::{num, write_atomic};
use crate::plot::{line_chart, paired_chart, Series};
use crate::report::CliError;
use kinkgrad::hybrid::{self, data, Dataset, GenerateConfig, HybridModel, SourceForm, TrainConfig};
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::{Mode, Representation};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `kinkgrad hybrid`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Generate synthetic observations from a known source and save them.
    Generate(GenArgs),
    /// Train the network source (generates the default data set when --data is not given).
    Train(TrainArgs),
    /// Evaluate saved weights on a data set.
    Eval(EvalArgs),
}

/// The problem (used when generating data).
#[derive(clap::Args, Clone)]
struct Problem {
    /// The finite-volume scheme.
    #[arg(long, default_value = "upwind", value_parser = crate::flags::SCHEMES)]
    scheme: String,
    /// Source form: alpha (S_W(alpha)(x)) or state (S_W(u, alpha, x) at every step).
    #[arg(long, default_value = "alpha", value_parser = ["alpha", "state"])]
    source: String,
    /// Cells of the periodic unit grid.
    #[arg(long, default_value_t = 128)]
    cells: usize,
    /// Courant number.
    #[arg(long, default_value_t = 0.5)]
    cfl: f64,
    /// Time steps (default 90: T = 90 dt hides no Fourier mode of the true source; see the docs).
    #[arg(long, default_value_t = 90)]
    steps: usize,
    /// Training samples.
    #[arg(long, default_value_t = 64)]
    n_train: usize,
    /// Test samples.
    #[arg(long, default_value_t = 16)]
    n_test: usize,
    /// Noise standard deviation added to the observations.
    #[arg(long, default_value_t = 0.0)]
    noise: f64,
    /// Seed of the data.
    #[arg(long, default_value_t = 0)]
    data_seed: u64,
}

#[derive(clap::Args)]
struct GenArgs {
    #[command(flatten)]
    problem: Problem,
    /// Output file (safetensors: alpha [S,2], beta [S,N], gamma [S,N] + metadata).
    #[arg(long, default_value = "hybrid-data.safetensors")]
    out: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct TrainArgs {
    #[command(flatten)]
    problem: Problem,
    /// Data file from `kinkgrad hybrid generate` (or written from Python); default: generate.
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
    /// Hidden width of the 2-hidden-layer ReLU network.
    #[arg(long, default_value_t = 32)]
    width: usize,
    /// Seed of the weights and the batches (`--seed` is safe mode's probe seed).
    #[arg(long, default_value_t = 0)]
    init_seed: u64,
    /// Evaluate the test loss every this many iterations.
    #[arg(long, default_value_t = 50)]
    eval_every: usize,
    /// Save weights and optimiser state here at the end (atomic).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Resume from a saved state.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Check dJ/dW against central finite differences along 5 random directions before training.
    #[arg(long)]
    grad_check: bool,
    /// Write SVG plots into this folder: loss.svg, source.svg, states.svg.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct EvalArgs {
    #[command(flatten)]
    problem: Problem,
    /// Data file (default: generate from the problem flags).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Saved state from `kinkgrad hybrid train --save`.
    #[arg(long)]
    weights: PathBuf,
    /// Mode and representation of the test loss's gradient (its norm and certificate are printed).
    #[command(flatten)]
    diff: DiffArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn gen_config(p: &Problem) -> Result<GenerateConfig, String> {
    if p.cells < 3 {
        return Err(format!("--cells must be at least 3, got {}", p.cells));
    }
    let samples = p
        .n_train
        .checked_add(p.n_test)
        .ok_or_else(|| format!("--n-train {} + --n-test {} overflows", p.n_train, p.n_test))?;
    budget::steps("--steps", p.steps as f64)?;
    let cells = p.cells as u64;
    // per sample: alpha, the initial and the final state; while generating, a few states of the grid
    budget::check(
        &format!("--n-train {} --n-test {} --cells {}: the data set", p.n_train, p.n_test, p.cells),
        &[samples as u64, cells.saturating_add(2), 3 * 8],
    )?;
    budget::check(&format!("--cells {}", p.cells), &[cells, 16 * 8])?;
    Ok(GenerateConfig {
        scheme: p.scheme.parse().map_err(|e: kinkgrad::Error| e.to_string())?,
        cells: p.cells,
        courant: p.cfl,
        steps: p.steps,
        velocity: 1.0,
        source: p.source.parse::<SourceForm>().map_err(|e| e.to_string())?,
        n_train: p.n_train,
        n_test: p.n_test,
        noise: p.noise,
        seed: p.data_seed,
    })
}

fn dataset(p: &Problem, file: &Option<PathBuf>) -> Result<Dataset, CliError> {
    let d = match file {
        Some(f) => {
            let d = data::load(f)?;
            budget::steps(&format!("data set {}: metadata 'steps' = {}", f.display(), d.steps), d.steps as f64)?;
            d
        }
        None => data::generate(&gen_config(p)?)?,
    };
    Ok(d)
}

/// Refuses a network of `width` whose weights, optimiser state and activations over `d` would not
/// fit the memory budget (checked before the network is built).
fn check_width(width: usize, d: &Dataset, batch: usize) -> Result<(), String> {
    let w = width as u64;
    let what = format!("--width {width}");
    // weights, gradients and Adam's two moments
    budget::check(&format!("{what}: the network"), &[w, w.saturating_add(8), 4 * 8])?;
    // activations: each sample evaluates the network at every cell (every step for the state form)
    let samples = if batch == 0 { d.len() } else { batch.min(d.len()) } as u64;
    let evals = if d.source == SourceForm::State { (d.steps as u64).saturating_add(1) } else { 1 };
    budget::check(&format!("{what}: the activations"), &[samples, d.cells as u64, evals, w, 3 * 8])?;
    // the stored states of the time loop
    budget::check(
        &format!("{} cells x {} steps: the stored states", d.cells, d.steps),
        &[samples, d.cells as u64, (d.steps as u64).saturating_add(1), 2 * 8],
    )
}

/// Peak resident memory of this process (VmHWM), when the OS tells it.
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

/// Run the command.
pub fn run(a: Args) -> Result<String, CliError> {
    match a.cmd {
        Cmd::Generate(g) => {
            let d = data::generate(&gen_config(&g.problem)?)?;
            data::save(&g.out, &d)?;
            let j = serde_json::json!({"file": g.out.display().to_string(), "samples": d.len(), "n_train": d.n_train,
                "cells": d.cells, "steps": d.steps, "scheme": d.scheme.name(), "source": d.source.name()});
            Ok(if g.json {
                format!("{j}\n")
            } else {
                format!(
                    "wrote {} ({} samples, {} for training; {} cells, {} steps, {}, source {})\n",
                    g.out.display(),
                    d.len(),
                    d.n_train,
                    d.cells,
                    d.steps,
                    d.scheme.name(),
                    d.source.name()
                )
            })
        }
        Cmd::Eval(e) => {
            let (mode, rep) = e.diff.build()?;
            let d = dataset(&e.problem, &e.data)?;
            if d.test_indices().is_empty() {
                return Err(format!("the data set has no test samples (all {} are for training)", d.len()).into());
            }
            let (m, _, it) = hybrid::load_state(&e.weights)?;
            check_form(&m, &d)?;
            check_width(m.net.params[0].shape()[0], &d, 0)?;
            let err = |e: kinkgrad::Error| e.to_string();
            // the test loss with its gradient (how far from stationary the weights are) and certificate
            let g = m.loss_and_gradient(&d, &d.test_indices(), &mode, &rep, &Schedule::StoreAll).map_err(err)?;
            let test = g.loss;
            let train = m.loss(&d, &d.train_indices()).map_err(err)?;
            let rel = m.source_rel_l2(&d, &d.test_indices()).map_err(err)?;
            let norm = g.grads.iter().flatten().map(|v| v * v).sum::<f64>().sqrt();
            if let Some((what, v)) = [("test loss", test), ("train loss", train), ("test gradient norm", norm)]
                .into_iter()
                .find(|(_, v)| !v.is_finite())
            {
                return Err(CliError::new(
                    "numeric",
                    format!("the {what} is {v} with the weights of {}", e.weights.display()),
                ));
            }
            let c = &g.certificate;
            let j = serde_json::json!({"iteration": it, "train_loss": num(train), "test_loss": num(test),
                "source_rel_l2": num(rel), "test_gradient_norm": num(norm), "mode": mode.name(), "certificate": c});
            Ok(if e.json {
                format!("{j}\n")
            } else {
                format!("iteration {it}\ntrain loss {train:.4e}\ntest loss  {test:.4e}\nsource relative L2 error (test) {rel:.4}\n|dJ_test/dW| {norm:.4e}\ncertificate {c}\n")
            })
        }
        Cmd::Train(t) => train_cmd(t),
    }
}

fn check_form(m: &HybridModel, d: &Dataset) -> Result<(), String> {
    if m.form != d.source {
        return Err(format!(
            "the saved model learns a '{}' source but the data were generated with a '{}' source",
            m.form.name(),
            d.source.name()
        ));
    }
    Ok(())
}

fn train_cmd(a: TrainArgs) -> Result<String, CliError> {
    let d = dataset(&a.problem, &a.data)?;
    if d.test_indices().is_empty() {
        return Err("the data set has no test samples (n_train equals the number of samples)".to_string().into());
    }
    let schedule: Schedule = a.checkpoint.parse()?;
    let (mode, rep) = a.diff.build()?;
    if let Some(lr) = a.lr.filter(|lr| !(*lr > 0.0 && lr.is_finite())) {
        return Err(format!("--lr must be a positive number, got {lr}").into());
    }
    if a.width == 0 {
        return Err("--width must be positive".to_string().into());
    }
    budget::steps("--iterations", a.iterations as f64)?;
    let mut resumed = None;
    let (mut model, mut opt, start) = match &a.resume {
        Some(p) => {
            let (m, mut o, it) = hybrid::load_state(p)?;
            check_form(&m, &d)?;
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
            (m, o, it)
        }
        None => {
            check_width(a.width, &d, a.batch)?;
            let m = HybridModel::new(d.source, a.width, a.init_seed)?;
            let o = hybrid::adam(&m, a.lr.unwrap_or(1e-2));
            (m, o, 0)
        }
    };
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
    let err = |e: kinkgrad::Error| e.to_string();
    let train0 = model.loss(&d, &tr).map_err(err)?;
    let test0 = model.loss(&d, &te).map_err(err)?;
    let grad_check = if a.grad_check { Some(grad_check(&model, &d, &mode, &rep, &schedule)?) } else { None };
    // time a forward and a gradient on the training set: the median of 5 calls after a warm-up call
    // (the first call also pays for thread start-up and fresh memory)
    let median5 = |f: &dyn Fn() -> kinkgrad::Result<()>| -> Result<f64, String> {
        f().map_err(err)?;
        let mut ts = Vec::with_capacity(5);
        for _ in 0..5 {
            let t0 = Instant::now();
            f().map_err(err)?;
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
    let run = hybrid::train(&mut model, &mut opt, &d, &cfg, start, &mut |s| {
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
    });
    bar.finish();
    let run = run.map_err(err)?;
    let history = &run.steps;
    let seconds = t0.elapsed().as_secs_f64();
    let train1 = model.loss(&d, &tr).map_err(err)?;
    let test1 = model.loss(&d, &te).map_err(err)?;
    let rel = model.source_rel_l2(&d, &te).map_err(err)?;
    // the part of the source the observations see (alpha form): its effect on the final state
    let observable = match d.source {
        SourceForm::Alpha => Some(model.observable_rel_l2(&d, &te).map_err(err)?),
        SourceForm::State => None,
    };
    let iteration = start + history.len();
    if let Some(p) = &a.save {
        hybrid::save_state(p, &model, &opt, iteration).map_err(err)?;
    }
    if let Some(dir) = &a.plot {
        write_plots(dir, &model, &d, history)?;
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
        "source_rel_l2": num(rel), "observable_rel_l2": observable.map(num), "seconds": num(seconds),
        "forward_seconds": num(fwd), "gradient_seconds": num(grad_s), "gradient_forward_ratio": num(grad_s / fwd),
        "kinks_network": net_kinks, "kinks_scheme": scheme_kinks, "certificate": cert,
        "peak_state_bytes_per_sample": peak,
        "peak_rss_bytes": peak_rss(),
    });
    if let Some(g) = grad_check {
        j["grad_check"] = serde_json::json!({"max_rel_error": num(g), "directions": 5});
    }
    if let Some((p, it, file_lr, lr)) = &resumed {
        j["resumed"] =
            serde_json::json!({"file": p.display().to_string(), "iteration": it, "file_lr": file_lr, "lr": lr});
    }
    if a.json {
        return Ok(format!("{j}\n"));
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
        "train loss  {train0:.4e} -> {train1:.4e}\ntest loss   {test0:.4e} -> {test1:.4e}  ({:.1}x lower)\n",
        test0 / test1
    );
    s += &format!("source relative L2 error (test samples) {rel:.4}\n");
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
    if let Some(g) = grad_check {
        s += &format!("gradient check: max relative error {g:.2e} over 5 directions\n");
    }
    if let Some(p) = &a.save {
        s += &format!("saved {}\n", p.display());
    }
    Ok(s)
}

fn grad_check(m: &HybridModel, d: &Dataset, mode: &Mode, rep: &Representation, sch: &Schedule) -> Result<f64, String> {
    let idx = d.train_indices();
    let r = m.loss_and_gradient(d, &idx, mode, rep, sch).map_err(|e| e.to_string())?;
    let w: Vec<f64> = m.net.params.iter().flat_map(|p| p.data().to_vec()).collect();
    let g: Vec<f64> = r.grads.concat();
    let mut f = |x: &[f64]| {
        let mut mm = m.clone();
        let mut off = 0;
        for p in mm.net.params.iter_mut() {
            let n = p.len();
            *p = kinkgrad::Tensor::new(p.shape().to_vec(), x[off..off + n].to_vec())?;
            off += n;
        }
        mm.loss(d, &idx)
    };
    let rep = kinkgrad::check::finite_differences(&mut f, &w, &g, 5, 1e-5, 1).map_err(|e| e.to_string())?;
    Ok(rep.max_rel_error)
}

fn write_plots(dir: &Path, m: &HybridModel, d: &Dataset, h: &[hybrid::TrainStep]) -> Result<(), String> {
    let train =
        Series { name: "train loss".into(), points: h.iter().map(|s| (s.iteration as f64, s.train_loss)).collect() };
    let test = Series {
        name: "test loss".into(),
        points: h.iter().filter_map(|s| s.test_loss.map(|t| (s.iteration as f64, t))).collect(),
    };
    write_atomic(
        &dir.join("loss.svg"),
        line_chart("Hybrid training: J(W)", "iteration", "J", &[train, test], true)?.as_bytes(),
    )?;
    let t = d.transport().map_err(|e| e.to_string())?;
    let x = t.grid.centers();
    let mut src = Vec::new();
    let mut states = Vec::new();
    for (k, &i) in d.test_indices().iter().take(3).enumerate() {
        let u = if m.form == SourceForm::State { Some(d.gamma[i].as_slice()) } else { None };
        let s = m.source(&t, d.alpha[i], u).map_err(|e| e.to_string())?;
        src.push(Series { name: format!("learned, test {k}"), points: x.iter().copied().zip(s).collect() });
        src.push(Series {
            name: format!("true, test {k}"),
            points: x.iter().map(|&xj| (xj, data::true_source(m.form, xj, 0.0, d.alpha[i]))).collect(),
        });
        if m.form == SourceForm::State {
            let j = src.len() - 1;
            src[j].points = x
                .iter()
                .zip(&d.gamma[i])
                .map(|(&xj, &uj)| (xj, data::true_source(m.form, xj, uj, d.alpha[i])))
                .collect();
        }
        let u_t = m.simulate(d, &t, i).map_err(|e| e.to_string())?;
        states.push(Series { name: format!("model u(T), test {k}"), points: x.iter().copied().zip(u_t).collect() });
        states.push(Series {
            name: format!("observed, test {k}"),
            points: x.iter().copied().zip(d.gamma[i].clone()).collect(),
        });
    }
    write_atomic(
        &dir.join("source.svg"),
        paired_chart("Learned vs true source (test samples)", "x", "s", &src)?.as_bytes(),
    )?;
    write_atomic(
        &dir.join("states.svg"),
        paired_chart("Final states vs observations (test samples)", "x", "u(T)", &states)?.as_bytes(),
    )?;
    Ok(())
}
