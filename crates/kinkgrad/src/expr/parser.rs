//! Recursive-descent parser over the tokens from [`crate::expr::lexer`].

use crate::expr::lexer::{tokenize, Tok, Token};
use crate::expr::{BinOp, Expr, ParseError, ParseErrorKind};
use crate::primitive::functions::{self, Function};

/// Maximum nesting of parentheses, calls and unary minus. Keeps hostile input
/// from overflowing the stack; far beyond anything written by hand.
const MAX_DEPTH: usize = 64;

/// The function named `name` in the library's registry.
fn lookup(name: &str) -> Option<&'static Function> {
    functions::lookup(name)
}

/// Evaluates a constant expression; `None` if it contains a variable or call.
fn eval_const(e: &Expr) -> Option<f64> {
    Some(match e {
        Expr::Num(v) => *v,
        Expr::Neg(inner) => -eval_const(inner)?,
        Expr::Chain(first, rest) => {
            let mut a = eval_const(first)?;
            for (op, e) in rest {
                let b = eval_const(e)?;
                a = match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    BinOp::Div => a / b,
                };
            }
            a
        }
        Expr::Pow(base, n) => eval_const(base)?.powi(*n),
        Expr::Var(_) | Expr::Call(..) => return None,
    })
}

fn syntax(column: usize, msg: String) -> ParseError {
    ParseError { column, kind: ParseErrorKind::Syntax(msg) }
}

struct Parser {
    tokens: Vec<Token>,
    lex_error: Option<ParseError>,
    pos: usize,
    depth: usize,
    /// Every variable and call parsed so far, in source order, as
    /// (column, description). Used to point at the first non-constant part of
    /// an argument that must be constant.
    non_constant: Vec<(usize, String)>,
}

pub(crate) fn parse(src: &str) -> Result<Expr, ParseError> {
    let lexed = tokenize(src);
    let mut p = Parser { tokens: lexed.tokens, lex_error: lexed.error, pos: 0, depth: 0, non_constant: Vec::new() };
    let first = p.peek()?;
    if first.tok == Tok::End {
        return Err(syntax(
            first.column,
            "expected an expression but found end of input (the input is empty)".to_string(),
        ));
    }
    let e = p.expr()?;
    let t = p.peek()?;
    match t.tok {
        Tok::End => Ok(e),
        Tok::RParen => Err(syntax(t.column, "expected end of input but found ')' with no matching '('".to_string())),
        other => Err(syntax(t.column, format!("expected an operator or end of input but found {}", other.describe()))),
    }
}

impl Parser {
    /// The token at `pos + ahead`, or the pending lexer error if that is where
    /// lexing stopped.
    fn peek_at(&self, ahead: usize) -> Result<Token, ParseError> {
        match self.tokens.get(self.pos + ahead) {
            Some(t) => Ok(t.clone()),
            None => Err(self.lex_error.clone().expect("token stream without End must carry a lexer error")),
        }
    }

    fn peek(&self) -> Result<Token, ParseError> {
        self.peek_at(0)
    }

    fn enter(&mut self, column: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(syntax(column, format!("expression is nested too deeply (more than {MAX_DEPTH} levels)")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// expr := product (('+' | '-') product)*
    fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.product()?;
        loop {
            let op = match self.peek()?.tok {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.product()?;
            lhs = lhs.then(op, rhs);
        }
    }

    /// product := unary (('*' | '/') unary)*
    fn product(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek()?.tok {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.unary()?;
            lhs = lhs.then(op, rhs);
        }
    }

    /// unary := '-' unary | power
    fn unary(&mut self) -> Result<Expr, ParseError> {
        let t = self.peek()?;
        if t.tok != Tok::Minus {
            return self.power();
        }
        self.pos += 1;
        self.enter(t.column)?;
        let inner = self.unary()?;
        self.leave();
        Ok(Expr::Neg(Box::new(inner)))
    }

    /// power := primary ('^' '-'? INTEGER)?
    fn power(&mut self) -> Result<Expr, ParseError> {
        let base = self.primary()?;
        if self.peek()?.tok != Tok::Caret {
            return Ok(base);
        }
        self.pos += 1;
        let n = self.exponent()?;
        let next = self.peek()?;
        if next.tok == Tok::Caret {
            return Err(syntax(next.column, "'^' cannot be chained; add parentheses, e.g. (x^2)^3".to_string()));
        }
        Ok(Expr::Pow(Box::new(base), n))
    }

    /// The integer literal after '^', optionally negated.
    fn exponent(&mut self) -> Result<i32, ParseError> {
        let mut t = self.peek()?;
        let negative = t.tok == Tok::Minus;
        if negative {
            self.pos += 1;
            t = self.peek()?;
        }
        match t.tok {
            Tok::Num { text, .. } if text.chars().all(|c| c.is_ascii_digit()) => {
                self.pos += 1;
                let signed = if negative { format!("-{text}") } else { text };
                signed
                    .parse::<i32>()
                    .map_err(|_| ParseError { column: t.column, kind: ParseErrorKind::ExponentOutOfRange(signed) })
            }
            other => Err(ParseError { column: t.column, kind: ParseErrorKind::NonIntegerExponent(other.describe()) }),
        }
    }

    /// primary := NUMBER | VARIABLE | NAME '(' args ')' | '(' expr ')'
    fn primary(&mut self) -> Result<Expr, ParseError> {
        let t = self.peek()?;
        match t.tok {
            Tok::Num { value, .. } => {
                self.pos += 1;
                Ok(Expr::Num(value))
            }
            Tok::Ident(name) => {
                self.pos += 1;
                let next = self.peek()?;
                if next.tok == Tok::LParen {
                    return self.call(name, t.column);
                }
                if lookup(&name).is_some() {
                    return Err(syntax(
                        next.column,
                        format!("expected '(' after function name '{name}' but found {}", next.tok.describe()),
                    ));
                }
                self.non_constant.push((t.column, format!("variable '{name}'")));
                Ok(Expr::Var(name))
            }
            Tok::LParen => {
                self.pos += 1;
                self.enter(t.column)?;
                let inner = self.expr()?;
                self.leave();
                let close = self.peek()?;
                if close.tok != Tok::RParen {
                    return Err(syntax(
                        close.column,
                        format!(
                            "expected ')' but found {} (to close '(' at column {})",
                            close.tok.describe(),
                            t.column
                        ),
                    ));
                }
                self.pos += 1;
                Ok(inner)
            }
            other => Err(syntax(t.column, format!("expected an expression but found {}", other.describe()))),
        }
    }

    /// A call `name(args)`; the current token is the '('.
    fn call(&mut self, name: String, column: usize) -> Result<Expr, ParseError> {
        let Some(func) = lookup(&name) else {
            return Err(ParseError { column, kind: ParseErrorKind::UnknownFunction(name) });
        };
        self.non_constant.push((column, format!("a call to '{name}'")));
        let open = self.peek()?;
        self.pos += 1;
        self.enter(open.column)?;

        let mut args = Vec::new();
        // Per argument: (column where it starts, range in `non_constant`).
        let mut spans = Vec::new();
        if self.peek()?.tok == Tok::RParen {
            self.pos += 1;
        } else {
            loop {
                let start = self.peek()?.column;
                let first_nc = self.non_constant.len();
                args.push(self.expr()?);
                spans.push((start, first_nc..self.non_constant.len()));
                let t = self.peek()?;
                match t.tok {
                    Tok::Comma => self.pos += 1,
                    Tok::RParen => {
                        self.pos += 1;
                        break;
                    }
                    other => {
                        return Err(syntax(
                            t.column,
                            format!(
                                "expected ',' or ')' in the arguments of '{name}' \
                                 (opened at column {}) but found {}",
                                open.column,
                                other.describe()
                            ),
                        ))
                    }
                }
            }
        }
        self.leave();

        let arity = func.arity();
        if !arity.accepts(args.len()) {
            return Err(ParseError {
                column,
                kind: ParseErrorKind::Arity { name, expected: arity.describe(), found: args.len() },
            });
        }

        // constant parameters: the last `params.len()` arguments
        let first_param = args.len() - func.params.len();
        let mut values = Vec::with_capacity(func.params.len());
        for (k, param) in func.params.iter().enumerate() {
            let (param_column, nc_range) = spans[first_param + k].clone();
            let non_constant = |found: String, column: usize| ParseError {
                column,
                kind: ParseErrorKind::NonConstantArgument {
                    function: name.clone(),
                    argument: param.name.to_string(),
                    found,
                },
            };
            if let Some((col, found)) = self.non_constant[nc_range].first() {
                return Err(non_constant(found.clone(), *col));
            }
            let Some(value) = eval_const(&args[first_param + k]) else {
                return Err(non_constant("a non-constant term".to_string(), param_column));
            };
            if !value.is_finite() {
                return Err(ParseError {
                    column: param_column,
                    kind: ParseErrorKind::NonFiniteConstant { function: name, argument: param.name.to_string(), value },
                });
            }
            if value < param.range.0 || value > param.range.1 {
                return Err(ParseError {
                    column: param_column,
                    kind: ParseErrorKind::ParamOutOfRange {
                        function: name,
                        argument: param.name.to_string(),
                        value,
                        range: param.describe_range(),
                    },
                });
            }
            values.push(value);
        }
        args.truncate(first_param);
        Ok(Expr::Call(name, args, values))
    }
}
