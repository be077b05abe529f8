//! Cancellation: one token that long library loops poll at step boundaries.
//!
//! Time loops, training epochs, optimisation iterations and studies call [`check`] once per step;
//! when the token is set they stop and return [`Error::Cancelled`] naming where they stopped. The
//! command line's SIGINT handler and the Python layer's `KeyboardInterrupt` both set the same
//! process-wide token ([`CancelToken::global`]), so a user's Ctrl-C stops library work within one
//! step, whichever front end started it. A caller that wants to run again after a cancellation
//! calls [`CancelToken::reset`].
//!
//! ```
//! use kinkgrad::cancel::{self, CancelToken};
//! let token = CancelToken::new();
//! assert!(token.check("step 3").is_ok());
//! token.cancel();
//! let e = token.check("step 4").unwrap_err();
//! assert_eq!(e.to_string(), "cancelled at step 4");
//! assert!(cancel::check("step 1").is_ok()); // the global token is separate
//! ```

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// A cancellation flag shared by clones (cheap to clone, safe to set from a signal handler's thread).
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A fresh, unset token.
    pub fn new() -> Self {
        Self::default()
    }
    /// The process-wide token polled by every library loop.
    pub fn global() -> &'static CancelToken {
        static GLOBAL: OnceLock<CancelToken> = OnceLock::new();
        GLOBAL.get_or_init(CancelToken::new)
    }
    /// Ask every loop polling this token to stop at its next step boundary.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Clear the request (before starting new work).
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
    /// True once [`Self::cancel`] was called (and not reset).
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    /// `Err(Error::Cancelled)` naming `at` when cancelled.
    pub fn check(&self, at: impl std::fmt::Display) -> Result<()> {
        if self.is_cancelled() {
            return Err(Error::Cancelled { at: at.to_string() });
        }
        Ok(())
    }
}

/// Poll the process-wide token: `Err(Error::Cancelled)` naming `at` when a cancellation was requested.
pub fn check(at: impl std::fmt::Display) -> Result<()> {
    CancelToken::global().check(at)
}

/// True when the process-wide token is set (for loops that poll without building an error).
pub fn requested() -> bool {
    CancelToken::global().is_cancelled()
}
