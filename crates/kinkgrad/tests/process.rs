//! Tests that need a process of their own, each run in a child process of this test binary (one
//! binary for all of them: every test binary costs the suite a build and a link):
//! - no allocation in a training step's steady state (`support/alloc_steps.rs`: a counting global
//!   allocator, which other tests running beside it in one process would disturb), on the products'
//!   paths this machine chooses and with the products forced to AVX2 (`KINKGRAD_SIMD=avx2`, the
//!   path of an AVX2-only machine; the SIMD level is chosen once per process);
//! - a training step on a pool of one thread (`RAYON_NUM_THREADS=1`, a one-core machine; rayon's
//!   global pool is built once per process).
//!
//! Each `child_*` test is ignored and does its work only in the child process started for it (run
//! by hand with `--ignored`, it does nothing rather than run beside the others).

#[path = "support/alloc_steps.rs"]
mod alloc_steps;

use kinkgrad::io::mnist::Mnist;
use kinkgrad::nn::{on_pool, Init, OptimizerKind, Sequential, Trainer};
use kinkgrad::{Mode, Representation, Rng};
use std::io::Write;
use std::process::Command;

/// The environment variable naming the child test a child process runs.
const CHILD: &str = "KINKGRAD_TEST_CHILD";

/// Runs the ignored test `name` of this binary in a child process with the environment `env` added,
/// echoes its report, and fails when it fails or did not run.
fn in_child(name: &str, env: &[(&str, &str)]) {
    let exe = std::env::current_exe().expect("this test binary");
    let out = Command::new(exe)
        .args(["--ignored", "--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .envs(env.iter().copied())
        .output()
        .expect("the child process starts");
    let _ = std::io::stderr().write_all(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{name} failed in its child process:\n{stdout}");
    assert!(stdout.contains("1 passed"), "the child process ran {name}:\n{stdout}");
}

/// True in the child process started for `name`.
fn is_child(name: &str) -> bool {
    std::env::var(CHILD).as_deref() == Ok(name)
}

#[test]
fn training_steps_reuse_their_buffers() {
    in_child("child_machine_paths", &[]);
}

#[test]
fn training_steps_reuse_their_buffers_on_avx2() {
    in_child("child_avx2", &[("KINKGRAD_SIMD", "avx2")]);
}

#[test]
fn a_step_on_a_one_thread_pool_returns() {
    in_child("child_one_thread", &[]);
}

#[test]
#[ignore = "runs in its own process (training_steps_reuse_their_buffers)"]
fn child_machine_paths() {
    if is_child("child_machine_paths") {
        alloc_steps::steady_steps_allocate_nothing();
    }
}

#[test]
#[ignore = "runs in its own process (training_steps_reuse_their_buffers_on_avx2)"]
fn child_avx2() {
    if !is_child("child_avx2") {
        return;
    }
    let avx2 = std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    assert_eq!(kinkgrad::sgemm::in_use(), avx2, "the f32 products take kinkgrad's kernel wherever AVX2 and FMA run");
    alloc_steps::steady_steps_allocate_nothing();
}

/// `nn::on_pool` on a pool of one thread must still reach the pool's thread 0 and return. (In
/// session 28 a single waiting part ran on the caller's thread and waited for the step forever.)
#[test]
#[ignore = "runs in its own process (a_step_on_a_one_thread_pool_returns)"]
fn child_one_thread() {
    if !is_child("child_one_thread") {
        return;
    }
    rayon::ThreadPoolBuilder::new().num_threads(1).build_global().expect("the global pool, built first");
    assert_eq!(rayon::current_num_threads(), 1);
    // a hang fails the test instead of stalling the suite
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(on_pool(|| (rayon::current_thread_index(), 6 * 7))));
    let (thread, v) = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("on_pool returned within 60 s");
    assert_eq!((thread, v), (Some(0), 42), "the step ran on the pool's only thread");
    // a whole training step (its products split with `rayon::join` inside the one-thread pool):
    // one SGD step on 8 images of zeros with label 0 lowers the loss of that batch
    let n = 8;
    let d = Mnist { images: vec![0.0; n * 784], labels: vec![0; n], n, rows: 28, cols: 28 };
    let idx: Vec<usize> = (0..n).collect();
    let model = Sequential::<f32>::mlp(&[784, 16, 10], Init::PyTorch, &mut Rng::new(0)).unwrap();
    let mut t = Trainer::new(model, OptimizerKind::sgd(), 0.5, n, Mode::Assoc, Representation::default(), 0).unwrap();
    let first = t.step(&d, &idx).unwrap();
    let second = t.step(&d, &idx).unwrap();
    assert!(second.loss < first.loss, "{} then {}", first.loss, second.loss);
}
