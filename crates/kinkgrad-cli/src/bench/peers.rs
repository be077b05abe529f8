//! The peers of `kinkgrad bench`: the scripts shipped in the repository's `benchmarks/` folder, run
//! with a Python given by `--peer-python` in their serve mode (`benchmarks/peer_serve.py`): started
//! once per workload, they build and warm up their workload, then time blocks of calls on request. A
//! peer that cannot run, or stops answering, gives one line saying why (which interpreter, folder,
//! file or module is missing, or what it printed last), never a silent blank; its process is ended
//! when its workload is done or fails. Under `--peer-isa` (`isa.rs`) each peer runs with its
//! libraries' limits in its environment and must confirm them in its `ready` line.

use super::isa::PeerIsa;
use serde_json::Value;
use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where the environment variable naming the peers folder is read.
pub const PEERS_DIR_VAR: &str = "KINKGRAD_PEERS_DIR";

/// The peer scripts and the interpreter that runs them.
pub struct Peers {
    python: Option<PathBuf>,
    /// The folder of the scripts, or why none was found.
    dir: Result<PathBuf, String>,
    /// The instructions the peers may use.
    isa: PeerIsa,
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
    pub fn new(python: Option<PathBuf>, dir: Option<PathBuf>, isa: PeerIsa) -> Result<Self, String> {
        if let Some(p) = &python {
            if !p.exists() {
                return Err(format!(
                    "{}: no such interpreter (make one with benchmarks/setup_peers.sh DIR [torch])",
                    p.display()
                ));
            }
        }
        Ok(Self { python, dir: resolve_dir(dir), isa })
    }

    /// The instructions the peers may use.
    pub fn isa(&self) -> PeerIsa {
        self.isa
    }

    /// The folder in use, or why none was found.
    pub fn dir(&self) -> Result<&Path, &str> {
        self.dir.as_deref().map_err(|e| e.as_str())
    }

    /// Starts `script --serve args` and waits until it has warmed up (its `ready` line), which must
    /// confirm the instruction limit when one is asked for.
    pub fn serve(&self, script: &str, args: &[&str]) -> Result<Served, String> {
        let py = self.python.as_ref().ok_or_else(|| {
            "no --peer-python given (make one with benchmarks/setup_peers.sh DIR [torch])".to_string()
        })?;
        let path = self.dir.as_ref().map_err(Clone::clone)?.join(script);
        if !path.is_file() {
            return Err(format!("{}: no such file (pass --peers-dir DIR or set {PEERS_DIR_VAR})", path.display()));
        }
        let mut child = Command::new(py)
            .arg(&path)
            .arg("--serve")
            .args(args)
            .envs(self.isa.env(|v| std::env::var_os(v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", py.display()))?;
        let (tx, lines) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().expect("piped"));
        std::thread::spawn(move || {
            for l in out.lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let tail = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("piped");
        let t = tail.clone();
        // drained as it comes (a full pipe would stall the peer); the last line says why it failed
        let stderr = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut buf) {
                let mut t = t.lock().unwrap_or_else(|p| p.into_inner());
                t.push_str(&String::from_utf8_lossy(&buf[..n]));
                let keep = t.len().saturating_sub(4096);
                let cut = (keep..t.len()).find(|&i| t.is_char_boundary(i)).unwrap_or(t.len());
                t.drain(..cut);
            }
        });
        let stdin = RefCell::new(child.stdin.take());
        let label = format!("{} {script}", py.display());
        let s = Served { child: RefCell::new(child), stdin, lines, tail, stderr: RefCell::new(Some(stderr)), label };
        let ready = s.answer(READY_TIMEOUT)?;
        if ready["ready"] != Value::Bool(true) {
            return Err(s.fail(&format!("its first line is not {{\"ready\": true}}: {ready}")));
        }
        if self.isa != PeerIsa::Native && ready["peer_isa"].as_str() != Some(self.isa.name()) {
            return Err(s.fail(&format!(
                "did not confirm --peer-isa {} (its ready line has peer_isa {}: a peer script older than the flag, or an interpreter that drops the environment)",
                self.isa.name(),
                ready["peer_isa"]
            )));
        }
        Ok(s)
    }
}

/// How long a peer may take to build, compile and warm up its workload.
const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a peer may take to answer one block's request.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(300);

/// A peer serving its workload (`--serve`); its process is ended when this is dropped.
pub struct Served {
    child: RefCell<Child>,
    stdin: RefCell<Option<ChildStdin>>,
    /// The lines of its standard output, read by a thread.
    lines: Receiver<String>,
    /// The end of its standard error.
    tail: Arc<Mutex<String>>,
    stderr: RefCell<Option<JoinHandle<()>>>,
    /// Interpreter and script, for messages.
    label: String,
}

impl Served {
    /// The seconds of each of `n` calls of the peer's function `name`.
    pub fn run(&self, name: &str, n: usize) -> Result<Vec<f64>, String> {
        let sent = match self.stdin.borrow_mut().as_mut() {
            Some(w) => writeln!(w, "run {name} {n}").and_then(|_| w.flush()),
            None => return Err(format!("{} was stopped", self.label)),
        };
        if let Err(e) = sent {
            return Err(self.fail(&format!("stopped reading requests ({e})")));
        }
        let v = self.answer(BLOCK_TIMEOUT)?;
        if let Some(e) = v["error"].as_str() {
            return Err(format!("{}: {e}", self.label));
        }
        let times: Option<Vec<f64>> = v["times"].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect());
        times.ok_or_else(|| format!("{} answered without times: {v}", self.label))
    }

    /// The next JSON line of the peer's output (other lines, e.g. a library's notices, are skipped),
    /// waiting at most `limit`.
    fn answer(&self, limit: Duration) -> Result<Value, String> {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(&l) {
                        return Ok(v);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(self.fail(&format!("gave no answer within {} s", limit.as_secs())))
                }
                Err(RecvTimeoutError::Disconnected) => return Err(self.fail("exited")),
            }
        }
    }

    /// `why` with the end of the peer's standard error, after ending it.
    fn fail(&self, why: &str) -> String {
        self.stop();
        format!("{} {why}{}", self.label, self.last_error())
    }

    /// The last non-empty line the peer wrote to its standard error (after it ended), or nothing.
    fn last_error(&self) -> String {
        let t = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        t.lines().rev().find(|l| !l.trim().is_empty()).map(|l| format!(": {}", l.trim())).unwrap_or_default()
    }

    /// Ends the peer: end of input (it exits by itself), else killed after a grace time; reaped
    /// either way, and its standard error read to the end.
    fn stop(&self) {
        drop(self.stdin.borrow_mut().take());
        let mut child = self.child.borrow_mut();
        let end = Instant::now() + Duration::from_secs(2);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        if matches!(child.try_wait(), Ok(None)) {
            let _ = child.kill();
        }
        let _ = child.wait();
        if let Some(h) = self.stderr.borrow_mut().take() {
            let _ = h.join();
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}
