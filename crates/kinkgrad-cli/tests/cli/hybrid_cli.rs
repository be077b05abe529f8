//! `kinkgrad hybrid` end to end on a small problem: generate, train with save, resume, eval, errors.

use crate::common::{json, run};

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

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kinkgrad-hybrid-io-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

const SMALL: [&str; 8] = ["--cells", "16", "--steps", "6", "--n-train", "4", "--n-test", "2"];

/// An `.npz` data set from `hybrid generate` trains; `hybrid eval --out` exports `x`, `u_T` and
/// `source` of every sample, read back here: `x` are the cell centres `(j + 1/2)/N` (by hand), and
/// the test loss recomputed from the exported `u_T` and the data's `gamma`,
/// `(1/m) sum (u_T - gamma)^2 dx` over the test rows, is the one `eval` prints.
#[test]
fn npz_data_train_and_eval_exports() {
    use kinkgrad::io::npy::load_npz;
    let dir = tmp("npz");
    let (d, w) = (dir.join("d.npz"), dir.join("w.safetensors"));
    let mut g = vec!["hybrid", "generate", "--out", d.to_str().unwrap()];
    g.extend(SMALL);
    assert_eq!(run(&g).0, 0);
    let base = ["hybrid", "train", "--data", d.to_str().unwrap(), "--width", "4"];
    let mut t = base.to_vec();
    t.extend([
        "--iterations",
        "5",
        "--save",
        w.to_str().unwrap(),
        "--json",
        "--plot",
        dir.to_str().unwrap(),
        "--plot-format",
        "png",
    ]);
    let j = json(&t);
    assert_eq!(j["iterations"], 5);
    assert!(j["source_rel_l2"].is_number() && j["peak_gradient_bytes"].is_number(), "{j}");
    assert_eq!(&std::fs::read(dir.join("loss.png")).unwrap()[..4], b"\x89PNG");
    let data: std::collections::BTreeMap<String, (Vec<usize>, Vec<f64>)> =
        load_npz(&d, 1 << 30).unwrap().into_iter().map(|a| (a.name, (a.shape, a.data))).collect();
    let gamma = &data["gamma"].1;
    for ext in ["npz", "safetensors"] {
        let out = dir.join(format!("e.{ext}"));
        let j = json(&[
            "hybrid",
            "eval",
            "--data",
            d.to_str().unwrap(),
            "--weights",
            w.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]);
        let arrays: std::collections::BTreeMap<String, (Vec<usize>, Vec<f64>)> = if ext == "npz" {
            load_npz(&out, 1 << 30).unwrap().into_iter().map(|a| (a.name, (a.shape, a.data))).collect()
        } else {
            let (t, meta) = kinkgrad::io::safetensors_io::load(&out).unwrap();
            assert_eq!(meta["n_train"], "4");
            t.into_iter().map(|t| (t.name, (t.shape, t.data))).collect()
        };
        assert_eq!(arrays["x"].0, [16]);
        assert!(arrays["x"].1.iter().enumerate().all(|(j, &x)| x == (j as f64 + 0.5) / 16.0));
        assert_eq!((arrays["u_T"].0.as_slice(), arrays["source"].0.as_slice()), (&[6, 16][..], &[6, 16][..]));
        let u = &arrays["u_T"].1;
        let test: f64 = (4 * 16..6 * 16).map(|k| (u[k] - gamma[k]).powi(2)).sum::<f64>() / 16.0 / 2.0;
        let printed = j["test_loss"].as_f64().unwrap();
        assert!((test - printed).abs() <= 1e-12 * printed, "{test} vs {printed}");
    }
    let (c, _, e) =
        run(&["hybrid", "eval", "--data", d.to_str().unwrap(), "--weights", w.to_str().unwrap(), "--out", "x.txt"]);
    assert!(c == 2 && e.contains(".npz or .safetensors"), "{e}");
    // a resume with another width or batch is refused (it would not continue the saved run)
    let mut r = base.to_vec();
    r.extend(["--iterations", "9", "--resume", w.to_str().unwrap(), "--batch", "2"]);
    let (c, _, e) = run(&r);
    assert!(c == 2 && e.contains("--batch 2") && e.contains("refused"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A long `hybrid train --save-every 1` started in the background.
fn background(dir: &std::path::Path, w: &std::path::Path) -> std::process::Child {
    let d = dir.join("d.safetensors");
    if !d.exists() {
        let mut g = vec!["hybrid", "generate", "--out", d.to_str().unwrap()];
        g.extend(SMALL);
        assert_eq!(run(&g).0, 0);
    }
    std::process::Command::new(env!("CARGO_BIN_EXE_kinkgrad"))
        .args(["hybrid", "train", "--data", d.to_str().unwrap(), "--width", "4", "--mode", "assoc"])
        .args(["--iterations", "1000000", "--save-every", "1", "--save", w.to_str().unwrap(), "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `path` exists (the run is saving), at most 60 s.
fn wait_for(path: &std::path::Path) {
    let t0 = std::time::Instant::now();
    while !path.exists() {
        assert!(t0.elapsed().as_secs() < 60, "{} never appeared", path.display());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `kill -9` while `hybrid train --save-every 1` writes a checkpoint at every iteration (3 kills in
/// CI; `KINKGRAD_KILLS=30` runs more): the weights file is always complete (eval reads it), and
/// after the next run to the same target no temporary file is left in the folder.
#[test]
fn kills_during_save_every_leave_no_partial_or_temporary_file() {
    let dir = tmp("kill");
    let w = dir.join("w.safetensors");
    let kills: u64 = std::env::var("KINKGRAD_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    for k in 0..kills {
        let mut child = background(&dir, &w);
        wait_for(&w);
        std::thread::sleep(std::time::Duration::from_millis(50 + 70 * (k % 5)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let d = dir.join("d.safetensors");
        let (c, _, e) = run(&["hybrid", "eval", "--data", d.to_str().unwrap(), "--weights", w.to_str().unwrap()]);
        assert_eq!(c, 0, "kill {k}: {e}");
    }
    // the next run's atomic writes remove the temporary files of the dead ones
    let d = dir.join("d.safetensors");
    let next = ["hybrid", "train", "--data", d.to_str().unwrap(), "--width", "4", "--iterations", "1"];
    let (c, _, e) = run(&[&next[..], &["--save", w.to_str().unwrap()]].concat());
    assert_eq!(c, 0, "{e}");
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Ctrl-C during `hybrid train --save`: exit 130, one line saying which iteration was saved where,
/// and the checkpoint resumes.
#[test]
fn sigint_saves_and_exits_130() {
    let dir = tmp("sigint");
    let w = dir.join("w.safetensors");
    let child = background(&dir, &w);
    wait_for(&w);
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(130), "{e}");
    assert!(e.contains("saved iteration") && e.trim().lines().count() == 1, "{e}");
    let it: usize = e.split("saved iteration ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    let d = dir.join("d.safetensors");
    let more = (it + 1).to_string();
    let j = json(&[
        "hybrid",
        "train",
        "--data",
        d.to_str().unwrap(),
        "--mode",
        "assoc",
        "--iterations",
        &more,
        "--resume",
        w.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!((j["iterations"].as_u64(), j["resumed"]["iteration"].as_u64()), (Some(it as u64 + 1), Some(it as u64)));
    std::fs::remove_dir_all(&dir).ok();
}
