//! `kinkgrad grad` on every function of the library's registry (`kinkgrad::primitive::functions`),
//! so that a function added there is checked end to end without editing this file: `--help` lists
//! it with its doc, and at a point off its kinks the printed value equals the function's reference
//! value on plain f64 (the active piece's value, or the f64 function) and the printed gradient
//! equals central differences of that reference value in every mode.
//!
//! Also the consistency of the command line as a whole: possible values on every enumerated flag,
//! `safe` as the default mode of every command that differentiates, the renamed `ritz --iterations`,
//! `--plot` formats, and completions and manual pages that mention every subcommand.

use kinkgrad::primitive::functions::{self, Arity};
use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kinkgrad")).args(args).output().expect("run kinkgrad");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

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

/// The subcommands listed by `kinkgrad --help` (the parser's own list, read from its output), with
/// the subcommands of `hybrid`.
fn subcommands() -> Vec<String> {
    let section = |args: &[&str]| -> Vec<String> {
        let (code, out, err) = run(args);
        assert_eq!(code, 0, "{err}");
        out.lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter_map(|l| l.split_whitespace().next().map(String::from))
            .filter(|c| c != "help")
            .collect()
    };
    let top = section(&["--help"]);
    let hybrid = section(&["hybrid", "--help"]);
    assert!(top.len() >= 9 && hybrid.len() == 3, "{top:?} {hybrid:?}");
    top.into_iter().chain(hybrid).collect()
}

/// The help text of the flag `flag` in `out` (from its line to the next flag).
fn flag_help<'a>(out: &'a str, flag: &str) -> &'a str {
    let start = out.find(&format!("{flag} ")).unwrap_or_else(|| panic!("no {flag} in {out}"));
    let rest = &out[start + flag.len()..];
    let end = rest.find("\n  -").unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn every_enumerated_flag_shows_its_possible_values_and_safe_is_the_default_mode() {
    // the enumerated flags of every command (values from a fixed set); the help of each must list them
    let enumerated: [(&[&str], &[&str]); 8] = [
        (&["grad"], &["--mode", "--convention"]),
        (&["transport"], &["--scheme", "--initial", "--mode", "--convention"]),
        (&["train"], &["--model", "--optimizer", "--precision", "--init", "--mode", "--convention"]),
        (&["ritz"], &["--method", "--mode", "--convention"]),
        (&["bench"], &["--only"]),
        (&["hybrid", "generate"], &["--scheme", "--source"]),
        (&["hybrid", "train"], &["--scheme", "--source", "--mode", "--convention"]),
        (&["hybrid", "eval"], &["--scheme", "--source", "--mode", "--convention"]),
    ];
    for (cmd, flags) in enumerated {
        let mut args = cmd.to_vec();
        args.push("--help");
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{cmd:?}: {err}");
        for f in flags {
            assert!(flag_help(&out, f).contains("[possible values: "), "{cmd:?} {f}: {}", flag_help(&out, f));
        }
        if flags.contains(&"--mode") {
            assert!(flag_help(&out, "--mode").contains("Default: safe"), "{cmd:?}");
        }
    }
    let (code, out, _) = run(&["completions", "--help"]);
    assert!(code == 0 && out.contains("[possible values: bash, elvish, fish, powershell, zsh]"), "{out}");
    // and the default is what runs: the mode reported by a run without --mode
    for args in [
        &["grad", "relu(x)", "--at", "x=1", "--json"][..],
        &["ritz", "--width", "4", "--iterations", "2", "--json"],
        &["transport", "--grad", "--cells", "20", "--t-final", "0.1", "--json"],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        let j: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let mode = j["mode"].as_str().or(j["certificate"]["mode"].as_str());
        assert_eq!(mode, Some("safe"), "{args:?}: {out}");
    }
}

#[test]
fn ritz_counts_iterations_and_refuses_what_it_would_ignore() {
    let (code, out, err) = run(&["ritz", "--width", "4", "--iterations", "3", "--json"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(j["iterations"], 3);
    // the old name and --points with the exact method: one line, exit 2
    for (args, needle) in [
        (&["ritz", "--steps", "3"][..], "--iterations"),
        (&["ritz", "--method", "exact", "--points", "10"], "--points"),
    ] {
        let (code, _, err) = run(args);
        assert_eq!((code, err.lines().count()), (2, 1), "{args:?}: {err}");
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn plot_format_follows_the_extension() {
    let dir = std::env::temp_dir().join(format!("kinkgrad-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("u.png");
    let (code, _, err) = run(&["ritz", "--width", "4", "--iterations", "2", "--plot", png.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // the PNG signature (RFC 2083, section 3.1), then the IHDR chunk with 900 x 500 pixels
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..24], b"IHDR\x00\x00\x03\x84\x00\x00\x01\xf4");
    let svg = dir.join("p.svg");
    let (code, _, err) = run(&["paradox", "--plot", svg.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let jpg = dir.join("u.jpg");
    let (code, _, err) = run(&["ritz", "--width", "4", "--iterations", "2", "--plot", jpg.to_str().unwrap()]);
    assert_eq!((code, err.lines().count()), (2, 1), "{err}");
    assert!(err.contains(".jpg") && !jpg.exists(), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn completions_and_manual_pages_mention_every_subcommand() {
    let subs = subcommands();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (code, out, err) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        for s in &subs {
            assert!(out.contains(s.as_str()), "{shell} completions lack {s}");
        }
    }
    let (code, out, err) = run(&["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(".ie") || out.contains(".TH kinkgrad 1"), "not roff: {}", &out[..80.min(out.len())]);
    for s in subs.iter().take_while(|s| *s != "generate") {
        assert!(out.contains(&format!("kinkgrad\\-{s}")) || out.contains(s.as_str()), "man lacks {s}");
    }
    // every page into a folder: one per command path
    let dir = std::env::temp_dir().join(format!("kinkgrad-man-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (code, _, err) = run(&["man", "--out", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for page in ["kinkgrad.1", "kinkgrad-ritz.1", "kinkgrad-hybrid-train.1", "kinkgrad-completions.1"] {
        assert!(dir.join(page).exists(), "{page}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
