//! `kinkgrad grad 'EXPR' --at x=0,y=1`: value, gradient, mode, certificate and kinks of an expression.

use crate::diff_args::{DiffArgs, LexArgs};
use crate::expr::{self, BinOp, Expr, Func, TieName};
use crate::output::num;
use kinkgrad::{Tape, Tensor, TieRule, Var};
use std::collections::BTreeMap;

/// Arguments of `kinkgrad grad`.
#[derive(clap::Args)]
pub struct Args {
    /// The expression, e.g. 'relu(x) - relu(-x)'.
    pub expr: String,
    /// Values of the variables, e.g. x=0,y=1.5 (every variable of the expression, no other).
    #[arg(long)]
    pub at: String,
    /// Mode and representation.
    #[command(flatten)]
    pub diff: DiffArgs,
    /// lex mode's directions.
    #[command(flatten)]
    pub lex: LexArgs,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn tie(name: &TieName) -> Option<TieRule> {
    match name {
        TieName::FromFlags => None,
        TieName::First => Some(TieRule::First),
        TieName::Last => Some(TieRule::Last),
        TieName::Mean => Some(TieRule::Mean),
    }
}

/// Record an expression on the tape.
pub fn eval<'t>(
    e: &Expr,
    tape: &'t Tape<f64>,
    vars: &BTreeMap<String, Var<'t, f64>>,
) -> kinkgrad::Result<Var<'t, f64>> {
    Ok(match e {
        Expr::Num(v) => tape.scalar(*v),
        Expr::Var(n) => vars[n],
        Expr::Neg(a) => eval(a, tape, vars)?.neg(),
        Expr::Pow(a, n) => eval(a, tape, vars)?.powi(*n),
        Expr::Bin(op, a, b) => {
            let (a, b) = (eval(a, tape, vars)?, eval(b, tape, vars)?);
            match op {
                BinOp::Add => a.add(b)?,
                BinOp::Sub => a.sub(b)?,
                BinOp::Mul => a.mul(b)?,
                BinOp::Div => a.div(b)?,
            }
        }
        Expr::Call(f, args) => {
            let a: Vec<Var<'t, f64>> = args.iter().map(|x| eval(x, tape, vars)).collect::<kinkgrad::Result<_>>()?;
            match f {
                Func::Relu => a[0].relu(),
                Func::Abs => a[0].abs(),
                Func::Exp => a[0].exp(),
                Func::Log => a[0].log(),
                Func::Sqrt => a[0].sqrt(),
                Func::Sin => a[0].sin(),
                Func::Cos => a[0].cos(),
                Func::Tanh => a[0].tanh(),
                Func::Sigmoid => a[0].sigmoid(),
                Func::Softplus => a[0].softplus(),
                Func::Max(t) => Var::max_n(&a, tie(t))?,
                Func::Min(t) => Var::min_n(&a, tie(t))?,
                Func::Minmod => a[0].minmod(a[1])?,
                Func::Clamp => a[0].clamp(a[1], a[2])?,
                Func::LeakyRelu(s) => a[0].leaky_relu(*s),
            }
        }
    })
}

/// Run the command.
pub fn run(a: Args) -> Result<String, String> {
    let e = expr::parse(&a.expr).map_err(|e| e.to_string())?;
    let at = expr::parse_bindings(&a.at)?;
    let names = e.variables();
    for n in &names {
        if !at.iter().any(|(b, _)| b == n) {
            return Err(format!("unbound variable '{n}': give its value with --at {n}=..."));
        }
    }
    for (b, _) in &at {
        if !names.contains(b) {
            return Err(format!("unused variable '{b}' in --at: the expression does not contain it"));
        }
    }
    let rep = a.diff.representation().map_err(|e| e.to_string())?;
    let mode = a.diff.mode_with(a.lex.directions.as_deref()).map_err(|e| e.to_string())?;
    let tape = Tape::<f64>::with_representation(rep);
    let vars: BTreeMap<String, Var<'_, f64>> = names
        .iter()
        .map(|n| (n.clone(), tape.var(Tensor::scalar(at.iter().find(|(b, _)| b == n).unwrap().1))))
        .collect();
    let y = eval(&e, &tape, &vars).map_err(|e| e.to_string())?;
    let value = y.item().map_err(|e| e.to_string())?;
    if !value.is_finite() {
        let op = tape.first_non_finite(tape.len()).unwrap_or_default();
        return Err(format!("value not finite ({value}), first produced by {op}"));
    }
    let wrt: Vec<Var<'_, f64>> = vars.values().copied().collect();
    let g = tape.gradient(y, &wrt, &mode).map_err(|e| e.to_string())?;
    let c = &g.certificate;
    let grads: Vec<(String, f64)> =
        names.iter().zip(&g.values).map(|(n, t)| (n.clone(), t.item().unwrap_or(f64::NAN) + 0.0)).collect();
    if a.json {
        let mut obj = serde_json::json!({
            "expression": a.expr,
            "value": num(value),
            "gradient": grads.iter().map(|(n, v)| (n.clone(), num(*v))).collect::<serde_json::Map<_, _>>(),
            "mode": c.mode,
            "certificate": c,
        });
        if let Some(ld) = &g.ld_derivative {
            obj["ld_derivative"] = ld.iter().map(|v| num(*v)).collect();
        }
        return Ok(format!("{obj}\n"));
    }
    let mut s = format!("value        {value}\n");
    if g.values.is_empty() {
        s += "gradient     (M is not square: only the LD-derivative is defined)\n";
    }
    for (n, v) in &grads {
        s += &format!("d/d{n:<9} {v}\n");
    }
    if let Some(ld) = &g.ld_derivative {
        s += &format!("f'(x; M)     {ld:?}\n");
    }
    s += &format!("mode         {}\ncertificate  {c}\n", c.mode);
    if c.unresolved > 0 {
        s += &format!(
            "note         {} tie(s) survived {} direction(s): their pieces agree along every direction drawn\n",
            c.unresolved, c.directions
        );
    }
    if c.kind == kinkgrad::CertificateKind::RepresentationDependent {
        s +=
            &format!("note         the result depends on the representation ({}); try --mode safe\n", c.representation);
    }
    Ok(s)
}
