//! Tokenizer. Columns are 1-based and counted in `char`s.

use crate::expr::{ParseError, ParseErrorKind};

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A numeric literal with its value and its text as written.
    Num {
        value: f64,
        text: String,
    },
    /// A name: a variable or a function name.
    Ident(String),
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    LParen,
    RParen,
    Comma,
    End,
}

impl Tok {
    /// How the token is shown in error messages.
    pub(crate) fn describe(&self) -> String {
        let s = match self {
            Tok::Num { text, .. } => return format!("'{text}'"),
            Tok::Ident(name) => return format!("'{name}'"),
            Tok::Plus => "'+'",
            Tok::Minus => "'-'",
            Tok::Star => "'*'",
            Tok::Slash => "'/'",
            Tok::Caret => "'^'",
            Tok::LParen => "'('",
            Tok::RParen => "')'",
            Tok::Comma => "','",
            Tok::End => "end of input",
        };
        s.to_string()
    }
}

/// A token with the column of its first character.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) column: usize,
}

/// The tokens of an input, in order. If lexing failed, `tokens` holds those
/// before the bad spot (without a final [`Tok::End`]) and `error` the failure;
/// otherwise `tokens` ends with [`Tok::End`]. Keeping the error aside lets the
/// parser report an earlier syntax error first, so the leftmost error wins.
pub(crate) struct Lexed {
    pub(crate) tokens: Vec<Token>,
    pub(crate) error: Option<ParseError>,
}

/// Scans a numeric literal starting at `start` (a digit or '.').
///
/// Returns the end index (exclusive) of the characters that belong to the
/// literal, and either `Ok(())` or the reason it is malformed.
pub(crate) fn scan_number(chars: &[char], start: usize) -> (usize, Result<(), &'static str>) {
    let digits = |i: &mut usize| {
        let from = *i;
        while *i < chars.len() && chars[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - from
    };
    let mut i = start;
    let int_digits = digits(&mut i);
    let mut frac_digits = 0;
    if i < chars.len() && chars[i] == '.' {
        i += 1;
        frac_digits = digits(&mut i);
    }
    if int_digits + frac_digits == 0 {
        return (i, Err("a number needs at least one digit"));
    }
    if i < chars.len() && matches!(chars[i], 'e' | 'E') {
        let mut j = i + 1;
        if j < chars.len() && matches!(chars[j], '+' | '-') {
            j += 1;
        }
        if digits(&mut j) == 0 {
            return (j, Err("the exponent after 'e' has no digits"));
        }
        i = j;
    }
    (i, Ok(()))
}

/// Converts the text of a literal accepted by [`scan_number`] to a finite f64.
pub(crate) fn number_value(text: &str) -> Result<f64, &'static str> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err("out of range for a 64-bit float"),
        Err(_) => Err("not a valid number"),
    }
}

/// True for characters that may continue a name (`[a-z0-9_]`).
pub(crate) fn is_name_continue(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

pub(crate) fn tokenize(src: &str) -> Lexed {
    let chars: Vec<char> = src.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let simple = match c {
            '+' => Some(Tok::Plus),
            '-' => Some(Tok::Minus),
            '*' => Some(Tok::Star),
            '/' => Some(Tok::Slash),
            '^' => Some(Tok::Caret),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            _ => None,
        };
        let tok = if let Some(tok) = simple {
            i += 1;
            tok
        } else if c.is_ascii_digit() || c == '.' {
            let (end, scanned) = scan_number(&chars, i);
            let text: String = chars[i..end].iter().collect();
            i = end;
            match scanned.and_then(|()| number_value(&text)) {
                Ok(value) => Tok::Num { value, text },
                Err(reason) => {
                    let kind = ParseErrorKind::InvalidNumber { text, reason: reason.to_string() };
                    return Lexed { tokens, error: Some(ParseError { column, kind }) };
                }
            }
        } else if c.is_ascii_lowercase() {
            let start = i;
            while i < chars.len() && is_name_continue(chars[i]) {
                i += 1;
            }
            Tok::Ident(chars[start..i].iter().collect())
        } else {
            let kind = ParseErrorKind::UnexpectedChar(c);
            return Lexed { tokens, error: Some(ParseError { column, kind }) };
        };
        tokens.push(Token { tok, column });
    }
    tokens.push(Token { tok: Tok::End, column: chars.len() + 1 });
    Lexed { tokens, error: None }
}
