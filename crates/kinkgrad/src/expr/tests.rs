use crate::expr::{parse, parse_bindings, BinOp, Expr, ParseError, ParseErrorKind};
use crate::primitive::functions::{self, Arity};

fn num(v: f64) -> Expr {
    Expr::Num(v)
}

fn var(name: &str) -> Expr {
    Expr::Var(name.to_string())
}

fn neg(e: Expr) -> Expr {
    Expr::Neg(Box::new(e))
}

fn bin(op: BinOp, lhs: Expr, rhs: Expr) -> Expr {
    lhs.then(op, rhs)
}

fn pow(base: Expr, n: i32) -> Expr {
    Expr::Pow(Box::new(base), n)
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Call(name.to_string(), args, vec![])
}

fn callp(name: &str, args: Vec<Expr>, params: Vec<f64>) -> Expr {
    Expr::Call(name.to_string(), args, params)
}

fn ok(src: &str) -> Expr {
    parse(src).unwrap_or_else(|e| panic!("parse({src:?}) failed: {e}"))
}

fn err(src: &str) -> ParseError {
    match parse(src) {
        Ok(e) => panic!("parse({src:?}) unexpectedly succeeded: {e:?}"),
        Err(e) => e,
    }
}

fn syntax_msg(e: &ParseError) -> &str {
    match &e.kind {
        ParseErrorKind::Syntax(msg) => msg,
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

// ---------------------------------------------------------------- structure

#[test]
fn mul_binds_tighter_than_add() {
    use BinOp::*;
    assert_eq!(ok("1 + 2 * 3"), bin(Add, num(1.0), bin(Mul, num(2.0), num(3.0))));
    assert_eq!(ok("a * b - c / d"), bin(Sub, bin(Mul, var("a"), var("b")), bin(Div, var("c"), var("d"))));
}

#[test]
fn additive_and_multiplicative_ops_are_left_associative() {
    use BinOp::*;
    assert_eq!(ok("a - b - c"), bin(Sub, bin(Sub, var("a"), var("b")), var("c")));
    assert_eq!(ok("a - b + c"), bin(Add, bin(Sub, var("a"), var("b")), var("c")));
    assert_eq!(ok("a / b * c"), bin(Mul, bin(Div, var("a"), var("b")), var("c")));
    assert_eq!(ok("a / b / c"), bin(Div, bin(Div, var("a"), var("b")), var("c")));
}

#[test]
fn parentheses_override_precedence() {
    use BinOp::*;
    assert_eq!(ok("2 * (a + b)"), bin(Mul, num(2.0), bin(Add, var("a"), var("b"))));
    assert_eq!(ok("a - (b - c)"), bin(Sub, var("a"), bin(Sub, var("b"), var("c"))));
    assert_eq!(ok("((x))"), var("x"));
}

#[test]
fn caret_binds_tighter_than_unary_minus() {
    assert_eq!(ok("-x^2"), neg(pow(var("x"), 2)));
    assert_eq!(ok("(-x)^2"), pow(neg(var("x")), 2));
    assert_eq!(ok("--x^3"), neg(neg(pow(var("x"), 3))));
}

#[test]
fn caret_accepts_negative_integer_exponent() {
    assert_eq!(ok("x^-1"), pow(var("x"), -1));
    assert_eq!(ok("x ^ - 2"), pow(var("x"), -2));
    assert_eq!(ok("-x^-3"), neg(pow(var("x"), -3)));
    assert_eq!(ok("(x^2)^3"), pow(pow(var("x"), 2), 3));
    assert_eq!(ok("x^0"), pow(var("x"), 0));
    assert_eq!(ok("x^-2147483648"), pow(var("x"), i32::MIN));
}

#[test]
fn caret_binds_tighter_than_mul_and_applies_to_call_results() {
    use BinOp::*;
    assert_eq!(ok("2 * x^2 / y"), bin(Div, bin(Mul, num(2.0), pow(var("x"), 2)), var("y")));
    assert_eq!(ok("relu(x)^2"), pow(call("relu", vec![var("x")]), 2));
}

#[test]
fn unary_minus_binds_tighter_than_mul_and_works_after_operators() {
    use BinOp::*;
    assert_eq!(ok("-a * b"), bin(Mul, neg(var("a")), var("b")));
    assert_eq!(ok("a * -b"), bin(Mul, var("a"), neg(var("b"))));
    assert_eq!(ok("a - -b"), bin(Sub, var("a"), neg(var("b"))));
    assert_eq!(ok("-a + b"), bin(Add, neg(var("a")), var("b")));
}

#[test]
fn numbers_decimal_and_scientific() {
    let cases = [
        ("1", 1.0),
        ("2.5", 2.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e-3", 1e-3),
        ("2.5E+4", 2.5e4),
        ("3e2", 300.0),
        ("0.125e1", 1.25),
        ("007", 7.0),
    ];
    for (src, value) in cases {
        assert_eq!(ok(src), num(value), "input {src:?}");
    }
    assert_eq!(ok("1e-3*x"), bin(BinOp::Mul, num(1e-3), var("x")));
    assert_eq!(ok("-2.5E+4"), neg(num(2.5e4)));
}

#[test]
fn variables_allow_digits_and_underscores() {
    use BinOp::*;
    assert_eq!(ok("w_1 * x2 + e"), bin(Add, bin(Mul, var("w_1"), var("x2")), var("e")));
}

#[test]
fn whitespace_is_allowed_anywhere_between_tokens() {
    assert_eq!(ok(" \t max ( x ,\n y ) \r\n"), call("max", vec![var("x"), var("y")]));
    assert_eq!(ok("x\u{00A0}^\u{2003}2"), pow(var("x"), 2));
}

/// Every function of the library's registry parses by name with its arity: fixed-arity ones with
/// their variable arguments and the sample values of their constant parameters, n-ary ones with 1
/// and 4 arguments; one argument too many (or none for an n-ary one) is an arity error naming the
/// expected count. A primitive added to the registry is covered here without editing this test.
#[test]
fn every_registry_function_parses_with_its_arity() {
    let x1 = || bin(BinOp::Add, var("x"), num(1.0));
    assert!(functions::all().len() >= 20, "registry has {} functions", functions::all().len());
    for f in functions::all() {
        let samples: Vec<f64> = f.params.iter().map(|p| p.sample).collect();
        let sample_text: Vec<String> = samples.iter().map(|v| format!("{v:?}")).collect();
        match f.arity() {
            Arity::Exactly(n) => {
                let k = n - f.params.len();
                let mut parts: Vec<String> = vec!["x + 1".to_string(); k];
                parts.extend(sample_text.iter().cloned());
                let src = format!("{}({})", f.name, parts.join(", "));
                assert_eq!(ok(&src), callp(&f.name, (0..k).map(|_| x1()).collect(), samples.clone()), "{src}");
                parts.push("y".into());
                let e = err(&format!("{}({})", f.name, parts.join(", ")));
                assert_eq!(
                    e.kind,
                    ParseErrorKind::Arity { name: f.name.clone(), expected: n.to_string(), found: n + 1 },
                    "{}",
                    f.name
                );
            }
            Arity::AtLeast(m) => {
                assert_eq!(m, 1, "{}", f.name);
                assert_eq!(ok(&format!("{}(a)", f.name)), call(&f.name, vec![var("a")]));
                assert_eq!(
                    ok(&format!("{}(a, 0, -b, c)", f.name)),
                    call(&f.name, vec![var("a"), num(0.0), neg(var("b")), var("c")]),
                    "function {}",
                    f.name
                );
                let e = err(&format!("{}()", f.name));
                assert_eq!(
                    e.to_string(),
                    format!("function '{}' takes at least 1 argument, found 0 (column 1)", f.name)
                );
            }
        }
    }
}

/// Every constant parameter of every registry function must be a finite constant within its range.
#[test]
fn every_constant_parameter_is_checked() {
    for f in functions::all().iter().filter(|f| !f.params.is_empty()) {
        let k = f.args.len();
        for (j, p) in f.params.iter().enumerate() {
            let with = |text: &str| {
                let mut parts: Vec<String> = vec!["x".to_string(); k];
                parts.extend(f.params.iter().enumerate().map(|(i, q)| {
                    if i == j {
                        text.to_string()
                    } else {
                        format!("{:?}", q.sample)
                    }
                }));
                format!("{}({})", f.name, parts.join(", "))
            };
            let e = err(&with("a"));
            assert_eq!(
                e.kind,
                ParseErrorKind::NonConstantArgument {
                    function: f.name.clone(),
                    argument: p.name.to_string(),
                    found: "variable 'a'".to_string()
                }
            );
            let e = err(&with("1/0"));
            assert!(matches!(e.kind, ParseErrorKind::NonFiniteConstant { .. }), "{e}");
            if p.range.0.is_finite() {
                let below = p.range.0 - 1.0;
                let e = err(&with(&format!("({below:?})")));
                let prefix = format!("the {} of '{}' must be {}", p.name, f.name, p.describe_range());
                assert!(e.to_string().starts_with(&prefix), "{e}");
            }
        }
    }
}

#[test]
fn max_min_variants_are_variadic() {
    for name in ["max", "max_first", "max_last", "max_mean", "min", "min_first", "min_last", "min_mean"] {
        assert_eq!(functions::lookup(name).map(|f| f.arity()), Some(Arity::AtLeast(1)), "{name}");
    }
}

#[test]
fn fixed_arity_functions_and_nested_calls() {
    assert_eq!(ok("minmod(a, b)"), call("minmod", vec![var("a"), var("b")]));
    assert_eq!(ok("clamp(x, -1, 1)"), call("clamp", vec![var("x"), neg(num(1.0)), num(1.0)]));
    assert_eq!(
        ok("abs(max(x, relu(y)))"),
        call("abs", vec![call("max", vec![var("x"), call("relu", vec![var("y")])])])
    );
}

#[test]
fn leaky_relu_keeps_only_x_and_evaluates_the_slope() {
    assert_eq!(ok("leaky_relu(x, 0.01)"), callp("leaky_relu", vec![var("x")], vec![0.01]));
    // -1/4 + 2^-1 = 0.25
    assert_eq!(
        ok("leaky_relu(x * y, -1/4 + 2^-1)"),
        callp("leaky_relu", vec![bin(BinOp::Mul, var("x"), var("y"))], vec![0.25])
    );
    assert_eq!(
        ok("leaky_relu(relu(x), -(3 - 1) * 1e-1)"),
        callp("leaky_relu", vec![call("relu", vec![var("x")])], vec![-0.2])
    );
}

#[test]
fn variables_are_sorted_and_deduplicated() {
    let e = ok("y*x + max(x, z_1, y) - leaky_relu(b2, 0.5) + x^2");
    assert_eq!(e.variables(), ["b2", "x", "y", "z_1"]);
    assert_eq!(ok("clamp(q, a, a)").variables(), ["a", "q"]);
    assert!(ok("exp(1) + 2^3 - leaky_relu(4, 0.1)").variables().is_empty());
}

// ------------------------------------------------------------------- errors

#[test]
fn error_unexpected_character() {
    let e = err("x + $");
    assert_eq!(e.column, 5);
    assert_eq!(e.kind, ParseErrorKind::UnexpectedChar('$'));
    assert_eq!(e.to_string(), "syntax error at column 5: unexpected character '$'");

    let e = err("2 * X");
    assert_eq!((e.column, &e.kind), (5, &ParseErrorKind::UnexpectedChar('X')));
    assert!(e.to_string().contains("lowercase"), "{e}");

    let e = err("_a");
    assert_eq!((e.column, &e.kind), (1, &ParseErrorKind::UnexpectedChar('_')));
}

#[test]
fn error_columns_count_chars_not_bytes() {
    // U+00A0 is two bytes in UTF-8 but one column.
    let e = err("x\u{00A0}+ é");
    assert_eq!((e.column, &e.kind), (5, &ParseErrorKind::UnexpectedChar('é')));
}

#[test]
fn leftmost_error_wins_over_later_bad_character() {
    let e = err("x + ) $");
    assert_eq!(e.column, 5);
    assert_eq!(syntax_msg(&e), "expected an expression but found ')'");
}

#[test]
fn error_unclosed_parenthesis() {
    let e = err("(x + 1");
    assert_eq!(e.column, 7);
    assert_eq!(
        e.to_string(),
        "syntax error at column 7: expected ')' but found end of input (to close '(' at column 1)"
    );

    let e = err("max(x, y");
    assert_eq!(e.column, 9);
    assert_eq!(
        syntax_msg(&e),
        "expected ',' or ')' in the arguments of 'max' (opened at column 4) but found end of input"
    );
}

#[test]
fn error_unmatched_closing_parenthesis() {
    let e = err("x + 1)");
    assert_eq!(e.column, 6);
    assert_eq!(syntax_msg(&e), "expected end of input but found ')' with no matching '('");
}

#[test]
fn error_trailing_garbage() {
    let e = err("x y");
    assert_eq!(e.column, 3);
    assert_eq!(e.to_string(), "syntax error at column 3: expected an operator or end of input but found 'y'");

    let e = err("2x");
    assert_eq!(e.column, 2);
    assert_eq!(syntax_msg(&e), "expected an operator or end of input but found 'x'");

    let e = err("(a b)");
    assert_eq!(e.column, 4);
    assert!(syntax_msg(&e).starts_with("expected ')' but found 'b'"), "{e}");
}

#[test]
fn error_missing_operand() {
    let e = err("x +");
    assert_eq!(e.column, 4);
    assert_eq!(syntax_msg(&e), "expected an expression but found end of input");

    let e = err("x * / y");
    assert_eq!(e.column, 5);
    assert_eq!(syntax_msg(&e), "expected an expression but found '/'");

    let e = err("max(x,)");
    assert_eq!(e.column, 7);
    assert_eq!(syntax_msg(&e), "expected an expression but found ')'");
}

#[test]
fn error_empty_input() {
    let e = err("");
    assert_eq!(e.column, 1);
    assert_eq!(
        e.to_string(),
        "syntax error at column 1: expected an expression but found end of input (the input is empty)"
    );
    let e = err("   ");
    assert_eq!(e.column, 4);
    assert!(syntax_msg(&e).ends_with("(the input is empty)"));
}

#[test]
fn error_unknown_function() {
    let e = err("foo(x)");
    assert_eq!(e.column, 1);
    assert_eq!(e.kind, ParseErrorKind::UnknownFunction("foo".to_string()));
    assert_eq!(e.to_string(), "unknown function 'foo' at column 1");

    let e = err("x + x(1)");
    assert_eq!((e.column, &e.kind), (5, &ParseErrorKind::UnknownFunction("x".into())));
}

#[test]
fn error_function_name_without_call() {
    let e = err("relu + 1");
    assert_eq!(e.column, 6);
    assert_eq!(syntax_msg(&e), "expected '(' after function name 'relu' but found '+'");
}

#[test]
fn error_wrong_arity() {
    let e = err("minmod(x, y, z)");
    assert_eq!(e.column, 1);
    assert_eq!(e.kind, ParseErrorKind::Arity { name: "minmod".to_string(), expected: "2".to_string(), found: 3 });
    assert_eq!(e.to_string(), "function 'minmod' takes 2 arguments, found 3 (column 1)");

    let e = err("1 + relu()");
    assert_eq!(e.column, 5);
    assert_eq!(e.to_string(), "function 'relu' takes 1 argument, found 0 (column 5)");

    let e = err("max_mean()");
    assert_eq!(e.to_string(), "function 'max_mean' takes at least 1 argument, found 0 (column 1)");

    let e = err("clamp(x, 0)");
    assert!(matches!(
        &e.kind,
        ParseErrorKind::Arity { name, expected, found: 2 } if name == "clamp" && expected == "3"
    ));

    let e = err("leaky_relu(x)");
    assert!(matches!(
        &e.kind,
        ParseErrorKind::Arity { name, expected, found: 1 } if name == "leaky_relu" && expected == "2"
    ));
}

#[test]
fn error_non_integer_exponent() {
    let cases = [
        ("x^2.5", 3, "'2.5'"),
        ("x^y", 3, "'y'"),
        ("x^(2)", 3, "'('"),
        ("x^1e2", 3, "'1e2'"),
        ("x^-y", 4, "'y'"),
        ("x^", 3, "end of input"),
        ("x^+2", 3, "'+'"),
    ];
    for (src, column, found) in cases {
        let e = err(src);
        assert_eq!(e.column, column, "input {src:?}");
        assert_eq!(e.kind, ParseErrorKind::NonIntegerExponent(found.to_string()), "input {src:?}");
    }
    assert_eq!(
        err("x^2.5").to_string(),
        "invalid exponent at column 3: '^' must be followed by an integer literal \
         such as 2 or -1, found '2.5'"
    );
}

#[test]
fn error_exponent_out_of_range() {
    let e = err("x^3000000000");
    assert_eq!(e.column, 3);
    assert_eq!(e.kind, ParseErrorKind::ExponentOutOfRange("3000000000".to_string()));
}

#[test]
fn error_chained_caret() {
    let e = err("x^2^3");
    assert_eq!(e.column, 4);
    assert!(syntax_msg(&e).contains("cannot be chained"), "{e}");
}

#[test]
fn error_leaky_relu_variable_slope() {
    let e = err("leaky_relu(x, 0.1*a)");
    assert_eq!(e.column, 19);
    assert_eq!(
        e.kind,
        ParseErrorKind::NonConstantArgument {
            function: "leaky_relu".to_string(),
            argument: "slope".to_string(),
            found: "variable 'a'".to_string(),
        }
    );
    assert_eq!(
        e.to_string(),
        "the slope of 'leaky_relu' must be a constant expression (numbers and arithmetic only), \
         found variable 'a' (column 19)"
    );

    let e = err("leaky_relu(y, exp(1))");
    assert_eq!(e.column, 15);
    assert!(matches!(
        &e.kind,
        ParseErrorKind::NonConstantArgument { found, .. } if found == "a call to 'exp'"
    ));

    // Variables in x are fine; only the slope is checked.
    let e = err("leaky_relu(leaky_relu(x, 0.5), z)");
    assert_eq!(e.column, 32);
}

#[test]
fn error_leaky_relu_non_finite_slope() {
    let e = err("leaky_relu(x, 1/0)");
    assert_eq!(e.column, 15);
    assert_eq!(
        e.kind,
        ParseErrorKind::NonFiniteConstant {
            function: "leaky_relu".to_string(),
            argument: "slope".to_string(),
            value: f64::INFINITY,
        }
    );
}

#[test]
fn error_invalid_numbers() {
    let cases = [
        ("1e", 1, "1e", "the exponent after 'e' has no digits"),
        ("x + 2.5E+", 5, "2.5E+", "the exponent after 'e' has no digits"),
        ("x * .", 5, ".", "a number needs at least one digit"),
        ("1e400", 1, "1e400", "out of range for a 64-bit float"),
    ];
    for (src, column, text, reason) in cases {
        let e = err(src);
        assert_eq!(e.column, column, "input {src:?}");
        assert_eq!(
            e.kind,
            ParseErrorKind::InvalidNumber { text: text.to_string(), reason: reason.to_string() },
            "input {src:?}"
        );
    }
    assert_eq!(err("1e").to_string(), "invalid number '1e' at column 1: the exponent after 'e' has no digits");
}

#[test]
fn deep_nesting_is_rejected_without_overflowing_the_stack() {
    // Run on an explicit 2 MiB stack (the default for spawned threads) so the
    // test does not depend on RUST_MIN_STACK; debug-build frames are largest.
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let parens = format!("{}x{}", "(".repeat(64), ")".repeat(64));
            assert_eq!(ok(&parens), var("x"));
            let calls = format!("{}x{}", "relu(".repeat(64), ")".repeat(64));
            assert_eq!(ok(&calls).variables(), ["x"]);

            let e = err(&"(".repeat(100_000));
            assert_eq!(e.column, 65);
            assert_eq!(syntax_msg(&e), "expression is nested too deeply (more than 64 levels)");

            let too_many_calls = format!("{}x{}", "relu(".repeat(65), ")".repeat(65));
            let e = err(&too_many_calls);
            assert_eq!(e.column, 5 * 64 + 5);
            assert!(syntax_msg(&e).contains("nested too deeply"), "{e}");

            let e = err(&format!("{}x", "-".repeat(100_000)));
            assert_eq!(e.column, 65);
            assert!(syntax_msg(&e).contains("nested too deeply"), "{e}");
        })
        .expect("spawn test thread");
    worker.join().expect("deep-nesting checks failed");
}

#[test]
fn parse_error_is_a_std_error() {
    let boxed: Box<dyn std::error::Error> = Box::new(err("foo(1)"));
    assert_eq!(boxed.to_string(), "unknown function 'foo' at column 1");
}

// ----------------------------------------------------------------- bindings

#[test]
fn bindings_parse_in_order() {
    assert_eq!(parse_bindings("x=0,y=1.5").unwrap(), vec![("x".to_string(), 0.0), ("y".to_string(), 1.5)]);
    assert_eq!(
        parse_bindings(" a = -2.5e-3 , b_2=+4 , c1=1E3, d=.5 ").unwrap(),
        vec![("a".to_string(), -2.5e-3), ("b_2".to_string(), 4.0), ("c1".to_string(), 1000.0), ("d".to_string(), 0.5),]
    );
}

#[test]
fn bindings_missing_equals() {
    let msg = parse_bindings("x=1,y2").unwrap_err();
    assert_eq!(msg, "binding 'y2' is missing '='; expected name=value, e.g. x=0");
}

#[test]
fn bindings_duplicate_name() {
    let msg = parse_bindings("x=1, y=2, x=3").unwrap_err();
    assert_eq!(msg, "variable 'x' is bound more than once (again in 'x=3')");
}

#[test]
fn bindings_bad_numbers() {
    let cases = [
        ("x=abc", "invalid number 'abc' in binding 'x=abc'"),
        ("x=1.2.3", "invalid number '1.2.3' in binding 'x=1.2.3'"),
        ("x=inf", "invalid number 'inf' in binding 'x=inf'"),
        ("x=nan", "invalid number 'nan' in binding 'x=nan'"),
        ("x=1=2", "invalid number '1=2' in binding 'x=1=2'"),
        ("x=--1", "invalid number '--1' in binding 'x=--1'"),
        ("x=1e", "invalid number '1e' in binding 'x=1e'"),
        ("x=1e999", "invalid number '1e999' in binding 'x=1e999'"),
    ];
    for (input, prefix) in cases {
        let msg = parse_bindings(input).unwrap_err();
        assert!(msg.starts_with(prefix), "{input:?} gave {msg:?}");
    }
    assert!(parse_bindings("x=1e999").unwrap_err().ends_with("out of range for a 64-bit float"));
    assert!(parse_bindings("x=1e").unwrap_err().ends_with("the exponent after 'e' has no digits"));
}

#[test]
fn bindings_bad_names_and_empty_pieces() {
    assert_eq!(
        parse_bindings("X=1").unwrap_err(),
        "invalid variable name 'X' in binding 'X=1': names must match [a-z][a-z0-9_]*"
    );
    assert!(parse_bindings("1x=1").unwrap_err().starts_with("invalid variable name '1x'"));
    assert_eq!(parse_bindings("=1").unwrap_err(), "binding '=1' has no variable name before '='");
    assert_eq!(parse_bindings("x=").unwrap_err(), "binding 'x=' has no value after '='");
    assert_eq!(
        parse_bindings("x=1,,y=2").unwrap_err(),
        "empty binding at position 2 in 'x=1,,y=2'; expected name=value"
    );
    assert_eq!(parse_bindings("x=1,").unwrap_err(), "empty binding at position 2 in 'x=1,'; expected name=value");
    assert_eq!(parse_bindings("  ").unwrap_err(), "no bindings given; expected a list like 'x=0,y=1.5'");
}
