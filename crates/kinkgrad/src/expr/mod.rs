//! The expression language of `kinkgrad grad` (and of `kinkgrad.grad` in Python): lexer, parser, evaluation on a tape.
//!
//! # Grammar
//!
//! ```text
//! expr     := product (('+' | '-') product)*          left-associative
//! product  := unary (('*' | '/') unary)*              left-associative
//! unary    := '-' unary | power
//! power    := primary ('^' '-'? INTEGER)?            '^' binds tighter than unary minus
//! primary  := NUMBER | VARIABLE | NAME '(' args ')' | '(' expr ')'
//! args     := expr (',' expr)*
//! NUMBER   := digits ('.' digits?)? exponent? | '.' digits exponent?
//! exponent := ('e' | 'E') ('+' | '-')? digits
//! VARIABLE := [a-z][a-z0-9_]*
//! ```
//!
//! Whitespace is allowed between any two tokens. `-x^2` parses as `-(x^2)`, and
//! the right-hand side of `^` must be an integer literal, optionally preceded by
//! a unary minus (`x^2`, `x^-1`); `^` cannot be chained without parentheses.
//!
//! Known functions: those of the library's function registry
//! (`kinkgrad::primitive::functions`: smooth functions, n-ary `max`/`min` and
//! their tie-fixed variants, every registered primitive), listed with their
//! one-line docs by `kinkgrad grad --help`. Constant parameters (the `slope` of
//! `leaky_relu(x, slope)`) are written after the arguments and must be constant
//! expressions, evaluated at parse time and checked against their range.
//! Function names are reserved: they cannot be used as variables.
//!
//! ```text
//! use kinkgrad::expr::{parse, BinOp, Expr};
//!
//! let e = parse("-x^2 + 1").unwrap();
//! assert_eq!(
//!     e,
//!     Expr::Chain(
//!         Box::new(Expr::Neg(Box::new(Expr::Pow(Box::new(Expr::Var("x".into())), 2)))),
//!         vec![(BinOp::Add, Expr::Num(1.0))],
//!     )
//! );
//! assert_eq!(e.variables(), vec!["x".to_string()]);
//! ```

mod bindings;
mod differentiate;
mod eval;
#[cfg(test)]
mod fuzz;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;

pub use bindings::parse_bindings;
pub use differentiate::{differentiate, ExprGradient};
pub use eval::{eval, functions_help};

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A numeric literal.
    Num(f64),
    /// A variable reference, e.g. `x` or `w_1`.
    Var(String),
    /// Unary negation, `-e`.
    Neg(Box<Expr>),
    /// A left-associative chain of binary operations of one precedence level, `first op1 e1 op2 e2
    /// ...` (sums and differences, or products and quotients), evaluated left to right. Chains are
    /// flat, so the depth of the tree grows with the nesting of parentheses, calls and unary minus
    /// (bounded by the parser), never with the length of the expression: every walk over it
    /// (evaluate, collect variables, clone, compare, drop) recurses at most that deep.
    Chain(Box<Expr>, Vec<(BinOp, Expr)>),
    /// A power with an integer exponent, `base ^ n`.
    Pow(Box<Expr>, i32),
    /// A call of a known function: its name (in the library's function
    /// registry), the variable arguments (the count has been checked against the
    /// function's arity) and the values of its constant parameters, evaluated at
    /// parse time (`leaky_relu(x, 0.1)`: args `[x]`, params `[0.1]`).
    Call(String, Vec<Expr>, Vec<f64>),
}

/// A binary arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// Addition, `+`.
    Add,
    /// Subtraction, `-`.
    Sub,
    /// Multiplication, `*`.
    Mul,
    /// Division, `/`.
    Div,
}

/// An error from [`parse`], with the 1-based character column it refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// 1-based column, counted in Unicode scalar values (not bytes). For
    /// errors at the end of the input this is one past the last character.
    pub column: usize,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

/// The kind of a [`ParseError`].
#[derive(Debug, Clone, PartialEq)]
pub enum ParseErrorKind {
    /// A token was not valid at this point; the message says what was expected
    /// and what was found (e.g. `expected ')' but found end of input`).
    Syntax(String),
    /// A character that cannot start any token (e.g. `$`, `X`, `_`).
    UnexpectedChar(char),
    /// A malformed or out-of-range numeric literal.
    InvalidNumber {
        /// The literal as written.
        text: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A call of a function that is not known.
    UnknownFunction(String),
    /// A known function called with the wrong number of arguments.
    Arity {
        /// The function name as written.
        name: String,
        /// The accepted count, e.g. `"2"` or `"at least 1"`.
        expected: String,
        /// The number of arguments actually given.
        found: usize,
    },
    /// The right-hand side of `^` is not an integer literal; holds a
    /// description of what was found instead (e.g. `'2.5'`, `'y'`).
    NonIntegerExponent(String),
    /// An integer exponent that does not fit in an `i32`; holds the literal.
    ExponentOutOfRange(String),
    /// An argument that must be constant (the slope of `leaky_relu`) mentions
    /// a variable or a function call.
    NonConstantArgument {
        /// The function name, e.g. `leaky_relu`.
        function: String,
        /// Which argument, e.g. `slope`.
        argument: String,
        /// The first non-constant part, e.g. `variable 'a'`.
        found: String,
    },
    /// A constant argument outside its declared range (a negative `lambda`).
    ParamOutOfRange {
        /// The function name.
        function: String,
        /// Which argument.
        argument: String,
        /// The value it evaluated to.
        value: f64,
        /// The range, as the library describes it (`>= 0`).
        range: String,
    },
    /// A constant argument evaluated to infinity or NaN (e.g. `1/0`).
    NonFiniteConstant {
        /// The function name, e.g. `leaky_relu`.
        function: String,
        /// Which argument, e.g. `slope`.
        argument: String,
        /// The value it evaluated to.
        value: f64,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let col = self.column;
        match &self.kind {
            ParseErrorKind::Syntax(msg) => write!(f, "syntax error at column {col}: {msg}"),
            ParseErrorKind::UnexpectedChar(c) => {
                write!(f, "syntax error at column {col}: unexpected character {c:?}")?;
                if c.is_ascii_uppercase() {
                    write!(f, " (names must be lowercase: [a-z][a-z0-9_]*)")?;
                }
                Ok(())
            }
            ParseErrorKind::InvalidNumber { text, reason } => {
                write!(f, "invalid number '{text}' at column {col}: {reason}")
            }
            ParseErrorKind::UnknownFunction(name) => {
                write!(f, "unknown function '{name}' at column {col}")
            }
            ParseErrorKind::Arity { name, expected, found } => {
                let noun = if expected == "1" || expected.ends_with(" 1") { "argument" } else { "arguments" };
                write!(f, "function '{name}' takes {expected} {noun}, found {found} (column {col})")
            }
            ParseErrorKind::NonIntegerExponent(found) => write!(
                f,
                "invalid exponent at column {col}: '^' must be followed by an integer \
                 literal such as 2 or -1, found {found}"
            ),
            ParseErrorKind::ExponentOutOfRange(text) => {
                write!(f, "exponent {text} at column {col} is out of range for a 32-bit integer")
            }
            ParseErrorKind::NonConstantArgument { function, argument, found } => write!(
                f,
                "the {argument} of '{function}' must be a constant expression \
                 (numbers and arithmetic only), found {found} (column {col})"
            ),
            ParseErrorKind::ParamOutOfRange { function, argument, value, range } => {
                write!(f, "the {argument} of '{function}' must be {range}, found {value} (column {col})")
            }
            ParseErrorKind::NonFiniteConstant { function, argument, value } => write!(
                f,
                "the {argument} of '{function}' evaluates to {value}, which is not a \
                 finite number (column {col})"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses an expression of the `kinkgrad grad` language.
///
/// Returns the first (leftmost) error found, with its 1-based character column.
///
/// ```
/// use kinkgrad::expr::{parse, Expr, ParseErrorKind};
///
/// let e = parse("leaky_relu(x, 1/10)").unwrap();
/// assert_eq!(e, Expr::Call("leaky_relu".into(), vec![Expr::Var("x".into())], vec![0.1]));
///
/// let err = parse("minmod(a, b, c)").unwrap_err();
/// assert_eq!(err.to_string(), "function 'minmod' takes 2 arguments, found 3 (column 1)");
/// assert!(matches!(err.kind, ParseErrorKind::Arity { found: 3, .. }));
/// ```
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    parser::parse(src)
}

impl BinOp {
    /// Whether `self` and `other` have the same precedence (both additive or both multiplicative).
    fn same_level(self, other: BinOp) -> bool {
        matches!(self, BinOp::Add | BinOp::Sub) == matches!(other, BinOp::Add | BinOp::Sub)
    }
}

impl Expr {
    /// `self op rhs`, appended to `self`'s chain when it is a chain of the same precedence (`(a + b)
    /// - c` and `a + b - c` are the same left-to-right computation), a new chain otherwise.
    pub fn then(self, op: BinOp, rhs: Expr) -> Expr {
        match self {
            Expr::Chain(first, mut rest) if rest.first().is_some_and(|(o, _)| o.same_level(op)) => {
                rest.push((op, rhs));
                Expr::Chain(first, rest)
            }
            lhs => Expr::Chain(Box::new(lhs), vec![(op, rhs)]),
        }
    }

    /// The names of all variables in the expression, sorted and deduplicated.
    pub fn variables(&self) -> Vec<String> {
        fn walk<'a>(e: &'a Expr, out: &mut BTreeSet<&'a str>) {
            match e {
                Expr::Num(_) => {}
                Expr::Var(name) => {
                    out.insert(name);
                }
                Expr::Neg(inner) | Expr::Pow(inner, _) => walk(inner, out),
                Expr::Chain(first, rest) => {
                    walk(first, out);
                    rest.iter().for_each(|(_, e)| walk(e, out));
                }
                Expr::Call(_, args, _) => args.iter().for_each(|a| walk(a, out)),
            }
        }
        let mut names = BTreeSet::new();
        walk(self, &mut names);
        names.into_iter().map(str::to_string).collect()
    }
}
