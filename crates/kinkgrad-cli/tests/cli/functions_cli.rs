//! `kinkgrad grad` on every function of the library's registry (`kinkgrad::primitive::functions`),
//! so that a function added there is checked end to end without editing this file: `--help` lists
//! it with its doc, and at a point off its kinks the printed value equals the function's reference
//! value on plain f64 (the active piece's value, or the f64 function) and the printed gradient
//! equals central differences of that reference value in every mode.

use crate::common::run;
use kinkgrad::primitive::functions::{self, Arity};

#[test]
fn help_lists_every_function_with_its_doc() {
    let (code, out, err) = run(&["grad", "--help"]);
    assert_eq!(code, 0, "{err}");
    for f in functions::all() {
        assert!(out.contains(&f.signature()), "--help lacks {}", f.signature());
        assert!(out.contains(&f.doc), "--help lacks the doc of {}: {}", f.name, f.doc);
    }
}

/// Generic points off every kink of the registered functions: distinct, non-zero, non-integer
/// values in the domains of log and sqrt (x > 0) for one-argument functions.
const POINT: [f64; 4] = [0.3, -0.6, 1.7, 1.1];

#[test]
fn every_function_off_its_kinks_matches_its_reference_value() {
    let names = ["x", "y", "z", "w"];
    for f in functions::all() {
        let k = match f.arity() {
            Arity::Exactly(n) => n - f.params.len(),
            Arity::AtLeast(_) => 3,
        };
        let mut x: Vec<f64> = POINT[..k].to_vec();
        if k == 1 {
            x[0] = 0.3;
        }
        for &(i, j) in f.ordered {
            x[j] = x[i] + x[j].abs();
        }
        let params: Vec<f64> = f.params.iter().map(|p| p.sample).collect();
        let mut parts: Vec<String> = names[..k].iter().map(|s| s.to_string()).collect();
        parts.extend(params.iter().map(|p| format!("{p:?}")));
        let expr = format!("{}({})", f.name, parts.join(", "));
        let at: Vec<String> = names[..k].iter().zip(&x).map(|(n, v)| format!("{n}={v:?}")).collect();
        let value = f.value(&x, &params);
        for mode in ["assoc", "lex", "safe"] {
            let (code, out, err) = run(&["grad", &expr, "--at", &at.join(","), "--mode", mode, "--json"]);
            assert_eq!(code, 0, "{expr}: {err}");
            let j: serde_json::Value = serde_json::from_str(&out).unwrap();
            let v = j["value"].as_f64().unwrap();
            assert!((v - value).abs() <= 1e-14 * (1.0 + value.abs()), "{expr}: value {v} vs reference {value}");
            assert_eq!(j["certificate"]["kind"], "exact", "{expr} {mode}: on a kink?");
            for (i, n) in names[..k].iter().enumerate() {
                // central differences of the reference value; two steps must agree (no kink nearby)
                let fd = |h: f64| {
                    let (mut p, mut m) = (x.clone(), x.clone());
                    p[i] += h;
                    m[i] -= h;
                    (f.value(&p, &params) - f.value(&m, &params)) / (2.0 * h)
                };
                let (a, b) = (fd(1e-5), fd(2.5e-6));
                assert!((a - b).abs() < 1e-6 * (1.0 + a.abs()), "{expr}: a kink near {x:?}");
                let g = j["gradient"][n].as_f64().unwrap();
                assert!((g - b).abs() < 1e-6 * (1.0 + b.abs()), "{expr} {mode}: d/d{n} = {g} vs FD {b}");
            }
        }
    }
}
