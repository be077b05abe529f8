//! Long Rust work without the GIL, interruptible by Ctrl-C.
//!
//! Python's SIGINT handler only sets a flag that Python code checks, and while Rust runs no Python
//! code runs. So the work runs on a scoped worker thread with the GIL released, and the calling
//! thread waits for it on a condition variable, checking Python's signals every 50 ms (a finished worker wakes
//! it at once: a short call costs a thread spawn, tens of microseconds, not a polling period); on a
//! pending KeyboardInterrupt it sets the library's cancellation token ([`kinkgrad::cancel`]), which
//! every long loop polls at step boundaries, waits for the worker to stop, and raises the
//! KeyboardInterrupt.

use kinkgrad::cancel::CancelToken;
use pyo3::prelude::*;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Runs `work` off the GIL; Ctrl-C cancels it and raises `KeyboardInterrupt`.
pub(crate) fn run<R: Send>(py: Python<'_>, work: impl FnOnce() -> kinkgrad::Result<R> + Send) -> PyResult<R> {
    let token = CancelToken::global();
    token.reset();
    let finished = (Mutex::new(false), Condvar::new());
    std::thread::scope(|s| {
        let worker = s.spawn(|| {
            let out = work();
            *finished.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
            finished.1.notify_all();
            out
        });
        let mut interrupted: Option<PyErr> = None;
        loop {
            let wait = Duration::from_millis(if interrupted.is_some() { 5 } else { 50 });
            let done = py.detach(|| {
                let g = finished.0.lock().unwrap_or_else(|p| p.into_inner());
                let (g, _) = finished.1.wait_timeout_while(g, wait, |done| !*done).unwrap_or_else(|p| p.into_inner());
                *g
            });
            // a panicking worker never sets the flag: it is finished all the same
            if done || worker.is_finished() {
                break;
            }
            if interrupted.is_none() {
                if let Err(e) = py.check_signals() {
                    token.cancel();
                    interrupted = Some(e);
                }
            }
        }
        let out = worker.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        token.reset();
        match (out, interrupted) {
            (_, Some(e)) => Err(e),
            (r, None) => r.map_err(crate::to_py_err),
        }
    })
}
