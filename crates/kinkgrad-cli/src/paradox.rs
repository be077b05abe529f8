//! `kinkgrad paradox`: the talk's paradoxes, computed in every mode.
//!
//! - Boustany: `f(t) = max_first(t x) - max_mean(t x)` with `x = (1, 2, 3, 4)` is identically 0, yet
//!   the associated gradient at `t = 0` (PyTorch's convention: `torch.max` splits ties evenly) is
//!   `x.(1,0,0,0) - x.(1/4,1/4,1/4,1/4) = 1 - 2.5 = -1.5`.
//! - Murat-Trombetti: `max(x, x) = x`; every admissible tie rule gives 1.
//! - Compensation: `x = 1.14 (1, 1, 1, 1)` ties at every `t`; frameworks sum the weighted entries in
//!   the working precision, and rounding leaves a non-zero `f'(t)`.

use crate::output::num;
use kinkgrad::{Certificate, Mode, Real, Representation, Tape, Tensor, TieRule};
use std::path::PathBuf;

/// Arguments of `kinkgrad paradox`.
#[derive(clap::Args)]
pub struct Args {
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Draw f and f' for each mode over t in [-1, 1] into this file (.svg or .png).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

const TS: [f64; 7] = [-1.0, -0.5, -0.01, 0.0, 0.01, 0.5, 1.0];

/// Boustany's default entries `x = (1, 2, 3, 4)` (the talk's slide).
pub const BOUSTANY_X: [f64; 4] = [1.0, 2.0, 3.0, 4.0];

/// The compensation example's entry: `x = 1.14 (1, 1, 1, 1)`.
pub const COMPENSATION_X: f64 = 1.14;

/// The point of the compensation example, `t = 0.5`.
pub const COMPENSATION_T: f64 = 0.5;

/// `f(t)`, `f'(t)` and its certificate for Boustany's function with entries `x` in precision `T`
/// (PyTorch's representation: `max2` splits ties evenly).
pub fn boustany<T: Real>(x: &[f64], t0: f64, mode: &Mode) -> kinkgrad::Result<(f64, f64, Certificate)> {
    let tape = Tape::<T>::with_representation(Representation::pytorch());
    let t = tape.var(Tensor::scalar(T::from_f64(t0)));
    let xs = tape.constant(Tensor::from_f64(vec![x.len()], x)?);
    let tx = t.mul(xs)?;
    let f = tx.max_all_with(TieRule::First).sub(tx.max_all_with(TieRule::Mean))?;
    let g = tape.gradient(f, &[t], mode)?;
    Ok((f.item()?, g.values[0].item()?.to_f64(), g.certificate))
}

/// The associated gradient (assoc mode) of `max` with tie rule `rule` at the origin of `R^n`: the
/// talk's `max1` is `TieRule::First`, `max2` (torch.max) `TieRule::Mean`.
pub fn max_assoc_gradient_at_0(rule: TieRule, n: usize) -> kinkgrad::Result<(Vec<f64>, Certificate)> {
    let tape = Tape::<f64>::new();
    let y = tape.var(Tensor::vector(vec![0.0; n]));
    let g = tape.gradient(y.max_all_with(rule), &[y], &Mode::Assoc)?;
    Ok((g.values[0].to_f64_vec(), g.certificate))
}

/// Murat-Trombetti: `d/dx max(x, x)` at `x0` in `mode` under `rep`, with its certificate; the true
/// value is 1.
pub fn murat_trombetti(x0: f64, rep: Representation, mode: &Mode) -> kinkgrad::Result<(f64, Certificate)> {
    let tape = Tape::<f64>::with_representation(rep);
    let v = tape.var(Tensor::scalar(x0));
    let f = v.maximum(v)?;
    let g = tape.gradient(f, &[v], mode)?;
    Ok((g.values[0].item()?, g.certificate))
}

/// What a framework computes for the compensation example: the tie weights `(1,0,0,0)` and
/// `(1/4,...)` are differenced and dotted with `x` in the working precision, in index order.
pub fn framework_compensation<T: Real>(x: f64) -> f64 {
    let xt = T::from_f64(x);
    let q = T::from_f64(0.25);
    let mut acc = T::ZERO;
    for i in 0..4 {
        let w1 = if i == 0 { T::ONE } else { T::ZERO };
        acc = acc + (w1 - q) * xt;
    }
    acc.to_f64()
}

/// The three modes of the tables, named as the tables print them.
pub fn modes() -> [(&'static str, Mode); 3] {
    [("assoc", Mode::Assoc), ("lex", Mode::Lex(None)), ("safe", Mode::safe())]
}

/// Run the command.
pub fn run(a: Args) -> Result<String, String> {
    if let Some(p) = &a.plot {
        crate::plot::check(p)?;
    }
    let e = |e: kinkgrad::Error| e.to_string();
    let x = BOUSTANY_X;
    let mut rows = Vec::new();
    for &t in &TS {
        let r = modes().iter().map(|(_, m)| boustany::<f64>(&x, t, m)).collect::<Result<Vec<_>, _>>().map_err(e)?;
        rows.push((t, r));
    }
    // associated gradients of max1 and max2 at 0
    let (g1, c1) = max_assoc_gradient_at_0(TieRule::First, 4).map_err(e)?;
    let (g2, c2) = max_assoc_gradient_at_0(TieRule::Mean, 4).map_err(e)?;
    // Murat-Trombetti
    let mut mt: Vec<(&str, f64, Certificate)> = Vec::new();
    for (n, m) in modes() {
        let (v, c) = murat_trombetti(1.0, Representation::pytorch(), &m).map_err(e)?;
        mt.push((n, v, c));
    }
    // compensation
    type Row = [(f64, f64, Certificate); 3];
    fn row<T: Real>(e: impl Fn(kinkgrad::Error) -> String + Copy) -> Result<Row, String> {
        let [a, b, c] = modes().map(|(_, m)| boustany::<T>(&[COMPENSATION_X; 4], COMPENSATION_T, &m));
        Ok([a.map_err(e)?, b.map_err(e)?, c.map_err(e)?])
    }
    let comp: Vec<(&str, f64, Row)> = vec![
        ("f16", framework_compensation::<kinkgrad::f16>(COMPENSATION_X), row::<kinkgrad::f16>(e)?),
        ("f32", framework_compensation::<f32>(COMPENSATION_X), row::<f32>(e)?),
        ("f64", framework_compensation::<f64>(COMPENSATION_X), row::<f64>(e)?),
    ];
    if let Some(p) = &a.plot {
        crate::plot::save(p, &Boustany { x: BOUSTANY_X.to_vec() })?;
    }
    if a.json {
        let j = serde_json::json!({
            "boustany": rows.iter().map(|(t, r)| serde_json::json!({
                "t": t, "f": num(r[0].0),
                "assoc_pytorch": num(r[0].1), "assoc_certificate": r[0].2,
                "lex": num(r[1].1), "lex_certificate": r[1].2,
                "safe": num(r[2].1), "safe_certificate": r[2].2,
            })).collect::<Vec<_>>(),
            "assoc_gradient_max1_at_0": g1,
            "assoc_gradient_max1_at_0_certificate": c1,
            "assoc_gradient_max2_at_0": g2,
            "assoc_gradient_max2_at_0_certificate": c2,
            "murat_trombetti": mt.iter().map(|(n, v, _)| (n.to_string(), num(*v))).collect::<serde_json::Map<_, _>>(),
            "murat_trombetti_certificates": mt.iter()
                .map(|(n, _, c)| (n.to_string(), serde_json::json!(c))).collect::<serde_json::Map<_, _>>(),
            "compensation": comp.iter().map(|(p, fw, k)| serde_json::json!({
                "precision": p, "framework_style": num(*fw),
                "assoc": num(k[0].1), "lex": num(k[1].1), "safe": num(k[2].1),
                "certificates": {"assoc": k[0].2, "lex": k[1].2, "safe": k[2].2},
            })).collect::<Vec<_>>(),
        });
        return Ok(format!("{j}\n"));
    }
    let mut s = String::from(
        "Boustany paradox: f(t) = max1(t x) - max2(t x), x = (1,2,3,4); max1 = first index, max2 = torch.max (even split)\n\n",
    );
    let mut table =
        vec![["t", "f(t)", "f'(t) assoc/pytorch", "f'(t) lex", "f'(t) safe", "certificates (assoc | lex | safe)"]
            .map(String::from)
            .to_vec()];
    for (t, r) in &rows {
        let certs = format!("{} | {} | {}", short(&r[0].2), short(&r[1].2), short(&r[2].2));
        let cells = [*t, r[0].0, r[0].1, r[1].1, r[2].1].map(|v| format!("{}", v + 0.0));
        table.push(cells.into_iter().chain([certs]).collect());
    }
    s += &aligned(&table, "");
    if let Some((_, r)) = rows.iter().find(|(t, _)| *t == 0.0) {
        s += "certificates at t = 0:\n";
        for c in r.iter().map(|x| &x.2) {
            s += &format!("  {c}\n");
        }
    }
    s += &format!("\nassociated gradient of max1 at 0: {g1:?}  certificate: {c1}\n");
    s += &format!("associated gradient of max2 at 0: {g2:?}  certificate: {c2}\n");
    s += "\nMurat-Trombetti: d/dx max(x, x) at x = 1 (true value 1; a rule giving every tied entry the full gradient would say 2)\n";
    for (n, v, c) in &mt {
        s += &format!("  {n:<6} {v}   certificate: {c}\n");
    }
    s += "\nCompensation: x = 1.14 (1,1,1,1) ties at every t; f'(0.5) (true value 0)\n";
    let mut table = vec![[
        "precision",
        "framework-style sum",
        "kinkgrad assoc",
        "lex",
        "safe",
        "certificates (assoc | lex | safe)",
    ]
    .map(String::from)
    .to_vec()];
    for (p, fw, k) in &comp {
        let certs = format!("{} | {} | {}", short(&k[0].2), short(&k[1].2), short(&k[2].2));
        table.push(vec![p.to_string(), sci(*fw), sci(k[0].1), sci(k[1].1), sci(k[2].1), certs]);
    }
    s += &aligned(&table, "  ");
    s += "  The four pieces are the same function of t, so the tie survives every direction and f' = 0 exactly.\n";
    s += "  framework-style: the weights (1,0,0,0) - (1/4,1/4,1/4,1/4) dotted with x in the working precision, index order.\n";
    s += "  assoc: the backward pass multiplies the cotangent (3/4, -1/4, -1/4, -1/4) by x in the working precision\n";
    s += "    (3/4 x rounds) and sums in f64: the residue is one rounding of 3/4 x.\n";
    s += "  lex: each max applies its weights to the tangents in f64 and rounds once: both give x, so f' = 0.\n";
    s += "  safe: the tie survives the probe directions (counted as unresolved in its certificate); such a tie gives\n";
    s += "    its whole weight to the first tied piece, in both maxes the same piece, so f' = 0 exactly.\n";
    Ok(s)
}

/// A number in the shortest form that reads back exactly, in scientific notation; zero as `0`.
fn sci(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else {
        format!("{v:e}")
    }
}

/// `rows` as a text table: every column right-aligned to its widest cell except the last
/// (left-aligned), each line starting with `indent`.
fn aligned(rows: &[Vec<String>], indent: &str) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> =
        (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::from(indent);
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                line += cell;
            } else {
                line += &format!("{cell:>w$}   ", w = width[c]);
            }
        }
        out += line.trim_end();
        out.push('\n');
    }
    out
}

/// A certificate in a table cell: its kind and, when kinks were hit, their number and the ties left
/// unresolved (the full line is its `Display`).
fn short(c: &Certificate) -> String {
    match (c.kinks_total(), c.unresolved) {
        (0, _) => c.kind.to_string(),
        (k, 0) => format!("{} ({k} kinks)", c.kind),
        (k, u) => format!("{} ({k} kinks, {u} unresolved)", c.kind),
    }
}

/// f and f' in every mode over t in [-1, 1], one panel each (the modes differ only at t = 0), for
/// the entries `x`.
pub struct Boustany {
    /// The entries of `t x`.
    pub x: Vec<f64>,
}

impl crate::plot::Figure for Boustany {
    fn size(&self) -> (u32, u32) {
        (800, 820)
    }
    fn draw<DB: plotters::prelude::DrawingBackend>(
        &self,
        root: &plotters::drawing::DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), String> {
        use crate::plot::err;
        use plotters::prelude::*;
        let ts: Vec<f64> = (0..=200).map(|i| (i as f64 - 100.0) / 100.0).collect();
        let curve = |mode: &Mode, value: bool| -> Result<Vec<(f64, f64)>, String> {
            ts.iter()
                .map(|&t| {
                    let (f, d, _) = boustany::<f64>(&self.x, t, mode).map_err(err)?;
                    Ok((t, if value { f } else { d }))
                })
                .collect()
        };
        let panels = [
            ("f(t) (identically 0)", "f(t)", curve(&Mode::Assoc, true)?, BLACK),
            ("f'(t), assoc (PyTorch's tie rule)", "f'(t)", curve(&Mode::Assoc, false)?, RGBColor(213, 94, 0)),
            ("f'(t), lex", "f'(t)", curve(&Mode::Lex(None), false)?, RGBColor(0, 114, 178)),
            ("f'(t), safe", "f'(t)", curve(&Mode::safe(), false)?, RGBColor(0, 158, 115)),
        ];
        let root = root
            .titled(&format!("Boustany: f(t) = max1(tx) - max2(tx), x = {:?}", self.x), ("sans-serif", 20))
            .map_err(err)?;
        for (area, (caption, ylabel, pts, color)) in root.split_evenly((4, 1)).iter().zip(panels) {
            let mut chart = ChartBuilder::on(area)
                .caption(caption, ("sans-serif", 15))
                .margin(8)
                .x_label_area_size(35)
                .y_label_area_size(55)
                .build_cartesian_2d(-1.0..1.0, -1.8..0.5)
                .map_err(err)?;
            chart.configure_mesh().y_labels(4).x_desc("t").y_desc(ylabel).draw().map_err(err)?;
            chart.draw_series(pts.iter().map(|&(t, v)| Circle::new((t, v), 2, color.filled()))).map_err(err)?;
        }
        Ok(())
    }
}
