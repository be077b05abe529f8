//! `kinkgrad ritz`: the Deep Ritz method for `-u'' = pi^2 sin(pi x)` on `(0, 1)` with zero boundary
//! values, by the usual quadrature recipe or by exact integration between sorted breakpoints; an
//! optional plot (SVG or PNG) of `u` against the exact solution `sin(pi x)`.

use crate::plot::{LineChart, Series};
use crate::progress::Progress;
use clap::Args as ClapArgs;
use kinkgrad::nn::ritz::{evaluate, solve, RitzConfig, RitzMethod};
use serde_json::{json, Value};
use std::path::PathBuf;

/// Arguments of `kinkgrad ritz`.
#[derive(ClapArgs, Debug, Clone)]
pub struct Args {
    /// `quadrature` (u' by autodiff at fixed midpoints; stalls with ReLU) or `exact` (sorted
    /// breakpoints, exact integration; shallow networks only).
    #[arg(long, default_value = "exact", value_parser = ["exact", "quadrature"], value_name = "METHOD")]
    pub method: String,
    /// Hidden width.
    #[arg(long, default_value_t = 32)]
    pub width: usize,
    /// Hidden layers (quadrature only; exact needs 1).
    #[arg(long, default_value_t = 1)]
    pub depth: usize,
    /// Adam iterations (optimiser steps).
    #[arg(long, default_value_t = 3000)]
    pub iterations: usize,
    /// The former name of --iterations: refused with a hint (time steps are `--steps` elsewhere).
    #[arg(long = "steps", hide = true, value_name = "N")]
    pub old_steps: Option<String>,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-2)]
    pub lr: f64,
    /// Quadrature midpoints (quadrature method only) [default: 1000].
    #[arg(long)]
    pub points: Option<usize>,
    /// Seed of the initial weights.
    #[arg(long, default_value_t = 0)]
    pub init_seed: u64,
    /// Mode and representation of every derivative of a step (the recorded `u'` and the weight
    /// gradient).
    #[command(flatten)]
    pub diff: crate::diff_args::DiffArgs,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Draw u and the exact solution to this file (.svg or .png).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// Quadrature midpoints when `--points` is not given.
const DEFAULT_POINTS: usize = 1000;

/// Run `kinkgrad ritz`; the result as JSON, and the run's certificate.
pub fn run(args: Args) -> Result<(Value, kinkgrad::Certificate), String> {
    run_with_solution(&args).map(|(v, c, _)| (v, c))
}

/// The learned solution at 1001 evenly spaced points of [0, 1]: (x, u(x)).
pub(crate) type Solution = Vec<(f64, f64)>;

/// [`run`], also returning the learned solution (the curve of `--plot` and of `reproduce`).
pub(crate) fn run_with_solution(args: &Args) -> Result<(Value, kinkgrad::Certificate, Solution), String> {
    if args.old_steps.is_some() {
        return Err("--steps is now --iterations (Adam iterations; --steps means time steps in every command)".into());
    }
    let method: RitzMethod = args.method.parse().map_err(|e: kinkgrad::Error| e.to_string())?;
    let points = match (method, args.points) {
        (RitzMethod::Exact, Some(_)) => {
            return Err("--points applies to --method quadrature only: exact integrates between breakpoints".into())
        }
        (_, p) => p.unwrap_or(DEFAULT_POINTS),
    };
    if let Some(p) = &args.plot {
        crate::plot::check(p)?;
    }
    if !(args.lr.is_finite() && args.lr > 0.0) {
        return Err(format!("invalid lr: {}: must be a positive number", args.lr));
    }
    if points == 0 {
        return Err("invalid points: must be positive".into());
    }
    let (mode, representation) = args.diff.build()?;
    let (w, d) = (args.width as u64, args.depth.max(1) as u64);
    // weights, gradients and Adam's moments; the tape of one step holds every layer's values at
    // every point (and their derivatives in x for the quadrature)
    crate::budget::check(
        &format!("--width {} --depth {}: the network", args.width, args.depth),
        &[d, w, w.saturating_add(2), 4 * 8],
    )?;
    let tape_points =
        if method == RitzMethod::Quadrature { points as u64 } else { w.saturating_mul(d).saturating_add(2) };
    crate::budget::check(
        &format!("--width {} --depth {} --points {points}: one step's tape", args.width, args.depth),
        &[tape_points, d.saturating_add(1), w, 8 * 8],
    )?;
    crate::budget::steps("--iterations", args.iterations as f64)?;
    let cfg = RitzConfig {
        method,
        width: args.width,
        depth: args.depth,
        steps: args.iterations,
        lr: args.lr,
        points,
        seed: args.init_seed,
        mode,
        representation,
    };
    let bar = Progress::new(args.iterations as u64, "iterations");
    let mut energies = Vec::with_capacity(args.iterations);
    let res = solve(&cfg, &mut |s, e| {
        energies.push(e);
        if s % 50 == 0 {
            bar.set(s as u64, || format!("energy {e:.6}"));
            bar.step(|| format!("iteration {s}: objective {e:.6e}"));
        }
    });
    bar.finish();
    let (model, r) = res.map_err(|e| e.to_string())?;
    let xs: Vec<f64> = (0..=1000).map(|i| i as f64 / 1000.0).collect();
    let u = evaluate(&model, method, &xs).map_err(|e| e.to_string())?;
    if let Some(p) = &args.plot {
        let series =
            [Series { name: "u (learned)".into(), points: xs.iter().copied().zip(u.iter().copied()).collect() }];
        solution_chart(&series, &args.method, |c| crate::plot::save(p, c))?;
    }
    Ok((
        json!({
            "method": args.method,
            "width": args.width,
            "depth": args.depth,
            "iterations": args.iterations,
            "lr": args.lr,
            "points": if method == RitzMethod::Quadrature { Some(points) } else { None },
            "init_seed": args.init_seed,
            "l2_rel_error": r.l2_rel_error,
            "h1_rel_error": r.h1_rel_error,
            "energy": r.energy,
            "exact_energy": r.exact_energy,
            "final_objective": energies.last().copied(),
            "breakpoints_inside": r.breakpoints_inside,
            "seconds": r.seconds,
            "certificate": r.certificate,
        }),
        r.certificate,
        xs.into_iter().zip(u).collect(),
    ))
}

/// The human-readable summary of a `ritz` result, with the run's certificate on one line.
pub fn human(v: &Value, certificate: &kinkgrad::Certificate) -> String {
    format!(
        "Deep Ritz, method {}, width {}: {} iterations in {:.2}s\nrelative L2 error {:.3e}  relative H1 error {:.3e}\nenergy {:.6} (minimum -pi^2/4 = {:.6}), {} breakpoints inside (0, 1)\n",
        v["method"].as_str().unwrap_or(""),
        v["width"],
        v["iterations"],
        v["seconds"].as_f64().unwrap_or(0.0),
        v["l2_rel_error"].as_f64().unwrap_or(f64::NAN),
        v["h1_rel_error"].as_f64().unwrap_or(f64::NAN),
        v["energy"].as_f64().unwrap_or(f64::NAN),
        v["exact_energy"].as_f64().unwrap_or(f64::NAN),
        v["breakpoints_inside"],
    ) + &format!("certificate {certificate}\n")
}

/// Learned solutions (`learned`, on the grid of [`Solution`]) against the exact `sin(pi x)`, handed
/// to `draw` (a file for `--plot`, SVG text for `reproduce`); `method` names them in the title.
pub(crate) fn solution_chart<R>(learned: &[Series], method: &str, draw: impl FnOnce(&LineChart) -> R) -> R {
    let mut series: Vec<Series> = Vec::new();
    for s in learned {
        let exact = s.points.iter().map(|&(x, _)| (x, (std::f64::consts::PI * x).sin())).collect();
        series.push(Series { name: s.name.clone(), points: s.points.clone() });
        series.push(Series { name: "sin(pi x) (exact)".into(), points: exact });
    }
    let title = format!("Deep Ritz ({method}): -u'' = pi^2 sin(pi x)");
    draw(&LineChart { title: &title, xlabel: "x", ylabel: "u(x)", series: &series, log_y: false, paired: true })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(extra: &[&str]) -> Args {
        let mut v = vec!["ritz"];
        v.extend_from_slice(extra);
        Cli::parse_from(v).args
    }

    #[test]
    fn json_has_the_documented_keys_and_a_plot_is_written() {
        let dir = std::env::temp_dir().join(format!("kinkgrad-cli-ritz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let svg = dir.join("u.svg");
        let (v, _) = run(args(&["--width", "8", "--iterations", "50", "--plot", svg.to_str().unwrap()])).unwrap();
        for key in ["l2_rel_error", "h1_rel_error", "energy", "seconds"] {
            assert!(v[key].as_f64().is_some_and(f64::is_finite), "{key}");
        }
        assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
        assert_eq!(v["iterations"], 50);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_old_steps_flag_and_points_with_exact_are_refused() {
        let e = run(args(&["--steps", "50"])).unwrap_err();
        assert!(e.contains("--iterations") && !e.contains('\n'), "{e}");
        let e = run(args(&["--method", "exact", "--points", "10"])).unwrap_err();
        assert!(e.contains("--points") && e.contains("quadrature"), "{e}");
    }

    #[test]
    fn exact_needs_a_shallow_network() {
        assert!(run(args(&["--depth", "2", "--iterations", "1"])).unwrap_err().contains("depth"));
        assert!(run(args(&["--method", "quadrature", "--points", "0"])).unwrap_err().contains("points"));
    }
}
