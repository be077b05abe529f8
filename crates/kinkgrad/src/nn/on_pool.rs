//! A training step run on a thread of rayon's pool, with the pool's other threads kept awake
//! ([`on_pool`]).
//!
//! A step's parallel work (the two parts of each large product, the large element-wise maps) goes
//! to rayon. Called from a thread outside the pool, each parallel call is handed over: the caller
//! queues it, wakes a worker and sleeps until a worker wakes it again, some 16 hand-offs per step of
//! the MLP 784-512-512-10. Run on a worker, the step queues the second part of a split on its own
//! deque and runs the first part itself; the caller is woken once, when the step ends. Between two
//! parallel calls an idle rayon worker goes to sleep after a few dozen microseconds, and waking it
//! again costs tens of microseconds on a virtual machine (an idle virtual core halts); so for the
//! step's duration the other workers wait for work spinning instead (checking rayon's queues, as
//! OpenMP's workers spin between parallel regions), and stop when the step returns. After a few idle
//! checks a waiting worker yields its core to the operating system at every check (`SPINS`), so
//! that a step sharing the machine with another busy process is not starved by its own spinner
//! (docs/nn.md: the MLP step at 12 ms instead of 5 beside one busy process, before).
//!
//! Measured on the 2-core virtual machine (docs/benchmarks.md, session 25): the MLP step of
//! `kinkgrad bench` (blocks of 5 steps after a pause) took 2.3-2.6 ms called from outside the pool,
//! 2.0-2.2 ms on the pool, 1.1-1.3 ms on thread 0 with the other worker spinning. The values are
//! those of the step run on the caller's thread: no kernel's result depends on the thread that runs
//! it or on the number of threads.
//!
//! How the step reaches the pool's first thread without allocating: a fan of `rayon::join`s (its
//! jobs live on the stack, unlike `rayon::broadcast`'s job and result lists, 2 blocks per step)
//! hands one waiting part to each of the pool's threads. The part that runs on thread 0 takes the
//! step; a part on another thread waits, first without running rayon's jobs (so that it cannot take
//! its own siblings, which thread 0 must be able to steal; a job pushed on a deque wakes a sleeping
//! worker), then, once the step has started, running the step's stolen work while it waits. A part
//! that thread 0 meets after it has taken the step (popped from its own deque inside the step)
//! returns at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// Runs `step` on the first thread of rayon's current pool while the pool's other threads wait for
/// its parallel work spinning, and returns its result; runs it directly when called on a pool thread.
/// Always the same thread, so that what a thread keeps for later calls (`gemm`'s packing buffer, the
/// cached pooling geometries) is built once, not again whenever another worker picks the step up.
/// `step` must not rely on thread-local state set up by the caller (a
/// [`crate::tensor::pool::Workspace`] is entered inside it, on the thread that runs it). Allocates
/// nothing of its own.
pub fn on_pool<R: Send>(step: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return step();
    }
    let shared = Shared {
        step: Mutex::new(Some(step)),
        out: Mutex::new(None),
        started: AtomicBool::new(false),
        done: AtomicBool::new(false),
    };
    // at least two parts, so that the fan starts with a `rayon::join` and runs in the pool: a single
    // part would run here, on the caller's thread, and wait for a thread 0 that never comes (a pool
    // of one thread then runs both parts, the second finding the step taken)
    shared.fan(rayon::current_num_threads().max(2));
    // thread 0 took the step (the only taker) and stored its value, or its panic propagated
    let out = shared.out.into_inner().unwrap_or_else(PoisonError::into_inner);
    out.expect("thread 0 of the pool runs the step")
}

/// The threads of rayon's current pool, which run a step's parallel work: `RAYON_NUM_THREADS` when
/// set, else the CPUs available (what a benchmark reports as its thread count).
pub fn pool_threads() -> usize {
    rayon::current_num_threads()
}

/// What the waiting parts share: the step (taken once), its result, and the two flags.
struct Shared<F, R> {
    step: Mutex<Option<F>>,
    out: Mutex<Option<R>>,
    /// Set when thread 0 takes the step.
    started: AtomicBool,
    /// Set when the step returns or unwinds.
    done: AtomicBool,
}

impl<F: FnOnce() -> R + Send, R: Send> Shared<F, R> {
    /// `parts` waiting parts, spread by nested `rayon::join`s (stack jobs: no allocation).
    fn fan(&self, parts: usize) {
        if parts <= 1 {
            self.part();
        } else {
            rayon::join(|| self.fan(parts / 2), || self.fan(parts - parts / 2));
        }
    }

    /// One part: on thread 0 the step (when not yet taken), elsewhere a wait for its end.
    fn part(&self) {
        // the product buffers other threads have grown, grown here too before the step's work
        crate::scalar::sync_thread_buffers();
        if rayon::current_thread_index() == Some(0) {
            let step = self.step.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(f) = step {
                // set when the step returns or unwinds, so that the waiting threads always stop
                let _stop = Stop(&self.done);
                self.started.store(true, Ordering::Release);
                let r = f();
                *self.out.lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
            }
            return;
        }
        // before the step starts, wait without taking rayon's jobs: they may be this fan's own
        // parts, one of which thread 0 has to steal
        while !self.started.load(Ordering::Acquire) {
            std::hint::spin_loop();
            std::thread::yield_now();
        }
        // idle checks since the last job: the first few spin, the rest give the core away
        let mut idle = 0u32;
        while !self.done.load(Ordering::Acquire) {
            if rayon::yield_now() == Some(rayon::Yield::Executed) {
                idle = 0;
            } else if idle < SPINS {
                idle += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// Idle checks a waiting thread spins through after its last job before it yields its core to the
/// operating system at every further check (`sched_yield`: at once back when nothing else wants the
/// core, so the thread stays awake; the core goes to the step's thread or another process when one
/// does).
const SPINS: u32 = 64;

/// Sets its flag when dropped.
struct Stop<'a>(&'a AtomicBool);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::on_pool;

    #[test]
    fn runs_the_step_on_a_pool_thread_and_returns_its_value() {
        assert_eq!(rayon::current_thread_index(), None, "the test harness's thread is outside rayon's pool");
        let (thread, v) = on_pool(|| (rayon::current_thread_index(), 6 * 7));
        assert_eq!(thread, Some(0), "always the pool's first thread");
        assert_eq!(v, 42);
        // nested: runs in place on the pool thread
        assert_eq!(on_pool(|| on_pool(|| 1 + 1)), 2);
    }

    #[test]
    fn parallel_work_inside_the_step_completes() {
        use rayon::prelude::*;
        // the sum 0 + 1 + ... + 99_999 = 99_999 * 100_000 / 2, split across the pool while the other
        // threads spin
        let s: u64 = on_pool(|| (0..100_000u64).into_par_iter().sum());
        assert_eq!(s, 99_999 * 100_000 / 2);
    }

    #[test]
    fn a_panicking_step_stops_the_spinning_threads() {
        let r = std::panic::catch_unwind(|| on_pool(|| panic!("step failed")));
        assert!(r.is_err(), "the step's panic reaches the caller");
        // the scope ended, so its spinning threads stopped: the pool runs the next step
        assert_eq!(on_pool(|| 3), 3);
    }
}
