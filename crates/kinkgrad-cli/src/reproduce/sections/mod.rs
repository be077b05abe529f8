//! The report's sections, in the order of the page. Each is one file with one function
//! `fn(&Ctx) -> Result<Section, CliError>`; adding one is a `mod` line and one entry in [`all`].

use super::row::{Ctx, Row, Section, Verdict};
use crate::report::CliError;

mod boustany;
mod command;
mod compensation;
mod hybrid;
mod khan_barton;
mod kink_cases;
mod maxpool_beta;
mod murat_trombetti;
mod performance;
mod relu_prime;
mod ritz;
mod training;
mod transport_hazard;
mod transport_orders;

/// A section's entry point.
pub type SectionFn = fn(&Ctx) -> Result<Section, CliError>;

/// Every section, in the report's order: (id, entry point). The id is also the section's
/// [`Section::id`], its anchor on the page and its name for `--sections`.
pub fn all() -> Vec<(&'static str, SectionFn)> {
    vec![
        ("boustany", boustany::run),
        ("murat-trombetti", murat_trombetti::run),
        ("compensation", compensation::run),
        ("khan-barton", khan_barton::run),
        ("kink-cases", kink_cases::run),
        ("transport-orders", transport_orders::run),
        ("transport-hazard", transport_hazard::run),
        ("training", training::run),
        ("ritz", ritz::run),
        ("hybrid", hybrid::run),
        ("relu-prime", relu_prime::run),
        ("maxpool-beta", maxpool_beta::run),
        ("performance", performance::run),
    ]
}

/// A number as the report prints it: the shortest form that reads back exactly (`-1.5`, `0`,
/// `5.960464477539063e-8`); `-0` as `0`.
pub fn num(v: f64) -> String {
    let v = v + 0.0;
    if v != 0.0 && (v.abs() < 1e-4 || v.abs() >= 1e6) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// A vector as `(a, b, c)` with [`num`] entries.
pub fn vec_str(v: &[f64]) -> String {
    format!("({})", v.iter().map(|&x| num(x)).collect::<Vec<_>>().join(", "))
}

/// `Pass` when `ok`, else `Miss`.
pub fn verdict(ok: bool) -> Verdict {
    if ok {
        Verdict::Pass
    } else {
        Verdict::Miss
    }
}

/// A row of section `section` (shorthand for the struct literal).
pub fn row(
    section: &'static str,
    name: impl Into<String>,
    reference: impl Into<String>,
    source: impl Into<String>,
    measured: impl Into<String>,
    verdict: Verdict,
    note: impl Into<String>,
) -> Row {
    Row {
        section,
        name: name.into(),
        reference: reference.into(),
        source: source.into(),
        measured: measured.into(),
        verdict,
        note: note.into(),
    }
}

/// A library error inside a section, as the command's error.
pub fn lib(e: kinkgrad::Error) -> CliError {
    CliError::from(e)
}
