//! `kinkgrad grad` end to end: values checked against hand derivations, errors against their
//! messages and exit code 2.

use crate::common::{json, run};

/// relu(x) - relu(-x) = x; assoc at 0 gives R'(0) + R'(0) = 2z: 0 for z = 0, 2 for z = 1; two kinks.
#[test]
fn relu_difference_assoc() {
    let j = json(&["grad", "relu(x) - relu(-x)", "--at", "x=0", "--json", "--mode", "assoc"]);
    assert_eq!(j["gradient"]["x"], 0.0);
    assert_eq!(j["certificate"]["kind"], "representation-dependent");
    assert_eq!(j["certificate"]["kinks_total"], 2);
    assert_eq!(j["certificate"]["kinks"]["relu"], 2);
    assert_eq!(j["certificate"]["mode"], "assoc");
    assert_eq!(j["certificate"]["representation"], "minnorm");
    assert_eq!(j["mode"], "assoc");
    let j = json(&["grad", "relu(x) - relu(-x)", "--at", "x=0", "--json", "--mode", "assoc", "--relu-at-zero", "1"]);
    assert_eq!(j["gradient"]["x"], 2.0);
    let j = json(&["grad", "relu(x) - relu(-x)", "--at", "x=0", "--json", "--mode", "assoc", "--relu-at-zero", "0.5"]);
    assert_eq!(j["gradient"]["x"], 1.0);
}

/// The default mode is safe: the true derivative 1, certificate generalized.
#[test]
fn relu_difference_safe_default() {
    let j = json(&["grad", "relu(x) - relu(-x)", "--at", "x=0", "--json"]);
    assert_eq!(j["gradient"]["x"], 1.0);
    assert_eq!(j["mode"], "safe");
    assert_eq!(j["certificate"]["kind"], "generalized");
    assert_eq!(j["certificate"]["locked"], 2);
    assert_eq!(j["certificate"]["unresolved"], 0);
}

/// Khan & Barton (2015), examples: max(min(x1,-x2), x2-x1) at 0 with M = I -> (0, -1);
/// (1+|x1-x2|)(x1-x2) at 0 -> (1, -1).
#[test]
fn khan_barton_lex() {
    let j = json(&["grad", "max(min(x1, -x2), x2 - x1)", "--at", "x1=0,x2=0", "--mode", "lex", "--json"]);
    assert_eq!((j["gradient"]["x1"].as_f64(), j["gradient"]["x2"].as_f64()), (Some(0.0), Some(-1.0)));
    let j = json(&["grad", "(1 + abs(x1 - x2))*(x1 - x2)", "--at", "x1=0,x2=0", "--mode", "lex", "--json"]);
    assert_eq!((j["gradient"]["x1"].as_f64(), j["gradient"]["x2"].as_f64()), (Some(1.0), Some(-1.0)));
}

/// relu(-t) + t = relu(t): one-sided derivatives 1 (M = [1]) and 0 (M = [-1]).
#[test]
fn one_sided_lex() {
    let j = json(&["grad", "relu(-t) + t", "--at", "t=0", "--mode", "lex", "--directions", "1", "--json"]);
    assert_eq!(j["ld_derivative"][0], 1.0);
    assert_eq!(j["gradient"]["t"], 1.0);
    let j = json(&["grad", "relu(-t) + t", "--at", "t=0", "--mode", "lex", "--directions=-1", "--json"]);
    assert_eq!(j["ld_derivative"][0], 0.0);
}

/// Boustany in the CLI: max_first(t) - max_mean(t x) style with explicit arguments.
#[test]
fn boustany_named_ties() {
    let e = "max_first(t, 2*t, 3*t, 4*t) - max_mean(t, 2*t, 3*t, 4*t)";
    let j = json(&["grad", e, "--at", "t=0", "--mode", "assoc", "--json"]);
    assert_eq!(j["gradient"]["t"], -1.5);
    let j = json(&["grad", &e.replace("max_mean", "max_last"), "--at", "t=0", "--mode", "assoc", "--json"]);
    assert_eq!(j["gradient"]["t"], -3.0);
    let j = json(&["grad", e, "--at", "t=0", "--json"]);
    assert_eq!(j["gradient"]["t"], 0.0);
}

fn err(args: &[&str], needle: &str) {
    let (code, out, e) = run(args);
    assert_eq!(code, 2, "exit code for {args:?}: stdout {out}");
    assert!(e.contains(needle), "stderr '{e}' lacks '{needle}'");
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
}

#[test]
fn errors_exit_2_with_one_clear_line() {
    err(&["grad", "relu(x", "--at", "x=0"], "column 7");
    err(&["grad", "foo(x)", "--at", "x=0"], "unknown function 'foo'");
    err(&["grad", "minmod(x, x, x)", "--at", "x=0"], "takes 2 arguments, found 3");
    err(&["grad", "x + y", "--at", "x=0"], "unbound variable 'y'");
    err(&["grad", "x", "--at", "x=0,y=1"], "unused variable 'y'");
    err(&["grad", "log(x)", "--at", "x=0"], "non-finite value first produced by log");
    err(&["grad", "x", "--at", "x=abc"], "abc");
    err(&["grad", "x", "--at", "x=1", "--mode", "lex", "--directions", "1,2;3"], "directions");
}

/// sqrt(x^2) at 0: the derivative of sqrt at 0 is infinite, so no mode may print a number (issue 10:
/// lex used to print NaN with certificate exact and exit 0).
#[test]
fn non_finite_derivative_is_an_error_in_every_mode() {
    for mode in ["assoc", "lex", "safe"] {
        err(&["grad", "sqrt(x^2)", "--at", "x=0", "--mode", mode], "non-finite");
    }
}

/// A flag the mode does not use is refused, not ignored.
#[test]
fn options_of_other_modes_are_refused() {
    err(&["grad", "relu(x)", "--at", "x=0", "--mode", "assoc", "--seed", "5"], "seed");
    err(&["grad", "relu(x)", "--at", "x=0", "--mode", "safe", "--directions", "1"], "directions");
}

/// The human output prints the certificate on one line (its Display): relu(x) - relu(-x) at 0 hits
/// both relu kinks, and safe locks them.
#[test]
fn human_certificate_is_one_line() {
    let (code, out, e) = run(&["grad", "relu(x) - relu(-x)", "--at", "x=0"]);
    assert_eq!(code, 0, "{e}");
    let line = out.lines().find(|l| l.starts_with("certificate")).expect("a certificate line");
    assert!(line.contains("generalized (safe, minnorm): 2 kinks [relu 2], 2 locked, 0 unresolved"), "{line}");
    // the shared group: per-family overrides reach the representation
    let j = json(&["grad", "relu(x)", "--at", "x=0", "--mode", "assoc", "--kink-rule", "relu=0.25", "--json"]);
    assert_eq!(j["gradient"]["x"], 0.25);
    assert_eq!(j["certificate"]["representation"], "minnorm[relu=0.25]");
}

/// Issue 15: max of ten copies of x at x = 1 is x, derivative 1. The tie survives every direction
/// (the copies move together), and `safe` and `lex` give the whole weight to the first copy: exactly
/// 1 under every tie rule (the even split 10 * 0.1 would print 0.9999999999999999), in the human
/// output too; the surviving tie is counted.
#[test]
fn max_of_ten_copies_is_exactly_one_under_every_tie_rule() {
    let e = "max(x, x, x, x, x, x, x, x, x, x)";
    for ties in ["first", "last", "mean", "minnorm"] {
        for mode in ["safe", "lex"] {
            let j = json(&["grad", e, "--at", "x=1", "--mode", mode, "--max-ties", ties, "--json"]);
            assert_eq!(j["gradient"]["x"], 1.0, "{mode} --max-ties {ties}");
            assert_eq!(j["certificate"]["unresolved"], 1, "{mode} --max-ties {ties}");
            let (code, out, err) = run(&["grad", e, "--at", "x=1", "--mode", mode, "--max-ties", ties]);
            assert_eq!(code, 0, "{err}");
            let line = out.lines().find(|l| l.starts_with("d/dx")).expect("a d/dx line");
            assert_eq!(line.split_whitespace().nth(1), Some("1"), "{mode} --max-ties {ties}:\n{out}");
        }
    }
}
