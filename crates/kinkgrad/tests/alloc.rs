//! What a training step allocates in its steady state, counted by a `#[global_allocator]` that
//! counts every allocation (one test in its own binary: the allocator is process-wide).
//!
//! The step is NOT allocation-free: every tape node owns a freshly allocated value (a
//! `Tensor` is an `Arc<Vec<T>>` the tape keeps until the step's tape is dropped), every recorded op
//! is a `Box<dyn Op>` with its shape vectors, the backward pass records its cotangents as new nodes,
//! and the `gemm` crate allocates its packing buffers per product. What this test pins down is
//! that the steady state is *bounded and does not grow*: after the first steps (thread pool, the
//! im2col index cache, the pooling geometry), every further step of the same shapes allocates
//! about the same number of blocks and bytes, which the assertions below bound by the figures
//! measured when the test was written (docs/nn.md, "Allocation per step"). Large blocks are
//! recycled by the allocator (the command line tunes glibc's malloc to keep freed memory), so the
//! cost is the allocator calls and first touches, not system calls.

use kinkgrad::io::mnist::Mnist;
use kinkgrad::nn::{Init, OptimizerKind, Sequential, Trainer};
use kinkgrad::{Mode, Representation, Rng};
use std::alloc::{GlobalAlloc, Layout, System};
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

/// Allocation calls and bytes of each of `steps` training steps of `model` (batch 64, f32, Adam,
/// `assoc`) on random images with MNIST's sparsity (as `kinkgrad bench` does).
fn per_step(model: Sequential<f32>, steps: usize) -> Vec<(usize, usize)> {
    let n = 64;
    let mut rng = Rng::new(1);
    let images = (0..n * 784).map(|_| if rng.uniform() < 0.8 { 0.0 } else { rng.uniform() as f32 }).collect();
    let labels = (0..n).map(|_| rng.below(10) as u8).collect();
    let d = Mnist { images, labels, n, rows: 28, cols: 28 };
    let idx: Vec<usize> = (0..n).collect();
    let mut t = Trainer::new(model, OptimizerKind::adam(), 1e-3, n, Mode::Assoc, Representation::default(), 0).unwrap();
    (0..steps)
        .map(|_| {
            let (c, b) = (CALLS.load(Relaxed), BYTES.load(Relaxed));
            t.step(&d, &idx).unwrap();
            (CALLS.load(Relaxed) - c, BYTES.load(Relaxed) - b)
        })
        .collect()
}

#[test]
fn training_steps_allocate_a_bounded_steady_amount() {
    let mut rng = Rng::new(0);
    let lenet = per_step(Sequential::lenet(None, Init::PyTorch, &mut rng).unwrap(), 5);
    let mlp = per_step(Sequential::mlp(&[784, 256, 10], Init::PyTorch, &mut rng).unwrap(), 5);
    for (name, s, (calls, mb)) in [("lenet", &lenet, LENET), ("mlp", &mlp, MLP)] {
        // steady state: steps 2.. (the first builds the thread pool and the geometry caches)
        for &(c, b) in &s[2..] {
            let b = b as f64 / 1e6;
            assert!(
                c <= calls && b <= mb,
                "{name}: a step allocated {c} blocks, {b:.2} MB (bound {calls}, {mb} MB): {s:?}"
            );
        }
        // no growth: the last step allocates no more than the third (within 5%: rayon's queues)
        let (c2, c4) = (s[2].0 as f64, s[4].0 as f64);
        assert!(c4 <= 1.05 * c2 + 8.0, "{name}: allocations grow from step to step: {s:?}");
    }
}

/// Bounds for one steady LeNet step (batch 64, f32, `assoc`): measured 2026-11-30 (test profile,
/// 2 threads) 955-956 blocks and 25.6 MB per step (the first step: 1 474 blocks, 42.3 MB); the
/// bounds leave 25% for changes of the op structure.
const LENET: (usize, f64) = (1_200, 32.0);
/// Bounds for one steady MLP 784-256-10 step: measured 294 blocks and 2.97 MB per step (the first:
/// 295 blocks, 5.06 MB).
const MLP: (usize, f64) = (370, 3.7);
