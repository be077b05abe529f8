//! A training step run on a thread of rayon's pool, with the pool's other threads kept awake
//! ([`on_pool`]).
//!
//! A step's parallel work (the two halves of each large product, the large element-wise maps) goes
//! to rayon. Called from a thread outside the pool, each parallel call is handed over: the caller
//! queues it, wakes a worker and sleeps until a worker wakes it again, some 16 hand-offs per step of
//! the MLP 784-512-512-10. Run on a worker, the step queues the second half of a split on its own
//! deque and runs the first half itself; the caller is woken once, when the step ends. Between two
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
//! it or on the number of threads. The broadcast allocates 2 blocks per step (its job and result
//! lists).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// Runs `step` on the first thread of rayon's current pool while the pool's other threads wait for
/// its parallel work spinning, and returns its result; runs it directly when called on a pool thread.
/// Always the same thread, so that what a thread keeps for later calls (`gemm`'s packing buffer, the
/// cached pooling geometries) is built once, not again whenever another worker picks the step up.
/// `step` must not rely on thread-local state set up by the caller (a
/// [`crate::tensor::pool::Workspace`] is entered inside it, on the thread that runs it).
pub fn on_pool<R: Send>(step: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return step();
    }
    let done = AtomicBool::new(false);
    let step = Mutex::new(Some(step));
    let mut out = rayon::broadcast(|cx| {
        if cx.index() != 0 {
            // idle checks since the last job: the first few spin, the rest give the core away
            let mut idle = 0u32;
            while !done.load(Ordering::Acquire) {
                if rayon::yield_now() == Some(rayon::Yield::Executed) {
                    idle = 0;
                } else if idle < SPINS {
                    idle += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            return None;
        }
        // set when the step returns or unwinds, so that the spinning threads always stop
        let _stop = Stop(&done);
        let step = step.lock().unwrap_or_else(PoisonError::into_inner).take();
        step.map(|f| f())
    });
    // thread 0 took the step (the only taker) and returned its value, or its panic propagated
    out.swap_remove(0).expect("thread 0 of the pool runs the step")
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
