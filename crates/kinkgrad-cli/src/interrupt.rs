//! Ctrl-C: the first SIGINT sets the library's cancellation token ([`CancelToken::global`]), so that
//! the running loop stops at its next step boundary and the command prints one line saying where
//! (exit code 130); a second SIGINT ends the process at once (for work that does not poll).

use kinkgrad::cancel::CancelToken;

/// The exit code of an interrupted run (128 + SIGINT).
pub const EXIT_CODE: u8 = 130;

#[cfg(unix)]
extern "C" fn on_sigint(_: libc::c_int) {
    // async-signal-safe: the token was created before the handler was installed, so this is an
    // atomic load and an atomic store; `_exit` is async-signal-safe
    let token = CancelToken::global();
    if token.is_cancelled() {
        // SAFETY: `_exit` ends the process without running any handler or destructor.
        unsafe { libc::_exit(EXIT_CODE as libc::c_int) };
    }
    token.cancel();
}

/// Install the SIGINT handler (Unix; elsewhere Ctrl-C keeps its default effect).
pub fn install() {
    let token = CancelToken::global();
    token.reset();
    #[cfg(unix)]
    // SAFETY: the handler only touches an already initialised atomic flag and calls `_exit`; the
    // sigaction structure is zero-initialised and then filled in.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
    }
}
