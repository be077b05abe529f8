//! The run's resource limits (`--max-memory`, `--max-steps`): read once in `main` and handed to
//! the library's checks ([`kinkgrad::limits`]) before anything large is allocated or looped over.

use kinkgrad::limits::{self, Budget};
use std::sync::OnceLock;

static BUDGET: OnceLock<Budget> = OnceLock::new();

/// The fraction of the available memory a run may use by default.
const DEFAULT_FRACTION: f64 = 0.75;
const STEPS_HINT: &str = "raise it with --max-steps";
/// The budget when `/proc/meminfo` cannot be read.
const FALLBACK_BYTES: u64 = 4 << 30;

/// Sets the budget from the global flags: `--max-memory` (default: 3/4 of `MemAvailable`) and
/// `--max-steps`.
pub fn init(max_memory: Option<&str>, max_steps: Option<u64>) -> Result<(), String> {
    let bytes = match max_memory {
        Some(s) => limits::parse_size(s).map_err(|e| format!("--max-memory: {e}"))?,
        None => std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| limits::available_from_meminfo(&t))
            .map_or(FALLBACK_BYTES, |b| (b as f64 * DEFAULT_FRACTION) as u64),
    };
    let steps = max_steps.unwrap_or(limits::DEFAULT_MAX_STEPS);
    let hint = if max_memory.is_some() {
        "set by --max-memory"
    } else {
        "3/4 of the available memory; raise it with --max-memory"
    };
    let _ = BUDGET.set(Budget::new(bytes, steps).with_hints(hint, STEPS_HINT));
    Ok(())
}

/// The run's budget (the library's default when [`init`] was not called, as in unit tests).
pub fn get() -> &'static Budget {
    BUDGET.get_or_init(|| {
        Budget::new(FALLBACK_BYTES, limits::DEFAULT_MAX_STEPS).with_hints("raise it with --max-memory", STEPS_HINT)
    })
}

/// Refuses `factors` multiplied together (bytes) above the budget; `what` names the flag or file.
pub fn check(what: &str, factors: &[u64]) -> Result<(), String> {
    get().check_bytes(what, limits::mul(factors)).map_err(|e| e.to_string())
}

/// Refuses a step count above `--max-steps`.
pub fn steps(what: &str, steps: f64) -> Result<usize, String> {
    get().check_steps(what, steps).map(|s| s as usize).map_err(|e| e.to_string())
}
