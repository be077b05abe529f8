//! `kinkgrad bench`: the performance workloads of the issues, timed in this process, side by side with
//! the JAX peers run by the same command (when a Python with JAX is given), printing the ratios.
//!
//! Workloads (each mirrors its peer script exactly):
//! - `mlp`: one SGD step of an MLP 784-512-512-10, batch 128, f32 (`jax_peers.py mlp`), in `assoc` and
//!   `safe` mode;
//! - `transport`: minmod Lax-Wendroff, 1000 cells x 1000 steps, f64: forward and gradient of
//!   `J(u0) = sum (u_T - g)^2` (`jax_peers.py transport`);
//! - `hybrid-upwind`, `hybrid-lw-minmod`: the default hybrid problem, forward `J(W)` and value and
//!   gradient (`benchmarks/jax_hybrid.py`).
//!
//! Times are medians over repetitions after a warm-up. Absolute times drift between machines; the
//! ratios measured in one run are what the goals are stated in.

use crate::output::num;
use kinkgrad::hybrid::{data, GenerateConfig, HybridModel, SourceForm};
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::pde::gradient::{GradientRequest, Wanted, Workspace};
use kinkgrad::pde::grid::Grid;
use kinkgrad::pde::scheme::Transport;
use kinkgrad::{Mode, Representation, Rng, Tape, Tensor};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// Arguments of `kinkgrad bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Workloads, comma-separated, or all.
    #[arg(long, default_value = "all", value_parser = crate::flags::CommaList(&WORKLOADS))]
    pub only: String,
    /// A Python interpreter with JAX (e.g. from `benchmarks/setup_peers.sh DIR`: DIR/bin/python).
    #[arg(long)]
    pub peer_python: Option<PathBuf>,
    /// Folder of `jax_peers.py` (the shared peers).
    #[arg(long, default_value = "../shared/peers")]
    pub peers_dir: PathBuf,
    /// Folder of `jax_hybrid.py`.
    #[arg(long, default_value = "benchmarks")]
    pub benchmarks_dir: PathBuf,
    /// Repetitions per measurement.
    #[arg(long, default_value_t = 15)]
    pub reps: usize,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// The names of `--only`.
const WORKLOADS: [&str; 5] = ["all", "mlp", "transport", "hybrid-upwind", "hybrid-lw-minmod"];

fn median(mut f: impl FnMut(), reps: usize) -> f64 {
    for _ in 0..2 {
        f();
    }
    let mut t: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn mlp_step(mode: &Mode, reps: usize) -> f64 {
    let mut rng = Rng::new(0);
    let sizes = [784, 512, 512, 10];
    let batch = 128;
    let mut params: Vec<(Tensor<f32>, Tensor<f32>)> = (0..3)
        .map(|i| {
            let w: Vec<f64> = (0..sizes[i] * sizes[i + 1]).map(|_| rng.normal() * 0.05).collect();
            (Tensor::from_f64(vec![sizes[i], sizes[i + 1]], &w).expect("shape"), Tensor::zeros(&[sizes[i + 1]]))
        })
        .collect();
    let x: Vec<f64> = (0..batch * 784).map(|_| rng.normal()).collect();
    let x = Tensor::<f32>::from_f64(vec![batch, 784], &x).expect("shape");
    let mut onehot = vec![0.0; batch * 10];
    for b in 0..batch {
        onehot[b * 10 + rng.below(10)] = 1.0;
    }
    let onehot = Tensor::<f32>::from_f64(vec![batch, 10], &onehot).expect("shape");
    median(
        || {
            let tape = Tape::<f32>::new();
            let mut h = tape.constant(x.clone());
            let mut vars = vec![];
            for (i, (w, b)) in params.iter().enumerate() {
                let (wv, bv) = (tape.var(w.clone()), tape.var(b.clone()));
                vars.push(wv);
                vars.push(bv);
                h = h.matmul(wv).and_then(|v| v.add(bv)).expect("shapes");
                if i < 2 {
                    h = h.relu();
                }
            }
            let lp = h.log_softmax().expect("shape");
            let loss = lp.mul(tape.constant(onehot.clone())).expect("shape").sum().scale(-1.0 / batch as f64);
            let g = tape.gradient(loss, &vars, mode).expect("gradient");
            for (i, (w, b)) in params.iter_mut().enumerate() {
                *w = w.zip(&g.values[2 * i], "sgd", |a, d| a - 0.01 * d).expect("shape");
                *b = b.zip(&g.values[2 * i + 1], "sgd", |a, d| a - 0.01 * d).expect("shape");
            }
        },
        reps,
    )
}

fn transport(reps: usize) -> Result<(f64, f64), String> {
    let cells = 1000;
    let steps = 1000;
    let e = |e: kinkgrad::Error| e.to_string();
    let t = Transport::from_courant(Grid::unit(cells).map_err(e)?, "lw-minmod".parse().map_err(e)?, 1.0, 0.5, false)
        .map_err(e)?;
    let u0: Vec<f64> = (0..cells)
        .map(|j| {
            let x = j as f64 / cells as f64;
            (-200.0 * (x - 0.3f64).powi(2)).exp() + if x > 0.6 && x < 0.8 { 1.0 } else { 0.0 }
        })
        .collect();
    let g: Vec<f64> = (0..cells).map(|j| u0[(j + cells - cells / 10) % cells]).collect();
    let fwd = median(
        || {
            let u = t.simulate(&u0, &[1.0], None, steps).expect("simulate");
            std::hint::black_box(u.iter().zip(&g).map(|(a, b)| (a - b) * (a - b)).sum::<f64>());
        },
        reps,
    );
    // JAX's workload differentiates with respect to u0 only: the library keeps a piece tape
    let (mode, rep) = (Mode::Assoc, Representation::default());
    let req = GradientRequest {
        u0: &u0,
        target: &g,
        velocity: &[1.0],
        source: None,
        steps,
        mode: &mode,
        representation: &rep,
        schedule: Schedule::StoreAll,
        wanted: Wanted::U0,
    };
    let mut ws = Workspace::default();
    let grad = median(
        || {
            std::hint::black_box(t.loss_gradient_in(&req, &mut ws).expect("gradient"));
        },
        reps,
    );
    Ok((fwd, grad))
}

fn hybrid(scheme: &str, reps: usize) -> Result<(f64, f64), String> {
    let e = |e: kinkgrad::Error| e.to_string();
    let cfg = GenerateConfig { scheme: scheme.parse().map_err(e)?, ..Default::default() };
    let d = data::generate(&cfg).map_err(e)?;
    let m = HybridModel::new(SourceForm::Alpha, 32, 0).map_err(e)?;
    let idx = d.train_indices();
    let rep = Representation::default();
    let fwd = median(
        || {
            std::hint::black_box(m.loss(&d, &idx).expect("loss"));
        },
        reps,
    );
    let vg = median(
        || {
            std::hint::black_box(
                m.loss_and_gradient(&d, &idx, &Mode::Assoc, &rep, &Schedule::StoreAll).expect("gradient"),
            );
        },
        reps,
    );
    Ok((fwd, vg))
}

fn peer(python: &Option<PathBuf>, script: PathBuf, args: &[&str]) -> Option<Value> {
    let py = python.as_ref()?;
    let out = Command::new(py).arg(&script).args(args).output().ok()?;
    if !out.status.success() {
        return Some(
            json!({"error": String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("failed").to_string()}),
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last()?).ok()
}

/// Run the command.
pub fn run(a: Args) -> Result<String, String> {
    let all = a.only == "all";
    let want = |w: &str| all || a.only.split(',').any(|x| x.trim() == w);
    for w in a.only.split(',') {
        if !all && !["mlp", "transport", "hybrid-upwind", "hybrid-lw-minmod"].contains(&w.trim()) {
            return Err(format!(
                "unknown workload '{w}' in --only: expected mlp, transport, hybrid-upwind, hybrid-lw-minmod or all"
            ));
        }
    }
    if let Some(p) = &a.peer_python {
        if !p.exists() {
            return Err(format!("{}: no such interpreter (make one with benchmarks/setup_peers.sh DIR)", p.display()));
        }
    }
    let mut rows: Vec<Value> = Vec::new();
    let todo = WORKLOADS[1..].iter().filter(|w| want(w)).count();
    let bar = crate::progress::Progress::new(todo as u64, "workloads");
    let peer_f = |v: &Option<Value>, k: &str| v.as_ref().and_then(|v| v[k].as_f64());
    if want("mlp") {
        bar.message(|| "mlp".into());
        let assoc = mlp_step(&Mode::Assoc, a.reps);
        let safe = mlp_step(&Mode::safe(), a.reps);
        let p = peer(&a.peer_python, a.peers_dir.join("jax_peers.py"), &["mlp"]);
        let jax = peer_f(&p, "seconds");
        rows.push(json!({"workload": "mlp_step (784-512-512-10, batch 128, f32)", "kinkgrad_assoc_seconds": assoc,
            "kinkgrad_safe_seconds": safe, "safe_over_assoc": safe / assoc, "jax_seconds": jax.map(num),
            "kinkgrad_over_jax": jax.map(|j| num(assoc / j))}));
        done(&bar, &rows);
    }
    if want("transport") {
        bar.message(|| "transport".into());
        let (f, g) = transport(a.reps)?;
        let p = peer(&a.peer_python, a.peers_dir.join("jax_peers.py"), &["transport"]);
        let (jf, jg) = (peer_f(&p, "forward_seconds"), peer_f(&p, "gradient_seconds"));
        rows.push(
            json!({"workload": "transport (minmod LW, 1000 cells x 1000 steps, f64)", "kinkgrad_forward_seconds": f,
            "kinkgrad_gradient_seconds": g, "gradient_over_forward": g / f, "jax_forward_seconds": jf.map(num),
            "jax_gradient_seconds": jg.map(num), "jax_gradient_over_kinkgrad_gradient": jg.map(|j| num(j / g))}),
        );
        done(&bar, &rows);
    }
    for scheme in ["upwind", "lw-minmod"] {
        if !want(&format!("hybrid-{scheme}")) {
            continue;
        }
        bar.message(|| format!("hybrid-{scheme}"));
        let (f, g) = hybrid(scheme, a.reps)?;
        let p = peer(&a.peer_python, a.benchmarks_dir.join("jax_hybrid.py"), &["--scheme", scheme]);
        let (jf, jg) = (peer_f(&p, "forward_seconds"), peer_f(&p, "value_and_grad_seconds"));
        rows.push(json!({"workload": format!("hybrid {scheme} (128 cells, 90 steps, 64 samples, net 4-32-32-1)"),
            "kinkgrad_forward_seconds": f, "kinkgrad_value_and_grad_seconds": g, "gradient_over_forward": g / f,
            "jax_forward_seconds": jf.map(num), "jax_value_and_grad_seconds": jg.map(num),
            "jax_over_kinkgrad": jg.map(|j| num(j / g))}));
        done(&bar, &rows);
    }
    bar.finish();
    let v = json!({"threads": rayon_threads(), "results": rows});
    if a.json {
        return Ok(format!("{v}\n"));
    }
    let mut s = String::new();
    for r in &rows {
        s += &format!("{}\n", r["workload"].as_str().unwrap_or(""));
        for (k, val) in r.as_object().into_iter().flatten() {
            if k != "workload" {
                let shown = match val.as_f64() {
                    Some(x) if k.ends_with("seconds") => format!("{:.3} ms", x * 1e3),
                    Some(x) => format!("{x:.3}"),
                    None => "(no peer)".into(),
                };
                s += &format!("  {k:<40} {shown}\n");
            }
        }
    }
    Ok(s)
}

/// One workload measured: the bar advances, and `-v` prints its name.
fn done(bar: &crate::progress::Progress, rows: &[Value]) {
    bar.step(|| format!("measured {}", rows.last().and_then(|r| r["workload"].as_str()).unwrap_or("")));
    bar.inc();
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
