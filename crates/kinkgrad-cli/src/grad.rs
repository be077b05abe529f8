//! `kinkgrad grad 'EXPR' --at x=0,y=1`: value, gradient, mode, certificate and kinks of an expression.

use crate::diff_args::{DiffArgs, LexArgs};
use crate::output::num;
use kinkgrad::expr::{self, eval};
use kinkgrad::{Tape, Tensor, Var};
use std::collections::BTreeMap;

/// Arguments of `kinkgrad grad`.
#[derive(clap::Args)]
#[command(after_help = expr::functions_help())]
pub struct Args {
    /// The expression, e.g. 'relu(x) - relu(-x)' (may start with '-').
    #[arg(allow_hyphen_values = true)]
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
    // + 0.0 turns a negative zero (abs(x) at 0 computes -0 in some pieces) into 0
    let value = y.item().map_err(|e| e.to_string())? + 0.0;
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
