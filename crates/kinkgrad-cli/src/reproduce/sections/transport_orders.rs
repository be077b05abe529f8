//! Observed orders of accuracy of the transport schemes against the textbook values, computed by
//! `kinkgrad transport --convergence`'s function (`transport::convergence_rows`): one period of
//! `u_t + u_x = 0` on a periodic grid, Courant 0.5, errors against the exact solution.

use super::{num, row, verdict, Verdict};
use crate::plot::{LineChart, Series};
use crate::report::CliError;
use crate::reproduce::row::{Ctx, Figure, Row, Section};
use crate::transport::{convergence_rows, ConvergenceRow, TransportArgs};
use clap::Parser;

const ID: &str = "transport-orders";
const LEVEQUE: &str = "LeVeque, Finite Volume Methods for Hyperbolic Problems (2002)";

/// `kinkgrad transport` flags for one study (parsed by the command's own parser: same defaults).
#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    a: TransportArgs,
}

/// What a scheme's order must be: (lo, hi) on the finest pair of grids, the norm, and why.
struct Claim {
    scheme: &'static str,
    initial: &'static str,
    l1: Option<(f64, f64, &'static str)>,
    linf: Option<(f64, f64, &'static str)>,
}

const CLAIMS: [Claim; 8] = [
    Claim { scheme: "upwind", initial: "sine", l1: Some((0.95, 1.05, "1 (first order)")), linf: None },
    Claim {
        scheme: "lw",
        initial: "sine",
        l1: Some((1.95, 2.05, "2 (second order)")),
        linf: Some((1.95, 2.05, "2 (second order)")),
    },
    Claim {
        scheme: "lw-minmod",
        initial: "sine",
        l1: None,
        linf: Some((1.0, 2.0, "between 1 and 2: TVD limiters clip smooth extrema")),
    },
    Claim {
        scheme: "lw-superbee",
        initial: "sine",
        l1: None,
        linf: Some((1.0, 2.0, "between 1 and 2: TVD limiters clip smooth extrema")),
    },
    Claim {
        scheme: "lw-mc",
        initial: "sine",
        l1: None,
        linf: Some((1.0, 2.0, "between 1 and 2: TVD limiters clip smooth extrema")),
    },
    Claim {
        scheme: "lw-vanleer",
        initial: "sine",
        l1: None,
        linf: Some((1.0, 2.0, "between 1 and 2: TVD limiters clip smooth extrema")),
    },
    Claim {
        scheme: "upwind",
        initial: "square",
        l1: Some((0.45, 0.55, "1/2 (first-order scheme, discontinuous data)")),
        linf: None,
    },
    Claim {
        scheme: "lw-minmod",
        initial: "square",
        l1: Some((0.61, 0.73, "2/3 (second-order limited scheme, discontinuous data)")),
        linf: None,
    },
];

/// The rows of one claim from its convergence table.
fn claim_rows(c: &Claim, conv: &[ConvergenceRow]) -> Vec<Row> {
    let last = &conv[conv.len() - 1];
    let grids = conv.iter().map(|r| r.cells.to_string()).collect::<Vec<_>>().join(", ");
    let mut rows = Vec::new();
    // a limiter's L1 order has no textbook value at these grids: an info row
    for (norm, claim, order, info) in [("L1", c.l1, last.order_l1, true), ("Linf", c.linf, last.order_linf, false)] {
        let o = order.unwrap_or(f64::NAN);
        let name = format!("{} on {}: observed {norm} order", c.scheme, c.initial);
        let note = format!(
            "cells {grids}; L1 errors {}",
            conv.iter().map(|r| format!("{:.3e}", r.l1)).collect::<Vec<_>>().join(", ")
        );
        match claim {
            Some((lo, hi, what)) => rows.push(row(
                ID,
                name,
                format!("{what}; accepted [{}, {}]", num(lo), num(hi)),
                LEVEQUE,
                format!("{o:.3}"),
                verdict(o >= lo && o <= hi),
                note,
            )),
            None if info => rows.push(row(
                ID,
                name,
                "no textbook value (pre-asymptotic at these grids)",
                LEVEQUE,
                format!("{o:.3}"),
                Verdict::Info,
                note,
            )),
            None => {}
        }
    }
    rows
}

/// The section with the grids `cells`.
fn section(ctx: &Ctx, cells: &[usize]) -> Result<Section, CliError> {
    let mut rows = Vec::new();
    let mut series = Vec::new();
    let total = (CLAIMS.len() * cells.len()) as u64;
    for (k, c) in CLAIMS.iter().enumerate() {
        let argv = ["transport", "--scheme", c.scheme, "--initial", c.initial, "--cfl", "0.5", "--t-final", "1"];
        let flags = Flags::try_parse_from(argv).map_err(|e| CliError::new("input", e.to_string()))?;
        let conv = convergence_rows(&flags.a, cells, |done, _| {
            (ctx.progress)((k * cells.len() + done) as u64, total);
        })?;
        rows.extend(claim_rows(c, &conv));
        if c.initial == "sine" {
            let points = conv.iter().map(|r| ((r.cells as f64).log2(), r.l1)).collect();
            series.push(Series { name: c.scheme.to_string(), points });
        }
    }
    let chart = LineChart {
        title: "L1 error after one period (sine, Courant 0.5)",
        xlabel: "log2(cells)",
        ylabel: "L1 error",
        series: &series,
        log_y: true,
        paired: false,
    };
    let svg = crate::plot::svg(&chart)?;
    let grids = cells.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ");
    Ok(Section {
        id: ID,
        title: "Transport: orders of accuracy against the textbook".into(),
        settings: format!(
            "cells {grids}{}; Courant 0.5, T = 1 (one period), a = 1, f64; order from the two finest grids",
            if ctx.quick { " (--quick; the full run uses 200 to 1600)" } else { "" }
        ),
        rows,
        figures: vec![Figure {
            caption: "Slope -1 for upwind, -2 for Lax-Wendroff, limiters in between (log scale).".into(),
            svg,
        }],
    })
}

/// The section: grids 200 to 1600 (100 to 800 with `--quick`).
pub fn run(ctx: &Ctx) -> Result<Section, CliError> {
    let cells: &[usize] = if ctx.quick { &[100, 200, 400, 800] } else { &[200, 400, 800, 1600] };
    section(ctx, cells)
}
