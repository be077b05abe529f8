//! `kinkgrad reproduce`: the cheap sections only (the whole report is not run in tests). Expected
//! numbers: the talk's Boustany table (f'(0) = -1.5 in PyTorch's convention), Murat-Trombetti
//! (f' = 1), both derived by hand in the talk.

use crate::common::run;

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kinkgrad-reproduce-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn quick_sections_write_the_page_and_the_rows() {
    let dir = tmp("ok");
    let out = dir.to_str().unwrap();
    let (c, stdout, e) =
        run(&["reproduce", "--quick", "--sections", "boustany,murat-trombetti", "--out", out, "--json"]);
    assert_eq!(c, 0, "{e}");
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(j["rows"], file["rows"]);
    let rows = j["rows"].as_array().unwrap();
    assert!(rows.len() >= 10);
    for r in rows {
        for k in ["section", "name", "reference", "source", "measured", "verdict"] {
            assert!(r[k].as_str().is_some_and(|s| !s.is_empty()), "{k} missing in {r}");
        }
        assert!(["pass", "miss", "info"].contains(&r["verdict"].as_str().unwrap()));
        assert!(["boustany", "murat-trombetti"].contains(&r["section"].as_str().unwrap()));
    }
    // the talk's table, measured: f'(t) at t = -1 ... 1 in assoc with PyTorch's representation
    let assoc = rows.iter().find(|r| r["name"].as_str().unwrap().starts_with("f'(t), assoc")).unwrap();
    assert_eq!(assoc["measured"], "0  0  0  -1.5  0  0  0");
    assert_eq!(assoc["verdict"], "pass");
    let mt = rows.iter().find(|r| r["name"] == "f'(1), safe (PyTorch's representation)").unwrap();
    assert_eq!((mt["measured"].as_str(), mt["verdict"].as_str()), (Some("1"), Some("pass")));
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.contains("id=\"summary\""));
    for id in ["boustany", "murat-trombetti"] {
        assert!(html.contains(&format!("<section id=\"{id}\">")), "{id}");
    }
    assert!(html.contains("<svg") && !html.contains("<script"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = tmp("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    // --out below a regular file cannot be created (also for root)
    let under_file = file.join("report");
    let (c, out, e) = run(&["reproduce", "--quick", "--sections", "boustany", "--out", under_file.to_str().unwrap()]);
    assert_eq!(c, 2, "{out}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("--out") && e.contains("cannot create"), "{e}");
    let (c, _, e) = run(&["reproduce", "--sections", "boustany,nope", "--out", dir.to_str().unwrap()]);
    assert_eq!(c, 2);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("unknown section 'nope'") && e.contains("kink-cases"), "{e}");
    assert!(!dir.join("report.json").exists(), "nothing is written on bad input");
    std::fs::remove_dir_all(&dir).ok();
}
