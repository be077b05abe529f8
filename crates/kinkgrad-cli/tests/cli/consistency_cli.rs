//! The consistency of the command line as a whole: possible values on every enumerated flag, `safe`
//! as the default mode of every command that differentiates, the renamed `ritz --iterations`,
//! `--plot` formats chosen by the extension, and completions and manual pages that mention every
//! subcommand (`grad --help` listing every registry function is in `functions_cli`).

use crate::common::run;

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
        (&["bench"], &["--only", "--peer-isa"]),
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

#[test]
fn quiet_prints_results_only_and_verbose_one_line_per_step() {
    // stderr is a pipe here: no bar in any case; -v adds the per-step lines (ritz: one per 50
    // iterations, at 0 and 50 for 100 iterations), -q keeps stderr empty
    let args = ["ritz", "--width", "4", "--iterations", "100"];
    let (code, out, err) = run(&[&["-v"][..], &args].concat());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("100 iterations"), "{out}");
    assert_eq!(err.lines().filter(|l| l.starts_with("iteration ")).count(), 2, "{err}");
    let (code, out_q, err) = run(&[&args[..], &["-q"]].concat());
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(out_q.contains("100 iterations"), "{out_q}");
    let (code, _, err) = run(&[&args[..], &["-q", "-v"]].concat());
    assert_eq!((code, err.lines().count()), (2, 1), "{err}");
}
