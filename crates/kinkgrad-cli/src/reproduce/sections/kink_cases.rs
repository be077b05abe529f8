//! The project's own table of kink cases (`kinkgrad::primitive::cases::hand_cases`, the table the
//! registry tests check): every registered primitive at points where several pieces are active.
//! Recomputed here: the associated gradient under the case's representation against the
//! hand-derived value, and `safe` and `lex` against Clarke's generalized gradient (they must return
//! the gradient of a piece active on an open set touching the point, whatever the representation).

use super::{lib, row, vec_str, verdict};
use crate::report::CliError;
use crate::reproduce::row::{Ctx, Row, Section};
use kinkgrad::primitive::cases::{hand_cases, KinkCase};
use kinkgrad::primitive::{self, registry, Piecewise};
use kinkgrad::{Mode, Representation, Tape, Tensor, Var};

const ID: &str = "kink-cases";

/// The gradient of the primitive at `x` (scalar arguments) under `rep` in `mode`.
fn gradient(p: Box<dyn Piecewise>, x: &[f64], rep: &Representation, mode: &Mode) -> Result<Vec<f64>, CliError> {
    let tape = Tape::<f64>::with_representation(rep.clone());
    let vars: Vec<Var<'_, f64>> = x.iter().map(|&v| tape.var(Tensor::scalar(v))).collect();
    let y = primitive::apply(p, &vars).map_err(lib)?;
    let g = tape.gradient(y, &vars, mode).map_err(lib)?;
    g.values.iter().map(|t| t.item().map_err(lib)).collect()
}

/// The gradients of the pieces active on open sets touching `x`: Clarke's generalized gradient of
/// a piecewise-affine function is their convex hull. Found by probing `x + 1e-3 d` along the
/// directions `d` of {-1, 0, 1}^n, each shifted by a fixed irrational-looking offset so that no
/// probe lands on another switching surface (a probe where two pieces tie is skipped).
fn clarke_vertices(p: &dyn Piecewise, x: &[f64]) -> Vec<Vec<f64>> {
    let n = x.len();
    let mut out: Vec<Vec<f64>> = Vec::new();
    for code in 0..3usize.pow(n as u32) {
        for shift in [0.0, 0.173, -0.291] {
            let y: Vec<f64> = (0..n)
                .map(|j| x[j] + 1e-3 * ((code / 3usize.pow(j as u32) % 3) as f64 - 1.0 + shift * (j as f64 + 1.0)))
                .collect();
            let m = primitive::active(p, &y);
            if m.count_ones() == 1 {
                let mut g = vec![0.0; n];
                p.piece_partials(m.trailing_zeros() as usize, x, &mut g);
                if !out.contains(&g) {
                    out.push(g);
                }
            }
        }
    }
    out
}

fn find(name: &str) -> Result<Box<dyn Piecewise>, CliError> {
    registry::all()
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| CliError::new("input", format!("kink case for '{name}': no such registered primitive")))
}

/// The rows of `cases`: one assoc row per case, then one safe/lex row per distinct point.
fn rows_of(ctx: &Ctx, cases: &[KinkCase]) -> Result<Vec<Row>, CliError> {
    let mut rows = Vec::new();
    let mut points: Vec<(&str, Vec<f64>)> = Vec::new();
    for (k, c) in cases.iter().enumerate() {
        (ctx.progress)(k as u64, cases.len() as u64 + 1);
        let g = gradient(find(c.primitive)?, &c.point, &c.representation, &Mode::Assoc)?;
        let close = g.len() == c.assoc.len() && g.iter().zip(&c.assoc).all(|(a, b)| (a - b).abs() < 1e-15);
        rows.push(row(
            ID,
            format!("assoc {}{} under {}", c.primitive, vec_str(&c.point), c.representation.name),
            vec_str(&c.assoc),
            "hand derivation (kinkgrad::primitive::cases, checked by tests/it/registry.rs)",
            vec_str(&g),
            verdict(close),
            "",
        ));
        if !points.iter().any(|(n, x)| *n == c.primitive && *x == c.point) {
            points.push((c.primitive, c.point.clone()));
        }
    }
    for (name, x) in points {
        let p = find(name)?;
        let vertices = clarke_vertices(p.as_ref(), &x);
        let hull = vertices.iter().map(|v| vec_str(v)).collect::<Vec<_>>().join(", ");
        for (mode_name, mode) in [("safe", Mode::safe()), ("lex", Mode::Lex(None))] {
            // representation-independent: the same under PyTorch's preset and under "all ties last"
            let g = gradient(find(name)?, &x, &Representation::pytorch(), &mode)?;
            let other = Representation::default().with_all_ties(kinkgrad::TieRule::Last).with_relu_at_zero(1.0);
            let g2 = gradient(find(name)?, &x, &other, &mode)?;
            rows.push(row(
                ID,
                format!("{mode_name} {name}{}", vec_str(&x)),
                format!(
                    "an element of Clarke's generalized gradient: the gradient of a piece active near x, one of {hull}"
                ),
                "Clarke 1983: the hull of the gradients of the pieces active near x (probed in this run)",
                vec_str(&g),
                verdict(vertices.contains(&g) && g == g2),
                if g == g2 {
                    "the same under pytorch and minnorm[ties=last, relu=1]".to_string()
                } else {
                    format!("differs under another representation: {}", vec_str(&g2))
                },
            ));
        }
    }
    Ok(rows)
}

/// The section.
pub fn run(ctx: &Ctx) -> Result<Section, CliError> {
    let cases = hand_cases();
    let rows = rows_of(ctx, &cases)?;
    (ctx.progress)(cases.len() as u64 + 1, cases.len() as u64 + 1);
    Ok(Section {
        id: ID,
        title: "Kink cases of every registered primitive: hand values and Clarke's set".into(),
        settings: format!("{} hand-derived cases, f64; same in --quick", cases.len()),
        rows,
        figures: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A changed table entry changes the verdict: relu'(0) under relu'(0) = 0.5 is 0.5 (by the
    /// representation's definition), so a case claiming 0.25 misses and says what was measured.
    #[test]
    fn a_wrong_hand_value_is_a_miss() {
        let ctx = Ctx { quick: true, peer_python: None, progress: &|_, _| {} };
        let case = KinkCase {
            primitive: "relu",
            point: vec![0.0],
            representation: Representation::default().with_relu_at_zero(0.5),
            assoc: vec![0.25],
        };
        let rows = rows_of(&ctx, &[case]).unwrap();
        assert_eq!((rows[0].measured.as_str(), rows[0].verdict), ("(0.5)", crate::reproduce::row::Verdict::Miss));
        // safe at relu's kink: the gradient of relu's piece 0 or x, a vertex of [0, 1]
        assert!(rows[1].reference.contains("(0)") && rows[1].reference.contains("(1)"), "{}", rows[1].reference);
    }
}
