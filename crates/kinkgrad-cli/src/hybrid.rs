//! `kinkgrad hybrid generate|train|eval`: a ReLU network as the source term of a finite-volume
//! solver, fitted to observations (training: [`crate::hybrid_train`]).

use crate::budget;
use crate::diff_args::DiffArgs;
use crate::output::num;
use crate::report::CliError;
use kinkgrad::hybrid::{checkpoint, data, Dataset, GenerateConfig, HybridModel, SourceForm};
use kinkgrad::io::npy::{self, Array};
use kinkgrad::io::safetensors_io::{self, Dtype, NamedTensor};
use kinkgrad::pde::checkpoint::Schedule;
use std::path::{Path, PathBuf};

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
    Train(crate::hybrid_train::TrainArgs),
    /// Evaluate saved weights on a data set.
    Eval(EvalArgs),
}

/// The problem (used when generating data).
#[derive(clap::Args, Clone)]
pub struct Problem {
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
    /// Output file: .npz (NumPy) or else safetensors; alpha [S,2], beta [S,N], gamma [S,N],
    /// true_source [S,N] and the settings (docs/formats.md).
    #[arg(long, default_value = "hybrid-data.safetensors")]
    out: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct EvalArgs {
    #[command(flatten)]
    problem: Problem,
    /// Data file, safetensors or .npz (default: generate from the problem flags).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Weights-only file (from `hybrid train --save`, or written by PyTorch/NumPy with the names
    /// fc1.weight [out, in], fc1.bias, ...; docs/formats.md).
    #[arg(long)]
    weights: PathBuf,
    /// Export x [N], u_T [S,N] (the model's final states, every sample) and the learned source
    /// [S,N] (state form: at the model's u(T)) to F.npz or F.safetensors.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Mode and representation of the test loss's gradient (its norm and certificate are printed).
    #[command(flatten)]
    diff: DiffArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn gen_config(p: &Problem) -> Result<GenerateConfig, String> {
    if p.cells < 3 {
        return Err(format!("--cells must be at least 3, got {}", p.cells));
    }
    let samples = p
        .n_train
        .checked_add(p.n_test)
        .ok_or_else(|| format!("--n-train {} + --n-test {} overflows", p.n_train, p.n_test))?;
    budget::steps("--steps", p.steps as f64)?;
    let cells = p.cells as u64;
    // per sample: alpha, the initial and the final state, the true source; while generating, a few
    // states of the grid
    budget::check(
        &format!("--n-train {} --n-test {} --cells {}: the data set", p.n_train, p.n_test, p.cells),
        &[samples as u64, cells.saturating_add(2), 4 * 8],
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

/// The data set of `--data` (checked against the budget), or generated from the problem flags.
pub fn dataset(p: &Problem, file: &Option<PathBuf>) -> Result<Dataset, CliError> {
    let d = match file {
        Some(f) => {
            let d = data::load(f, budget::get())?;
            budget::steps(&format!("data set {}: metadata 'steps' = {}", f.display(), d.steps), d.steps as f64)?;
            d
        }
        None => data::generate(&gen_config(p)?)?,
    };
    Ok(d)
}

/// Refuses a network of `width` whose weights, optimiser state and activations over `d` would not
/// fit the memory budget (checked before the network is built).
pub fn check_width(width: usize, d: &Dataset, batch: usize) -> Result<(), String> {
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
        Cmd::Eval(e) => eval(e),
        Cmd::Train(t) => crate::hybrid_train::run(t),
    }
}

fn eval(e: EvalArgs) -> Result<String, CliError> {
    let (mode, rep) = e.diff.build()?;
    if let Some(o) = &e.out {
        export_format(o)?;
    }
    let d = dataset(&e.problem, &e.data)?;
    if d.test_indices().is_empty() {
        return Err(format!("the data set has no test samples (all {} are for training)", d.len()).into());
    }
    let m = checkpoint::load_weights(&e.weights, d.source, d.params(), budget::get())?;
    let width = m.net.params[0].shape()[0];
    check_width(width, &d, 0)?;
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
        return Err(CliError::new("numeric", format!("the {what} is {v} with the weights of {}", e.weights.display())));
    }
    if let Some(o) = &e.out {
        export(o, &m, &d)?;
    }
    let c = &g.certificate;
    let j = serde_json::json!({"train_loss": num(train), "test_loss": num(test),
        "source_rel_l2": rel.map(num), "test_gradient_norm": num(norm), "mode": mode.name(), "certificate": c,
        "out": e.out.as_ref().map(|o| o.display().to_string())});
    if e.json {
        return Ok(format!("{j}\n"));
    }
    let mut s = format!("train loss {train:.4e}\ntest loss  {test:.4e}\n");
    s += &match rel {
        Some(r) => format!("source relative L2 error (test) {r:.4}\n"),
        None => "source relative L2 error: not computed (the data set has no true source)\n".to_string(),
    };
    s += &format!("|dJ_test/dW| {norm:.4e}\ncertificate {c}\n");
    if let Some(o) = &e.out {
        s += &format!("wrote {} (x, u_T, source of {} samples)\n", o.display(), d.len());
    }
    Ok(s)
}

/// `npz` or `safetensors` from the extension of an export file, or the one-line refusal.
fn export_format(path: &Path) -> Result<bool, String> {
    match path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).as_deref() {
        Some("npz") => Ok(true),
        Some("safetensors") => Ok(false),
        _ => Err(format!("--out {}: use a .npz or .safetensors file name", path.display())),
    }
}

/// Write `x [N]`, `u_T [S, N]` and `source [S, N]` of every sample (atomically).
fn export(path: &Path, m: &HybridModel, d: &Dataset) -> Result<(), CliError> {
    let t = d.transport()?;
    let (s, n) = (d.len(), d.cells);
    budget::check(&format!("--out {}", path.display()), &[s as u64, n as u64, 3 * 8])?;
    let mut u_t = Vec::with_capacity(s * n);
    let mut source = Vec::with_capacity(s * n);
    for i in 0..s {
        let u = m.simulate(d, &t, i)?;
        let state = (m.form == SourceForm::State).then_some(u.as_slice());
        source.extend(m.source(&t, &d.alpha[i], state)?);
        u_t.extend(u);
    }
    if let Some(k) = u_t.iter().chain(&source).position(|v| !v.is_finite()) {
        return Err(CliError::new(
            "numeric",
            format!("the exported values hold {} at index {k}", u_t.get(k).unwrap_or(&f64::NAN)),
        ));
    }
    let arrays = [
        Array::new("x", vec![n], t.grid.centers()),
        Array::new("u_T", vec![s, n], u_t),
        Array::new("source", vec![s, n], source),
    ];
    if export_format(path)? {
        npy::save_npz(path, &arrays)?;
    } else {
        let tensors: Vec<NamedTensor> =
            arrays.into_iter().map(|a| NamedTensor::new(a.name, a.shape, Dtype::F64, a.data)).collect();
        let meta = [("n_train", d.n_train.to_string()), ("source", d.source.name().to_string())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        safetensors_io::save(path, &tensors, &meta)?;
    }
    Ok(())
}
