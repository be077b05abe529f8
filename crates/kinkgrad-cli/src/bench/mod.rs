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
//!   in one run (no peer: the precision studies run these by the hundred);
//! - `lenet-digits`: the LeNet step in `assoc` and `safe` on the built-in MNIST digits, batch after
//!   batch (no peer: what `safe` costs on real images, whose blank backgrounds give the pooling ties
//!   it must decide; the random images of `lenet` give few).
//!
//! Each workload times its sides (kinkgrad's variants, its peer serving in a separate process) in
//! alternating blocks, and each ratio is the median of the per-pair ratios (`pairs.rs`), so that the
//! machine's drift between moments cancels; times are the medians of all calls. Absolute times drift
//! between machines and moments; the ratios are what the goals are stated in.
//!
//! `--peer-isa avx2` limits the peers to AVX2 (`isa.rs`); with `KINKGRAD_SIMD=avx2` and a build
//! without the default features (`gemm` on AVX2) both sides run what an AVX2 machine runs.

mod compare;
mod isa;
mod pairs;
pub(crate) mod peers;
mod workloads;

use crate::output::num;
pub use isa::PeerIsa;
use kinkgrad::pde::gradient::Workspace;
use kinkgrad::Mode;
use pairs::{interleave, Side, Timings};
use peers::{Peers, Served};
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
    /// The vector instructions the peers may use: `avx2` limits JAX and PyTorch to AVX2 and FMA (set
    /// in their environment; each peer must confirm it, else the command fails), as on a machine
    /// without AVX-512; `native` lets them choose.
    #[arg(long, value_enum, default_value_t = PeerIsa::Native)]
    pub peer_isa: PeerIsa,
    /// Timed calls per block: each side (kinkgrad's variants, the peer) runs one block per round.
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Rounds of blocks, i.e. pairs behind each ratio (the median of the per-pair ratios).
    #[arg(long, default_value_t = 15)]
    pub pairs: usize,
    /// An earlier run's JSON (`--json`): print the change of every figure, workload by workload.
    #[arg(long, value_name = "BASELINE.json")]
    pub compare: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// The names of `--only`.
pub(crate) const WORKLOADS: [&str; 10] = [
    "all",
    "mlp",
    "transport",
    "hybrid-upwind",
    "hybrid-lw-minmod",
    "lenet",
    "mlp-small",
    "lenet-16bit",
    "mlp-small-16bit",
    "lenet-digits",
];

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
        // CPU has avx512f, else AVX2 with FMA; `KINKGRAD_SIMD` does not reach it (it runs the f64
        // products, and the f32 ones where `f32_products` says so)
        let gemm = if kinkgrad::simd::GEMM_AVX512 && has!("avx512f") {
            "avx512"
        } else if has!("fma") {
            "avx2-fma"
        } else {
            "scalar"
        };
        v["gemm"] = Value::String(gemm.into());
        // the f32 products: kinkgrad's AVX2 kernel, or the `gemm` crate as above
        let f32_products = if kinkgrad::sgemm::in_use() { "kinkgrad-avx2-fma" } else { "gemm" };
        v["f32_products"] = Value::String(f32_products.into());
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
    let peers = Peers::new(a.peer_python.clone(), a.peers_dir.clone(), a.peer_isa)?;
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
        let mut v = json!({
            "threads": rayon_threads(),
            "cpu_features": cpu,
            "peer_isa": a.peer_isa.name(),
            "peers_dir": peers_dir,
            "results": rows
        });
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
        "threads {}, SIMD level {}{}, CPU flags: {}, peers' instructions: {}\n",
        rayon_threads(),
        cpu["simd_level"].as_str().unwrap_or("?"),
        cpu["kinkgrad_simd_env"].as_str().map(|e| format!(" (KINKGRAD_SIMD={e})")).unwrap_or_default(),
        flags.join(" "),
        a.peer_isa.name()
    );
    for r in &rows {
        s += &format!("{}\n", r["workload"].as_str().unwrap_or(""));
        for (k, val) in r.as_object().into_iter().flatten() {
            if k == "workload" || k == "peer_not_run" || (val.is_null() && r.get("peer_not_run").is_some()) {
                continue;
            }
            let q = val.as_array().map(|q| q.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect::<Vec<_>>());
            let shown = match (val.as_u64(), val.as_f64(), q.as_deref()) {
                (Some(n), _, _) => n.to_string(),
                (_, Some(x), _) if k.ends_with("seconds") => format!("{:.3} ms", x * 1e3),
                (_, Some(x), _) => format!("{x:.3}"),
                (_, _, Some([q1, q3])) => format!("{q1:.3} .. {q3:.3} (quartiles of the pairs)"),
                _ => "not a number".into(),
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

/// Starts a workload's peer. Its failure becomes the row's `peer_not_run`, except under a
/// `--peer-isa` limit, where it is the command's error: a peer that did not confirm the limit may
/// use other instructions than asked, and its figures would not answer the question asked.
fn start(peers: &Peers, script: &str, args: &[&str]) -> Result<Result<Served, String>, String> {
    match peers.serve(script, args) {
        Err(e) if peers.isa() != PeerIsa::Native => Err(format!("--peer-isa {}: {e}", peers.isa().name())),
        p => Ok(p),
    }
}

/// A peer's side: blocks of calls of its function `name`, or the reason it did not start.
fn peer_side<'a>(p: &'a Result<Served, String>, name: &'a str) -> Side<'a> {
    Side::peer(move |n| match p {
        Ok(s) => s.run(name, n),
        Err(e) => Err(e.clone()),
    })
}

/// A workload's row: its name, the number of pairs, then figures added by [`Row::seconds`] and
/// [`Row::ratio`] from one interleaved measurement; `peer_not_run` when a peer did not run or stopped.
struct Row<'t> {
    v: Value,
    t: &'t Timings,
}

impl<'t> Row<'t> {
    fn new(workload: &str, t: &'t Timings) -> Self {
        let pairs = t.blocks.iter().map(Vec::len).max().unwrap_or(0);
        let mut v = json!({"workload": workload, "pairs": pairs});
        if let Some(why) = t.why() {
            v["peer_not_run"] = Value::String(why.into());
        }
        Row { v, t }
    }

    /// `key`: the median call time of `side` (null when it did not run).
    fn seconds(mut self, key: &str, side: usize) -> Self {
        self.v[key] = self.t.seconds(side).map_or(Value::Null, num);
        self
    }

    /// `key`: the median over the pairs of side `a`'s time over side `b`'s; `key_iqr`: the pair
    /// ratios' first and third quartiles (null when a side did not run).
    fn ratio(mut self, key: &str, a: usize, b: usize) -> Self {
        let r = self.t.ratio(a, b);
        self.v[key] = r.map_or(Value::Null, |r| num(r.median));
        self.v[format!("{key}_iqr")] = r.map_or(Value::Null, |r| json!([num(r.q1), num(r.q3)]));
        self
    }
}

/// The measured workloads of `a` (one JSON row each, with the peers' figures and ratios);
/// `progress` hears of each workload's start and row. Each workload times its sides (kinkgrad's
/// variants and its peer) in `a.pairs` rounds of one block of `a.reps` calls each (`pairs.rs`).
pub(crate) fn measure(a: &Args, peers: &Peers, progress: &mut dyn FnMut(Step)) -> Result<Vec<Value>, String> {
    let all = a.only == "all";
    let want = |w: &str| all || a.only.split(',').any(|x| x.trim() == w);
    if a.reps == 0 || a.pairs == 0 {
        return Err(format!("--reps {} --pairs {}: both must be at least 1", a.reps, a.pairs));
    }
    let mut rows: Vec<Value> = Vec::new();
    let rounds = |sides: &mut [Side]| interleave(sides, a.pairs, a.reps);
    if want("mlp") {
        progress(Step::Start("mlp"));
        let p = start(peers, "jax_peers.py", &["mlp"])?;
        let mut sides = [
            Side::local(workloads::mlp_step(&Mode::Assoc)),
            peer_side(&p, "step"),
            Side::local(workloads::mlp_step(&Mode::safe())),
        ];
        let t = rounds(&mut sides)?;
        drop(sides);
        drop(p);
        let row = Row::new("mlp_step (784-512-512-10, batch 128, f32)", &t)
            .seconds("kinkgrad_assoc_seconds", 0)
            .seconds("jax_seconds", 1)
            .seconds("kinkgrad_safe_seconds", 2)
            .ratio("safe_over_assoc", 2, 0)
            .ratio("kinkgrad_over_jax", 0, 1);
        rows.push(row.v);
        progress(Step::Done(rows.last().expect("pushed")));
    }
    if want("transport") {
        progress(Step::Start("transport"));
        let w = workloads::transport()?;
        let mut ws = Workspace::default();
        let p = start(peers, "jax_peers.py", &["transport"])?;
        let mut sides = [
            Side::local(|| w.forward()),
            peer_side(&p, "forward"),
            Side::local(|| w.gradient(&mut ws)),
            peer_side(&p, "gradient"),
        ];
        let t = rounds(&mut sides)?;
        drop(sides);
        drop(p);
        let row = Row::new("transport (minmod LW, 1000 cells x 1000 steps, f64)", &t)
            .seconds("kinkgrad_forward_seconds", 0)
            .seconds("jax_forward_seconds", 1)
            .seconds("kinkgrad_gradient_seconds", 2)
            .seconds("jax_gradient_seconds", 3)
            .ratio("gradient_over_forward", 2, 0)
            .ratio("jax_gradient_over_kinkgrad_gradient", 3, 2);
        rows.push(row.v);
        progress(Step::Done(rows.last().expect("pushed")));
    }
    for scheme in ["upwind", "lw-minmod"] {
        if !want(&format!("hybrid-{scheme}")) {
            continue;
        }
        progress(Step::Start(if scheme == "upwind" { "hybrid-upwind" } else { "hybrid-lw-minmod" }));
        let w = workloads::hybrid(scheme)?;
        let p = start(peers, "jax_hybrid.py", &["--scheme", scheme])?;
        let mut sides = [
            Side::local(|| w.forward()),
            peer_side(&p, "forward"),
            Side::local(|| w.value_and_grad()),
            peer_side(&p, "value_and_grad"),
        ];
        let t = rounds(&mut sides)?;
        drop(sides);
        drop(p);
        let label = format!("hybrid {scheme} (128 cells, 90 steps, 64 samples, net 4-32-32-1)");
        let row = Row::new(&label, &t)
            .seconds("kinkgrad_forward_seconds", 0)
            .seconds("jax_forward_seconds", 1)
            .seconds("kinkgrad_value_and_grad_seconds", 2)
            .seconds("jax_value_and_grad_seconds", 3)
            .ratio("gradient_over_forward", 2, 0)
            .ratio("jax_over_kinkgrad", 3, 2);
        rows.push(row.v);
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
        let p = start(peers, "nn_peer.py", &[peer_arg])?;
        let mut sides = [
            Side::local(workloads::nn_step::<f32>(net, &Mode::Assoc)?),
            peer_side(&p, "step"),
            Side::local(workloads::nn_step::<f32>(net, &Mode::safe())?),
        ];
        let t = rounds(&mut sides)?;
        drop(sides);
        drop(p);
        let row = Row::new(label, &t)
            .seconds("kinkgrad_assoc_seconds", 0)
            .seconds("pytorch_seconds", 1)
            .seconds("kinkgrad_safe_seconds", 2)
            .ratio("safe_over_assoc", 2, 0)
            .ratio("kinkgrad_over_pytorch", 0, 1);
        rows.push(row.v);
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
        let mut sides = [
            Side::local(workloads::nn_step::<f32>(net, &Mode::Assoc)?),
            Side::local(workloads::nn_step::<kinkgrad::f16>(net, &Mode::Assoc)?),
            Side::local(workloads::nn_step::<kinkgrad::bf16>(net, &Mode::Assoc)?),
        ];
        let t = rounds(&mut sides)?;
        drop(sides);
        let row = Row::new(label, &t)
            .seconds("kinkgrad_f32_seconds", 0)
            .seconds("kinkgrad_f16_seconds", 1)
            .seconds("kinkgrad_bf16_seconds", 2)
            .ratio("f16_over_f32", 1, 0)
            .ratio("bf16_over_f32", 2, 0);
        rows.push(row.v);
        progress(Step::Done(rows.last().expect("pushed")));
    }
    if want("lenet-digits") {
        progress(Step::Start("lenet-digits"));
        let mut sides = [
            Side::local(workloads::lenet_digits_step(&Mode::Assoc)?),
            Side::local(workloads::lenet_digits_step(&Mode::safe())?),
        ];
        let t = rounds(&mut sides)?;
        drop(sides);
        let label = "lenet_digits_step (LeNet, batch 64, f32, Adam, the built-in MNIST digits)";
        let row = Row::new(label, &t).seconds("kinkgrad_assoc_seconds", 0).seconds("kinkgrad_safe_seconds", 1).ratio(
            "safe_over_assoc",
            1,
            0,
        );
        rows.push(row.v);
        progress(Step::Done(rows.last().expect("pushed")));
    }
    Ok(rows)
}

/// The threads of the pool the workloads run on (`RAYON_NUM_THREADS` when set).
fn rayon_threads() -> usize {
    kinkgrad::nn::pool_threads()
}
