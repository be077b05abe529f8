//! Parser for the expression language of the `kinkgrad grad` command.
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
//! Known functions: `relu`, `abs`, `exp`, `log`, `sqrt`, `sin`, `cos`, `tanh`,
//! `sigmoid`, `softplus` (one argument each); `max`, `min`, `max_first`,
//! `max_last`, `max_mean`, `min_first`, `min_last`, `min_mean` (one or more
//! arguments); `minmod(a, b)`; `clamp(x, lo, hi)`; `leaky_relu(x, slope)` where
//! `slope` must be a constant expression that is evaluated at parse time.
//! Function names are reserved: they cannot be used as variables.
//!
//! ```text
//! use expr::{parse, BinOp, Expr};
//!
//! let e = parse("-x^2 + 1").unwrap();
//! assert_eq!(
//!     e,
//!     Expr::Bin(
//!         BinOp::Add,
//!         Box::new(Expr::Neg(Box::new(Expr::Pow(Box::new(Expr::Var("x".into())), 2)))),
//!         Box::new(Expr::Num(1.0)),
//!     )
//! );
//! assert_eq!(e.variables(), vec!["x".to_string()]);
//! ```

mod bindings;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;

pub use bindings::parse_bindings;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A numeric literal.
    Num(f64),
    /// A variable reference, e.g. `x` or `w_1`.
    Var(String),
    /// Unary negation, `-e`.
    Neg(Box<Expr>),
    /// A binary arithmetic operation, `lhs op rhs`.
    Bin(BinOp, Box<Expr>, Box<Expr>),
    /// A power with an integer exponent, `base ^ n`.
    Pow(Box<Expr>, i32),
    /// A call of a known function. The argument count has already been checked
    /// against the function's arity; for [`Func::LeakyRelu`] the vector holds
    /// only the `x` argument (the slope lives in the `Func` value).
    Call(Func, Vec<Expr>),
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

/// A known function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Func {
    /// `relu(x)`, one argument.
    Relu,
    /// `abs(x)`, one argument.
    Abs,
    /// `exp(x)`, one argument.
    Exp,
    /// `log(x)`, one argument.
    Log,
    /// `sqrt(x)`, one argument.
    Sqrt,
    /// `sin(x)`, one argument.
    Sin,
    /// `cos(x)`, one argument.
    Cos,
    /// `tanh(x)`, one argument.
    Tanh,
    /// `sigmoid(x)`, one argument.
    Sigmoid,
    /// `softplus(x)`, one argument.
    Softplus,
    /// `max`, `max_first`, `max_last` or `max_mean`: one or more arguments.
    Max(TieName),
    /// `min`, `min_first`, `min_last` or `min_mean`: one or more arguments.
    Min(TieName),
    /// `minmod(a, b)`, two arguments.
    Minmod,
    /// `clamp(x, lo, hi)`, three arguments.
    Clamp,
    /// `leaky_relu(x, slope)`: the constant slope, evaluated at parse time.
    /// The corresponding [`Expr::Call`] holds only `x`.
    LeakyRelu(f64),
}

/// How a `max`/`min` variant breaks ties, as selected by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieName {
    /// Plain `max` / `min`: the tie rule comes from command-line flags.
    FromFlags,
    /// `max_first` / `min_first`.
    First,
    /// `max_last` / `min_last`.
    Last,
    /// `max_mean` / `min_mean`.
    Mean,
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
/// use expr::{parse, Expr, Func, ParseErrorKind};
///
/// let e = parse("leaky_relu(x, 1/10)").unwrap();
/// assert_eq!(e, Expr::Call(Func::LeakyRelu(0.1), vec![Expr::Var("x".into())]));
///
/// let err = parse("minmod(a, b, c)").unwrap_err();
/// assert_eq!(err.to_string(), "function 'minmod' takes 2 arguments, found 3 (column 1)");
/// assert!(matches!(err.kind, ParseErrorKind::Arity { found: 3, .. }));
/// ```
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    parser::parse(src)
}

impl Expr {
    /// The names of all variables in the expression, sorted and deduplicated.
    pub fn variables(&self) -> Vec<String> {
        fn walk<'a>(e: &'a Expr, out: &mut BTreeSet<&'a str>) {
            match e {
                Expr::Num(_) => {}
                Expr::Var(name) => {
                    out.insert(name);
                }
                Expr::Neg(inner) | Expr::Pow(inner, _) => walk(inner, out),
                Expr::Bin(_, lhs, rhs) => {
                    walk(lhs, out);
                    walk(rhs, out);
                }
                Expr::Call(_, args) => args.iter().for_each(|a| walk(a, out)),
            }
        }
        let mut names = BTreeSet::new();
        walk(self, &mut names);
        names.into_iter().map(str::to_string).collect()
    }
}
