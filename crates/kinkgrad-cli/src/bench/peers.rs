//! The peers of `kinkgrad bench`: the scripts shipped in the repository's `benchmarks/` folder, run
//! with a Python given by `--peer-python`. A peer that cannot run gives one line saying why (which
//! interpreter, folder, file or module is missing), never a silent blank.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the environment variable naming the peers folder is read.
pub const PEERS_DIR_VAR: &str = "KINKGRAD_PEERS_DIR";

/// The peer scripts and the interpreter that runs them.
pub struct Peers {
    python: Option<PathBuf>,
    /// The folder of the scripts, or why none was found.
    dir: Result<PathBuf, String>,
}

/// The script every peers folder holds (used to recognise one).
const MARKER: &str = "jax_peers.py";

/// The peers folder: `flag`, else `$KINKGRAD_PEERS_DIR`, else the `benchmarks/` folder of the
/// repository holding the executable (searched upwards from it, e.g. from `target/release/`), else
/// that of the repository it was built from. Never relative to the current folder.
fn resolve_dir(flag: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(d) = flag {
        return Ok(d);
    }
    if let Some(d) = std::env::var_os(PEERS_DIR_VAR) {
        return Ok(PathBuf::from(d));
    }
    let exe = std::env::current_exe().ok();
    if let Some(e) = &exe {
        if let Some(d) = e.ancestors().skip(1).map(|a| a.join("benchmarks")).find(|d| d.join(MARKER).is_file()) {
            return Ok(d);
        }
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benchmarks");
    if built.join(MARKER).is_file() {
        return Ok(built);
    }
    Err(format!(
        "no benchmarks/{MARKER} in a folder above the executable ({}) nor in {}; pass --peers-dir DIR or set {PEERS_DIR_VAR}",
        exe.as_deref().map_or("unknown".into(), |e| e.display().to_string()),
        built.display()
    ))
}

impl Peers {
    /// The peers for the command's flags. An interpreter that does not exist is an error.
    pub fn new(python: Option<PathBuf>, dir: Option<PathBuf>) -> Result<Self, String> {
        if let Some(p) = &python {
            if !p.exists() {
                return Err(format!(
                    "{}: no such interpreter (make one with benchmarks/setup_peers.sh DIR [torch])",
                    p.display()
                ));
            }
        }
        Ok(Self { python, dir: resolve_dir(dir) })
    }

    /// The folder in use, or why none was found.
    pub fn dir(&self) -> Result<&Path, &str> {
        self.dir.as_deref().map_err(|e| e.as_str())
    }

    /// Runs `script args` and returns the last line of its output as JSON, or one line saying why the
    /// peer did not run or failed.
    pub fn run(&self, script: &str, args: &[&str]) -> Result<Value, String> {
        let py = self.python.as_ref().ok_or_else(|| {
            "no --peer-python given (make one with benchmarks/setup_peers.sh DIR [torch])".to_string()
        })?;
        let path = self.dir.as_ref().map_err(Clone::clone)?.join(script);
        if !path.is_file() {
            return Err(format!("{}: no such file (pass --peers-dir DIR or set {PEERS_DIR_VAR})", path.display()));
        }
        let out = Command::new(py).arg(&path).args(args).output().map_err(|e| format!("{}: {e}", py.display()))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
            return Err(format!("{} {script} failed: {last}", py.display()));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        serde_json::from_str(last).map_err(|_| format!("{script} printed no JSON line (last line: {last:?})"))
    }
}
