//! Resource limits: what a run may allocate and how many steps it may take, checked *before* the
//! allocation or the loop, so that a size from a command line, a file's metadata or a header is
//! refused with one line instead of aborting on allocation or never finishing.
//!
//! The library decides nothing about the machine: the front end builds a [`Budget`] (from the
//! memory it reads in `/proc/meminfo` with [`available_from_meminfo`], or a flag) and passes it to
//! the checks and to the readers that take one.
//!
//! ```
//! use kinkgrad::limits::{parse_size, Budget};
//! let b = Budget::new(parse_size("1M").unwrap(), 1000);
//! assert!(b.check_elements("cells", &[1000], 8).is_ok());
//! let e = b.check_elements("cells", &[usize::MAX, 2], 8).unwrap_err();
//! assert!(e.to_string().contains("overflows"), "{e}");
//! assert!(b.check_steps("time steps", 1001.0).is_err());
//! ```

use crate::{Error, Result};

/// The default step limit of a run ([`Budget::max_steps`]).
pub const DEFAULT_MAX_STEPS: u64 = 1_000_000;

/// How much memory a run may allocate and how many steps it may take.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    /// Bytes the run may allocate (an estimate of its largest buffers is compared with it).
    pub max_bytes: u64,
    /// Time or optimisation steps a run may take.
    pub max_steps: u64,
    /// Appended to memory refusals to say how to raise the limit (e.g. `raise it with
    /// --max-memory`); empty by default.
    pub hint: String,
    /// Appended to step refusals (e.g. `raise it with --max-steps`); empty by default.
    pub steps_hint: String,
}

impl Default for Budget {
    /// No memory limit beyond what fits in `u64`, [`DEFAULT_MAX_STEPS`] steps.
    fn default() -> Self {
        Budget::new(u64::MAX, DEFAULT_MAX_STEPS)
    }
}

impl Budget {
    /// A budget of `max_bytes` bytes and `max_steps` steps.
    pub fn new(max_bytes: u64, max_steps: u64) -> Self {
        Budget { max_bytes, max_steps, hint: String::new(), steps_hint: String::new() }
    }

    /// The same budget with `hint` appended to memory refusals and `steps_hint` to step refusals.
    pub fn with_hints(mut self, hint: impl Into<String>, steps_hint: impl Into<String>) -> Self {
        self.hint = hint.into();
        self.steps_hint = steps_hint.into();
        self
    }

    fn suffix(&self, hint: &str) -> String {
        if hint.is_empty() {
            String::new()
        } else {
            format!(" ({hint})")
        }
    }

    /// Refuses `bytes` (`None`: the size overflowed) above the budget; `what` names the
    /// allocation (e.g. `--cells 100000000: the states`).
    pub fn check_bytes(&self, what: &str, bytes: Option<u64>) -> Result<()> {
        match bytes {
            None => Err(Error::invalid(what, "the size it needs overflows 64-bit arithmetic")),
            Some(b) if b > self.max_bytes => Err(Error::invalid(
                what,
                format!(
                    "needs about {} but the memory budget is {}{}",
                    human_bytes(b),
                    human_bytes(self.max_bytes),
                    self.suffix(&self.hint)
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    /// The element count of `dims` (checked product), refused if `count * elem_bytes` exceeds the
    /// budget or overflows.
    pub fn check_elements(&self, what: &str, dims: &[usize], elem_bytes: usize) -> Result<usize> {
        let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let bytes = count.and_then(|c| (c as u64).checked_mul(elem_bytes as u64));
        self.check_bytes(what, bytes)?;
        Ok(count.unwrap_or(0))
    }

    /// Refuses a step count above [`Budget::max_steps`] (a float, so that `1 / 1e-300` is
    /// refused rather than saturated); `what` names the steps (e.g. `time steps`).
    pub fn check_steps(&self, what: &str, steps: f64) -> Result<u64> {
        if !(steps.is_finite() && steps >= 0.0 && steps <= self.max_steps as f64) {
            let shown = if steps.is_finite() && steps < 1e15 { format!("{steps:.0}") } else { format!("{steps:e}") };
            return Err(Error::invalid(
                what,
                format!(
                    "the run would take {shown} steps, more than the limit of {}{}",
                    self.max_steps,
                    self.suffix(&self.steps_hint)
                ),
            ));
        }
        Ok(steps as u64)
    }
}

/// `n * m`, or `None` on overflow: for building the byte estimates passed to
/// [`Budget::check_bytes`].
pub fn mul(factors: &[u64]) -> Option<u64> {
    factors.iter().try_fold(1u64, |a, &f| a.checked_mul(f))
}

/// The memory available to new allocations, in bytes, read from the text of `/proc/meminfo`
/// (`MemAvailable`, or `MemFree` on old kernels); `None` if neither line is there.
pub fn available_from_meminfo(text: &str) -> Option<u64> {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix(':')?.trim();
            let kb: u64 = rest.strip_suffix("kB").unwrap_or(rest).trim().parse().ok()?;
            kb.checked_mul(1024)
        })
    };
    field("MemAvailable").or_else(|| field("MemFree"))
}

/// Parses a size such as `4G`, `512M`, `64k`, `1.5G`, `1000` (bytes) or `2GiB`; the suffixes are
/// powers of 1024.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let bad = || {
        Error::invalid(
            "size",
            format!("'{}': expected a number of bytes such as 4G, 512M or 1000000", t.escape_debug()),
        )
    };
    let lower = t.to_ascii_lowercase();
    let body = lower.strip_suffix("ib").or_else(|| lower.strip_suffix('b')).unwrap_or(&lower);
    let (num, scale) = match body.char_indices().last() {
        Some((i, 'k')) => (&body[..i], 1u64 << 10),
        Some((i, 'm')) => (&body[..i], 1 << 20),
        Some((i, 'g')) => (&body[..i], 1 << 30),
        Some((i, 't')) => (&body[..i], 1 << 40),
        _ => (body, 1),
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    let bytes = v * scale as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_powers_of_1024() {
        assert_eq!(parse_size("4G").unwrap(), 4 << 30);
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        for bad in ["", "G", "-1G", "0", "1e400", "4X", "nan"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn meminfo_available_or_free() {
        let t = "MemTotal:       16000000 kB\nMemFree:         1000 kB\nMemAvailable:    8000000 kB\n";
        assert_eq!(available_from_meminfo(t), Some(8_000_000 * 1024));
        assert_eq!(available_from_meminfo("MemFree: 10 kB\n"), Some(10 * 1024));
        assert_eq!(available_from_meminfo("nothing"), None);
    }

    #[test]
    fn budget_refuses_overflow_and_excess() {
        let b = Budget::new(1 << 20, 10).with_hints("raise it with --max-memory", "");
        assert_eq!(b.check_elements("x", &[1024, 128], 8).unwrap(), 1024 * 128);
        let e = b.check_elements("--cells 200000", &[200_000], 8).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid --cells 200000: needs about 1.5 MiB but the memory budget is 1.0 MiB (raise it with --max-memory)"
        );
        assert!(b.check_elements("x", &[usize::MAX, 2], 1).is_err());
        assert!(b.check_bytes("x", mul(&[u64::MAX, 2])).is_err());
        assert_eq!(b.check_steps("time steps", 10.0).unwrap(), 10);
        let e = b.check_steps("time steps", 1e300).unwrap_err().to_string();
        assert!(e.contains("1e300 steps") && e.contains("limit of 10"), "{e}");
        assert!(b.check_steps("t", f64::NAN).is_err());
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
