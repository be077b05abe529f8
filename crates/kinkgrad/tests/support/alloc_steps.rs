//! What a training step allocates in its steady state, counted by a `#[global_allocator]` that
//! counts every allocation on every thread (`tests/process.rs` runs it in child processes of its
//! own, on the products' paths the machine chooses and with the products forced to AVX2: the
//! allocator is process-wide and the SIMD level is chosen once per process).
//!
//! `nn::Trainer::step` runs inside the trainer's buffer pool (`tensor::pool::Workspace`,
//! ARCHITECTURE.md "Buffer reuse across steps"): tensor storage (data, shape, header), the kernels'
//! output and scratch buffers, the ops' kept lists (pooling selections and ties, shapes) and the
//! tapes' input lists come from the previous step's buffers; the products' packing buffers are each
//! thread's, kept between products (kinkgrad's `sgemm` and the patched `gemm-common`,
//! vendor/README.md). The first steps fill the pool (and build the thread pool and the geometry
//! caches); from the third step on, a step allocates nothing. Which thread runs which half of a
//! split product changes with work stealing, so a pool thread grows its product buffers to the
//! largest any thread keeps when it joins a step (`scalar::sync_thread_buffers`): the second step
//! brings every thread up to what the first needed. Before that (session 29), a thread grew a
//! buffer whenever it first met a product another thread had met, at any step: on a loaded machine
//! (a busy loop on one core) 9 of 12 runs of this test failed, with 1 or 2 MiB blocks in steps 3-8;
//! since, 0 of 12.
//!
//! The one exception is rayon's: its global job queue (crossbeam's `Injector`) takes a block of 63
//! slots (1520 bytes) for every 63 jobs injected from outside the pool, and `nn::on_pool` injects
//! one job per step. So a steady step may allocate one block of at most 2 KiB, in at most one of
//! every 63 steps: the check below allows exactly that.

use kinkgrad::io::mnist::Mnist;
use kinkgrad::nn::{Init, OptimizerKind, Sequential, Trainer};
use kinkgrad::{bf16, f16, Mode, Real, Representation, Rng, Tensor};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Counting;

static CALLS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        CALLS.fetch_add(1, Relaxed);
        BYTES.fetch_add(l.size(), Relaxed);
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        CALLS.fetch_add(1, Relaxed);
        BYTES.fetch_add(l.size(), Relaxed);
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        CALLS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new, Relaxed);
        System.realloc(p, l, new)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Steps measured per run; the first two fill the pool, the rest are the steady state.
const STEPS: usize = 8;

/// Allocation calls and bytes of each of `steps` training steps of `model` (batch 64, Adam), each on
/// its own batch of random images with MNIST's sparsity (as `kinkgrad bench` draws them): the
/// counts that vary with the data (ties, kinks, distinct patches) vary from step to step, as in
/// an epoch.
fn per_step<T: Real>(model: Sequential<T>, mode: Mode, steps: usize) -> Vec<(usize, usize)> {
    let n = 64;
    let mut rng = Rng::new(1);
    let images = (0..steps * n * 784).map(|_| if rng.uniform() < 0.8 { 0.0 } else { rng.uniform() as f32 }).collect();
    let labels = (0..steps * n).map(|_| rng.below(10) as u8).collect();
    let d = Mnist { images, labels, n: steps * n, rows: 28, cols: 28 };
    let batches: Vec<Vec<usize>> = (0..steps).map(|s| (s * n..(s + 1) * n).collect()).collect();
    let mut t = Trainer::new(model, OptimizerKind::adam(), 1e-3, n, mode, Representation::default(), 0).unwrap();
    // `gemm` gives each thread a 2 MiB packing buffer (a thread-local) the first time that thread
    // runs a product: on rayon's workers that can happen in any step, whenever work stealing first
    // hands one a product. Run one product of each precision on every worker first, so that the
    // steps below see only what a step itself allocates.
    rayon::broadcast(|_| {
        let a = Tensor::<f32>::zeros(&[64, 64]);
        a.matmul(&a).unwrap();
        Tensor::<f16>::zeros(&[64, 64]).matmul(&Tensor::zeros(&[64, 64])).unwrap();
        Tensor::<bf16>::zeros(&[64, 64]).matmul(&Tensor::zeros(&[64, 64])).unwrap();
    });
    batches
        .iter()
        .map(|idx| {
            let (c, b) = (CALLS.load(Relaxed), BYTES.load(Relaxed));
            t.step(&d, idx).unwrap();
            (CALLS.load(Relaxed) - c, BYTES.load(Relaxed) - b)
        })
        .collect()
}

fn lenet<T: Real>() -> Sequential<T> {
    Sequential::lenet(None, Init::PyTorch, &mut Rng::new(0)).unwrap()
}

fn mlp<T: Real>() -> Sequential<T> {
    Sequential::mlp(&[784, 256, 10], Init::PyTorch, &mut Rng::new(0)).unwrap()
}

/// Every steady step of LeNet and the MLP 784-256-10, in `assoc` and `safe`, in `f32` and a 16-bit
/// precision, allocates nothing but rayon's queue block (module doc).
pub fn steady_steps_allocate_nothing() {
    let safe = Mode::Safe { seed: 0, max_directions: 4 };
    let products = if kinkgrad::sgemm::in_use() { "kinkgrad's f32 products" } else { "gemm's f32 products" };
    let runs = [
        ("lenet f32 assoc", per_step(lenet::<f32>(), Mode::Assoc, STEPS)),
        ("lenet bf16 assoc", per_step(lenet::<bf16>(), Mode::Assoc, STEPS)),
        ("lenet f32 safe", per_step(lenet::<f32>(), safe.clone(), STEPS)),
        ("mlp f32 assoc", per_step(mlp::<f32>(), Mode::Assoc, STEPS)),
        ("mlp f16 assoc", per_step(mlp::<f16>(), Mode::Assoc, STEPS)),
        ("mlp f32 safe", per_step(mlp::<f32>(), safe, STEPS)),
    ];
    let mut queue_blocks = 0;
    for (name, s) in runs {
        // printed past the test harness's capture, so that `cargo test --test process` shows the counts
        let _ = writeln!(std::io::stderr(), "{name} ({products}): blocks, bytes per step {s:?}");
        for &(c, b) in &s[2..] {
            let queue_block = c == 1 && b <= 2048;
            assert!(c == 0 || queue_block, "{name}: a steady step allocated {c} blocks, {b} bytes: {s:?}");
            queue_blocks += usize::from(queue_block);
        }
    }
    // one queue block per 63 injected steps: the 6 runs (each STEPS + 4 or so injections with the
    // warm-up) cross at most one boundary
    assert!(queue_blocks <= 1, "{queue_blocks} steady steps allocated one block each");
}

// History of what one steady step allocated (batch 64, Adam, 2 threads): before the pool LeNet 955-956 blocks
// and 25.6 MB, MLP 294 and 2.97 MB; session 22 (pool) LeNet 263, safe 377-378 (5.3 MB), MLP 98;
// session 23 LeNet 153-154 (0.35-0.62 MB), bf16 155, safe 237-238 (2.2 MB), MLP 53.
//
// Session 24 (branch alloc, measured 2026-12-01 with `--release` on an AVX-512 machine, attributed
// with a backtrace-recording allocator): LeNet f32 51 blocks (53 in the first steady step),
// 0.35 MB; bf16 53; safe 135-136, 2.2 MB; MLP f32/f16 assoc and f32 safe 15 blocks, 0.83 MB.
// Pooled since: the piecewise ops' forward (`primitive/elementwise.rs` `apply`: arguments, shapes,
// partials in fixed arrays and pool buffers; the representation shared with the tape instead of
// copied), `Var::shape` (a `Buf` that returns to the pool), broadcasting's shape, stride and index
// lists, the ops' kept shapes (`Buf`), reshape's and permute's shape lists, the gradients' list (given
// back by `Trainer::step`), the engine's kink-source lists, and the kink log's names (shared scope,
// static op names: no strings). What still allocates per step:
// - `gemm` (about 38 of LeNet's 48 blocks in session 25, all 13 of the MLP's, and most of the
//   bytes): per product, a zeroed `did_pack_lhs` list (`vec![false; mc / MR]`, gemm-common 0.19
//   `gemm.rs`, on every path but the early exits: k <= 2, m <= 1 or n <= 1, a product of at most
//   16 x 16 outputs with lhs_cs = rhs_rs = 1) and, when it packs (`do_pack_rhs || do_prepack_lhs`,
//   which depend on the shapes and strides), a `dyn_stack::MemBuffer`; on the calling thread and on
//   rayon's workers. `gemm` takes no caller buffers, so zero needs a patched `gemm` or our own
//   kernel; each thread's 2 MiB thread-local packing buffer comes once per thread (warmed up above);
// - LeNet's pooling VJP (`primitive/window.rs`: selection, tie weights, transposed sparse map and
//   its `Arc`: 8 blocks) and `conv2d`'s shapes (`reverse/ops/conv.rs`: 2 blocks);
// - rayon's global job queue (crossbeam's `Injector`) takes a 1520-byte block for every 63 jobs
//   injected from outside the pool (every parallel call from the stepping thread): about one block
//   every few steps, so any step may count one more.
//
// Session 25 (branch alloc2, measured the same way): LeNet f32 48 blocks (0.35 MB), bf16 50, safe
// 50-51 (0.35 MB; was 133, 2.2 MB), MLP f32/f16 assoc and f32 safe 13. Pooled since: the
// certificate's representation name (`Arc<str>` interned through the pool) and kink log (its first
// sites held in place), `Sequential::param_vars`'s list (given back by `Trainer::step`), and every
// list of `safe`'s inert-kink decision (`WindowOp::inert_candidates`, the engine's identity-class
// lists, the convolution's and the piecewise ops' `element_classes`: pool buffers of lengths rounded
// up to powers of two, so that lengths varying with the step's ties share a few pooled sizes). `safe`
// adds 2 blocks to `assoc`: `equal_vectors`' hash map and its result (`reverse/ops/equal.rs`).
// The LeNet pins leave room for the 2 blocks the AVX2-only `gemm` (`--no-default-features`) adds,
// and every pin for 2 more (rayon's queue, a pooled length crossing a power of two).
// Session 25 (branch mlpstep): `Trainer::step` runs on rayon's pool (`nn::on_pool`, a
// `rayon::broadcast`: its job and result lists, 2 blocks per step); with the step inside the pool,
// rayon's global queue takes its block once every 63 steps instead of every few. Measured
// integrated (the test's own output, `--release`, AVX-512, 2 threads): LeNet f32 50 blocks
// (0.35 MB), bf16 52 (0.44 MB), safe 52 (0.35 MB), MLP 15 (0.83 MB). Not merged: branch mlp2
// (our own f32 product kernels; with it the integrated build measured LeNet 12, safe 14, MLP 2),
// whose products do not split inside rayon's pool, so under `on_pool` the MLP step ran on one
// thread (docs/benchmarks.md, session 25).
// Session 27: with kinkgrad's own f32 products (`sgemm/`, in use where the products do not run on
// AVX-512: an AVX2 machine, `KINKGRAD_SIMD=avx2` or the `--no-default-features` build), whose
// packing buffers are allocated once per thread at their full size, measured (the test's own output,
// `KINKGRAD_SIMD=avx2`, 2 threads): LeNet f32 and bf16 12 blocks (2480 bytes), safe 14
// (3832 bytes), MLP 2 (2080 bytes). What remains is `on_pool`'s `rayon::broadcast` (2 blocks: its
// job and result lists) and, for LeNet, the pooling VJP's 8 and `conv2d`'s 2 (above). Each pin
// leaves room for 2 more, as above.
//
// Session 28: LeNet f32 and bf16, `safe`, the MLP: 0 blocks on both product paths (the test's own
// output, `--release`, AVX-512 machine, 2 threads, and the same with `KINKGRAD_SIMD=avx2`). Gone:
// `on_pool`'s broadcast (a fan of `rayon::join`s instead), the pooling VJP's lists (the selection a
// pooled `SharedBuf`, the tie scratch from the pool, `TieRule::weights` without lists of its own),
// `conv2d`'s shape (from the pool), `equal_vectors`' table (kept per thread) and list (from the
// pool, given back), and `gemm`'s per-product allocations (vendored `gemm-common`, patched).
