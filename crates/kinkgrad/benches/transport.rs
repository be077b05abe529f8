//! Transport benchmark: 1000 cells, 1000 steps of minmod Lax-Wendroff (Courant 0.5, a = 1, f64,
//! periodic), the workload of `benchmarks/jax_peers.py transport`: u0 = exp(-200 (x - 0.3)^2) +
//! 1_{0.6 < x < 0.8}, target = u0 rolled by cells/10, J = sum (u_T - target)^2.
//!
//! Times the forward run, the gradient dJ/du0 with the checkpointed stepper's hand-written adjoint
//! (store-all, sqrt, revolve:10) and through the tape (one fused op per step), and prints the
//! gradient/forward ratios (medians of repeated runs) before criterion's own measurements.

use criterion::{criterion_group, Criterion};
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::pde::gradient::{GradientRequest, Wanted, Workspace};
use kinkgrad::pde::grid::Grid;
use kinkgrad::pde::limiter::Limiter;
use kinkgrad::pde::scheme::{Scheme, Transport};
use kinkgrad::{Mode, Representation, Tape, Tensor};
use std::hint::black_box;
use std::time::Instant;

const CELLS: usize = 1000;
const STEPS: usize = 1000;

struct Work {
    t: Transport,
    u0: Vec<f64>,
    target: Vec<f64>,
}

fn work() -> Work {
    let g = Grid::unit(CELLS).unwrap();
    let t = Transport::from_courant(g, Scheme::Limited(Limiter::Minmod), 1.0, 0.5, false).unwrap();
    let x: Vec<f64> = (0..CELLS).map(|j| j as f64 / CELLS as f64).collect();
    let u0: Vec<f64> =
        x.iter().map(|&x| (-200.0 * (x - 0.3f64).powi(2)).exp() + if x > 0.6 && x < 0.8 { 1.0 } else { 0.0 }).collect();
    let shift = CELLS / 10;
    let target: Vec<f64> = (0..CELLS).map(|j| u0[(j + CELLS - shift) % CELLS]).collect();
    Work { t, u0, target }
}

fn forward(w: &Work) -> f64 {
    let u = w.t.simulate(&w.u0, &[1.0], None, STEPS).unwrap();
    u.iter().zip(&w.target).map(|(a, b)| (a - b) * (a - b)).sum()
}

fn stepper(_w: &Work) -> Workspace {
    Workspace::default()
}

/// One gradient `dJ/du0` (and `dJ/da`: the states are kept, no piece tape) with a workspace reused
/// across calls (as in a training loop: its state buffers are recycled).
fn gradient(st: &mut Workspace, w: &Work, schedule: &Schedule) -> Vec<f64> {
    let (mode, rep) = (Mode::Assoc, Representation::default());
    let req = GradientRequest {
        u0: &w.u0,
        target: &w.target,
        velocity: &[1.0],
        source: None,
        steps: STEPS,
        mode: &mode,
        representation: &rep,
        schedule: *schedule,
        wanted: Wanted { u0: true, velocity: true, source: false },
    };
    w.t.loss_gradient_in(&req, st).unwrap().u0
}

fn tape_gradient(w: &Work) -> Vec<f64> {
    let tape = Tape::<f64>::new();
    let u0 = tape.var(Tensor::vector(w.u0.clone()));
    let a = tape.scalar(1.0);
    let mut u = u0;
    for _ in 0..STEPS {
        u = w.t.step_var(u, Some(a), None).unwrap();
    }
    let j = u.sub(tape.constant(Tensor::vector(w.target.clone()))).unwrap().square().sum();
    tape.gradient(j, &[u0], &Mode::Assoc).unwrap().values[0].to_f64_vec()
}

/// Minimum wall time of `reps` runs: the estimator least disturbed by other processes on a
/// shared machine.
fn best(mut f: impl FnMut(), reps: usize) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// CPU time (user + system) of this thread in seconds, from `/proc/thread-self/stat` (clock ticks
/// of 10 ms; Linux only): averaged over many runs it measures the work itself, undisturbed by other
/// processes waiting for the same cores.
fn thread_cpu() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (ut, st): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    Some((ut + st) / 100.0)
}

/// Mean CPU time per run over `reps` runs (NaN where unavailable).
fn cpu_per_run(mut f: impl FnMut(), reps: usize) -> f64 {
    f();
    let Some(a) = thread_cpu() else { return f64::NAN };
    for _ in 0..reps {
        f();
    }
    thread_cpu().map_or(f64::NAN, |b| (b - a) / reps as f64)
}

fn summary() {
    let w = work();
    let fwd = best(|| _ = black_box(forward(&w)), 21);
    println!("transport {CELLS} cells x {STEPS} steps, lw-minmod, f64 (minimum wall time of 21 runs)");
    println!("  forward                    {:8.3} ms", fwd * 1e3);
    let fwd_cpu = cpu_per_run(|| _ = black_box(forward(&w)), 400);
    for (name, s) in [
        ("store-all", Schedule::StoreAll),
        ("sqrt", Schedule::Sqrt),
        ("revolve:10", Schedule::Revolve { snapshots: 10 }),
    ] {
        let mut st = stepper(&w);
        let g = best(|| _ = black_box(gradient(&mut st, &w, &s)), 21);
        let fresh = best(|| _ = black_box(gradient(&mut stepper(&w), &w, &s)), 21);
        println!(
            "  gradient ({name:10})    {:8.3} ms   ratio gradient/forward {:.2}   (fresh stepper: {:.3} ms, ratio {:.2})",
            g * 1e3,
            g / fwd,
            fresh * 1e3,
            fresh / fwd
        );
    }
    println!("CPU time per run (thread user+system time over many runs):");
    println!("  forward                    {:8.3} ms", fwd_cpu * 1e3);
    for (name, s) in [
        ("store-all", Schedule::StoreAll),
        ("sqrt", Schedule::Sqrt),
        ("revolve:10", Schedule::Revolve { snapshots: 10 }),
    ] {
        let mut st = stepper(&w);
        let g = cpu_per_run(|| _ = black_box(gradient(&mut st, &w, &s)), 100);
        println!("  gradient ({name:10})    {:8.3} ms   ratio gradient/forward {:.2}", g * 1e3, g / fwd_cpu);
    }
    let g = best(|| _ = black_box(tape_gradient(&w)), 5);
    println!("  gradient (tape, fused op)  {:8.3} ms   ratio gradient/forward {:.2}", g * 1e3, g / fwd);
}

fn bench(c: &mut Criterion) {
    let w = work();
    let mut group = c.benchmark_group("transport_lw_minmod_1000x1000");
    group.sample_size(20);
    group.bench_function("forward", |b| b.iter(|| black_box(forward(&w))));
    let mut st = stepper(&w);
    group.bench_function("gradient_store_all", |b| b.iter(|| black_box(gradient(&mut st, &w, &Schedule::StoreAll))));
    group.bench_function("gradient_sqrt", |b| b.iter(|| black_box(gradient(&mut st, &w, &Schedule::Sqrt))));
    group.bench_function("gradient_revolve10", |b| {
        b.iter(|| black_box(gradient(&mut st, &w, &Schedule::Revolve { snapshots: 10 })))
    });
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    // `TRANSPORT_ONLY=forward|all|sqrt|revolve|tape`: run just that 50 times (for `perf stat`)
    if let Ok(only) = std::env::var("TRANSPORT_ONLY") {
        let w = work();
        let mut st = stepper(&w);
        for _ in 0..50 {
            match only.as_str() {
                "forward" => _ = black_box(forward(&w)),
                "all" => _ = black_box(gradient(&mut st, &w, &Schedule::StoreAll)),
                "sqrt" => _ = black_box(gradient(&mut st, &w, &Schedule::Sqrt)),
                "revolve" => _ = black_box(gradient(&mut st, &w, &Schedule::Revolve { snapshots: 10 })),
                _ => _ = black_box(tape_gradient(&w)),
            }
        }
        return;
    }
    summary();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
