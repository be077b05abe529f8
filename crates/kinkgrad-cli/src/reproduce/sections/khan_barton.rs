//! Khan and Barton's lexicographic directional derivatives (LD-derivatives, 2015) on their examples,
//! through the expression language (`kinkgrad grad`'s path, `kinkgrad::expr::differentiate`), and
//! what `safe` and PyTorch's `assoc` give on the same functions.

use super::{lib, num, row, vec_str, verdict, Verdict};
use crate::report::CliError;
use crate::reproduce::row::{Ctx, Row, Section};
use kinkgrad::expr::differentiate;
use kinkgrad::{Directions, Mode, Representation};

const ID: &str = "khan-barton";
const KB: &str = "Khan & Barton 2015 (LD-derivatives), worked by hand in tests/it/lex_safe.rs";

/// One example: the expression, the point, lex's directions (None: M = I), the reference
/// gradient of lex, and the gradients safe may return (those of the pieces active near the point;
/// the true gradient where f is differentiable).
struct Example {
    expr: &'static str,
    at: &'static [(&'static str, f64)],
    directions: Option<&'static str>,
    lex: &'static [f64],
    safe: &'static [&'static [f64]],
    why: &'static str,
    /// Whether to add the safe and assoc rows (once per function and point).
    compare: bool,
}

const EXAMPLES: [Example; 4] = [
    Example {
        expr: "max(min(x1, -x2), x2 - x1)",
        at: &[("x1", 0.0), ("x2", 0.0)],
        directions: None,
        lex: &[0.0, -1.0],
        safe: &[&[1.0, 0.0], &[0.0, -1.0], &[-1.0, 1.0]],
        why:
            "along e1 the min keeps -x2, the max keeps -x2: gradient (0, -1); safe: one of the pieces x1, -x2, x2 - x1",
        compare: true,
    },
    Example {
        expr: "(1 + abs(x1 - x2))*(x1 - x2)",
        at: &[("x1", 0.0), ("x2", 0.0)],
        directions: None,
        lex: &[1.0, -1.0],
        safe: &[&[1.0, -1.0]],
        why: "f is differentiable at 0 (|.| is multiplied by x1 - x2 = 0): the true gradient (1, -1)",
        compare: true,
    },
    Example {
        expr: "relu(-t) + t",
        at: &[("t", 0.0)],
        directions: Some("1"),
        lex: &[1.0],
        safe: &[&[1.0], &[0.0]],
        why: "f = relu(t): the one-sided derivative along +1 is 1",
        compare: true,
    },
    Example {
        expr: "relu(-t) + t",
        at: &[("t", 0.0)],
        directions: Some("-1"),
        lex: &[0.0],
        safe: &[&[1.0], &[0.0]],
        why: "f = relu(t): along -1 the derivative is 0, so M^-T f'(0; M) = 0",
        compare: false,
    },
];

fn example_rows(e: &Example) -> Result<Vec<Row>, CliError> {
    let at: Vec<(String, f64)> = e.at.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    let point = e.at.iter().map(|(n, v)| format!("{n}={}", num(*v))).collect::<Vec<_>>().join(",");
    let m = match e.directions {
        Some(d) => Some(Directions::parse(d).map_err(lib)?),
        None => None,
    };
    let m_name = e.directions.map_or("M = I".to_string(), |d| format!("M = [{d}]"));
    let lex = differentiate(e.expr, &at, Representation::pytorch(), &Mode::Lex(m)).map_err(lib)?;
    let safe = differentiate(e.expr, &at, Representation::pytorch(), &Mode::safe()).map_err(lib)?;
    let assoc = differentiate(e.expr, &at, Representation::pytorch(), &Mode::Assoc).map_err(lib)?;
    let ld = lex.ld_derivative.as_deref().map(vec_str).unwrap_or_default();
    let mut rows = vec![row(
        ID,
        format!("lex gradient of {} at {point}, {m_name}", e.expr),
        vec_str(e.lex),
        KB,
        vec_str(&lex.gradient),
        verdict(lex.gradient == e.lex),
        format!("{}; LD-derivative f'(x; M) = {ld}; certificate: {}", e.why, lex.certificate),
    )];
    if !e.compare {
        return Ok(rows);
    }
    rows.extend([
        row(
            ID,
            format!("safe gradient of {} at {point}", e.expr),
            format!("one of {}", e.safe.iter().map(|g| vec_str(g)).collect::<Vec<_>>().join(", ")),
            "the gradient of a piece active near the point (lex/safe contract, ARCHITECTURE.md)",
            vec_str(&safe.gradient),
            verdict(e.safe.contains(&safe.gradient.as_slice())),
            format!("certificate: {}", safe.certificate),
        ),
        row(
            ID,
            format!("assoc (PyTorch's representation) gradient of {} at {point}", e.expr),
            "whatever the representation selects",
            "for comparison",
            vec_str(&assoc.gradient),
            Verdict::Info,
            format!("certificate: {}", assoc.certificate),
        ),
    ]);
    Ok(rows)
}

/// The section.
pub fn run(ctx: &Ctx) -> Result<Section, CliError> {
    let mut rows = Vec::new();
    for (k, e) in EXAMPLES.iter().enumerate() {
        (ctx.progress)(k as u64, EXAMPLES.len() as u64);
        rows.extend(example_rows(e)?);
    }
    (ctx.progress)(EXAMPLES.len() as u64, EXAMPLES.len() as u64);
    Ok(Section {
        id: ID,
        title: "Khan-Barton: lexicographic derivatives".into(),
        settings: "f64, the expression language (as kinkgrad grad); safe with its default seed; same in --quick".into(),
        rows,
        figures: vec![],
    })
}
