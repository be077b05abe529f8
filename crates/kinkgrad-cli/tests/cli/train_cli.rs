//! `kinkgrad train` and `kinkgrad ritz` end to end: the certificate of the run.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kinkgrad")).args(args).output().expect("run kinkgrad");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn json(args: &[&str]) -> serde_json::Value {
    let (c, out, e) = run(args);
    assert_eq!(c, 0, "{args:?}: {e}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not one JSON object ({e}): {out}"))
}

/// LeNet on MNIST hits pooling ties: relu maps every negative input of a window to 0, so a window
/// of four zeros is a tie of the max. The default mode is safe: the run's certificate (two batches of
/// 32) is generalized, its kinks are locked or skipped as inert, and the per-layer table counts the
/// same kinks.
#[test]
fn lenet_run_certificate_counts_pooling_ties() {
    let j = json(&["train", "--model", "lenet", "--limit", "64", "--batch", "32", "--epochs", "1", "--json"]);
    let c = &j["certificate"];
    assert_eq!((c["mode"].as_str(), c["gradients"].as_u64()), (Some("safe"), Some(2)), "{c}");
    assert_eq!(c["kind"], "generalized", "{c}");
    let pool: u64 = c["kinks"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.ends_with("maxpool2d"))
        .map(|(_, v)| v.as_u64().unwrap())
        .sum();
    assert!(pool > 0, "pooling ties: {c}");
    assert_eq!(c["kinks_total"], j["kinks_total"]);
    // safe locks every kink it met, except the inert ones it skips (ties of four relu zeros behind
    // strictly negative inputs: their weights multiply relu's zero slope)
    let (locked, skipped) = (c["locked"].as_u64().unwrap(), c["skipped"].as_u64().unwrap());
    assert_eq!(Some(locked + skipped), c["kinks_total"].as_u64(), "{c}");
    assert!(skipped > 0, "dead-region pooling ties are skipped: {c}");
    assert_eq!(j["history"][0]["certificate"], *c, "one epoch: the epoch's certificate is the run's");
    // assoc: representation-dependent, named by the representation of the shared group's flags
    let j = json(&[
        "train",
        "--model",
        "lenet",
        "--limit",
        "32",
        "--batch",
        "32",
        "--epochs",
        "1",
        "--mode",
        "assoc",
        "--convention",
        "pytorch",
        "--json",
    ]);
    let c = &j["certificate"];
    assert_eq!((c["kind"].as_str(), c["representation"].as_str()), (Some("representation-dependent"), Some("pytorch")));
    // human output: the run's certificate on one line
    let (code, out, e) = run(&["train", "--limit", "64", "--epochs", "1"]);
    assert_eq!(code, 0, "{e}");
    assert!(out.lines().any(|l| l.starts_with("certificate ") && l.contains("(safe, minnorm)")), "{out}");
    // lex is refused by the trainer, with one line
    let (code, _, e) = run(&["train", "--limit", "32", "--epochs", "1", "--mode", "lex"]);
    assert_eq!(code, 2);
    assert!(e.contains("unsupported") && e.trim().lines().count() == 1, "{e}");
}

/// Deep Ritz: the certificate sums the optimisation's gradients, in the mode and representation of
/// the shared flags (default safe: `generalized` where kinks were hit; assoc: `representation-dependent`).
#[test]
fn ritz_run_certificate() {
    let j = json(&["ritz", "--width", "8", "--iterations", "20", "--json"]);
    let c = &j["certificate"];
    assert_eq!((c["mode"].as_str(), c["gradients"].as_u64()), (Some("safe"), Some(20)), "{c}");
    let kind = if c["kinks_total"] == 0 { "exact" } else { "generalized" };
    assert_eq!(c["kind"], kind, "{c}");
    let j =
        json(&["ritz", "--width", "8", "--iterations", "20", "--json", "--mode", "assoc", "--convention", "pytorch"]);
    let c = &j["certificate"];
    assert_eq!((c["mode"].as_str(), c["representation"].as_str()), (Some("assoc"), Some("pytorch")), "{c}");
    let kind = if c["kinks_total"] == 0 { "exact" } else { "representation-dependent" };
    assert_eq!(c["kind"], kind, "{c}");
    // the shared group's --seed is safe's probe seed: refused in assoc, never taken for the weights'
    let (code, _, e) = run(&["ritz", "--width", "8", "--iterations", "2", "--mode", "assoc", "--seed", "3"]);
    assert_eq!(code, 2, "{e}");
}
