//! Differentiate an expression at a point: parse, check the bindings, record on a tape, take the
//! gradient in a mode. What `kinkgrad.grad` in Python returns (and what `kinkgrad grad` prints).

use crate::expr::{eval, parse};
use crate::{Certificate, Error, Mode, Representation, Result, Tape, Tensor, Var};
use std::collections::BTreeMap;

/// The value and derivatives of an expression at a point.
#[derive(Clone, Debug)]
pub struct ExprGradient {
    /// The expression's value.
    pub value: f64,
    /// The variables, sorted by name (the order of `gradient` and of the rows of lex's `M`).
    pub names: Vec<String>,
    /// One partial derivative per variable of `names`; empty in `lex` mode when `M` is not square.
    pub gradient: Vec<f64>,
    /// `lex` mode: the LD-derivative `f'(x; M)`, one entry per column of `M`.
    pub ld_derivative: Option<Vec<f64>>,
    /// What the numbers are.
    pub certificate: Certificate,
}

/// Differentiates the expression `src` at the point `at` (one value for every variable of the
/// expression, and no other) in `mode`, on a tape with representation `rep`.
///
/// Errors (one line each): a parse error (`invalid expression: syntax error at column ...`), a
/// variable without a value or a value for a name the expression does not contain, a non-finite
/// value (naming the op that first produced it) or derivative, and the library's errors from
/// recording and differentiating.
///
/// ```
/// use kinkgrad::expr::differentiate;
/// use kinkgrad::{Mode, Representation};
/// // Boustany (the talk): f(t) = max_first(t, 2t, 3t, 4t) - max_mean(...) is identically 0, yet
/// // PyTorch's associated gradient at t = 0 is 1 - (1+2+3+4)/4 = -1.5; safe mode gives 0.
/// let f = "max_first(t, 2*t, 3*t, 4*t) - max_mean(t, 2*t, 3*t, 4*t)";
/// let at = [("t".to_string(), 0.0)];
/// let assoc = differentiate(f, &at, Representation::pytorch(), &Mode::Assoc).unwrap();
/// assert_eq!(assoc.gradient, vec![-1.5]);
/// let safe = differentiate(f, &at, Representation::pytorch(), &Mode::safe()).unwrap();
/// assert_eq!((safe.gradient[0], safe.certificate.kind.as_str()), (0.0, "generalized"));
/// ```
pub fn differentiate(src: &str, at: &[(String, f64)], rep: Representation, mode: &Mode) -> Result<ExprGradient> {
    let e = parse(src).map_err(|e| Error::invalid("expression", e.to_string()))?;
    let names = e.variables();
    if let Some(n) = names.iter().find(|n| !at.iter().any(|(b, _)| b == *n)) {
        return Err(Error::invalid("point", format!("unbound variable '{n}': no value was given for it")));
    }
    if let Some((b, _)) = at.iter().find(|(b, _)| !names.contains(b)) {
        return Err(Error::invalid("point", format!("unused variable '{b}': the expression does not contain it")));
    }
    if let Some((b, v)) = at.iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::invalid("point", format!("{b} = {v} is not a finite number")));
    }
    let tape = Tape::<f64>::with_representation(rep);
    let vars: BTreeMap<String, Var<'_, f64>> =
        at.iter().map(|(n, v)| (n.clone(), tape.var(Tensor::scalar(*v)))).collect();
    let y = eval(&e, &tape, &vars)?;
    // `+ 0.0` turns -0.0 into 0.0 (abs(x) at 0 computes -0 in some pieces)
    let value = y.item()? + 0.0;
    if !value.is_finite() {
        let op = tape.first_non_finite(tape.len()).unwrap_or_else(|| "the expression".into());
        return Err(Error::NonFinite { op, stage: "value" });
    }
    // a non-finite value or derivative is the gradient's error, naming the op that produced it
    let wrt: Vec<Var<'_, f64>> = names.iter().map(|n| vars[n]).collect();
    let g = tape.gradient(y, &wrt, mode)?;
    let gradient = g.values.iter().map(|t| t.item().map(|v| v + 0.0)).collect::<Result<Vec<f64>>>()?;
    Ok(ExprGradient { value, names, gradient, ld_derivative: g.ld_derivative, certificate: g.certificate })
}
