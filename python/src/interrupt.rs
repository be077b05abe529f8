//! Long Rust work without the GIL, interruptible by Ctrl-C.
//!
//! Python's SIGINT handler only sets a flag that Python code checks, and while Rust runs no Python
//! code runs. So the work runs on a scoped worker thread with the GIL released, and the calling
//! thread checks Python's signals every 50 ms; on a pending KeyboardInterrupt it sets the library's
//! cancellation token ([`kinkgrad::cancel`]), which every long loop polls at step boundaries, waits
//! for the worker to stop, and raises the KeyboardInterrupt.

use kinkgrad::cancel::CancelToken;
use pyo3::prelude::*;
use std::time::Duration;

/// Runs `work` off the GIL; Ctrl-C cancels it and raises `KeyboardInterrupt`.
pub(crate) fn run<R: Send>(py: Python<'_>, work: impl FnOnce() -> kinkgrad::Result<R> + Send) -> PyResult<R> {
    let token = CancelToken::global();
    token.reset();
    std::thread::scope(|s| {
        let worker = s.spawn(work);
        let mut interrupted: Option<PyErr> = None;
        while !worker.is_finished() {
            py.detach(|| std::thread::sleep(Duration::from_millis(if interrupted.is_some() { 5 } else { 50 })));
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
