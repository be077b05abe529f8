//! `kinkgrad bench`: the performance workloads of the issues, timed in this process, side by side with
//! the peers shipped in `benchmarks/` run by the same command (when a Python is given), printing the
//! ratios.
//!
//! Workloads (each mirrors its peer script exactly):
//! - `mlp`: one SGD step of an MLP 784-512-512-10, batch 128, f32 (`jax_peers.py mlp`), in `assoc` and
//!   `safe` mode;
//! - `transport`: minmod Lax-Wendroff, 1000 cells x 1000 steps, f64: forward and gradient of
//!   `J(u0) = sum (u_T - g)^2` (`jax_peers.py transport`);
//! - `hybrid-upwind`, `hybrid-lw-minmod`: the default hybrid problem, forward `J(W)` and value and
//!   gradient (`jax_hybrid.py`);
//! - `lenet`, `mlp-small`: one Adam training step of LeNet and of the MLP 784-256-10, batch 64, f32,
//!   in `assoc` and `safe` mode, against PyTorch eager (`nn_peer.py`);
//! - `lenet-16bit`, `mlp-small-16bit`: the same steps (`assoc`) in f16 and bf16 against f32, measured
//!   in one run (no peer: the precision studies run these by the hundred).
//!
//! Times are medians over repetitions after a warm-up. Absolute times drift between machines; the
//! ratios measured in one run are what the goals are stated in.

mod compare;
pub(crate) mod peers;
mod workloads;

use crate::output::num;
use kinkgrad::Mode;
use peers::Peers;
use serde_json::{json, Value};
use std::path::PathBuf;
use workloads::Net;

/// Arguments of `kinkgrad bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Workloads, comma-separated, or all.
    #[arg(long, default_value = "all", value_parser = crate::flags::CommaList(&WORKLOADS))]
    pub only: String,
    /// A Python interpreter with JAX, and PyTorch for lenet and mlp-small (make one with
    /// `benchmarks/setup_peers.sh DIR torch`, then pass DIR/bin/python).
    #[arg(long)]
    pub peer_python: Option<PathBuf>,
    /// Folder of the peer scripts [default: $KINKGRAD_PEERS_DIR, else the `benchmarks/` folder of the
    /// repository holding this executable].
    #[arg(long)]
    pub peers_dir: Option<PathBuf>,
    /// Repetitions per measurement.
    #[arg(long, default_value_t = 15)]
    pub reps: usize,
    /// An earlier run's JSON (`--json`): print the change of every figure, workload by workload.
    #[arg(long, value_name = "BASELINE.json")]
    pub compare: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// The names of `--only`.
const WORKLOADS: [&str; 9] = [
    "all",
    "mlp",
    "transport",
    "hybrid-upwind",
    "hybrid-lw-minmod",
    "lenet",
    "mlp-small",
    "lenet-16bit",
    "mlp-small-16bit",
];

/// The peer's figure `key`, when the peer ran.
fn peer_f(p: &Result<Value, String>, key: &str) -> Option<f64> {
    p.as_ref().ok().and_then(|v| v[key].as_f64())
}

/// Adds `peer_not_run` (the one-line reason) to a row whose peer did not run.
fn with_reason(mut row: Value, p: &Result<Value, String>) -> Value {
    if let Err(why) = p {
        row["peer_not_run"] = Value::String(why.clone());
    }
    row
}

/// The SIMD level of the scheme kernels, the instructions of the matrix products and the CPU's vector
/// features.
pub(crate) fn cpu_features() -> Value {
    let mut v = json!({
        "simd_level": kinkgrad::simd::simd_level().name(),
        "kinkgrad_simd_env": std::env::var("KINKGRAD_SIMD").ok(),
    });
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let flags = [
            ("avx2", has!("avx2")),
            ("fma", has!("fma")),
            ("avx512f", has!("avx512f")),
            ("avx512bw", has!("avx512bw")),
            ("avx512vl", has!("avx512vl")),
            ("avx512dq", has!("avx512dq")),
        ];
        for (k, on) in flags {
            v[k] = Value::Bool(on);
        }
        // the `gemm` crate (feature x86-v4, through kinkgrad's `avx512-gemm`) picks AVX-512 when the
        // CPU has avx512f, else AVX2 with FMA; `KINKGRAD_SIMD` does not reach it
        let gemm = if kinkgrad::simd::GEMM_AVX512 && has!("avx512f") {
            "avx512"
        } else if has!("fma") {
            "avx2-fma"
        } else {
            "scalar"
        };
        v["gemm"] = Value::String(gemm.into());
        v["gemm_avx512_feature"] = Value::Bool(kinkgrad::simd::GEMM_AVX512);
    }
    v
}

/// Run the command.
pub fn run(a: Args) -> Result<String, String> {
    let all = a.only == "all";
    let want = |w: &str| all || a.only.split(',').any(|x| x.trim() == w);
    for w in a.only.split(',') {
        if !all && !WORKLOADS[1..].contains(&w.trim()) {
            return Err(format!("unknown workload '{w}' in --only: expected {} or all", WORKLOADS[1..].join(", ")));
        }
    }
    let baseline = a.compare.as_deref().map(compare::load).transpose()?;
    let peers = Peers::new(a.peer_python.clone(), a.peers_dir.clone())?;
    let todo = WORKLOADS[1..].iter().filter(|w| want(w)).count();
    let bar = crate::progress::Progress::new(todo as u64, "workloads");
    let rows = measure(&a, &peers, &mut |step| match step {
        Step::Start(name) => bar.message(|| name.to_string()),
        Step::Done(row) => {
            bar.step(|| format!("measured {}", row["workload"].as_str().unwrap_or("")));
            bar.inc();
        }
    })?;
    bar.finish();
    let cmp = baseline.as_ref().map(|b| compare::compare(b, &rows));
    let peers_dir = match peers.dir() {
        Ok(d) => Value::String(d.display().to_string()),
        Err(_) => Value::Null,
    };
    let cpu = cpu_features();
    if a.json {
        let mut v = json!({"threads": rayon_threads(), "cpu_features": cpu, "peers_dir": peers_dir, "results": rows});
        if let Some(c) = cmp {
            v["compare"] = Value::Array(c);
        }
        return Ok(format!("{v}\n"));
    }
    let flags: Vec<&str> = cpu
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| v == &&Value::Bool(true))
        .map(|(k, _)| k.as_str())
        .collect();
    let mut s = format!(
        "threads {}, SIMD level {}{}, CPU flags: {}\n",
        rayon_threads(),
        cpu["simd_level"].as_str().unwrap_or("?"),
        cpu["kinkgrad_simd_env"].as_str().map(|e| format!(" (KINKGRAD_SIMD={e})")).unwrap_or_default(),
        flags.join(" ")
    );
    for r in &rows {
        s += &format!("{}\n", r["workload"].as_str().unwrap_or(""));
        for (k, val) in r.as_object().into_iter().flatten() {
            if k == "workload" || k == "peer_not_run" || (val.is_null() && r.get("peer_not_run").is_some()) {
                continue;
            }
            let shown = match val.as_f64() {
                Some(x) if k.ends_with("seconds") => format!("{:.3} ms", x * 1e3),
                Some(x) => format!("{x:.3}"),
                None => "not a number".into(),
            };
            s += &format!("  {k:<40} {shown}\n");
        }
        if let Some(why) = r["peer_not_run"].as_str() {
            s += &format!("  peer not run: {why}\n");
        }
    }
    if let (Some(c), Some(path)) = (cmp, &a.compare) {
        s += &compare::text(path, &c);
    }
    Ok(s)
}

/// What [`measure`] reports as it goes.
pub(crate) enum Step<'a> {
    /// A workload starts (its name in `--only`).
    Start(&'a str),
    /// A workload's row is measured.
    Done(&'a Value),
}

/// The measured workloads of `a` (one JSON row each, with the peers' figures and ratios);
/// `progress` hears of each workload's start and row.
pub(crate) fn measure(a: &Args, peers: &Peers, progress: &mut dyn FnMut(Step)) -> Result<Vec<Value>, String> {
    let all = a.only == "all";
    let want = |w: &str| all || a.only.split(',').any(|x| x.trim() == w);
    let mut rows: Vec<Value> = Vec::new();
    if want("mlp") {
        progress(Step::Start("mlp"));
        let assoc = workloads::mlp_step(&Mode::Assoc, a.reps);
        let safe = workloads::mlp_step(&Mode::safe(), a.reps);
        let p = peers.run("jax_peers.py", &["mlp"]);
        let jax = peer_f(&p, "seconds");
        rows.push(with_reason(
            json!({"workload": "mlp_step (784-512-512-10, batch 128, f32)", "kinkgrad_assoc_seconds": assoc,
            "kinkgrad_safe_seconds": safe, "safe_over_assoc": safe / assoc, "jax_seconds": jax.map(num),
            "kinkgrad_over_jax": jax.map(|j| num(assoc / j))}),
            &p,
        ));
        progress(Step::Done(rows.last().expect("pushed")));
    }
    if want("transport") {
        progress(Step::Start("transport"));
        let (f, g) = workloads::transport(a.reps)?;
        let p = peers.run("jax_peers.py", &["transport"]);
        let (jf, jg) = (peer_f(&p, "forward_seconds"), peer_f(&p, "gradient_seconds"));
        rows.push(with_reason(
            json!({"workload": "transport (minmod LW, 1000 cells x 1000 steps, f64)", "kinkgrad_forward_seconds": f,
            "kinkgrad_gradient_seconds": g, "gradient_over_forward": g / f, "jax_forward_seconds": jf.map(num),
            "jax_gradient_seconds": jg.map(num), "jax_gradient_over_kinkgrad_gradient": jg.map(|j| num(j / g))}),
            &p,
        ));
        progress(Step::Done(rows.last().expect("pushed")));
    }
    for scheme in ["upwind", "lw-minmod"] {
        if !want(&format!("hybrid-{scheme}")) {
            continue;
        }
        progress(Step::Start(if scheme == "upwind" { "hybrid-upwind" } else { "hybrid-lw-minmod" }));
        let (f, g) = workloads::hybrid(scheme, a.reps)?;
        let p = peers.run("jax_hybrid.py", &["--scheme", scheme]);
        let (jf, jg) = (peer_f(&p, "forward_seconds"), peer_f(&p, "value_and_grad_seconds"));
        rows.push(with_reason(
            json!({"workload": format!("hybrid {scheme} (128 cells, 90 steps, 64 samples, net 4-32-32-1)"),
            "kinkgrad_forward_seconds": f, "kinkgrad_value_and_grad_seconds": g, "gradient_over_forward": g / f,
            "jax_forward_seconds": jf.map(num), "jax_value_and_grad_seconds": jg.map(num),
            "jax_over_kinkgrad": jg.map(|j| num(j / g))}),
            &p,
        ));
        progress(Step::Done(rows.last().expect("pushed")));
    }
    let nets = [
        ("lenet", Net::LeNet, "lenet", "lenet_step (LeNet, batch 64, f32, Adam)"),
        ("mlp-small", Net::MlpSmall, "mlp_small", "mlp_small_step (784-256-10, batch 64, f32, Adam)"),
    ];
    for (name, net, peer_arg, label) in nets {
        if !want(name) {
            continue;
        }
        progress(Step::Start(name));
        let assoc = workloads::nn_step::<f32>(net, &Mode::Assoc, a.reps)?;
        let safe = workloads::nn_step::<f32>(net, &Mode::safe(), a.reps)?;
        let p = peers.run("nn_peer.py", &[peer_arg]);
        let torch = peer_f(&p, "seconds");
        rows.push(with_reason(
            json!({"workload": label, "kinkgrad_assoc_seconds": assoc, "kinkgrad_safe_seconds": safe,
            "safe_over_assoc": safe / assoc, "pytorch_seconds": torch.map(num),
            "kinkgrad_over_pytorch": torch.map(|t| num(assoc / t))}),
            &p,
        ));
        progress(Step::Done(rows.last().expect("pushed")));
    }
    let nets16 = [
        ("lenet-16bit", Net::LeNet, "lenet_16bit_step (LeNet, batch 64, Adam, assoc; f16 and bf16 against f32)"),
        (
            "mlp-small-16bit",
            Net::MlpSmall,
            "mlp_small_16bit_step (784-256-10, batch 64, Adam, assoc; f16 and bf16 against f32)",
        ),
    ];
    for (name, net, label) in nets16 {
        if !want(name) {
            continue;
        }
        progress(Step::Start(name));
        let f32s = workloads::nn_step::<f32>(net, &Mode::Assoc, a.reps)?;
        let f16s = workloads::nn_step::<kinkgrad::f16>(net, &Mode::Assoc, a.reps)?;
        let bf16s = workloads::nn_step::<kinkgrad::bf16>(net, &Mode::Assoc, a.reps)?;
        rows.push(json!({"workload": label, "kinkgrad_f32_seconds": f32s, "kinkgrad_f16_seconds": f16s,
            "kinkgrad_bf16_seconds": bf16s, "f16_over_f32": f16s / f32s, "bf16_over_f32": bf16s / f32s}));
        progress(Step::Done(rows.last().expect("pushed")));
    }
    Ok(rows)
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
