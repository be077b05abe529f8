//! Rounding compensation: `x = 1.14 (1, 1, 1, 1)` ties at every `t`, so `f(t) = max1(t x) - max2(t x)`
//! is identically 0 with `f' = 0`; a framework forms the weights `(1,0,0,0) - (1/4,1/4,1/4,1/4)` and
//! dots them with `x` in the working precision, leaving a rounding residue (`2^-24` in f32).
//! kinkgrad's `lex` and `safe` give 0 exactly. Computed by `paradox.rs`'s functions.

use super::{lib, num, row, verdict, Verdict};
use crate::paradox::{boustany, framework_compensation, modes, COMPENSATION_T, COMPENSATION_X};
use crate::report::CliError;
use crate::reproduce::row::{Ctx, Row, Section};
use kinkgrad::Real;

const ID: &str = "compensation";

/// The rows of one precision: framework-style sum, then assoc, lex and safe.
fn rows_for<T: Real>(precision: &str, framework_reference: Option<(f64, &str)>) -> Result<Vec<Row>, CliError> {
    let mut rows = Vec::new();
    let fw = framework_compensation::<T>(COMPENSATION_X);
    let name = |what: &str| format!("f'({COMPENSATION_T}) in {precision}, {what}");
    rows.push(match framework_reference {
        Some((r, why)) => row(
            ID,
            name("framework-style sum (weights differenced, dotted with x in the working precision)"),
            format!("{} (= {why})", num(r)),
            "rounding by hand: (1 - 1/4) x - 3 (x/4) in f32 at x = 1.14 (tests/cli/paradox_cli.rs)",
            num(fw),
            verdict(fw == r),
            "true value 0: the residue is rounding, not a derivative",
        ),
        None => row(
            ID,
            name("framework-style sum (weights differenced, dotted with x in the working precision)"),
            "a non-zero rounding residue (true value 0)",
            "the same computation as the f32 row",
            num(fw),
            Verdict::Info,
            "",
        ),
    });
    for (name_m, mode) in modes() {
        let (_, d, c) = boustany::<T>(&[COMPENSATION_X; 4], COMPENSATION_T, &mode).map_err(lib)?;
        rows.push(if name_m == "assoc" {
            row(
                ID,
                name("kinkgrad assoc"),
                "one rounding of (3/4) x (the backward pass sums in f64)",
                "kinkgrad paradox's explanation (ARCHITECTURE.md: sums accumulate in f64 and round once)",
                num(d),
                Verdict::Info,
                format!("certificate: {c}"),
            )
        } else {
            row(
                ID,
                name(&format!("kinkgrad {name_m}")),
                "0",
                "f is identically 0: the four pieces are the same function of t",
                num(d),
                verdict(d == 0.0),
                format!("certificate: {c}"),
            )
        });
    }
    Ok(rows)
}

/// The section.
pub fn run(ctx: &Ctx) -> Result<Section, CliError> {
    let mut rows = Vec::new();
    (ctx.progress)(0, 3);
    rows.extend(rows_for::<kinkgrad::f16>("f16", None)?);
    (ctx.progress)(1, 3);
    rows.extend(rows_for::<f32>("f32", Some((2f64.powi(-24), "2^-24")))?);
    (ctx.progress)(2, 3);
    rows.extend(rows_for::<f64>("f64", None)?);
    (ctx.progress)(3, 3);
    Ok(Section {
        id: ID,
        title: "Rounding compensation: ties at every t, x = 1.14 (1,1,1,1)".into(),
        settings: format!("t = {COMPENSATION_T}, PyTorch's representation, f16/f32/f64; same in --quick"),
        rows,
        figures: vec![],
    })
}
