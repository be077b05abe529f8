//! `kinkgrad train`: train an MLP or LeNet on MNIST-style data (the built-in 10 000 digits by
//! default), in any precision and gradient mode, with a progress bar on stderr, the kink log per
//! layer, checkpoints (`--save`, `--resume`) and an optional SVG plot of the curves.

use crate::diff_args::DiffArgs;
use crate::report::CliError;
use clap::Args as ClapArgs;
use kinkgrad::nn::{kinks_per_layer, load_split_within, Init, OptimizerKind, Progress, Sequential, Trainer};
use kinkgrad::{bf16, f16, Certificate, KinkLog, Precision, Real, Rng};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The built-in data set (the repository's `data/mnist-10k`), compiled into the binary.
const BUILTIN_IMAGES: &[u8] = include_bytes!("../../../data/mnist-10k/images-idx3-ubyte.gz");
const BUILTIN_LABELS: &[u8] = include_bytes!("../../../data/mnist-10k/labels-idx1-ubyte.gz");

/// The built-in 10 000 digits split into 8 000 training and 2 000 test examples.
pub(crate) fn builtin_split() -> kinkgrad::Result<(kinkgrad::io::mnist::Mnist, kinkgrad::io::mnist::Mnist)> {
    let d = kinkgrad::io::mnist::mnist_from_bytes(
        BUILTIN_IMAGES,
        BUILTIN_LABELS,
        Path::new("<built-in images>"),
        Path::new("<built-in labels>"),
    )?;
    let cut = d.n * 4 / 5;
    Ok(d.split(cut))
}

/// Arguments of `kinkgrad train`.
#[derive(ClapArgs, Debug, Clone)]
pub struct Args {
    /// Model: `mlp` (784-256-10) or `lenet` (conv5x5(6)-relu-pool2-conv5x5(16)-relu-pool2-120-84-10).
    #[arg(long, default_value = "mlp", value_parser = ["mlp", "lenet"])]
    pub model: String,
    /// Data directory: the original MNIST files (train-* and t10k-*) or one pair of IDX files
    /// (split 80/20). Default: the built-in 10 000 digits (8 000 train / 2 000 test).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Epochs (default: 5 for mlp, 10 for lenet). With --resume, the total including resumed ones.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Optimiser: `sgd` (momentum 0.9) or `adam`.
    #[arg(long, default_value = "adam", value_parser = crate::flags::OPTIMIZERS)]
    pub optimizer: String,
    /// Precision of the weights and the arithmetic.
    #[arg(long, default_value = "f32", value_parser = crate::flags::PRECISIONS)]
    pub precision: String,
    /// Mode and representation (`lex` is refused: one tangent direction per weight).
    #[command(flatten)]
    pub diff: DiffArgs,
    /// Initialisation: pytorch (default of nn.Linear/nn.Conv2d) or he.
    #[arg(long, default_value = "pytorch", value_parser = crate::flags::INITS)]
    pub init: String,
    /// Seed of the initial weights and the shuffles (`--seed` is safe mode's probe seed).
    #[arg(long, default_value_t = 0)]
    pub init_seed: u64,
    /// Use only the first N training examples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Save a checkpoint after every epoch (and on Ctrl-C): the weights-only file PATH (PyTorch
    /// names, loadable with safetensors.torch.load_file) and the optimiser state beside it,
    /// PATH's stem + .state.safetensors (see docs/formats.md); both written atomically.
    #[arg(long, value_name = "PATH")]
    pub save: Option<PathBuf>,
    /// With --save: also save every N optimiser steps (mini-batches), inside epochs.
    #[arg(long, value_name = "N")]
    pub save_every: Option<u64>,
    /// Resume from a checkpoint written by --save (the weights file; its state file is read
    /// beside it), bit for bit, also from the middle of an epoch.
    #[arg(long, value_name = "PATH")]
    pub resume: Option<PathBuf>,
    /// Start from these weights: a weights-only safetensors file with PyTorch's names and shapes
    /// (e.g. written by PyTorch or NumPy; F64, F32, F16 or BF16).
    #[arg(long, value_name = "PATH", conflicts_with = "resume")]
    pub init_weights: Option<PathBuf>,
    /// With --resume: convert a checkpoint saved at another --precision (refused otherwise).
    #[arg(long)]
    pub allow_precision_change: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Draw the loss and accuracy curves to this file (.svg or .png).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// Run `kinkgrad train`; the summary as JSON (printed by the caller) and the run's certificate.
pub fn run(args: Args) -> Result<(Value, Certificate), CliError> {
    run_with_losses(&args).map(|(v, c, _)| (v, c))
}

/// A training run's losses per batch: (epochs done, as a fraction, loss).
pub(crate) type BatchLosses = Vec<(f64, f64)>;

/// [`run`], also returning the loss of every batch (the curve of `--plot` and of `reproduce`).
pub(crate) fn run_with_losses(args: &Args) -> Result<(Value, Certificate, BatchLosses), CliError> {
    let precision: Precision = args.precision.parse()?;
    match precision {
        Precision::F64 => train::<f64>(args),
        Precision::F32 => train::<f32>(args),
        Precision::F16 => train::<f16>(args),
        Precision::BF16 => train::<bf16>(args),
    }
    .map_err(CliError::from)
}

fn log_json(log: &KinkLog) -> Value {
    Value::Array(log.sites().into_iter().map(|s| json!({"layer": s.scope, "op": s.op, "count": s.count})).collect())
}

fn train<T: Real>(args: &Args) -> kinkgrad::Result<(Value, Certificate, BatchLosses)> {
    if let Some(p) = &args.plot {
        crate::plot::check(p).map_err(|e| kinkgrad::Error::invalid("plot", e))?;
    }
    if args.limit == Some(0) {
        return Err(kinkgrad::Error::invalid("limit", "must be positive"));
    }
    if !(args.lr > 0.0 && args.lr.is_finite()) {
        return Err(kinkgrad::Error::invalid("--lr", format!("{}: expected a positive number", args.lr)));
    }
    // --limit applies before the images are converted; sizes are checked against the budget first
    let (mut train, test) = match &args.data {
        Some(dir) => load_split_within(dir, args.limit, crate::budget::get())?,
        None => builtin_split()?,
    };
    if let Some(n) = args.limit {
        train = train.split(n.min(train.n)).0;
    }
    for (set, d) in [("training", &train), ("test", &test)] {
        if d.n == 0 {
            return Err(kinkgrad::Error::invalid("data", format!("the {set} set is empty")));
        }
    }
    let rep = args.diff.representation()?;
    let mode = args.diff.mode()?;
    let init: Init = args.init.parse()?;
    let opt: OptimizerKind = args.optimizer.parse()?;
    let mut rng = Rng::new(args.init_seed);
    let mut model = build_model::<T>(&args.model, train.pixels_per_image(), init, &mut rng)?;
    if let Some(w) = &args.init_weights {
        kinkgrad::nn::load_weights(&mut model, w)?;
    }
    if args.save_every.is_some() && args.save.is_none() {
        return Err(kinkgrad::Error::invalid("--save-every", "needs --save (where to write the checkpoints)"));
    }
    if args.save_every == Some(0) {
        return Err(kinkgrad::Error::invalid("--save-every", "must be positive"));
    }
    let epochs = args.epochs.unwrap_or(if args.model == "lenet" { 10 } else { 5 });
    let mut tr = Trainer::new(model, opt, args.lr, args.batch, mode, rep.clone(), args.init_seed)?;
    let mut resumed = Value::Null;
    if let Some(r) = &args.resume {
        let info = tr.resume(r, args.allow_precision_change)?;
        if tr.epoch >= epochs {
            return Err(kinkgrad::Error::invalid(
                "--resume",
                format!(
                    "{} has already run {} epochs, as many as --epochs {epochs}: nothing to resume (raise --epochs)",
                    r.display(),
                    tr.epoch
                ),
            ));
        }
        let line = format!(
            "resumed {} ({}, saved in {}): {} epochs and {} batches done, step {}",
            r.display(),
            info.state.display(),
            info.precision,
            info.epoch,
            info.batch,
            info.step
        );
        if !args.json {
            eprintln!("{}", crate::report::one_line(&line));
        }
        resumed = json!({"weights": r.display().to_string(), "state": info.state.display().to_string(),
            "epoch": info.epoch, "batch": info.batch, "step": info.step, "precision": info.precision});
    }
    let batches = train.n.div_ceil(args.batch);
    let todo = epochs.saturating_sub(tr.epoch);
    let bar = crate::progress::Progress::new((todo * batches) as u64, "batches");
    let start = Instant::now();
    let mut total = Certificate::run(tr.mode.name(), rep.name.clone());
    let mut history = Vec::new();
    let mut batch_losses: Vec<(f64, f64)> = Vec::new();
    let first_epoch = tr.epoch;
    while tr.epoch < epochs {
        let r = tr.train_until(&train, args.save_every, &mut |b| {
            bar.inc();
            bar.message(|| {
                format!(
                    "epoch {}/{epochs} batch {}/{} loss {:.4} acc {:.4}",
                    b.epoch, b.batch, b.batches, b.loss, b.accuracy
                )
            });
            batch_losses.push(((b.epoch - 1) as f64 + b.batch as f64 / b.batches as f64, b.loss));
        });
        let r = match r {
            Ok(Progress::Epoch(r)) => r,
            Ok(Progress::Paused { .. }) => {
                if let Some(p) = &args.save {
                    tr.save(p)?;
                }
                continue;
            }
            Err(e) => {
                bar.finish();
                return Err(interrupted(e, &tr, args.save.as_deref()));
            }
        };
        let (test_acc, test_loss) = tr.evaluate(&test)?;
        bar.step(|| {
            format!(
                "epoch {}: training loss {:.4}, test loss {test_loss:.4}, test accuracy {test_acc:.4}",
                r.epoch, r.loss
            )
        });
        if !(r.loss.is_finite() && test_loss.is_finite()) {
            bar.finish();
            return Err(kinkgrad::Error::NonFinite {
                op: format!("epoch {} (training loss {}, test loss {test_loss})", r.epoch, r.loss),
                stage: "value",
            });
        }
        total.merge(&r.certificate);
        history.push(json!({
            "epoch": r.epoch,
            "loss": r.loss,
            "running_train_accuracy": r.train_accuracy,
            "test_accuracy": test_acc,
            "test_loss": test_loss,
            "seconds": r.seconds,
            "kinks": log_json(&r.certificate.kinks),
            "kinks_per_layer": per_layer(&tr.model, &r.certificate.kinks),
            "certificate": r.certificate,
        }));
        if let Some(p) = &args.save {
            tr.save(p)?;
        }
    }
    bar.finish();
    let seconds = start.elapsed().as_secs_f64();
    let (train_acc, train_loss) = tr.evaluate(&train)?;
    let (test_acc, test_loss) = tr.evaluate(&test)?;
    if let Some(p) = &args.plot {
        plot_training(p, &batch_losses, &history).map_err(|e| kinkgrad::Error::invalid("plot", e))?;
    }
    Ok((
        json!({
            "model": args.model,
            "parameters": tr.model.num_params(),
            "precision": T::NAME,
            "mode": tr.mode.name(),
            "representation": rep.name,
            "relu_at_zero": rep.value(&kinkgrad::primitive::relu::RELU),
            "pool_ties": rep.ties(&kinkgrad::primitive::pool::MAXPOOL).to_string(),
            "optimizer": tr.opt.kind.name(),
            "lr": args.lr,
            "batch": args.batch,
            "seed": args.init_seed,
            "train_examples": train.n,
            "test_examples": test.n,
            "epochs": tr.epoch,
            "epochs_this_run": tr.epoch - first_epoch,
            "resumed": resumed,
            "init_weights": args.init_weights.as_ref().map(|p| p.display().to_string()),
            "saved": args.save.as_ref().map(|p| json!({"weights": p.display().to_string(),
                "state": kinkgrad::nn::state_path(p).display().to_string()})),
            "seconds": seconds,
            "seconds_per_epoch": if tr.epoch > first_epoch { seconds / (tr.epoch - first_epoch) as f64 } else { 0.0 },
            "train_accuracy": train_acc,
            "train_loss": train_loss,
            "test_accuracy": test_acc,
            "test_loss": test_loss,
            "kinks_per_layer": per_layer(&tr.model, &total.kinks),
            "kinks_total": total.kinks_total(),
            "certificate": total,
            "history": history,
        }),
        total,
        batch_losses,
    ))
}

/// The model named on the command line: `mlp` (`inputs`-256-10) or `lenet`.
pub(crate) fn build_model<T: Real>(
    name: &str,
    inputs: usize,
    init: Init,
    rng: &mut Rng,
) -> kinkgrad::Result<Sequential<T>> {
    match name {
        "lenet" => Sequential::<T>::lenet(None, init, rng),
        _ => Sequential::<T>::mlp(&[inputs, 256, 10], init, rng),
    }
}

/// The error a stopped run ends with: on Ctrl-C (the library's `Cancelled`), the checkpoint is
/// saved when `--save` was given and the one line says what was saved and where the run stopped.
fn interrupted<T: Real>(e: kinkgrad::Error, tr: &Trainer<T>, save: Option<&Path>) -> kinkgrad::Error {
    let kinkgrad::Error::Cancelled { at } = &e else { return e };
    let at = match save {
        None => format!("{at}; nothing saved (no --save)"),
        Some(p) => match tr.save(p) {
            Ok(()) => format!(
                "{at}; saved weights {} and state {} (resume with --resume {})",
                p.display(),
                kinkgrad::nn::state_path(p).display(),
                p.display()
            ),
            Err(s) => format!("{at}; saving the checkpoint failed: {s}"),
        },
    };
    kinkgrad::Error::Cancelled { at }
}

fn per_layer<T: Real>(model: &Sequential<T>, log: &KinkLog) -> Value {
    Value::Array(
        kinks_per_layer(model, log)
            .into_iter()
            .map(|(layer, relu, pool)| json!({"layer": layer, "relu_zeros": relu, "pool_ties": pool}))
            .collect(),
    )
}

/// The human-readable summary of a `train` result, with the run's certificate on one line.
pub fn human(v: &Value, certificate: &Certificate) -> String {
    let mut s = format!(
        "{} ({} parameters), {} {}, {} {}: {} epochs in {:.1}s\ntrain accuracy {:.4}  test accuracy {:.4}\n",
        v["model"].as_str().unwrap_or(""),
        v["parameters"],
        v["precision"].as_str().unwrap_or(""),
        v["mode"].as_str().unwrap_or(""),
        v["optimizer"].as_str().unwrap_or(""),
        v["lr"],
        v["epochs"],
        v["seconds"].as_f64().unwrap_or(0.0),
        v["train_accuracy"].as_f64().unwrap_or(0.0),
        v["test_accuracy"].as_f64().unwrap_or(0.0),
    );
    s.push_str(&format!("certificate {certificate}\n"));
    s.push_str("kinks per layer (summed over training): layer, relu zeros, pool ties\n");
    for k in v["kinks_per_layer"].as_array().into_iter().flatten() {
        let (r, p) = (k["relu_zeros"].as_u64().unwrap_or(0), k["pool_ties"].as_u64().unwrap_or(0));
        if r + p > 0 || k["layer"].as_str().is_some_and(|l| l.starts_with("relu") || l.starts_with("pool")) {
            s.push_str(&format!("  {:<8} {:>10} {:>10}\n", k["layer"].as_str().unwrap_or(""), r, p));
        }
    }
    s
}

/// Loss per batch (top, log scale when it spans decades) and accuracy per epoch (bottom), in the
/// format of the file's extension.
fn plot_training(path: &Path, losses: &[(f64, f64)], history: &[Value]) -> Result<(), String> {
    use crate::plot::{LineChart, Series, Stacked};
    let pts = |key: &str| -> Vec<(f64, f64)> {
        history.iter().map(|h| (h["epoch"].as_f64().unwrap_or(0.0), h[key].as_f64().unwrap_or(0.0))).collect()
    };
    let loss = [Series { name: "training loss".into(), points: losses.to_vec() }];
    let acc = [
        Series { name: "train (running)".into(), points: pts("running_train_accuracy") },
        Series { name: "test".into(), points: pts("test_accuracy") },
    ];
    let chart =
        |title, ylabel, series, log_y| LineChart { title, xlabel: "epoch", ylabel, series, log_y, paired: false };
    crate::plot::save(
        path,
        &Stacked(vec![
            chart("training loss (per batch)", "loss", &loss, true),
            chart("accuracy (per epoch)", "accuracy", &acc, false),
        ]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(extra: &[&str]) -> Args {
        let mut v = vec!["train"];
        v.extend_from_slice(extra);
        Cli::parse_from(v).args
    }

    #[test]
    fn json_summary_has_the_documented_keys() {
        let (v, c) = run(args(&["--limit", "256", "--epochs", "1", "--json"])).unwrap();
        assert_eq!(v["certificate"], serde_json::to_value(&c).unwrap());
        assert_eq!(c.gradients, 4, "256 examples in batches of 64");
        for key in ["train_accuracy", "test_accuracy", "epochs", "seconds", "kinks_per_layer"] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["epochs"], 1);
        assert_eq!(v["test_examples"], 2000); // the built-in split: last 2 000 of 10 000
        let layers: Vec<&str> =
            v["kinks_per_layer"].as_array().unwrap().iter().map(|k| k["layer"].as_str().unwrap()).collect();
        assert_eq!(layers, ["fc1", "relu1", "fc2"]);
    }

    #[test]
    fn save_then_resume_continues_the_epoch_count() {
        let dir = std::env::temp_dir().join(format!("kinkgrad-cli-train-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ck = dir.join("ck.safetensors");
        let ck_s = ck.to_str().unwrap();
        run(args(&["--limit", "128", "--epochs", "1", "--save", ck_s])).unwrap();
        let (v, _) = run(args(&["--limit", "128", "--epochs", "2", "--resume", ck_s])).unwrap();
        assert_eq!((v["epochs"].as_u64(), v["epochs_this_run"].as_u64()), (Some(2), Some(1)));
        // a checkpoint of another model is refused, naming the file (the state file, whose metadata
        // records the architecture) and both models
        let e = run(args(&["--model", "lenet", "--limit", "64", "--epochs", "1", "--resume", ck_s])).unwrap_err();
        assert!(e.message.contains("ck.state.safetensors") && e.message.contains("'mlp'"), "{e:?}");
        assert!(e.message.contains("'lenet'") && e.message.contains("refused"), "{e:?}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(run(args(&["--data", "/no/such/dir"])).unwrap_err().message.contains("/no/such/dir"));
        assert!(Cli::try_parse_from(["train", "--precision", "f8"]).is_err());
        assert!(run(args(&["--kink-rule", "maxpool=sideways"])).unwrap_err().message.contains("tie rule"));
        assert!(run(args(&["--mode", "lex", "--limit", "64"])).unwrap_err().message.contains("unsupported"));
        assert!(run(args(&["--mode", "assoc", "--seed", "3"])).unwrap_err().message.contains("seed"));
        assert!(Cli::try_parse_from(["train", "--optimizer", "rmsprop"]).is_err());
        assert!(run(args(&["--lr=-1"])).unwrap_err().message.contains("lr"));
    }
}
