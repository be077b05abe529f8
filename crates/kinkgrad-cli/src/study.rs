//! `kinkgrad study`: the precision studies of the library's [`kinkgrad::study`] (the `relu'(0)`
//! bifurcation, the max-pooling `beta` family), as a table or JSON, with progress bars.

use crate::flags::{CommaList, PRECISIONS};
use crate::report::CliError;
use clap::{Args as ClapArgs, Subcommand};
use kinkgrad::io::mnist::Mnist;
use kinkgrad::nn::load_split_within;
use kinkgrad::study::{self, BetaConfig, BetaRow, ReluPrimeConfig, ReluPrimeRow};
use kinkgrad::{bf16, f16, Mode, Precision, Real};
use serde_json::{json, Value};
use std::path::PathBuf;

/// Arguments of `kinkgrad study`.
#[derive(ClapArgs, Debug, Clone)]
pub struct Args {
    #[command(subcommand)]
    study: Study,
}

#[derive(Subcommand, Debug, Clone)]
enum Study {
    /// relu'(0) bifurcation (Bertoin et al. 2021): for how many initialisations does the first
    /// layer's weight gradient with relu'(0)=0 differ from relu'(0)=1 on some minibatch of one epoch
    /// at learning rate 0, per precision; exact-zero pre-activations counted; the same in safe mode.
    ReluPrime(ReluArgs),
    /// Max-pooling beta family (Boustany 2024): LeNet-5 test accuracy per precision and beta
    /// (tie weights beta*mean + (1-beta)*first), and how often beta=0 and beta=1 gradients differ.
    MaxpoolBeta(BetaArgs),
}

/// Data flags shared by both studies.
#[derive(ClapArgs, Debug, Clone)]
struct DataArgs {
    /// Data directory: the original MNIST files (train-* and t10k-*) or one pair of IDX files
    /// (split 80/20). Default: the built-in 10 000 digits (8 000 train / 2 000 test).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Use only the first N training examples.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Precisions, comma-separated.
    #[arg(long, value_parser = CommaList(&PRECISIONS))]
    precision: Option<String>,
    /// Print the rows as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Arguments of `kinkgrad study relu-prime`.
#[derive(ClapArgs, Debug, Clone)]
pub(crate) struct ReluArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Hidden layers of the MLP.
    #[arg(long, default_value_t = 3)]
    depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 256)]
    width: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Initialisations (PyTorch's default init, seeds SEED, SEED+1, ...).
    #[arg(long, default_value_t = 40)]
    inits: usize,
    /// Seed of the first initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Skip the safe-mode column.
    #[arg(long)]
    no_safe: bool,
}

/// Arguments of `kinkgrad study maxpool-beta`.
#[derive(ClapArgs, Debug, Clone)]
pub(crate) struct BetaArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Tie weight parameters beta, comma-separated (any finite numbers).
    #[arg(long, default_value = "0,1,10,100,1000,10000", allow_hyphen_values = true)]
    betas: String,
    /// Epochs (cosine schedule over them).
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Runs per (precision, beta, mode), seeds 0..N-1.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// Gradient modes, comma-separated.
    #[arg(long, default_value = "assoc,safe", value_parser = CommaList(&["assoc", "safe"]))]
    mode: String,
    /// Minibatch size.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Initial learning rate (default: 0.0233 for f16 and bf16, 0.0353 for f32 and f64).
    #[arg(long)]
    lr: Option<f64>,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    momentum: f64,
    /// L2 weight decay.
    #[arg(long, default_value_t = 5e-4)]
    weight_decay: f64,
    /// Where the SGD update is computed: `f64` (rounded once to the precision) or `working` (every
    /// operation rounded to the precision, state included, as PyTorch's SGD on a .half() model).
    #[arg(long, default_value = "f64", value_parser = ["f64", "working"])]
    update: String,
    /// Skip the volume estimate (beta=0 against beta=1 gradients on the beta=0 assoc run).
    #[arg(long)]
    no_volume: bool,
    /// Draw test accuracy against beta per precision and mode to this file (.svg or .png).
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// Run `kinkgrad study`; the text to print.
pub fn run(a: Args) -> Result<String, CliError> {
    match a.study {
        Study::ReluPrime(r) => relu_prime(&r).map_err(CliError::from),
        Study::MaxpoolBeta(b) => maxpool_beta(&b).map_err(CliError::from),
    }
}

fn precisions(s: Option<&str>, default: &str) -> kinkgrad::Result<Vec<Precision>> {
    s.unwrap_or(default).split(',').map(|p| p.trim().parse()).collect()
}

fn load(d: &DataArgs) -> kinkgrad::Result<(Mnist, Mnist)> {
    if d.limit == Some(0) {
        return Err(kinkgrad::Error::invalid("--limit", "must be positive"));
    }
    let (mut train, test) = match &d.data {
        Some(dir) => load_split_within(dir, d.limit, crate::budget::get())?,
        None => crate::train::builtin_split()?,
    };
    if let Some(n) = d.limit {
        train = train.split(n.min(train.n)).0;
    }
    Ok((train, test))
}

fn relu_row<T: Real>(cfg: &ReluPrimeConfig, train: &Mnist, tick: &mut dyn FnMut()) -> kinkgrad::Result<ReluPrimeRow> {
    study::relu_prime::<T>(cfg, train, tick)
}

/// Called as a study advances: (done, total) minibatches, and with `-v`'s line when a row is done.
pub(crate) type Tick<'a> = &'a mut dyn FnMut(u64, u64, Option<String>);

/// A relu'(0) study as run: the layer sizes, the training examples and one row per precision.
pub(crate) struct ReluStudy {
    /// Layer sizes of the MLP.
    pub sizes: Vec<usize>,
    /// Training examples.
    pub train_n: usize,
    /// One row per precision, in the order of `--precision`.
    pub rows: Vec<ReluPrimeRow>,
}

/// The relu'(0) study of `a` (what `kinkgrad study relu-prime` prints and `reproduce` reports).
pub(crate) fn relu_rows(a: &ReluArgs, tick: Tick) -> kinkgrad::Result<ReluStudy> {
    let cfg = ReluPrimeConfig {
        depth: a.depth,
        width: a.width,
        batch: a.batch,
        inits: a.inits,
        seed: a.seed,
        safe: !a.no_safe,
    };
    cfg.check()?;
    crate::budget::check("--width and --batch", &[a.width as u64, (a.width.max(784) + a.batch) as u64, 8 * 8])
        .map_err(|e| kinkgrad::Error::invalid("size", e))?;
    let precs = precisions(a.data.precision.as_deref(), "f64,f32,bf16,f16")?;
    let (train, _) = load(&a.data)?;
    let total = (train.n.div_ceil(a.batch) * a.inits * precs.len()) as u64;
    let mut done = 0;
    let mut rows = Vec::new();
    for p in precs {
        let mut inc = || {
            done += 1;
            tick(done, total, None);
        };
        let r = match p {
            Precision::F64 => relu_row::<f64>(&cfg, &train, &mut inc),
            Precision::F32 => relu_row::<f32>(&cfg, &train, &mut inc),
            Precision::F16 => relu_row::<f16>(&cfg, &train, &mut inc),
            Precision::BF16 => relu_row::<bf16>(&cfg, &train, &mut inc),
        }?;
        tick(done, total, Some(format!("{}: {}/{} initialisations bifurcate", r.precision, r.bifurcated, r.inits)));
        rows.push(r);
    }
    Ok(ReluStudy { sizes: cfg.sizes(train.pixels_per_image()), train_n: train.n, rows })
}

/// A command's progress bar driven by a study's [`Tick`]s (created at the first tick, when the
/// total is known).
fn bar_tick(bar: &std::cell::OnceCell<crate::progress::Progress>) -> impl FnMut(u64, u64, Option<String>) + '_ {
    move |done, total, line| {
        let b = bar.get_or_init(|| crate::progress::Progress::new(total, "batches"));
        b.set(done, String::new);
        if let Some(l) = line {
            b.step(|| l);
        }
    }
}

fn relu_prime(a: &ReluArgs) -> kinkgrad::Result<String> {
    let bar = std::cell::OnceCell::new();
    let ReluStudy { sizes, train_n, rows } = relu_rows(a, &mut bar_tick(&bar))?;
    drop(bar);
    let v = json!({
        "study": "relu-prime",
        "config": {"sizes": sizes, "batch": a.batch, "inits": a.inits, "seed": a.seed, "train_examples": train_n,
                   "data": a.data.data.as_ref().map_or("built-in 10 000 digits (8 000 train)".to_string(), |d| d.display().to_string())},
        "reference": {"source": "issue 13: PyTorch 2.15 CPU, built-in 8 000 train, 784-256-256-256-10, batch 100, 40 inits",
                      "f64": 0.0, "f32": 0.025, "f16": 0.85},
        "rows": rows.iter().map(|r| json!({
            "precision": r.precision, "fraction": r.fraction, "bifurcated": r.bifurcated, "inits": r.inits,
            "safe_fraction": r.safe_fraction, "safe_bifurcated": r.safe_bifurcated, "safe_unresolved": r.safe_unresolved,
            "exact_zeros": r.exact_zeros, "batches": r.batches, "batches_with_zeros": r.batches_with_zeros,
            "batches_differing": r.batches_differing, "seconds": r.seconds,
        })).collect::<Vec<_>>(),
    });
    if a.data.json {
        return Ok(format!("{v}\n"));
    }
    let mut s = format!(
        "relu'(0) bifurcation: MLP {:?}, batch {}, {} initialisations, {} training examples, learning rate 0\n",
        sizes, a.batch, a.inits, train_n
    );
    s.push_str(
        "precision  fraction  (count)  safe_fraction  exact_zeros  batches_with_zeros  batches_differing  seconds\n",
    );
    for r in &rows {
        let safe = r.safe_fraction.map_or("-".to_string(), |f| format!("{f:.3}"));
        s.push_str(&format!(
            "{:<9}  {:>8.3}  {:>7}  {:>13}  {:>11}  {:>18}  {:>17}  {:>7.1}\n",
            r.precision,
            r.fraction,
            format!("{}/{}", r.bifurcated, r.inits),
            safe,
            r.exact_zeros,
            format!("{}/{}", r.batches_with_zeros, r.batches),
            r.batches_differing,
            r.seconds
        ));
    }
    s.push_str("reference (issue 13, PyTorch, 784-256x3-10, 40 inits, built-in data): f64 0/40, f32 1/40, f16 34/40\n");
    Ok(s)
}

fn beta_row<T: Real>(
    beta: f64,
    mode: &Mode,
    seed: u64,
    cfg: &BetaConfig,
    data: &(Mnist, Mnist),
    tick: &mut dyn FnMut(),
) -> kinkgrad::Result<BetaRow> {
    study::maxpool_beta::<T>(beta, mode, seed, cfg, &data.0, &data.1, tick)
}

/// A max-pooling beta study as run: one `(learning rate, row)` per precision, mode, beta and seed,
/// and the training and test examples.
pub(crate) struct BetaStudy {
    /// The runs, in the order precision, mode, beta, seed.
    pub rows: Vec<(f64, BetaRow)>,
    /// Training examples.
    pub train_n: usize,
    /// Test examples.
    pub test_n: usize,
}

/// The max-pooling beta study of `a` (what `kinkgrad study maxpool-beta` prints and `reproduce`
/// reports).
pub(crate) fn beta_rows(a: &BetaArgs, tick: Tick) -> kinkgrad::Result<BetaStudy> {
    let betas: Vec<f64> = a
        .betas
        .split(',')
        .map(|b| b.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            kinkgrad::Error::invalid("--betas", format!("'{}': expected finite numbers, e.g. 0,1000", a.betas))
        })?;
    if a.seeds == 0 {
        return Err(kinkgrad::Error::invalid("--seeds", "must be positive"));
    }
    let modes: Vec<Mode> =
        a.mode.split(',').map(|m| Mode::parse(m.trim(), None, None)).collect::<kinkgrad::Result<_>>()?;
    let precs = precisions(a.data.precision.as_deref(), "f16,f32")?;
    let base = BetaConfig {
        epochs: a.epochs,
        batch: a.batch,
        lr: a.lr.unwrap_or(0.0353),
        momentum: a.momentum,
        weight_decay: a.weight_decay,
        working_precision: a.update == "working",
        volume: false,
    };
    base.check()?;
    let data = load(&a.data)?;
    let runs = precs.len() * betas.len() * modes.len() * a.seeds as usize;
    let per_run = a.epochs * data.0.n.div_ceil(a.batch);
    let total = runs * per_run;
    crate::budget::steps("--epochs x runs", total as f64).map_err(|e| kinkgrad::Error::invalid("size", e))?;
    let mut done = 0;
    let mut rows = Vec::new();
    for &p in &precs {
        let lr = a.lr.unwrap_or_else(|| BetaConfig::default_lr(&p.to_string()));
        for mode in &modes {
            for &beta in &betas {
                for seed in 0..a.seeds {
                    let cfg = BetaConfig {
                        lr,
                        volume: !a.no_volume && beta == 0.0 && mode.name() == "assoc",
                        ..base.clone()
                    };
                    let mut inc = || {
                        done += 1;
                        tick(done, total as u64, None);
                    };
                    let r = match p {
                        Precision::F64 => beta_row::<f64>(beta, mode, seed, &cfg, &data, &mut inc),
                        Precision::F32 => beta_row::<f32>(beta, mode, seed, &cfg, &data, &mut inc),
                        Precision::F16 => beta_row::<f16>(beta, mode, seed, &cfg, &data, &mut inc),
                        Precision::BF16 => beta_row::<bf16>(beta, mode, seed, &cfg, &data, &mut inc),
                    }?;
                    // a diverged run stops early: the bar moves on to the end of the run
                    done = (rows.len() as u64 + 1) * per_run as u64;
                    let line = format!(
                        "{} beta {} {} seed {}: test accuracy {:.4}{}",
                        r.precision,
                        r.beta,
                        r.mode,
                        r.seed,
                        r.test_accuracy,
                        if r.diverged { " (diverged)" } else { "" }
                    );
                    tick(done, total as u64, Some(line));
                    rows.push((lr, r));
                }
            }
        }
    }
    Ok(BetaStudy { rows, train_n: data.0.n, test_n: data.1.n })
}

fn maxpool_beta(a: &BetaArgs) -> kinkgrad::Result<String> {
    if let Some(p) = &a.plot {
        crate::plot::check(p).map_err(|e| kinkgrad::Error::invalid("plot", e))?;
    }
    let bar = std::cell::OnceCell::new();
    let BetaStudy { rows, train_n, test_n } = beta_rows(a, &mut bar_tick(&bar))?;
    drop(bar);
    if let Some(path) = &a.plot {
        beta_chart(&rows, |c| crate::plot::save(path, c)).map_err(|e| kinkgrad::Error::invalid("plot", e))?;
    }
    let row_json = |(lr, r): &(f64, BetaRow)| {
        let c = &r.certificate;
        json!({
            "precision": r.precision, "beta": r.beta, "mode": r.mode, "seed": r.seed, "lr": lr,
            "test_accuracy": r.test_accuracy, "diverged": r.diverged, "diverged_at": r.diverged_at,
            "train_loss": if r.train_loss.is_finite() { json!(r.train_loss) } else { Value::Null },
            "steps": r.steps, "pool_ties": c.kinks.count_op("maxpool2d"), "relu_zeros": c.kinks.count_op("relu"),
            "locked": c.locked, "unresolved": c.unresolved, "skipped": c.skipped, "seconds": r.seconds,
            "certificate": c,
        })
    };
    let volume: Vec<Value> = rows
        .iter()
        .filter_map(|(_, r)| {
            r.volume.as_ref().map(|v| {
                json!({"precision": r.precision, "seed": r.seed, "batches": v.batches,
                       "batches_with_ties": v.batches_with_ties, "differing": v.differing, "fraction": v.fraction})
            })
        })
        .collect();
    let v = json!({
        "study": "maxpool-beta",
        "config": {"epochs": a.epochs, "batch": a.batch, "momentum": a.momentum, "weight_decay": a.weight_decay,
                   "schedule": "cosine per epoch (T_max = epochs)", "update": a.update, "seeds": a.seeds,
                   "train_examples": train_n, "test_examples": test_n},
        "reference": {"source": "issue 13: PyTorch 2.15 CPU, built-in 8 000 train / 2 000 test, 3 epochs",
                      "f16": {"0": 0.891, "1000": 0.910, "10000": 0.123}, "f32": {"0": 0.930, "10000": 0.929}},
        "rows": rows.iter().map(row_json).collect::<Vec<_>>(),
        "volume": volume,
    });
    if a.data.json {
        return Ok(format!("{v}\n"));
    }
    let mut s = format!(
        "max-pooling beta family: LeNet-5, {} epochs, batch {}, SGD momentum {} weight decay {}, cosine, update {}, {} train / {} test\n",
        a.epochs, a.batch, a.momentum, a.weight_decay, a.update, train_n, test_n
    );
    s.push_str(
        "precision  mode   beta      seed  lr      test_acc  diverged  pool_ties  locked  unresolved  seconds\n",
    );
    for (lr, r) in &rows {
        let c = &r.certificate;
        s.push_str(&format!(
            "{:<9}  {:<5}  {:<8}  {:>4}  {:<6}  {:>8.4}  {:>8}  {:>9}  {:>6}  {:>10}  {:>7.1}\n",
            r.precision,
            r.mode,
            r.beta,
            r.seed,
            lr,
            r.test_accuracy,
            if r.diverged { "yes" } else { "no" },
            c.kinks.count_op("maxpool2d"),
            c.locked,
            c.unresolved,
            r.seconds
        ));
    }
    for (_, r) in rows.iter().filter(|(_, r)| r.volume.is_some()) {
        let vol = r.volume.as_ref().expect("filtered");
        s.push_str(&format!(
            "volume {} seed {}: beta=0 and beta=1 gradients differ on {}/{} minibatches ({:.4}); {} had a pooling tie\n",
            r.precision, r.seed, vol.differing, vol.batches, vol.fraction, vol.batches_with_ties
        ));
    }
    s.push_str("reference (issue 13, PyTorch, 3 epochs, built-in data): f16 beta 0 0.891, 1000 0.910, 10000 0.123; f32 beta 0 0.930, 10000 0.929\n");
    Ok(s)
}

/// Test accuracy against log10(1 + beta), one curve per precision and mode (mean over seeds), handed
/// to `draw` (a file for `--plot`, SVG text for `reproduce`).
pub(crate) fn beta_chart<R>(rows: &[(f64, BetaRow)], draw: impl FnOnce(&crate::plot::LineChart) -> R) -> R {
    use crate::plot::{LineChart, Series};
    let mut series: Vec<Series> = Vec::new();
    for (_, r) in rows {
        let name = format!("{} {}", r.precision, r.mode);
        let x = (1.0 + r.beta.abs()).log10() * r.beta.signum();
        let s = match series.iter_mut().position(|s| s.name == name) {
            Some(i) => &mut series[i],
            None => {
                series.push(Series { name, points: Vec::new() });
                series.last_mut().expect("pushed")
            }
        };
        s.points.push((x, r.test_accuracy));
    }
    // mean over seeds at equal x
    for s in &mut series {
        let mut merged: Vec<(f64, f64, usize)> = Vec::new();
        for &(x, y) in &s.points {
            match merged.iter_mut().find(|m| m.0 == x) {
                Some(m) => {
                    m.1 += y;
                    m.2 += 1;
                }
                None => merged.push((x, y, 1)),
            }
        }
        s.points = merged.into_iter().map(|(x, y, n)| (x, y / n as f64)).collect();
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    draw(&LineChart {
        title: "LeNet-5 test accuracy against the pooling tie weight beta",
        xlabel: "sign(beta) log10(1 + |beta|)",
        ylabel: "test accuracy",
        series: &series,
        log_y: false,
        paired: false,
    })
}
