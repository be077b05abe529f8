//! Fuzz target for the expression language, as a proptest property with a grammar-based generator
//! (numbers at the edges of f64, every registered function with its arity and constant parameters,
//! nesting, long chains) and character-level mutations of what it generates. The property: parse,
//! then record and differentiate in assoc and safe modes, gives `Ok` or a one-line error, never a
//! panic or a stack overflow.
//!
//! `cargo test` runs 2 000 cases; `KINKGRAD_FUZZ_CASES=100000 cargo test -p kinkgrad --lib
//! expr::fuzz` runs 100 000.

use crate::expr::{eval, parse, Expr};
use crate::primitive::functions;
use crate::{Mode, Tape, Tensor};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn cases() -> u32 {
    std::env::var("KINKGRAD_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["x", "y", "z", "x", "y"]).prop_map(str::to_string),
        prop::sample::select(vec!["0", "1", "2", "0.5", ".5", "1e308", "1e-320", "1e999", "3.", "1e", "00", "0.1e-5"])
            .prop_map(str::to_string),
        (0u32..1000).prop_map(|n| n.to_string()),
    ]
}

/// A call of a registered function with the right number of arguments (constant parameters last).
fn call(inner: BoxedStrategy<String>) -> impl Strategy<Value = String> {
    let n = functions::all().len();
    (0..n, prop::collection::vec(inner, 1..4), prop::sample::select(vec!["0.1", "1", "0", "-1", "1/0", "2"])).prop_map(
        |(i, mut args, param)| {
            let f = &functions::all()[i];
            let want = f.args.len().max(1);
            while args.len() < want {
                args.push(args[0].clone());
            }
            if !f.variadic {
                args.truncate(f.args.len());
            }
            args.extend(f.params.iter().map(|_| param.to_string()));
            format!("{}({})", f.name, args.join(", "))
        },
    )
}

fn expr() -> impl Strategy<Value = String> {
    leaf().prop_recursive(5, 32, 4, |inner| {
        let b = inner.clone().boxed();
        prop_oneof![
            (inner.clone(), prop::sample::select(vec!["+", "-", "*", "/"]), inner.clone())
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            inner.clone().prop_map(|a| format!("-{a}")),
            inner.clone().prop_map(|a| format!("({a})")),
            (inner.clone(), prop::sample::select(vec!["2", "-1", "0", "3", "99999999999", "2.5"]))
                .prop_map(|(a, n)| format!("({a})^{n}")),
            call(b),
            // a long flat chain
            (inner, 1usize..100).prop_map(|(a, n)| vec![format!("({a})"); n].join("+")),
        ]
    })
}

/// `src` with up to three characters inserted, deleted or replaced.
fn mutated() -> impl Strategy<Value = String> {
    (
        expr(),
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                0u8..3,
                prop::sample::select(vec!['(', ')', ',', '-', '^', 'x', '1', '.', 'e', ' ', '\n', 'é', '$']),
            ),
            0..3,
        ),
    )
        .prop_map(|(src, edits)| {
            let mut chars: Vec<char> = src.chars().collect();
            for (at, kind, c) in edits {
                let i = at.index(chars.len() + 1);
                match kind {
                    0 => chars.insert(i, c),
                    1 if i < chars.len() => {
                        chars.remove(i);
                    }
                    _ if i < chars.len() => chars[i] = c,
                    _ => {}
                }
            }
            chars.into_iter().collect()
        })
}

/// `c` as the command line prints it: a control character as its escape, any other as itself.
fn escape_control(c: char) -> Vec<char> {
    if c.is_control() {
        c.escape_default().collect()
    } else {
        vec![c]
    }
}

fn one_line(m: &str) {
    assert!(!m.is_empty() && !m.contains('\n'), "not one line: {m:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn expressions_never_panic(src in mutated(), at in prop::sample::select(vec![0.0, 1.0, -1.0, 0.5, 1e308, -2.0])) {
        let e = match parse(&src) {
            Ok(e) => e,
            Err(err) => {
                // the parser's own messages quote user text; front ends escape its control characters
                one_line(&err.to_string().chars().flat_map(escape_control).collect::<String>());
                return Ok(());
            }
        };
        for mode in [Mode::Assoc, Mode::safe()] {
            let tape = Tape::<f64>::new();
            let vars: BTreeMap<String, _> = e.variables().into_iter().map(|n| (n, tape.var(Tensor::scalar(at)))).collect();
            match eval(&e, &tape, &vars) {
                Ok(y) => {
                    let wrt: Vec<_> = vars.values().copied().collect();
                    if let Err(err) = tape.gradient(y, &wrt, &mode) {
                        one_line(&err.to_string());
                    }
                }
                Err(err) => one_line(&err.to_string()),
            }
        }
    }
}

/// A sum or product of 1 000 000 terms parses, is walked, evaluated, cloned, compared and dropped
/// on a 2 MiB stack: chains are flat, so no walk recurses along them. The value is the term count
/// (x = 1; each of x*x*...*x is 1), derived by hand.
#[test]
fn chains_of_a_million_terms_do_not_recurse() {
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            const N: usize = 1_000_000;
            for (sep, value, dx) in
                [("+", N as f64, N as f64), ("*", 1.0, N as f64), ("-", 2.0 - N as f64, 2.0 - N as f64)]
            {
                let src = vec!["x"; N].join(sep);
                let e = parse(&src).unwrap();
                assert_eq!(e.variables(), ["x"]);
                let copy = e.clone();
                assert_eq!(copy, e);
                let Expr::Chain(_, rest) = &e else { panic!("not a chain: {sep}") };
                assert_eq!(rest.len(), N - 1);
                let tape = crate::Tape::<f64>::new();
                let x = tape.var(crate::Tensor::scalar(1.0));
                let vars = std::collections::BTreeMap::from([("x".to_string(), x)]);
                let y = crate::expr::eval(&e, &tape, &vars).unwrap();
                assert_eq!(y.item().unwrap(), value, "{sep}");
                let g = tape.gradient(y, &[x], &crate::Mode::Assoc).unwrap();
                // d/dx of N x is N; of x^N is N x^(N-1) = N; of x - (N-1) x is 2 - N
                assert_eq!(g.values[0].item().unwrap(), dx, "{sep}");
            }
            // a chain inside each of 60 nested parentheses: flat chains under a bounded nesting
            let inner = vec!["x"; 10_000].join("+");
            let nested = format!("{}{inner}{}", "(".repeat(60), ")".repeat(60));
            assert_eq!(parse(&nested).unwrap().variables(), ["x"]);
        })
        .expect("spawn test thread");
    worker.join().expect("long-chain checks failed");
}
