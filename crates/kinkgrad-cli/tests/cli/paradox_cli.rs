//! `kinkgrad paradox`: the talk's table (PyTorch column from the talk: f'(0) = -1.5, else 0).

use std::process::Command;

#[test]
fn boustany_table_and_plot() {
    let dir = std::env::temp_dir().join(format!("kinkgrad-paradox-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("p.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_kinkgrad"))
        .args(["paradox", "--json", "--plot", svg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = j["boustany"].as_array().unwrap();
    assert_eq!(rows.len(), 7);
    for r in rows {
        let t = r["t"].as_f64().unwrap();
        assert_eq!(r["f"], 0.0);
        assert_eq!(r["assoc_pytorch"].as_f64().unwrap(), if t == 0.0 { -1.5 } else { 0.0 }, "t = {t}");
        assert_eq!(r["lex"], 0.0);
        assert_eq!(r["safe"], 0.0);
        // one certificate object per derivative of the row: only t = 0 ties the entries of t x
        for (m, kinked) in [("assoc", "representation-dependent"), ("lex", "generalized"), ("safe", "generalized")] {
            let c = &r[format!("{m}_certificate")];
            assert_eq!(c["mode"], m, "{c}");
            let k = c["kinks_total"].as_u64().unwrap();
            assert_eq!(k > 0, t == 0.0, "t = {t} {m}: {c}");
            assert_eq!(c["kind"], if t == 0.0 { kinked } else { "exact" }, "t = {t} {m}: {c}");
        }
    }
    assert_eq!(j["assoc_gradient_max1_at_0"], serde_json::json!([1.0, 0.0, 0.0, 0.0]));
    assert_eq!(j["assoc_gradient_max2_at_0"], serde_json::json!([0.25, 0.25, 0.25, 0.25]));
    for m in ["assoc", "lex", "safe"] {
        assert_eq!(j["murat_trombetti"][m], 1.0);
    }
    // framework-style f32 compensation: (1 - 1/4) x - 3 (x/4) in f32 with x = 1.14 leaves 2^-24
    let f32row = j["compensation"].as_array().unwrap().iter().find(|r| r["precision"] == "f32").unwrap();
    assert_eq!(f32row["framework_style"].as_f64().unwrap(), 2f64.powi(-24));
    assert_eq!(f32row["lex"], 0.0);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains("f&apos;(t), safe"));
    std::fs::remove_dir_all(&dir).ok();
}
