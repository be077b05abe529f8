//! The reproducers, one test per class, run on the binary: every one exits 2 with one line
//! on stderr naming what was wrong (or works as documented), and with `--json` an error is one JSON
//! object `{"error": {"kind", "message"}}` on stdout.

use crate::common::run;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `args`, expects exit 2 and one line on stderr containing every one of `needles`.
fn refused(args: &[&str], needles: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 2, "{args:?}: stdout {out} stderr {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: {err} lacks {n}");
    }
    err
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kinkgrad-robust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Long expressions work (34 700 and 60 000 terms: the argument limit is 128 KiB); nesting beyond
/// the parser's limit is refused with one line. Value and derivative of n x at x = 1 are n.
#[test]
fn long_expressions_work_and_deep_ones_are_refused() {
    for n in [34_700usize, 60_000] {
        let e = vec!["x"; n].join("+");
        let (code, out, err) = run(&["grad", &e, "--at", "x=1", "--json"]);
        assert_eq!(code, 0, "{err}");
        let j: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!((j["value"].as_f64(), j["gradient"]["x"].as_f64()), (Some(n as f64), Some(n as f64)));
    }
    refused(
        &["grad", &format!("{}x{}", "(".repeat(50_000), ")".repeat(50_000)), "--at", "x=1"],
        &["nested too deeply"],
    );
    refused(&["grad", &format!("{}x", "-".repeat(50_000)), "--at", "x=1"], &["nested too deeply"]);
}

/// Sizes from the command line are checked against the memory budget (or overflow) before
/// anything is allocated.
#[test]
fn sizes_beyond_memory_are_refused() {
    refused(&["transport", "--cells", "18446744073709551615"], &["--cells 18446744073709551615", "overflows"]);
    refused(&["transport", "--cells", "100000000", "--max-memory", "1G"], &["--cells 100000000", "memory budget"]);
    refused(&["hybrid", "train", "--width", "100000"], &["--width 100000", "memory budget"]);
    refused(&["ritz", "--width", "1000000"], &["--width 1000000", "memory budget"]);
    refused(&["ritz", "--method", "quadrature", "--points", "100000000"], &["--points 100000000", "memory budget"]);
    let out = tmp("never.safetensors");
    refused(&["hybrid", "generate", "--n-train", "1000000000000", "--out", s(&out)], &["--n-train", "memory budget"]);
    refused(&["hybrid", "generate", "--n-train", "18446744073709551615", "--out", s(&out)], &["overflows"]);
    assert!(!out.exists(), "no file for a refused run");
    refused(&["grad", "x", "--at", "x=1", "--max-memory", "lots"], &["--max-memory", "lots"]);
}

/// Runs whose step count is unbounded are refused, naming the count and the limit.
#[test]
fn unbounded_step_counts_are_refused() {
    refused(&["transport", "--cfl", "1e-300"], &["1e-300", "steps", "limit of 1000000", "--max-steps"]);
    refused(&["transport", "--max-steps", "100"], &["400 steps", "limit of 100"]);
    // a data set whose metadata says 10 000 000 steps
    let d = tmp("steps.safetensors");
    let (c, _, e) = run(&[
        "hybrid",
        "generate",
        "--cells",
        "16",
        "--steps",
        "4",
        "--n-train",
        "2",
        "--n-test",
        "1",
        "--out",
        s(&d),
    ]);
    assert_eq!(c, 0, "{e}");
    let (t, mut meta) = kinkgrad::io::safetensors_io::load(&d).unwrap();
    meta.insert("steps".into(), "10000000".into());
    kinkgrad::io::safetensors_io::save(&d, &t, &meta).unwrap();
    refused(&["hybrid", "train", "--data", s(&d), "--iterations", "1"], &["'steps' = 10000000", "10000000 steps"]);
}

/// A gzip'd IDX file whose header claims more than the budget is refused from the header, before
/// decompressing (the header of a bomb: [100000, 28, 28] u8 over 8 bytes of data).
#[test]
fn gzip_bombs_are_refused_from_the_header() {
    use kinkgrad::io::idx::{write_idx, IdxArray, IdxData};
    let dir = tmp("bomb");
    std::fs::create_dir_all(&dir).unwrap();
    let mut header = vec![0u8, 0, 0x08, 3];
    for d in [100_000u32, 28, 28] {
        header.extend_from_slice(&d.to_be_bytes());
    }
    let gz = stored_gzip(&header);
    std::fs::write(dir.join("images-idx3-ubyte.gz"), gz).unwrap();
    write_idx(&dir.join("labels-idx1-ubyte"), &IdxArray { dims: vec![1], data: IdxData::U8(vec![0]) }, false).unwrap();
    refused(
        &["train", "--data", s(&dir), "--max-memory", "10M", "--epochs", "1"],
        &["images-idx3-ubyte.gz", "[100000, 28, 28]", "memory budget"],
    );
}

/// A gzip member holding `bytes`, written with stored (uncompressed) deflate blocks so that the
/// test needs no compressor: the reader must refuse from the header alone.
fn stored_gzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    out.push(1); // final stored block
    let len = bytes.len() as u16;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(bytes);
    out.extend_from_slice(&crc32(bytes).to_le_bytes());
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

/// Nonsense that used to exit 0: each is now an error naming what was wrong.
#[test]
fn nothing_silent() {
    refused(&["grad", "clamp(x, 2, 1)", "--at", "x=1"], &["clamp", "lo = 2 is above hi = 1"]);
    let (c, out, _) = run(&["transport", "--scheme", "lw", "--cfl", "3", "--force", "--cells", "1000", "--json"]);
    assert_eq!(c, 2);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["error"]["kind"], "numeric", "{j}");
    assert!(j["error"]["message"].as_str().unwrap().contains("not finite from step"), "{j}");

    // MNIST: train files and t10k images without t10k labels is an error, not an 80/20 split
    use kinkgrad::io::idx::{write_idx, IdxArray, IdxData};
    let dir = tmp("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    let img = IdxArray { dims: vec![2, 2, 2], data: IdxData::U8(vec![0; 8]) };
    let lbl = IdxArray { dims: vec![2], data: IdxData::U8(vec![1, 2]) };
    write_idx(&dir.join("train-images-idx3-ubyte"), &img, false).unwrap();
    write_idx(&dir.join("train-labels-idx1-ubyte"), &lbl, false).unwrap();
    write_idx(&dir.join("t10k-images-idx3-ubyte"), &img, false).unwrap();
    refused(&["train", "--data", s(&dir), "--epochs", "1"], &["t10k-labels-idx1-ubyte", "not the other"]);

    // hybrid: NaN weights, a given --lr on resume, a finished run, lr <= 0
    let d = tmp("h.safetensors");
    let w = tmp("w.safetensors");
    let small = ["--cells", "16", "--steps", "4", "--n-train", "3", "--n-test", "1"];
    let mut g = vec!["hybrid", "generate", "--out", s(&d)];
    g.extend(small);
    assert_eq!(run(&g).0, 0);
    let base = ["hybrid", "train", "--data", s(&d), "--width", "4", "--mode", "assoc"];
    let with = |extra: &[&str]| -> Vec<String> { base.iter().chain(extra).map(|x| x.to_string()).collect() };
    let args = with(&["--iterations", "2", "--save", s(&w)]);
    let (c, _, e) = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(c, 0, "{e}");
    let args = with(&["--iterations", "4", "--resume", s(&w), "--lr", "0.5", "--json"]);
    let (c, out, e) = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(c, 0, "{e}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((j["resumed"]["lr"].as_f64(), j["resumed"]["file_lr"].as_f64()), (Some(0.5), Some(0.01)), "{j}");
    let args = with(&["--iterations", "2", "--resume", s(&w)]);
    refused(&args.iter().map(String::as_str).collect::<Vec<_>>(), &["already run 2 iterations", "nothing to resume"]);
    let args = with(&["--iterations", "2", "--lr", "-1"]);
    refused(&args.iter().map(String::as_str).collect::<Vec<_>>(), &["--lr must be a positive number"]);
    let (t, meta) = kinkgrad::io::safetensors_io::load(&w).unwrap();
    let mut t = t;
    let first_weight = t.iter_mut().find(|x| !x.name.starts_with("adam.")).unwrap();
    first_weight.data[0] = f64::NAN;
    kinkgrad::io::safetensors_io::save(&w, &t, &meta).unwrap();
    refused(&["hybrid", "eval", "--data", s(&d), "--weights", s(&w)], &["w.safetensors", "NaN"]);
}

/// One line with user text escaped, clap's errors on one line, negative numbers taken as values,
/// and JSON error objects with their kind.
#[test]
fn one_line_or_one_json_object() {
    let err = refused(&["grad", "x", "--at", "x=1,a\nb=2"], &["a\\nb"]);
    assert!(!err.trim_end().contains('\n'));
    refused(&["transport", "--cells"], &["--cells", "see --help"]);
    refused(&["transport", "--no-such-flag"], &["--no-such-flag", "see --help"]);
    refused(&["hybrid"], &["a subcommand is required"]);
    refused(&["transport", "--cfl", "-1"], &["invalid --cfl -1", "positive"]);
    for (args, kind) in [
        (vec!["transport", "--bogus", "--json"], "usage"),
        (vec!["grad", "clamp(x, 2, 1)", "--at", "x=1", "--json"], "input"),
        (vec!["hybrid", "eval", "--weights", "/no/such/file.safetensors", "--json"], "io"),
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        let j: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"));
        assert_eq!(j["error"]["kind"], kind, "{args:?}: {j}");
        assert!(j["error"]["message"].is_string());
    }
}

/// Whether `bytes` is a complete safetensors file: the header parses as JSON and the data end
/// where the last tensor's offsets say (a half-written file fails one or the other).
fn complete_safetensors(bytes: &[u8]) -> bool {
    let Some(n) = bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize) else { return false };
    let Some(Ok(header)) = bytes.get(8..8 + n).map(serde_json::from_slice::<serde_json::Value>) else { return false };
    let end =
        header.as_object().into_iter().flatten().filter_map(|(_, v)| v["data_offsets"][1].as_u64()).max().unwrap_or(0);
    bytes.len() == 8 + n + end as usize
}

/// Temporary files (`.NAME.tmp-PID-N`) in `dir`.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

/// `kill -9` at pseudo-random moments while `train` saves a checkpoint after every step: every
/// checkpoint file present afterwards is complete, and the next run removes the temporary files
/// the killed processes left. 3 kills in CI; `KINKGRAD_KILLS=30` runs more.
#[test]
fn kill_9_during_train_save_leaves_no_partial_file() {
    let dir = tmp("kill9");
    std::fs::create_dir_all(&dir).unwrap();
    let ck = dir.join("ck.safetensors");
    let kills: u64 = std::env::var("KINKGRAD_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let mut leaked = 0;
    for i in 0..kills {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kinkgrad"))
            .args([
                "train",
                "--limit",
                "1024",
                "--batch",
                "32",
                "--epochs",
                "100",
                "--save",
                s(&ck),
                "--save-every",
                "1",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // 150-650 ms: after the first saves, at a different point of a save each time
        std::thread::sleep(std::time::Duration::from_millis(150 + (i * 7919) % 500));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for f in ["ck.safetensors", "ck.state.safetensors"] {
            if let Ok(bytes) = std::fs::read(dir.join(f)) {
                assert!(complete_safetensors(&bytes), "kill {i}: {f} is partial ({} bytes)", bytes.len());
            }
        }
        leaked += temp_files(&dir).len();
    }
    eprintln!("{kills} kills, {leaked} temporary files seen after them");
    let (code, _, err) = run(&["train", "--limit", "64", "--epochs", "1", "--save", s(&ck)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(temp_files(&dir), Vec::<String>::new(), "the next run removes the dead runs' temporary files");
    std::fs::remove_dir_all(&dir).ok();
}

/// Ctrl-C during `train --save`: exit 130, one line saying what was saved; the checkpoint loads,
/// and resuming it ends with byte-identical files to a run that was never interrupted.
#[cfg(unix)]
#[test]
fn sigint_saves_a_checkpoint_that_resumes_bit_for_bit() {
    let (di, du) = (tmp("sigint-i"), tmp("sigint-u"));
    std::fs::create_dir_all(&di).unwrap();
    std::fs::create_dir_all(&du).unwrap();
    let (cki, cku) = (di.join("ck.safetensors"), du.join("ck.safetensors"));
    let base = ["train", "--limit", "256", "--batch", "32"];
    let child = Command::new(env!("CARGO_BIN_EXE_kinkgrad"))
        .args(base)
        .args(["--epochs", "1000", "--save", s(&cki), "--save-every", "3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let state = kinkgrad::nn::state_path(&cki);
    let t0 = std::time::Instant::now();
    while !state.exists() && t0.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: sends SIGINT to the child this test started
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    let line = err.lines().last().unwrap_or("");
    assert!(line.starts_with("interrupted: cancelled at epoch ") && line.contains("saved weights"), "{err}");
    // where it stopped, from the state file; resume to the end of the next epoch
    let (_, meta) = kinkgrad::io::safetensors_io::load(&state).unwrap();
    let epochs = (meta["epoch"].parse::<usize>().unwrap() + 1).to_string();
    let (code, _, e) = run(&[&base[..], &["--epochs", &epochs, "--resume", s(&cki), "--save", s(&cki)]].concat());
    assert_eq!(code, 0, "{e}");
    let (code, _, e) = run(&[&base[..], &["--epochs", &epochs, "--save", s(&cku)]].concat());
    assert_eq!(code, 0, "{e}");
    for f in ["ck.safetensors", "ck.state.safetensors"] {
        assert!(std::fs::read(di.join(f)).unwrap() == std::fs::read(du.join(f)).unwrap(), "{f} differs after resume");
    }
    let (code, _, e) = run(&["eval", "--model", "mlp", "--weights", s(&cki)]);
    assert_eq!(code, 0, "{e}");
    std::fs::remove_dir_all(&di).ok();
    std::fs::remove_dir_all(&du).ok();
}

/// `kinkgrad bench` never leaves a peer blank without a reason: one line names the missing
/// interpreter or file (the folder comes from --peers-dir or KINKGRAD_PEERS_DIR, never the current
/// folder); `cpu_features` names the SIMD level forced by KINKGRAD_SIMD=baseline (available on every
/// machine); `--compare` reports, per figure, the baseline's value (read back from the first run's
/// JSON), the new one and their ratio; a bad baseline is a one-line error.
#[test]
fn bench_says_why_a_peer_did_not_run_and_compares() {
    let bench = ["bench", "--only", "mlp-small", "--reps", "1"];
    let with = |extra: &[&str]| -> Vec<String> { bench.iter().chain(extra).map(|x| x.to_string()).collect() };
    let (c, out, e) = run(&with(&[]).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(c, 0, "{e}");
    assert!(out.contains("peer not run: no --peer-python given"), "{out}");
    assert!(!out.contains("(no peer)"), "{out}");
    // any existing file passes as the interpreter: the script is missing before it would run
    let empty = tmp("no-peers");
    std::fs::create_dir_all(&empty).unwrap();
    let exe = env!("CARGO_BIN_EXE_kinkgrad");
    let json = tmp("bench.json");
    let out = Command::new(exe)
        .args(with(&["--peer-python", exe, "--json"]))
        .env("KINKGRAD_PEERS_DIR", &empty)
        .env("KINKGRAD_SIMD", "baseline")
        .current_dir(&empty)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&json, &out.stdout).unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["cpu_features"]["simd_level"], "baseline", "{j}");
    let row = &j["results"][0];
    assert!(row["workload"].as_str().unwrap().starts_with("mlp_small_step"), "{row}");
    let why = row["peer_not_run"].as_str().unwrap();
    assert!(why.contains(&format!("{}", empty.join("nn_peer.py").display())) && why.contains("no such file"), "{why}");
    assert!(row["kinkgrad_over_pytorch"].is_null() && row["safe_over_assoc"].as_f64().unwrap() > 0.0, "{row}");

    let (c, out, e) = run(&with(&["--compare", s(&json), "--json"]).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(c, 0, "{e}");
    let k: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ch = &k["compare"][0]["changes"]["kinkgrad_assoc_seconds"];
    let (old, new) =
        (row["kinkgrad_assoc_seconds"].as_f64().unwrap(), k["results"][0]["kinkgrad_assoc_seconds"].as_f64());
    assert_eq!((ch["old"].as_f64(), ch["new"].as_f64()), (Some(old), new), "{k}");
    assert_eq!(ch["new_over_old"].as_f64(), Some(new.unwrap() / old), "{k}");
    std::fs::write(&json, "{}").unwrap();
    refused(&["bench", "--compare", s(&json)], &["bench.json", "no \"results\" list"]);
}
