//! `kinkgrad bench` with a fake peer: a shell script in a peers folder, run by `/bin/sh` as the
//! "Python", speaking the serve protocol of `benchmarks/peer_serve.py` with calls of exactly 2 ms.

use std::path::Path;
use std::process::Command;

/// The fake `nn_peer.py`: logs its arguments and each request, answers `run NAME N` with N times of
/// 0.002 s; with FAKE_PEER_LIMIT=k it exits (status 3, one line on stderr) at request k + 1. A line
/// that is not JSON comes first (the bench skips such notices).
const FAKE_PEER: &str = r#"log="$FAKE_PEER_LOG"
echo "args $*" >> "$log"
echo 'a notice that is not JSON'
echo '{"ready": true}'
k=0
while read -r cmd name n; do
  echo "$cmd $name $n" >> "$log"
  k=$((k+1))
  if [ -n "$FAKE_PEER_LIMIT" ] && [ "$k" -gt "$FAKE_PEER_LIMIT" ]; then echo "fake peer: out of work" >&2; exit 3; fi
  t=""; i=0
  while [ "$i" -lt "$n" ]; do t="$t${t:+, }0.002"; i=$((i+1)); done
  echo "{\"times\": [$t]}"
done
echo eof >> "$log"
"#;

/// Runs `bench --only mlp-small --reps 3 --pairs 4` against the fake peer; the JSON row and the log.
fn bench_with_fake_peer(dir: &Path, limit: Option<&str>) -> (serde_json::Value, String) {
    let log = dir.join(format!("log-{}", limit.unwrap_or("none")));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kinkgrad"));
    cmd.args(["bench", "--only", "mlp-small", "--reps", "3", "--pairs", "4", "--json", "--peer-python", "/bin/sh"])
        .arg("--peers-dir")
        .arg(dir)
        .env("FAKE_PEER_LOG", &log)
        .env_remove("FAKE_PEER_LIMIT");
    if let Some(k) = limit {
        cmd.env("FAKE_PEER_LIMIT", k);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (j["results"][0].clone(), std::fs::read_to_string(&log).unwrap())
}

/// The serve protocol and the pairing, end to end: the peer is started once with `--serve
/// mlp_small`, gets one warm-up request of 2 calls then one block of `--reps` 3 per round for
/// `--pairs` 4 rounds, and sees the end of its input (exits by itself); its time is the 2 ms it
/// reports; each ratio lies within its pairs' quartiles. A peer that dies in round 2 (after the
/// warm-up and one block) leaves a row that says why, with the peer's last stderr line, and no peer
/// figures, while kinkgrad's own ratio is still measured.
#[cfg(unix)]
#[test]
fn bench_times_a_serving_peer_in_blocks_and_reports_its_death() {
    let dir = std::env::temp_dir().join(format!("kinkgrad-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("nn_peer.py"), FAKE_PEER).unwrap();
    std::fs::write(dir.join("jax_peers.py"), "").unwrap(); // marks a peers folder

    let (row, log) = bench_with_fake_peer(&dir, None);
    let expected =
        ["args --serve mlp_small", "run step 2", "run step 3", "run step 3", "run step 3", "run step 3", "eof"];
    assert_eq!(log.lines().collect::<Vec<_>>(), expected, "{row}");
    assert!(row.get("peer_not_run").is_none(), "{row}");
    assert_eq!((row["pytorch_seconds"].as_f64(), row["pairs"].as_u64()), (Some(0.002), Some(4)), "{row}");
    for key in ["kinkgrad_over_pytorch", "safe_over_assoc"] {
        let (r, q) = (row[key].as_f64().unwrap(), &row[format!("{key}_iqr")]);
        let (q1, q3) = (q[0].as_f64().unwrap(), q[1].as_f64().unwrap());
        assert!(0.0 < q1 && q1 <= r && r <= q3, "{key}: {row}");
    }

    let (row, log) = bench_with_fake_peer(&dir, Some("2"));
    assert_eq!(log.lines().count(), 1 + 3, "{log}");
    let why = row["peer_not_run"].as_str().unwrap();
    assert!(why.contains("nn_peer.py exited: fake peer: out of work"), "{why}");
    assert!(row["pytorch_seconds"].is_null() && row["kinkgrad_over_pytorch"].is_null(), "{row}");
    assert!(row["safe_over_assoc"].as_f64().unwrap() > 0.0, "{row}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A fake `nn_peer.py` for `--peer-isa`: logs the limits it finds in its environment, then serves as
/// [`FAKE_PEER`] does; its ready line confirms `KINKGRAD_PEER_ISA` (as `benchmarks/peer_serve.py`
/// does) only with FAKE_PEER_CONFIRM set, standing for a peer script older than the flag otherwise.
const FAKE_ISA_PEER: &str = r#"log="$FAKE_PEER_LOG"
echo "isa=$KINKGRAD_PEER_ISA onednn=$ONEDNN_MAX_CPU_ISA aten=$ATEN_CPU_CAPABILITY mkl=$MKL_ENABLE_INSTRUCTIONS" >> "$log"
echo "xla=$XLA_FLAGS" >> "$log"
if [ -n "$FAKE_PEER_CONFIRM" ]; then echo "{\"ready\": true, \"peer_isa\": \"$KINKGRAD_PEER_ISA\"}"; else echo '{"ready": true}'; fi
while read -r cmd name n; do
  t=""; i=0
  while [ "$i" -lt "$n" ]; do t="$t${t:+, }0.002"; i=$((i+1)); done
  echo "{\"times\": [$t]}"
done
"#;

/// `--peer-isa`: `avx2` puts each library's limit in the peer's environment (after an inherited
/// XLA_FLAGS, which it keeps) and the JSON says `"peer_isa": "avx2"`; the default `native` sets none of
/// them. A peer that does not confirm the limit, no peer at all, or an unknown level fail the command
/// (exit 2, a one-line JSON error under `--json`) instead of giving figures of a peer on other
/// instructions than asked.
#[cfg(unix)]
#[test]
fn bench_peer_isa_sets_the_peer_limits_and_requires_their_confirmation() {
    let dir = std::env::temp_dir().join(format!("kinkgrad-bench-isa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("nn_peer.py"), FAKE_ISA_PEER).unwrap();
    std::fs::write(dir.join("jax_peers.py"), "").unwrap(); // marks a peers folder
    let log = dir.join("log");
    let bench = |isa: Option<&str>, confirm: bool, python: bool| {
        std::fs::write(&log, "").unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kinkgrad"));
        cmd.args(["bench", "--only", "mlp-small", "--reps", "1", "--pairs", "2", "--json", "--peers-dir"])
            .arg(&dir)
            .env("FAKE_PEER_LOG", &log)
            .env("XLA_FLAGS", "--xla_inherited=1");
        for v in ["KINKGRAD_PEER_ISA", "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS"] {
            cmd.env_remove(v);
        }
        if python {
            cmd.args(["--peer-python", "/bin/sh"]);
        }
        if let Some(isa) = isa {
            cmd.args(["--peer-isa", isa]);
        }
        if confirm {
            cmd.env("FAKE_PEER_CONFIRM", "1");
        } else {
            cmd.env_remove("FAKE_PEER_CONFIRM");
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.code(), out.stdout, err, std::fs::read_to_string(&log).unwrap())
    };

    let (code, out, err, log_avx2) = bench(Some("avx2"), true, true);
    assert_eq!(code, Some(0), "{err}");
    let j: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(j["peer_isa"], "avx2", "{j}");
    assert_eq!(j["results"][0]["pytorch_seconds"].as_f64(), Some(0.002), "{j}");
    let lines: Vec<&str> = log_avx2.lines().collect();
    assert_eq!(lines[0], "isa=avx2 onednn=AVX2 aten=avx2 mkl=AVX2", "{log_avx2}");
    assert!(lines[1].starts_with("xla=--xla_inherited=1 --xla_cpu_max_isa=AVX2 "), "{log_avx2}");
    assert!(lines[1].contains("--xla_cpu_experimental_ynn_fusion_type="), "{log_avx2}");

    let (code, out, err, log_native) = bench(None, true, true);
    assert_eq!(code, Some(0), "{err}");
    let j: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(j["peer_isa"], "native", "{j}");
    assert_eq!(log_native.lines().take(2).collect::<Vec<_>>(), ["isa= onednn= aten= mkl=", "xla=--xla_inherited=1"]);

    for (isa, confirm, python, kind, needles) in [
        (Some("avx2"), false, true, "input", &["--peer-isa avx2", "nn_peer.py did not confirm --peer-isa avx2"][..]),
        (Some("avx2"), true, false, "input", &["--peer-isa avx2", "no --peer-python given"][..]),
        (Some("avx512"), true, true, "usage", &["invalid value 'avx512'", "--peer-isa"][..]),
    ] {
        let (code, out, err, _) = bench(isa, confirm, python);
        assert_eq!(code, Some(2), "{isa:?} {confirm} {python}: {err}");
        // under --json a refusal is one JSON error object on stdout
        let j: serde_json::Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
        assert_eq!(j["error"]["kind"], kind, "{j}");
        let why = j["error"]["message"].as_str().unwrap();
        assert_eq!(why.lines().count(), 1, "not one line: {why}");
        for n in needles {
            assert!(why.contains(n), "{why} lacks {n}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `bench --only lenet-digits` needs no peer: one row, the LeNet step on the built-in digits in
/// `assoc` and `safe`, with both times, their pairs, and the ratio within its pairs' quartiles.
#[test]
fn bench_lenet_digits_times_safe_on_the_built_in_digits() {
    let out = Command::new(env!("CARGO_BIN_EXE_kinkgrad"))
        .args(["bench", "--only", "lenet-digits", "--reps", "1", "--pairs", "2", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = j["results"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{j}");
    let row = &rows[0];
    assert!(row["workload"].as_str().unwrap().starts_with("lenet_digits_step"), "{row}");
    assert_eq!(row["pairs"].as_u64(), Some(2), "{row}");
    for key in ["kinkgrad_assoc_seconds", "kinkgrad_safe_seconds"] {
        assert!(row[key].as_f64().unwrap() > 0.0, "{key}: {row}");
    }
    let (r, q) = (row["safe_over_assoc"].as_f64().unwrap(), &row["safe_over_assoc_iqr"]);
    assert!(0.0 < q[0].as_f64().unwrap() && q[0].as_f64().unwrap() <= r && r <= q[1].as_f64().unwrap(), "{row}");
}
