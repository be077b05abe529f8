//! `kinkgrad hybrid` end to end on a small problem: generate, train with save, resume, eval, errors.

use crate::common::run;

#[test]
fn generate_train_resume_eval() {
    let dir = std::env::temp_dir().join(format!("kinkgrad-hybrid-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("d.safetensors");
    let w = dir.join("w.safetensors");
    let small = ["--cells", "32", "--steps", "20", "--n-train", "4", "--n-test", "2"];
    let mut g = vec!["hybrid", "generate", "--out", data.to_str().unwrap(), "--json"];
    g.extend(small);
    let (c, out, e) = run(&g);
    assert_eq!(c, 0, "{e}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["samples"], 6);
    let (c, out, e) = run(&[
        "hybrid",
        "train",
        "--data",
        data.to_str().unwrap(),
        "--iterations",
        "30",
        "--width",
        "8",
        "--grad-check",
        "--save",
        w.to_str().unwrap(),
        "--json",
        "--checkpoint",
        "revolve:3",
        "--mode",
        "assoc",
        "--plot",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{e}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    for k in
        ["train_loss_initial", "train_loss_final", "test_loss_initial", "test_loss_final", "source_rel_l2", "seconds"]
    {
        assert!(j[k].is_number(), "{k}: {j}");
    }
    assert!(j["train_loss_final"].as_f64().unwrap() < j["train_loss_initial"].as_f64().unwrap());
    assert!(j["grad_check"]["max_rel_error"].as_f64().unwrap() < 1e-6);
    // the run's certificate: 30 gradients, network and scheme kinks in its log
    let c = &j["certificate"];
    assert_eq!((c["mode"].as_str(), c["gradients"].as_u64()), (Some("assoc"), Some(30)), "{c}");
    let total = j["kinks_network"].as_u64().unwrap() + j["kinks_scheme"].as_u64().unwrap();
    assert_eq!(c["kinks_total"].as_u64(), Some(total), "{c}");
    let kind = if total == 0 { "exact" } else { "representation-dependent" };
    assert_eq!(c["kind"], kind, "{c}");
    for f in ["loss.svg", "source.svg", "states.svg"] {
        assert!(std::fs::read_to_string(dir.join(f)).unwrap().starts_with("<svg"), "{f}");
    }
    // resume to iteration 40: continues from the saved state
    let (c, out, e) = run(&[
        "hybrid",
        "train",
        "--data",
        data.to_str().unwrap(),
        "--iterations",
        "40",
        "--resume",
        w.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(c, 0, "{e}");
    let j2: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j2["iterations"], 40);
    assert_eq!(j2["train_loss_initial"], j["train_loss_final"], "resumed where it stopped");
    let (c, out, e) =
        run(&["hybrid", "eval", "--data", data.to_str().unwrap(), "--weights", w.to_str().unwrap(), "--json"]);
    assert_eq!(c, 0, "{e}");
    let j3: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j3["test_loss"], j["test_loss_final"]);
    // eval differentiates the test loss in the default mode (safe: alpha form, constant velocity)
    let c = &j3["certificate"];
    assert_eq!((c["mode"].as_str(), c["gradients"].as_u64()), (Some("safe"), Some(1)), "{c}");
    assert_eq!(c["kind"], if c["kinks_total"] == 0 { "exact" } else { "generalized" }, "{c}");
    assert!(j3["test_gradient_norm"].as_f64().unwrap() > 0.0);
    // errors: exit 2, one line
    for (args, needle) in [
        (vec!["hybrid", "train", "--data", "/nonexistent/d.safetensors"], "/nonexistent/d.safetensors"),
        (vec!["hybrid", "train", "--checkpoint", "revolve:0", "--mode", "assoc"], "revolve:0"),
        // safe records every step: a recompute schedule is refused, not echoed
        (vec!["hybrid", "train", "--checkpoint", "revolve:4", "--cells", "16", "--steps", "4"], "revolve:4"),
        (vec!["hybrid", "train", "--source", "state", "--checkpoint", "sqrt", "--cells", "16", "--steps", "4"], "sqrt"),
        (vec!["hybrid", "eval", "--weights", data.to_str().unwrap()], "missing"),
        (vec!["hybrid", "generate", "--cfl", "1.5", "--out", dir.join("x").to_str().unwrap()], "Courant"),
    ] {
        let (c, _, e) = run(&args);
        assert_eq!(c, 2, "{args:?}: {e}");
        assert!(e.contains(needle), "{args:?}: '{e}' lacks '{needle}'");
        assert_eq!(e.trim().lines().count(), 1, "{args:?}: {e}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `hybrid train --source state --mode safe --scheme lw-minmod` (issue 10): served, with the
/// scheme's kinks locked together with the network's; the certificate says so (`generalized`, the
/// scheme's kinks counted under `scheme`), in text and under the JSON key `certificate`. Burgers
/// likewise. The square pulses of the generated data keep flat plateaus at the first step, so the
/// scheme hits kinks.
#[test]
fn state_form_and_burgers_train_in_safe_mode_with_a_certificate() {
    let small = ["--cells", "16", "--steps", "4", "--n-train", "2", "--n-test", "1", "--width", "4"];
    for scheme in ["lw-minmod", "burgers-godunov"] {
        let mut a = vec!["hybrid", "train", "--source", "state", "--mode", "safe", "--scheme", scheme];
        a.extend(small);
        a.extend(["--iterations", "2", "--json"]);
        let (c, out, e) = run(&a);
        assert_eq!(c, 0, "{scheme}: {e}");
        let j: serde_json::Value = serde_json::from_str(&out).unwrap();
        let cert = &j["certificate"];
        assert_eq!((cert["mode"].as_str(), cert["gradients"].as_u64()), (Some("safe"), Some(2)), "{cert}");
        assert_eq!(cert["kind"], "generalized", "{scheme}: {cert}");
        assert!(j["kinks_scheme"].as_u64().unwrap() > 0, "{scheme}: {j}");
        assert!(cert["kinks"].to_string().contains("scheme"), "{scheme}: {cert}");
        // the text output prints the certificate line
        a.pop();
        let (c, out, e) = run(&a);
        assert_eq!(c, 0, "{scheme}: {e}");
        assert!(out.contains("certificate generalized"), "{scheme}: {out}");
    }
}
