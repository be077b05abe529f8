//! `kinkgrad grad 'EXPR' --at x=0,y=1`: value, gradient, mode, certificate and kinks of an expression.

use crate::diff_args::{DiffArgs, LexArgs};
use crate::output::num;
use crate::report::CliError;
use kinkgrad::expr;

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

/// Run the command: the library's [`expr::differentiate`] does the work (the same function Python's
/// `kinkgrad.grad` calls); this prints it.
pub fn run(a: Args) -> Result<String, CliError> {
    let at = expr::parse_bindings(&a.at)?;
    let rep = a.diff.representation()?;
    let mode = a.diff.mode_with(a.lex.directions.as_deref())?;
    let g = expr::differentiate(&a.expr, &at, rep, &mode)?;
    let value = g.value;
    let c = &g.certificate;
    let grads: Vec<(String, f64)> = g.names.iter().cloned().zip(g.gradient.iter().copied()).collect();
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
    if g.gradient.is_empty() {
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
