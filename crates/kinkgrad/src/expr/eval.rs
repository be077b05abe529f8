//! Recording a parsed expression on a tape: every call goes through the library's function registry.

use crate::expr::{BinOp, Expr};
use crate::primitive::functions;
use crate::{Tape, Var};
use std::collections::BTreeMap;

/// Record an expression on the tape (`vars` holds every variable of the expression).
pub fn eval<'t>(e: &Expr, tape: &'t Tape<f64>, vars: &BTreeMap<String, Var<'t, f64>>) -> crate::Result<Var<'t, f64>> {
    Ok(match e {
        Expr::Num(v) => tape.scalar(*v),
        Expr::Var(n) => vars[n],
        Expr::Neg(a) => eval(a, tape, vars)?.neg(),
        Expr::Pow(a, n) => eval(a, tape, vars)?.powi(*n),
        Expr::Chain(first, rest) => {
            let mut a = eval(first, tape, vars)?;
            for (op, e) in rest {
                let b = eval(e, tape, vars)?;
                a = match op {
                    BinOp::Add => a.add(b)?,
                    BinOp::Sub => a.sub(b)?,
                    BinOp::Mul => a.mul(b)?,
                    BinOp::Div => a.div(b)?,
                };
            }
            a
        }
        Expr::Call(name, args, params) => {
            let a: Vec<Var<'t, f64>> = args.iter().map(|x| eval(x, tape, vars)).collect::<crate::Result<_>>()?;
            let f = functions::lookup(name).ok_or_else(|| {
                crate::Error::invalid("function", format!("unknown function '{name}' (not in the registry)"))
            })?;
            // the registry's order constraints (clamp's lo <= hi): refused, never a silent jump
            for &(i, j) in f.ordered {
                let (lo, hi) = (a[i].item()?, a[j].item()?);
                if lo > hi {
                    return Err(crate::Error::invalid(
                        format!("arguments of '{name}'"),
                        format!(
                            "{} = {lo} is above {} = {hi} ({} <= {} required)",
                            f.args[i], f.args[j], f.args[i], f.args[j]
                        ),
                    ));
                }
            }
            f.build(&a, params)?
        }
    })
}

/// The functions an expression may call, one line each with its doc (for `kinkgrad grad --help`).
pub fn functions_help() -> String {
    format!(
        "Functions (from the library's registry; constant parameters such as a slope come last and must be \
         constant expressions):\n{}\nOperators: + - * /, ^ with an integer exponent.",
        functions::help()
    )
}
