//! `kinkgrad transport` end to end: the JSON keys scripts rely on, the gradient modes, and bad input.

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

/// A plain run: mass is conserved to round-off and minmod LW does not increase the total variation.
#[test]
fn plain_run_keys_and_invariants() {
    let j = json(&["transport", "--scheme", "lw-minmod", "--cells", "100", "--initial", "square", "--json"]);
    for k in ["l1_error", "linf_error", "mass_drift", "tv_increase", "kinks", "steps"] {
        assert!(!j[k].is_null(), "missing {k}: {j}");
    }
    assert!(j["mass_drift"].as_f64().unwrap().abs() < 1e-12, "{j}");
    assert!(j["tv_increase"].as_f64().unwrap() <= 1e-12, "{j}");
    assert!(j["kinks"].as_u64().unwrap() > 0, "the square wave's plateaus are kinks: {j}");
}

/// `--convergence`: one row per grid, orders null on the first row; minmod LW on the sine wave
/// converges at about 1.9 in L1 (issue 4's reference figure, measured with an independent
/// implementation).
#[test]
fn convergence_rows() {
    let j = json(&["transport", "--scheme", "lw-minmod", "--convergence", "100,200,400", "--json"]);
    let rows = j["convergence"].as_array().expect("convergence rows");
    assert_eq!(rows.len(), 3);
    assert!(rows[0]["order_l1"].is_null() && rows[0]["order_linf"].is_null());
    let o = rows[2]["order_l1"].as_f64().unwrap();
    assert!((1.7..2.1).contains(&o), "L1 order {o}");
    assert_eq!(rows[1]["cells"], 200);
}

/// `--grad` in both modes and with the checkpoint schedules: the keys, a gradient that matches finite
/// differences off the kinks (sine data), and the same gradient from every schedule.
#[test]
fn gradient_modes_and_schedules() {
    let base =
        ["transport", "--scheme", "lw-minmod", "--cells", "64", "--t-final", "0.25", "--initial", "sine", "--grad"];
    let mut norms = Vec::new();
    for extra in [&["--checkpoint", "all"][..], &["--checkpoint", "sqrt"], &["--checkpoint", "revolve:3"]] {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        a.push("--json");
        let j = json(&a);
        for k in ["grad_check", "forward_seconds", "gradient_seconds", "ratio", "peak_bytes", "kinks", "certificate"] {
            assert!(!j[k].is_null(), "missing {k}: {j}");
        }
        norms.push(j["gradient_norm"].as_f64().unwrap());
    }
    assert!(norms.iter().all(|n| n.to_bits() == norms[0].to_bits()), "schedules differ: {norms:?}");
    let mut a = base.to_vec();
    a.extend_from_slice(&["--mode", "safe", "--json"]);
    let j = json(&a);
    assert_eq!(j["mode"], "safe");
    let c = &j["certificate"];
    assert_eq!(c["mode"], "safe", "{j}");
    assert!(c["kind"] == "exact" || c["kind"] == "generalized", "{c}");
    assert_eq!(c["kinks_total"], j["kinks"], "{j}");
}

/// Bad input: one line on stderr naming what was wrong, exit code 2, nothing on stdout.
#[test]
fn bad_input_exits_2() {
    for (args, needle) in [
        (&["transport", "--scheme", "lw-bogus"][..], "bogus"),
        (&["transport", "--grad", "--checkpoint", "revolve:0"], "checkpoint"),
        (&["transport", "--grad", "--mode", "safe", "--checkpoint", "nope"], "checkpoint"),
        (&["transport", "--cfl", "1.5"], "Courant"),
    ] {
        let (c, out, e) = run(args);
        assert_eq!(c, 2, "{args:?}: {e}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert_eq!(e.trim().lines().count(), 1, "{args:?}: {e}");
        assert!(e.to_lowercase().contains(&needle.to_lowercase()), "{args:?}: {e}");
    }
}

/// The kernels' AVX-512, AVX2 and baseline variants give the same bits: `KINKGRAD_SIMD` lowers the
/// level the library detects (on a CPU without AVX-512 the first two runs take the same variant).
/// Compared: the loss, the gradient's norm and the kink count, on every path the library picks
/// (piece tape, checkpointed, locked) for a limited scheme with a constant and a per-face velocity,
/// and for Burgers.
#[test]
fn simd_levels_give_the_same_bits() {
    let keys = |level: Option<&str>, args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kinkgrad"));
        c.args(args);
        match level {
            Some(l) => c.env("KINKGRAD_SIMD", l),
            None => c.env_remove("KINKGRAD_SIMD"),
        };
        let out = c.output().expect("run kinkgrad");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (j["loss"].as_f64().unwrap().to_bits(), j["gradient_norm"].as_f64().unwrap().to_bits(), j["kinks"].clone())
    };
    for (scheme, velocity) in [("lw-minmod", "1.0"), ("lw-superbee", "sine"), ("burgers-godunov", "1.0")] {
        for mode in ["assoc", "safe"] {
            for checkpoint in ["all", "sqrt"] {
                let v = format!("--velocity={velocity}");
                let args = [
                    "transport",
                    "--scheme",
                    scheme,
                    "--cells",
                    "48",
                    "--t-final",
                    "0.2",
                    "--initial",
                    "square",
                    &v,
                    "--grad",
                    "--mode",
                    mode,
                    "--checkpoint",
                    checkpoint,
                    "--json",
                ];
                let best = keys(None, &args);
                for level in ["avx2", "baseline"] {
                    assert_eq!(keys(Some(level), &args), best, "{scheme} {velocity} {mode} {checkpoint}: {level}");
                }
            }
        }
    }
}
