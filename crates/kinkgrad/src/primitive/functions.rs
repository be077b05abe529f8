//! The registry of named scalar functions: the functions of the expression language of `kinkgrad
//! grad` and of the generated tests.
//!
//! [`all`] lists the smooth functions (`exp`, `log`, `sqrt`, `sin`, `cos`, `tanh`, `sigmoid`,
//! `softplus`), the n-ary `max`/`min` with their tie-fixed variants (`max_first`, `max_last`,
//! `max_mean`, `min_...`) and every primitive of [`super::registry::all`] by its name, with its
//! arguments, constant parameters ([`Param`], e.g. leaky_relu's slope) and one-line doc from its
//! [`Signature`]. A primitive added to the registry is therefore callable by name without touching
//! this file or the command line. The binary `max`/`min` primitives are covered by the n-ary ones
//! (same family, same values and kink rules) and are not listed twice.
//!
//! Each function carries a builder on [`Var`]s (f64) and a reference value on plain `f64`s (for a
//! primitive, the value of its active piece; for a smooth function, the `f64` method), so that tests
//! can check the recorded function against an independent evaluation.

use super::registry;
use super::{Param, Piecewise};
use crate::error::{Error, Result};
use crate::repr::{Family, TieRule};
use crate::reverse::Var;
use std::sync::OnceLock;

/// How many arguments a function takes, its constant parameters included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    /// Exactly this many.
    Exactly(usize),
    /// This many or more (n-ary max and min).
    AtLeast(usize),
}

impl Arity {
    /// Whether `n` arguments are accepted.
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exactly(k) => n == k,
            Arity::AtLeast(k) => n >= k,
        }
    }
    /// `"2"` or `"at least 1"`.
    pub fn describe(self) -> String {
        match self {
            Arity::Exactly(k) => k.to_string(),
            Arity::AtLeast(k) => format!("at least {k}"),
        }
    }
}

/// What kind of function it is (test generators pick by class).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Continuous and piecewise affine, with kinks (a registered primitive, n-ary max/min).
    PiecewiseAffine,
    /// Smooth and globally Lipschitz on the reals: compositions stay finite (tanh, sin, ...).
    Lipschitz,
    /// Smooth where defined, but not on all reals or not globally Lipschitz (exp, log, sqrt).
    Smooth,
}

type Build = Box<dyn for<'t> Fn(&[Var<'t, f64>], &[f64]) -> Result<Var<'t, f64>> + Send + Sync>;
type Value = Box<dyn Fn(&[f64], &[f64]) -> f64 + Send + Sync>;

/// A named scalar function.
pub struct Function {
    /// Its name in expressions.
    pub name: String,
    /// Names of the variable arguments (for an n-ary function, the first one; more may follow).
    pub args: Vec<&'static str>,
    /// Whether more arguments of the same kind may follow (`max(x1, x2, ...)`).
    pub variadic: bool,
    /// Constant parameters, written after the arguments and evaluated when the expression is parsed.
    pub params: &'static [Param],
    /// One line: what it computes.
    pub doc: String,
    /// Its class.
    pub class: Class,
    /// The family of its kinks (piecewise-affine functions).
    pub family: Option<&'static Family>,
    /// Pairs `(i, j)` of arguments with `x_i <= x_j` required (clamp's `lo <= hi`).
    pub ordered: &'static [(usize, usize)],
    build: Build,
    value: Value,
}

impl Function {
    /// The number of arguments, constant parameters included.
    pub fn arity(&self) -> Arity {
        let n = self.args.len() + self.params.len();
        if self.variadic {
            Arity::AtLeast(n)
        } else {
            Arity::Exactly(n)
        }
    }
    /// `leaky_relu(x, slope)`, `max(x1, ...)`.
    pub fn signature(&self) -> String {
        let mut parts: Vec<&str> = self.args.clone();
        if self.variadic {
            parts.push("...");
        }
        parts.extend(self.params.iter().map(|p| p.name));
        format!("{}({})", self.name, parts.join(", "))
    }
    /// Check the constant parameters: their number, finiteness and range.
    pub fn check_params(&self, params: &[f64]) -> Result<()> {
        super::check_params(self.name.as_str(), self.params, params)
    }
    /// Record the function of `args` with the constant parameters `params` on the arguments' tape.
    pub fn build<'t>(&self, args: &[Var<'t, f64>], params: &[f64]) -> Result<Var<'t, f64>> {
        self.check_params(params)?;
        let n = args.len() + params.len();
        if !self.arity().accepts(n) {
            return Err(Error::invalid(
                self.name.as_str(),
                format!("takes {} arguments, got {n}", self.arity().describe()),
            ));
        }
        (self.build)(args, params)
    }
    /// The reference value at plain numbers (the active piece's value, or the `f64` function).
    pub fn value(&self, args: &[f64], params: &[f64]) -> f64 {
        (self.value)(args, params)
    }
}

fn smooth(
    name: &str,
    doc: &str,
    class: Class,
    build: for<'t> fn(Var<'t, f64>) -> Var<'t, f64>,
    value: fn(f64) -> f64,
) -> Function {
    Function {
        name: name.into(),
        args: vec!["x"],
        variadic: false,
        params: &[],
        doc: doc.into(),
        class,
        family: None,
        ordered: &[],
        build: Box::new(move |a, _| Ok(build(a[0]))),
        value: Box::new(move |x, _| value(x[0])),
    }
}

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn maxmin(min: bool, rule: Option<TieRule>) -> Function {
    let base = if min { "min" } else { "max" };
    let (name, doc) = match &rule {
        None => (base.to_string(), format!("the {base}imum of the arguments; ties by the representation")),
        Some(r) => (format!("{base}_{r}"), format!("the {base}imum of the arguments; ties by the rule `{r}`")),
    };
    Function {
        name,
        args: vec!["x1"],
        variadic: true,
        params: &[],
        doc,
        class: Class::PiecewiseAffine,
        family: Some(&super::maxmin::MAX),
        ordered: &[],
        build: Box::new(move |a, _| if min { Var::min_n(a, rule.clone()) } else { Var::max_n(a, rule.clone()) }),
        value: Box::new(move |x, _| {
            let f = if min { f64::min } else { f64::max };
            x.iter().copied().reduce(f).unwrap_or(f64::NAN)
        }),
    }
}

/// The primitive at position `i` of the registry, with the constant parameters `params`.
fn instance(i: usize, params: &[f64]) -> Result<Box<dyn Piecewise>> {
    let p = registry::all().swap_remove(i);
    if p.signature().params.is_empty() {
        Ok(p)
    } else {
        p.with_params(params)
    }
}

fn primitive(i: usize, p: &dyn Piecewise) -> Function {
    let sig = p.signature();
    let doc = if sig.doc.is_empty() {
        format!("piecewise affine, pieces {}", p.pieces().join(", "))
    } else {
        sig.doc.to_string()
    };
    Function {
        name: p.name().into(),
        args: sig.args.to_vec(),
        variadic: false,
        params: sig.params,
        doc: format!("{doc} [kinks: {}]", p.family().key),
        class: Class::PiecewiseAffine,
        family: Some(p.family()),
        ordered: sig.ordered,
        build: Box::new(move |a, params| super::apply(instance(i, params)?, a)),
        value: Box::new(move |x, params| match instance(i, params) {
            Ok(p) => super::value(&p, x),
            Err(_) => f64::NAN,
        }),
    }
}

fn build_all() -> Vec<Function> {
    use Class::{Lipschitz, Smooth};
    let mut out = vec![
        smooth("exp", "e^x", Smooth, |x| x.exp(), f64::exp),
        smooth("log", "natural logarithm (x > 0)", Smooth, |x| x.log(), f64::ln),
        smooth("sqrt", "square root (x >= 0; not differentiable at 0)", Smooth, |x| x.sqrt(), f64::sqrt),
        smooth("sin", "sine", Lipschitz, |x| x.sin(), f64::sin),
        smooth("cos", "cosine", Lipschitz, |x| x.cos(), f64::cos),
        smooth("tanh", "hyperbolic tangent", Lipschitz, |x| x.tanh(), f64::tanh),
        smooth("sigmoid", "1 / (1 + e^-x)", Lipschitz, |x| x.sigmoid(), |x| 1.0 / (1.0 + (-x).exp())),
        smooth("softplus", "log(1 + e^x)", Lipschitz, |x| x.softplus(), softplus),
    ];
    for min in [false, true] {
        for rule in [None, Some(TieRule::First), Some(TieRule::Last), Some(TieRule::Mean)] {
            out.push(maxmin(min, rule));
        }
    }
    for (i, p) in registry::all().iter().enumerate() {
        // binary max/min: the n-ary functions above have the same name, values and kink rules
        if !out.iter().any(|f| f.name == p.name()) {
            out.push(primitive(i, p.as_ref()));
        }
    }
    out
}

/// Every named function, in the order listed above (smooth, max/min, primitives in registry order).
pub fn all() -> &'static [Function] {
    static ALL: OnceLock<Vec<Function>> = OnceLock::new();
    ALL.get_or_init(build_all)
}

/// The function named `name`.
pub fn lookup(name: &str) -> Option<&'static Function> {
    all().iter().find(|f| f.name == name)
}

/// One line per function, `signature  doc`, aligned (the command line's help).
pub fn help() -> String {
    let sigs: Vec<String> = all().iter().map(|f| f.signature()).collect();
    let w = sigs.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut s = String::new();
    for (f, sig) in all().iter().zip(&sigs) {
        s += &format!("  {sig:<w$}  {}\n", f.doc);
    }
    s
}
