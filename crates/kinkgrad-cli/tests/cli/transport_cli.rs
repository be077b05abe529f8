//! `kinkgrad transport` end to end: the JSON keys scripts rely on, the gradient modes, and bad input.

use crate::common::{json, run};
use std::process::Command;

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
        a.extend_from_slice(&["--mode", "assoc"]);
        a.extend_from_slice(extra);
        a.push("--json");
        let j = json(&a);
        for k in ["forward_seconds", "gradient_seconds", "ratio", "peak_bytes", "kinks", "certificate"] {
            assert!(!j[k].is_null(), "missing {k}: {j}");
        }
        assert!(j["grad_check"].is_null(), "the check is opt-in (--grad-check): {j}");
        norms.push(j["gradient_norm"].as_f64().unwrap());
    }
    assert!(norms.iter().all(|n| n.to_bits() == norms[0].to_bits()), "schedules differ: {norms:?}");
    let mut a = base.to_vec();
    a.extend_from_slice(&["--mode", "safe", "--json"]);
    let j = json(&a);
    assert_eq!(j["mode"], "safe");
    let c = &j["certificate"];
    assert_eq!(c["mode"], "safe");
    assert_eq!(c["kinks_total"], j["kinks"]);
    let kind = if c["kinks_total"] == 0 { "exact" } else { "generalized" };
    assert_eq!(c["kind"], kind, "{c}");
}

/// The certificate of `--grad` on a square wave: its plateaus put the limiter's arguments on kinks
/// (both slopes exactly 0) at the first steps, so kinks are hit; assoc resolves them by the
/// representation, safe (the default mode) lexicographically.
#[test]
fn gradient_certificates_on_a_square_wave() {
    let base = ["transport", "--scheme", "lw-minmod", "--cells", "32", "--t-final", "0.1", "--initial", "square"];
    let mut a = base.to_vec();
    a.extend_from_slice(&["--grad", "--json", "--mode", "assoc", "--convention", "pytorch"]);
    let j = json(&a);
    let c = &j["certificate"];
    assert!(c["kinks_total"].as_u64().unwrap() > 0, "{c}");
    assert_eq!(c["kinks"]["transport-lw-minmod"], c["kinks_total"], "{c}");
    assert_eq!((c["kind"].as_str(), c["mode"].as_str()), (Some("representation-dependent"), Some("assoc")));
    assert_eq!(c["representation"], "pytorch");
    let mut a = base.to_vec();
    a.extend_from_slice(&["--grad", "--json"]);
    let j = json(&a);
    let c = &j["certificate"];
    assert_eq!((c["kind"].as_str(), c["mode"].as_str()), (Some("generalized"), Some("safe")), "{c}");
    assert!(c["kinks_total"].as_u64().unwrap() > 0 && c["locked"] == c["kinks_total"], "{c}");
    // a flag of the shared group on a run that takes no derivative is refused, not ignored
    let mut a = base.to_vec();
    a.extend_from_slice(&["--mode", "assoc"]);
    let (code, _, e) = run(&a);
    assert_eq!(code, 2);
    assert!(e.contains("--mode applies to --grad only"), "{e}");
}

/// Bad input: one line on stderr naming what was wrong, exit code 2, nothing on stdout.
#[test]
fn bad_input_exits_2() {
    for (args, needle) in [
        (&["transport", "--scheme", "lw-bogus"][..], "bogus"),
        (&["transport", "--grad", "--checkpoint", "revolve:0", "--mode", "assoc"], "checkpoint"),
        (&["transport", "--grad", "--mode", "safe", "--checkpoint", "nope"], "checkpoint"),
        (&["transport", "--cfl", "1.5"], "Courant"),
        // flags a run cannot honour are refused, never ignored (issue 11)
        (&["transport", "--checkpoint", "sqrt", "--cells", "20"], "--checkpoint applies to --grad only"),
        (&["transport", "--grad", "--plot", "p.svg", "--cells", "20"], "--plot does not apply to --grad"),
        (&["transport", "--convergence", "20,40", "--plot", "p.svg"], "does not apply to --convergence"),
        (&["transport", "--convergence", "20,40", "--checkpoint", "sqrt"], "--checkpoint does not apply"),
    ] {
        let (c, out, e) = run(args);
        assert_eq!(c, 2, "{args:?}: {e}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert_eq!(e.trim().lines().count(), 1, "{args:?}: {e}");
        assert!(e.to_lowercase().contains(&needle.to_lowercase()), "{args:?}: {e}");
    }
}

/// The scheme kernels give the same bits on every SIMD level (`KINKGRAD_SIMD` forces the AVX2 and
/// baseline paths on an AVX-512 machine; the level is chosen once per process, hence one process per
/// level): loss, kink count and gradient norm of the piece tape (forward codes, table lookup, adjoint)
/// on a square wave, whose plateaus put the limiters on ties, in assoc and safe, for minmod and
/// superbee (both velocity signs for minmod: the `a < 0` side reads other taps). The reference is the
/// baseline path (plain scalar code).
#[test]
fn gradients_are_bitwise_equal_across_simd_levels() {
    for (scheme, velocity) in [("lw-minmod", "1.0"), ("lw-minmod", "-0.7"), ("lw-superbee", "1.0")] {
        for mode in ["assoc", "safe"] {
            let args =
                ["transport", "--scheme", scheme, "--velocity", velocity, "--cells", "203", "--initial", "square"];
            let args = [&args[..], &["--grad"]].concat();
            let run_at = |level: &str| {
                let out = Command::new(env!("CARGO_BIN_EXE_kinkgrad"))
                    .args(&args)
                    .args(["--mode", mode, "--json"])
                    .env("KINKGRAD_SIMD", level)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                let bits = |k: &str| j[k].as_f64().unwrap_or_else(|| panic!("{k}: {j}")).to_bits();
                (bits("loss"), bits("gradient_norm"), j["kinks"].as_u64().unwrap())
            };
            let base = run_at("baseline");
            assert!(base.2 > 0, "{scheme}: the square wave's plateaus are kinks");
            for level in ["avx2", "avx512"] {
                assert_eq!(run_at(level), base, "{scheme} {mode} on {level}");
            }
        }
    }
}

/// `--grad-check` picks its kind from the run: the skewed profile hits no kink, so central
/// differences run and pass (the minmod scheme is linear on its pieces, J quadratic: only rounding
/// and near-ties remain); the symmetric square wave hits kinks, so safe and lex get the quotients of
/// the piece-locked replay (a quadratic in u0: exact up to rounding, so the bound is 1e-9, where
/// session 18's one-sided quotients of J were off by 1.6-24%), assoc the plain statement that no
/// quotient applies (no error); van Leer at kinks falls to safe's one-sided probe, and lex there is
/// refused with one line.
#[test]
fn grad_check_kinds() {
    let base = ["transport", "--scheme", "lw-minmod", "--cells", "64", "--t-final", "0.25", "--grad", "--grad-check"];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        a.push("--json");
        json(&a)["grad_check"].clone()
    };
    let c = with(&["--initial", "skewed", "--mode", "safe"]);
    assert_eq!(c["kind"], "central", "{c}");
    assert_eq!(c["kinks"], 0, "{c}");
    assert!(c["max_rel_error"].as_f64().unwrap() < 1e-5, "{c}");
    for mode in ["safe", "lex"] {
        for initial in ["square", "gauss"] {
            let s = with(&["--initial", initial, "--mode", mode]);
            assert_eq!(s["kind"], "piece-locked", "{s}");
            assert!(s["kinks"].as_u64().unwrap() > 0, "{s}");
            assert!(s["max_rel_error"].as_f64().unwrap() < 1e-9, "{mode} {initial}: {s}");
        }
    }
    let a = with(&["--initial", "square", "--mode", "assoc"]);
    assert_eq!(a["kind"], "not-applicable", "{a}");
    assert!(a["max_rel_error"].is_null(), "{a}");
    let vl = ["transport", "--scheme", "lw-vanleer", "--cells", "64", "--t-final", "0.25", "--grad", "--grad-check"];
    let v = json(&[&vl[..], &["--initial", "square", "--mode", "safe", "--json"]].concat())["grad_check"].clone();
    assert_eq!(v["kind"], "one-sided-probe", "{v}");
    let (code, _, e) = run(&[&vl[..], &["--initial", "square", "--mode", "lex"]].concat());
    assert_eq!(code, 2, "{e}");
    assert!(e.contains("--grad-check in lex mode") && e.trim().lines().count() == 1, "{e}");
    let (code, _, e) = run(&["transport", "--grad-check"]);
    assert_eq!(code, 2, "--grad-check without --grad is refused: {e}");
}
