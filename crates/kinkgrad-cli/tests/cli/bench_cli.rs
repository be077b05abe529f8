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
