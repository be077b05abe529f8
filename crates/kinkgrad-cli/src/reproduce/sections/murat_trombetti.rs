//! Murat-Trombetti (the talk): `f(x) = max(x, x) = x`, so `f'(x) = 1`, although the max's gradient
//! is undefined on the whole line `x1 = x2` the inner map lands on. Every admissible tie rule
//! (weights summing to 1) gives 1; the rule giving every tied entry the full gradient (sum 2) would
//! say 2 and is refused. Computed by `paradox.rs`'s function (as `kinkgrad paradox`).

use super::{lib, num, row, verdict};
use crate::paradox::{modes, murat_trombetti};
use crate::report::CliError;
use crate::reproduce::row::{Ctx, Section};
use kinkgrad::{Mode, Representation, TieRule};

const ID: &str = "murat-trombetti";
const TALK: &str = "talk, slide \"Why there is a problem (Murat-Trombetti 2003)\": f(x) = max(x, x) = x";

/// The section.
pub fn run(ctx: &Ctx) -> Result<Section, CliError> {
    let mut rows = Vec::new();
    for (k, (name, mode)) in modes().iter().enumerate() {
        (ctx.progress)(k as u64, 5);
        let (v, c) = murat_trombetti(1.0, Representation::pytorch(), mode).map_err(lib)?;
        rows.push(row(
            ID,
            format!("f'(1), {name} (PyTorch's representation)"),
            "1",
            TALK,
            num(v),
            verdict(v == 1.0),
            format!("certificate: {c}"),
        ));
    }
    // every offered rule, in assoc, at a few points
    let rules = [
        TieRule::First,
        TieRule::Last,
        TieRule::Mean,
        TieRule::MinNorm,
        TieRule::Weighted(vec![3.0, 1.0]),
        TieRule::Beta(1000.0),
    ];
    let mut got = Vec::new();
    for rule in &rules {
        for x0 in [-2.0, 0.0, 0.5, 3.0] {
            let rep = Representation::default().with_all_ties(rule.clone());
            got.push(murat_trombetti(x0, rep, &Mode::Assoc).map_err(lib)?.0);
        }
    }
    (ctx.progress)(4, 5);
    let names: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
    let distinct: Vec<String> = {
        let mut v: Vec<String> = got.iter().map(|&g| num(g)).collect();
        v.dedup();
        v
    };
    rows.push(row(
        ID,
        format!("f'(x) in assoc under every tie rule ({}) at x = -2, 0, 0.5, 3", names.join(", ")),
        "1 for each",
        "Despres, TMLR 2025: any representation with an associated gradient (weights summing to 1) satisfies the \
         chain rule; f = x",
        format!("{} values, distinct: {}", got.len(), distinct.join(", ")),
        verdict(got.iter().all(|&g| g == 1.0)),
        "beta:1000 is signed (weights -499 and 500 on a tie of two): admissible, not minimum-norm",
    ));
    // the all-ones rule sums to k: refused, never silently applied
    let refused = "signed:1,1".parse::<TieRule>();
    rows.push(row(
        ID,
        "the rule giving each tied entry the full gradient (weights 1, 1)",
        "refused (it would give f'(x) = 2)",
        "talk: the chain rule needs a representation; kinkgrad's rule: weights sum to 1 (ARCHITECTURE.md)",
        match &refused {
            Ok(r) => format!("accepted as {r}"),
            Err(e) => format!("refused: {e}"),
        },
        verdict(refused.is_err()),
        "",
    ));
    (ctx.progress)(5, 5);
    Ok(Section {
        id: ID,
        title: "Murat-Trombetti: max(x, x) = x".into(),
        settings: "f64; assoc, lex, safe; same in --quick".into(),
        rows,
        figures: vec![],
    })
}
