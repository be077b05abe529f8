//! A training step run on a thread of rayon's pool ([`on_pool`]).
//!
//! A step's parallel work (the two halves of each large product, the large element-wise maps) goes
//! to rayon. Called from a thread outside the pool, each parallel call is handed over: the caller
//! queues it, wakes a worker and sleeps until a worker wakes it again, some 16 hand-offs per step of
//! the MLP 784-512-512-10. Run on a worker, the step queues the second half of a split on its own
//! deque and runs the first half itself, waking at most the other worker; the caller is woken once,
//! when the step ends. On a 2-core virtual machine, where a wake-up of an idle core costs tens of
//! microseconds, this cut the MLP step of `kinkgrad bench` from some 2.7 ms to 2.3 ms
//! (docs/benchmarks.md, session 25). The values are those of a step run on the caller's thread: no
//! kernel's result depends on the thread it runs on or on the number of threads.

/// Runs `step` on a thread of rayon's current pool and returns its result; directly when called on
/// one already. `step` must not hold thread-local state across the call (a [`crate::tensor::pool::Workspace`]
/// is entered inside it, on the thread that runs it).
pub fn on_pool<R: Send>(step: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return step();
    }
    rayon::scope(|_| step())
}
