//! `kinkgrad study`: the JSON contract on small runs, and refusals (one line, exit 2).

use crate::common::{json, run};

#[test]
fn relu_prime_json_contract_on_a_small_run() {
    let v = json(&[
        "study",
        "relu-prime",
        "--precision",
        "f32,f16",
        "--inits",
        "2",
        "--limit",
        "200",
        "--depth",
        "1",
        "--width",
        "16",
        "--json",
    ]);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        for k in ["precision", "fraction", "safe_fraction", "exact_zeros", "bifurcated", "inits"] {
            assert!(!r[k].is_null(), "{k}: {r}");
        }
        // 200 examples in minibatches of 100, two initialisations
        assert_eq!(r["batches"], 4);
        let f = r["fraction"].as_f64().unwrap();
        assert!(f == 0.0 || f == 0.5 || f == 1.0);
    }
}

#[test]
fn maxpool_beta_json_contract_on_a_small_run() {
    let v = json(&[
        "study",
        "maxpool-beta",
        "--precision",
        "f32",
        "--betas",
        "0,1000",
        "--epochs",
        "1",
        "--limit",
        "128",
        "--mode",
        "assoc",
        "--json",
    ]);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0]["beta"].as_f64(), rows[1]["beta"].as_f64()), (Some(0.0), Some(1000.0)));
    for r in rows {
        assert_eq!(r["mode"], "assoc");
        assert_eq!(r["precision"], "f32");
        assert_eq!(r["steps"], 1);
        let a = r["test_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a));
        assert!(r["diverged"].is_boolean());
    }
    // the beta = 1000 run's certificate carries the signed-weights warning when it met ties
    if rows[1]["pool_ties"].as_u64().unwrap() > 0 {
        assert!(rows[1]["certificate"]["warnings"][0].as_str().unwrap().contains("not minimum-norm"));
    }
    assert_eq!(v["volume"].as_array().unwrap().len(), 1);
}

#[test]
fn study_refusals_are_one_line_exit_2() {
    for args in [
        &["study", "relu-prime", "--inits", "0"][..],
        &["study", "relu-prime", "--precision", "f8"],
        &["study", "relu-prime", "--limit", "0"],
        &["study", "relu-prime", "--width", "0"],
        &["study", "maxpool-beta", "--betas", "0,x"],
        &["study", "maxpool-beta", "--betas", "inf"],
        &["study", "maxpool-beta", "--epochs", "0"],
        &["study", "maxpool-beta", "--mode", "lex"],
        &["study", "maxpool-beta", "--seeds", "0"],
        &["study", "maxpool-beta", "--lr", "-1"],
        &["study", "maxpool-beta", "--plot", "a.txt"],
        &["study", "maxpool-beta", "--update", "f32"],
    ] {
        let (c, out, e) = run(args);
        assert_eq!(c, 2, "{args:?}: {out} {e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{args:?}: {e}");
    }
}
