//! `kinkgrad train` and `kinkgrad ritz` end to end: the certificate of the run.

use crate::common::{json, run};

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

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kinkgrad-train-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A tensor as raw bytes: `(name, dtype, shape, little-endian data)`.
type RawTensor = (String, String, Vec<usize>, Vec<u8>);

/// The tensors of a safetensors file parsed by hand (8-byte little-endian header length, JSON
/// header, data): `(name, dtype, shape, bytes)`, sorted by name, without the metadata.
fn parse_raw(bytes: &[u8]) -> Vec<RawTensor> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    let mut out: Vec<_> = header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(k, v)| {
            let off: Vec<usize> =
                v["data_offsets"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
            let shape = v["shape"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
            (k.clone(), v["dtype"].as_str().unwrap().to_string(), shape, data[off[0]..off[1]].to_vec())
        })
        .collect();
    out.sort();
    out
}

/// A safetensors file built here byte by byte, as NumPy or PyTorch users' writers do, not by
/// kinkgrad's writer: no metadata, tensors in the given order, header not padded.
fn raw_safetensors(tensors: &[RawTensor]) -> Vec<u8> {
    let mut header = Vec::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        header.push(format!(
            "{}:{{\"dtype\":\"{dtype}\",\"shape\":{},\"data_offsets\":[{},{}]}}",
            serde_json::Value::String(name.clone()),
            serde_json::json!(shape),
            data.len(),
            data.len() + bytes.len()
        ));
        data.extend_from_slice(bytes);
    }
    let header = format!("{{{}}}", header.join(","));
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    out
}

/// Interoperability: the weights of a run, rewritten as a NumPy/PyTorch user's file (pure PyTorch
/// names, no metadata, another tensor order; F32, and F64 widened exactly), evaluate to exactly the
/// test accuracy the training run printed (the same weights on the same 2 000 test digits), and
/// `--init-weights` starts training from them. Every name and shape is checked, one line each.
#[test]
fn eval_of_a_foreign_weights_file_matches_the_training_run() {
    let dir = tmp("interop");
    let ck = dir.join("ck.safetensors");
    let j = json(&["train", "--limit", "256", "--epochs", "1", "--save", ck.to_str().unwrap(), "--json"]);
    let mut tensors = parse_raw(&std::fs::read(&ck).unwrap());
    let names: Vec<&str> = tensors.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(names, ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]);
    assert_eq!((tensors[1].1.as_str(), &tensors[1].2), ("F32", &vec![256, 784]), "PyTorch's [out, in]");
    tensors.reverse();
    let foreign = dir.join("numpy.safetensors");
    std::fs::write(&foreign, raw_safetensors(&tensors)).unwrap();
    let e = json(&["eval", "--model", "mlp", "--weights", foreign.to_str().unwrap(), "--json"]);
    assert_eq!((e["test_accuracy"].as_f64(), e["test_examples"].as_u64()), (j["test_accuracy"].as_f64(), Some(2000)));
    assert_eq!((e["dtype"].as_str(), e["precision"].as_str()), (Some("F32"), Some("f32")));
    // F64 (f32 values widened exactly), evaluated in f32: the same weights, the same accuracy
    let wide: Vec<_> = tensors
        .iter()
        .map(|(n, _, s, b)| {
            let v: Vec<u8> = b
                .chunks_exact(4)
                .flat_map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())).to_le_bytes())
                .collect();
            (n.clone(), "F64".to_string(), s.clone(), v)
        })
        .collect();
    let f64_file = dir.join("f64.safetensors");
    std::fs::write(&f64_file, raw_safetensors(&wide)).unwrap();
    let e = json(&["eval", "--model", "mlp", "--weights", f64_file.to_str().unwrap(), "--precision", "f32", "--json"]);
    assert_eq!(e["test_accuracy"].as_f64(), j["test_accuracy"].as_f64());
    // --init-weights: with a learning rate far below the weights' f32 resolution, Adam's steps
    // (about lr each) round away and the run ends where the file started
    let t = json(&[
        "train",
        "--limit",
        "64",
        "--epochs",
        "1",
        "--lr",
        "1e-15",
        "--init-weights",
        foreign.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(t["test_accuracy"].as_f64(), j["test_accuracy"].as_f64());
    // every name and shape checked: one line naming the tensor, exit 2
    let bad = |edit: &dyn Fn(&mut Vec<RawTensor>), needles: &[&str]| {
        let mut t = tensors.clone();
        edit(&mut t);
        let p = dir.join("bad.safetensors");
        std::fs::write(&p, raw_safetensors(&t)).unwrap();
        let (code, _, err) = run(&["eval", "--model", "mlp", "--weights", p.to_str().unwrap()]);
        assert_eq!((code, err.lines().count()), (2, 1), "{needles:?}: {err}");
        assert!(needles.iter().all(|n| err.contains(n)), "{needles:?}: {err}");
    };
    bad(&|t| t.retain(|x| x.0 != "fc2.bias"), &["missing tensor 'fc2.bias'"]);
    bad(&|t| t[0].2 = vec![256, 10], &["tensor 'fc2.weight' has shape [256, 10], expected [10, 256]"]);
    bad(&|t| t.push(("fc3.weight".into(), "F32".into(), vec![1], vec![0; 4])), &["unexpected tensor 'fc3.weight'"]);
    bad(&|t| t[0].3[..4].copy_from_slice(&f32::NAN.to_le_bytes()), &["tensor 'fc2.weight' holds NaN"]);
    bad(&|t| t[0].1 = "I32".into(), &["tensor 'fc2.weight' has dtype I32"]);
    let (code, _, err) = run(&["eval", "--model", "lenet", "--weights", foreign.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing tensor 'conv1.weight'"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Checkpoints are byte-reproducible: two identical runs write byte-identical weights and state
/// files; a resume says what it resumed, and one of a finished run says there is nothing to do.
#[test]
fn checkpoints_are_byte_reproducible_and_resume_says_what() {
    let (a, b) = (tmp("repro-a"), tmp("repro-b"));
    for d in [&a, &b] {
        let ck = d.join("ck.safetensors");
        json(&[
            "train",
            "--limit",
            "128",
            "--batch",
            "32",
            "--epochs",
            "1",
            "--save",
            ck.to_str().unwrap(),
            "--save-every",
            "3",
            "--json",
        ]);
    }
    for f in ["ck.safetensors", "ck.state.safetensors"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f}");
    }
    let ck = a.join("ck.safetensors");
    let (code, _, err) =
        run(&["train", "--limit", "128", "--batch", "32", "--epochs", "2", "--resume", ck.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("resumed") && err.contains("1 epochs and 0 batches done, step 4"), "{err}");
    let (code, out, err) =
        run(&["train", "--limit", "128", "--batch", "32", "--epochs", "1", "--resume", ck.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("already run 1 epochs") && !err.contains("0.0s"), "{err}");
    let (code, _, err) = run(&[
        "train",
        "--limit",
        "128",
        "--batch",
        "32",
        "--epochs",
        "2",
        "--precision",
        "bf16",
        "--resume",
        ck.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("precision is f32, this run uses bf16"), "{err}");
    std::fs::remove_dir_all(&a).ok();
    std::fs::remove_dir_all(&b).ok();
}
