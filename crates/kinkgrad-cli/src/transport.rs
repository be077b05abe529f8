//! `kinkgrad transport`: run a finite-volume scheme on a periodic grid and report errors against the
//! exact solution, conservation, total variation and kinks; observed orders with `--convergence`;
//! gradients (timed, with a certificate; checked with `--grad-check` by the library's check of the
//! kind the run allows: central, one-sided along the locked probes, or not applicable) with `--grad`.
//!
//! Wiring (in `main.rs`): a subcommand `Transport(transport::TransportArgs)` whose handler prints
//! `transport::run(&args)?` and exits 2 on `Err` (the error is one line).

use crate::report::CliError;
use clap::Args;
use kinkgrad::check::transport::check_transport;
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::pde::gradient::{GradientRequest, Wanted, Workspace};
use kinkgrad::pde::grid::Grid;
use kinkgrad::pde::scheme::{Scheme, Transport};
use kinkgrad::{Mode, Representation};
use serde_json::{json, Value};
use std::f64::consts::PI;
use std::time::Instant;

/// Arguments of `kinkgrad transport`.
#[derive(Args, Debug, Clone)]
pub struct TransportArgs {
    /// The scheme: upwind, Lax-Wendroff (unlimited or with a limiter), or Godunov for Burgers.
    #[arg(long, default_value = "lw-minmod", value_parser = crate::flags::SCHEMES)]
    pub scheme: String,
    /// Number of cells on [0, 1).
    #[arg(long, default_value_t = 200)]
    pub cells: usize,
    /// Courant number max|speed| dt / dx.
    #[arg(long, default_value_t = 0.5)]
    pub cfl: f64,
    /// Final time.
    #[arg(long = "t-final", default_value_t = 1.0)]
    pub t_final: f64,
    /// Initial data: sine | gauss | square (symmetric: runs hit exact kinks) | skewed (asymmetric,
    /// smooth: hits no kink, so `--grad-check` runs central differences).
    #[arg(long, default_value = "sine", value_parser = ["sine", "gauss", "square", "skewed"])]
    pub initial: String,
    /// Velocity: a number (constant) or `sine` (a(x) = sin(2 pi x) at the faces: changes sign).
    #[arg(long, default_value = "1.0")]
    pub velocity: String,
    /// Comma-separated cell counts: print the observed orders of accuracy.
    #[arg(long)]
    pub convergence: Option<String>,
    /// Differentiate J = sum (u(T) - target)^2 dx (target: the initial data shifted by a tenth of
    /// the domain) with respect to the initial data.
    #[arg(long)]
    pub grad: bool,
    /// Check the gradient of `--grad` by difference quotients valid for the run: central where no
    /// kink was hit; at kinks in safe and lex, quotients of the piece-locked loss (the run's pieces
    /// replayed: exact at any data; upwind, lw, minmod, superbee, MC with a constant velocity), else
    /// one-sided along safe's first probe direction (lex refused); none (said so) in assoc at kinks.
    /// Costs a few more runs.
    #[arg(long)]
    pub grad_check: bool,
    /// Write the gradient of `--grad` (dJ/du0, one value per cell, f64) to this `.npy` file.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Mode and representation of `--grad` (the library picks the path that serves them:
    /// piece tape, checkpointed stepper, or their branch-locked versions for safe and lex).
    #[command(flatten)]
    pub diff: crate::diff_args::DiffArgs,
    /// Checkpoint schedule for `--grad`: all | sqrt | revolve:S [default: all] (with `all` and a
    /// constant velocity the library keeps a 1-byte piece tape instead of the states).
    #[arg(long)]
    pub checkpoint: Option<String>,
    /// Run even above the scheme's stability bound.
    #[arg(long)]
    pub force: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Draw the initial, exact and computed solutions to this file (.svg or .png).
    #[arg(long)]
    pub plot: Option<String>,
}

fn initial_fn(name: &str) -> Result<fn(f64) -> f64, String> {
    match name {
        "sine" => Ok(|x| (2.0 * PI * x).sin()),
        "gauss" => Ok(|x| (-200.0 * (x - 0.5) * (x - 0.5)).exp()),
        "square" => Ok(|x| if (0.25..0.75).contains(&x) { 1.0 } else { 0.0 }),
        // no symmetry and no plateau: adjacent slopes differ in size wherever they share a sign
        "skewed" => {
            Ok(|x| ((2.0 * PI * x).sin() + 0.4 * (4.0 * PI * x + 1.0).sin() + 0.15 * (6.0 * PI * x + 2.3).cos()) / 1.6)
        }
        _ => Err(format!("invalid --initial '{name}': expected sine, gauss, square or skewed")),
    }
}

/// Cell averages of a periodic function (64-point midpoint rule for the discontinuous one, 3-point
/// Gauss otherwise).
fn averages(g: &Grid, name: &str, f: fn(f64) -> f64, shift: f64) -> Vec<f64> {
    let wrap = move |x: f64| f((x - shift).rem_euclid(1.0));
    if name == "square" {
        let dx = g.dx();
        (0..g.cells)
            .map(|j| (0..64).map(|q| wrap((j as f64 + (q as f64 + 0.5) / 64.0) * dx)).sum::<f64>() / 64.0)
            .collect()
    } else {
        g.cell_averages(wrap)
    }
}

struct Setup {
    grid: Grid,
    t: Transport,
    u0: Vec<f64>,
    a: Vec<f64>,
    steps: usize,
    /// Exact solution at T (constant velocity only).
    exact: Option<Vec<f64>>,
}

fn setup(args: &TransportArgs, cells: usize) -> Result<Setup, String> {
    let scheme: Scheme = args.scheme.parse().map_err(|e: kinkgrad::Error| e.to_string())?;
    // the run's vectors over the cells (states, fluxes, velocities, exact solution, work space)
    crate::budget::check(&format!("--cells {cells}"), &[cells as u64, 16 * 8])?;
    let grid = Grid::unit(cells).map_err(|e| e.to_string())?;
    let f = initial_fn(&args.initial)?;
    if !(args.t_final.is_finite() && args.t_final > 0.0) {
        return Err(format!("invalid --t-final {}: expected a positive number", args.t_final));
    }
    if !(args.cfl.is_finite() && args.cfl > 0.0) {
        return Err(format!("invalid --cfl {}: expected a positive number", args.cfl));
    }
    // the step count is refused before any vector over the cells is built: the speed is the
    // velocity's (1 for `sine`), or at most 1 for the nonlinear scheme (|initial data| <= 1)
    let speed_bound = if scheme.is_linear() { args.velocity.parse::<f64>().map_or(1.0, f64::abs) } else { 1.0 };
    crate::budget::steps(
        &format!("--cells {cells} --cfl {:?} --t-final {:?}", args.cfl, args.t_final),
        (args.t_final * speed_bound / (args.cfl * grid.dx())).ceil(),
    )?;
    let u0 = averages(&grid, &args.initial, f, 0.0);
    let (a, speed, exact) = if scheme.is_linear() {
        if args.velocity == "sine" {
            let a: Vec<f64> = grid.faces().iter().map(|&x| (2.0 * PI * x).sin()).collect();
            (a, 1.0, None)
        } else {
            let v: f64 =
                args.velocity.parse().ok().filter(|v: &f64| v.is_finite() && *v != 0.0).ok_or_else(|| {
                    format!("invalid --velocity '{}': expected a non-zero number or sine", args.velocity)
                })?;
            (vec![v], v.abs(), Some(averages(&grid, &args.initial, f, v * args.t_final)))
        }
    } else {
        let m = u0.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        (vec![], if m > 0.0 { m } else { 1.0 }, None)
    };
    // the number of steps that reaches T with a Courant number at most the requested one
    let dt0 = args.cfl * grid.dx() / speed;
    let steps = crate::budget::steps(
        &format!("--cells {cells} --cfl {:?} --t-final {:?}", args.cfl, args.t_final),
        (args.t_final / dt0).ceil().max(1.0),
    )?;
    if args.grad && args.checkpoint.as_deref().unwrap_or("all") == "all" {
        // every step's state is kept for the reverse sweep
        crate::budget::check(
            &format!("--grad --checkpoint all over {steps} steps of {cells} cells: the stored states"),
            &[(steps as u64).saturating_add(1), cells as u64, 8],
        )?;
    }
    let dt = args.t_final / steps as f64;
    let mut t = Transport::new(grid, scheme, dt).map_err(|e| e.to_string())?;
    t.force = args.force;
    t.check_cfl(if scheme.is_linear() { &a } else { &u0 }).map_err(|e| e.to_string())?;
    Ok(Setup { grid, t, u0, a, steps, exact })
}

fn request<'a>(
    s: &'a Setup,
    target: &'a [f64],
    mode: &'a Mode,
    rep: &'a Representation,
    schedule: Schedule,
) -> GradientRequest<'a> {
    GradientRequest {
        u0: &s.u0,
        target,
        velocity: &s.a,
        source: None,
        steps: s.steps,
        mode,
        representation: rep,
        schedule,
        wanted: Wanted::U0,
    }
}

/// The message for a run whose state became NaN or infinite: the first step where it did (found by
/// stepping again, only on this error path).
fn blow_up(s: &Setup) -> String {
    let mut u = s.u0.clone();
    for step in 1..=s.steps {
        match s.t.simulate(&u, &s.a, None, 1) {
            Ok(next) if next.iter().all(|v| v.is_finite()) => u = next,
            _ => {
                return format!(
                    "the solution is not finite from step {step} of {} on (the scheme is run above its stability \
                     bound{}): no result",
                    s.steps,
                    if s.t.force { " with --force" } else { "" }
                )
            }
        }
    }
    format!("the solution is not finite after {} steps", s.steps)
}

fn kinks_of_run(s: &Setup) -> Result<usize, String> {
    // the kinks met by the run (the gradient's certificate counts them once per step)
    let (mode, rep) = (Mode::Assoc, Representation::default());
    let r = s.t.loss_gradient(&request(s, &s.u0, &mode, &rep, Schedule::Sqrt)).map_err(|e| e.to_string())?;
    Ok(r.certificate.kinks.total())
}

fn opt(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |x| json!(x))
}

/// Run `kinkgrad transport` and return its report (text, or one JSON object with `--json`).
pub fn run(args: &TransportArgs) -> Result<String, CliError> {
    if let Some(list) = &args.convergence {
        if let Some(flag) = [
            (args.grad, "--grad"),
            (args.grad_check, "--grad-check"),
            (args.out.is_some(), "--out"),
            (args.plot.is_some(), "--plot (it plots one run's u(T))"),
            (args.checkpoint.is_some(), "--checkpoint"),
        ]
        .into_iter()
        .find_map(|(given, f)| given.then_some(f))
        {
            return Err(format!("{flag} does not apply to --convergence").into());
        }
        return convergence(args, list);
    }
    if args.grad {
        if args.plot.is_some() {
            return Err(
                "--plot does not apply to --grad (it plots a plain run's u(T)); write the gradient with --out F.npy"
                    .to_string()
                    .into(),
            );
        }
        return gradient(args);
    }
    if let Some(flag) =
        [(args.grad_check, "--grad-check"), (args.out.is_some(), "--out"), (args.checkpoint.is_some(), "--checkpoint")]
            .into_iter()
            .find_map(|(given, f)| given.then_some(f))
    {
        return Err(format!("{flag} applies to --grad only").into());
    }
    if let Some(flag) = args.diff.first_given() {
        return Err(format!("{flag} applies to --grad only: this run takes no derivative").into());
    }
    if let Some(p) = &args.plot {
        crate::plot::check(std::path::Path::new(p))?;
    }
    let s = setup(args, args.cells)?;
    let bar = crate::progress::Progress::new(2, "phases");
    bar.message(|| format!("{} steps", s.steps));
    let u = s.t.simulate(&s.u0, &s.a, None, s.steps).map_err(|e| e.to_string())?;
    bar.set(1, || "counting kinks".into());
    if u.iter().any(|v| !v.is_finite()) {
        return Err(CliError::new("numeric", blow_up(&s)));
    }
    let (l1, linf) = match &s.exact {
        Some(e) => (Some(s.grid.l1_distance(&u, e)), Some(s.grid.linf_distance(&u, e))),
        None => (None, None),
    };
    let mass_drift = s.grid.mass(&u) - s.grid.mass(&s.u0);
    let tv_increase = s.grid.total_variation(&u) - s.grid.total_variation(&s.u0);
    let kinks = kinks_of_run(&s)?;
    bar.finish();
    if let Some(path) = &args.plot {
        plot(path, &s.grid, &s.u0, s.exact.as_deref(), &u, &args.scheme)?;
    }
    if args.json {
        return Ok(json!({
            "scheme": args.scheme, "cells": args.cells, "steps": s.steps, "dt": s.t.dt,
            "courant": s.t.courant(if s.a.is_empty() { &s.u0 } else { &s.a }),
            "l1_error": opt(l1), "linf_error": opt(linf), "mass_drift": mass_drift,
            "tv_increase": tv_increase, "kinks": kinks,
        })
        .to_string());
    }
    let f = |v: Option<f64>| v.map_or("n/a (no exact solution)".to_string(), |x| format!("{x:.6e}"));
    Ok(format!(
        "transport {} on {} cells, {} steps (dt {:.4e}) to T = {}\n  L1 error    {}\n  Linf error  {}\n  mass drift  {:.3e}\n  TV increase {:.3e}\n  kinks       {}",
        args.scheme,
        args.cells,
        s.steps,
        s.t.dt,
        args.t_final,
        f(l1),
        f(linf),
        mass_drift,
        tv_increase,
        kinks
    ))
}

/// One grid of a convergence study: cells, L1 and Linf errors against the exact solution, and the
/// observed orders against the previous grid (None on the first).
pub struct ConvergenceRow {
    /// Number of cells.
    pub cells: usize,
    /// L1 error at the final time.
    pub l1: f64,
    /// Linf error at the final time.
    pub linf: f64,
    /// Observed L1 order `ln(e_prev / e) / ln(n / n_prev)`.
    pub order_l1: Option<f64>,
    /// Observed Linf order.
    pub order_linf: Option<f64>,
}

/// The errors and observed orders of `args`' scheme and initial data on each grid of `cells`
/// (what `--convergence` prints; `kinkgrad reproduce` reads it too). `on_grid` is called after each
/// grid with the number done.
pub fn convergence_rows(
    args: &TransportArgs,
    cells: &[usize],
    mut on_grid: impl FnMut(usize, &ConvergenceRow),
) -> Result<Vec<ConvergenceRow>, CliError> {
    let mut rows: Vec<ConvergenceRow> = Vec::new();
    for &n in cells {
        let s = setup(args, n)?;
        let exact =
            s.exact.clone().ok_or("--convergence needs an exact solution: a constant velocity and a linear scheme")?;
        let u = s.t.simulate(&s.u0, &s.a, None, s.steps).map_err(|e| e.to_string())?;
        if u.iter().any(|v| !v.is_finite()) {
            return Err(CliError::new("numeric", format!("--cells {n}: {}", blow_up(&s))));
        }
        let (l1, linf) = (s.grid.l1_distance(&u, &exact), s.grid.linf_distance(&u, &exact));
        let (order_l1, order_linf) = match rows.last() {
            Some(p) => {
                let r = (n as f64 / p.cells as f64).ln();
                (Some((p.l1 / l1).ln() / r), Some((p.linf / linf).ln() / r))
            }
            None => (None, None),
        };
        rows.push(ConvergenceRow { cells: n, l1, linf, order_l1, order_linf });
        on_grid(rows.len(), &rows[rows.len() - 1]);
    }
    Ok(rows)
}

fn convergence(args: &TransportArgs, list: &str) -> Result<String, CliError> {
    let cells: Vec<usize> = list
        .split(',')
        .map(|c| c.trim().parse::<usize>().ok().filter(|&n| n >= 3))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| format!("invalid --convergence '{list}': expected cell counts like 100,200,400"))?;
    let bar = crate::progress::Progress::new(cells.len() as u64, "grids");
    let rows = convergence_rows(args, &cells, |_, r| {
        bar.step(|| format!("{} cells: L1 error {:.4e}, Linf error {:.4e}", r.cells, r.l1, r.linf));
        bar.inc();
    })?;
    bar.finish();
    if args.json {
        let conv: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({"cells": r.cells, "l1_error": r.l1, "linf_error": r.linf,
                       "order_l1": opt(r.order_l1), "order_linf": opt(r.order_linf)})
            })
            .collect();
        return Ok(
            json!({"scheme": args.scheme, "initial": args.initial, "cfl": args.cfl, "convergence": conv}).to_string()
        );
    }
    let mut out = format!(
        "convergence of {} on {} (Courant {}, T = {})\n{:>8} {:>12} {:>12} {:>9} {:>10}",
        args.scheme, args.initial, args.cfl, args.t_final, "cells", "L1", "Linf", "order L1", "order Linf"
    );
    for r in rows {
        let f = |o: Option<f64>| o.map_or("-".to_string(), |x| format!("{x:.3}"));
        let (n, l1, li) = (r.cells, r.l1, r.linf);
        out.push_str(&format!("\n{n:>8} {l1:>12.4e} {li:>12.4e} {:>9} {:>10}", f(r.order_l1), f(r.order_linf)));
    }
    Ok(out)
}

fn gradient(args: &TransportArgs) -> Result<String, CliError> {
    let s = setup(args, args.cells)?;
    let n = s.grid.cells;
    let shift = n / 10;
    let target: Vec<f64> = (0..n).map(|j| s.u0[(j + n - shift) % n]).collect();
    let dx = s.grid.dx();
    let loss = |u0: &[f64]| -> kinkgrad::Result<f64> {
        let u = s.t.simulate(u0, &s.a, None, s.steps)?;
        Ok(u.iter().zip(&target).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() * dx)
    };
    let bar = crate::progress::Progress::new(3, "phases");
    bar.message(|| "timing the forward run".into());
    let (j, forward_seconds) = timed(|| loss(&s.u0).map_err(|e| e.to_string()))?;
    bar.set(1, || "timing the gradient".into());
    if !j.is_finite() {
        return Err(CliError::new("numeric", blow_up(&s)));
    }
    let schedule: Schedule =
        args.checkpoint.as_deref().unwrap_or("all").parse().map_err(|e| format!("invalid --checkpoint: {e}"))?;
    let (mode, rep) = args.diff.build()?;
    let req = request(&s, &target, &mode, &rep, schedule);
    // the library picks the path (piece tape, checkpointed or locked stepper) and measures its memory
    let mut ws = Workspace::default();
    let (r, gradient_seconds) = timed(|| s.t.loss_gradient_in(&req, &mut ws).map_err(|e| e.to_string()))?;
    let grad = r.u0.clone();
    let (peak_bytes, kinks) = (r.peak_bytes, r.certificate.kinks.total());
    let (schedule, path) = (r.schedule.to_string(), r.path.name());
    let check = if args.grad_check {
        bar.set(2, || "gradient check".into());
        Some(check_transport(&s.t, &req, &r, 4)?)
    } else {
        None
    };
    bar.finish();
    if let Some(out) = &args.out {
        kinkgrad::io::npy::save_npy(out, &[grad.len()], &grad)?;
    }
    let norm = grad.iter().map(|v| v * v).sum::<f64>().sqrt();
    let ratio = gradient_seconds / forward_seconds.max(1e-12);
    if args.json {
        return Ok(json!({
            "scheme": args.scheme, "cells": n, "steps": s.steps, "loss": j, "mode": mode.name(),
            "checkpoint": schedule, "path": path, "gradient_norm": norm,
            "grad_check": check, "out": args.out.as_ref().map(|p| p.display().to_string()),
            "forward_seconds": forward_seconds, "gradient_seconds": gradient_seconds, "ratio": ratio,
            "peak_bytes": peak_bytes, "kinks": kinks, "certificate": r.certificate,
        })
        .to_string());
    }
    let check_line = match &check {
        Some(c) => match c.max_rel_error {
            Some(e) => format!(
                "\n  gradient check {}: max rel. error {e:.3e} over {} directions ({})",
                c.kind.as_str(),
                c.directions,
                c.note
            ),
            None => format!("\n  gradient check {}: {}", c.kind.as_str(), c.note),
        },
        None => String::new(),
    };
    let out_line = args.out.as_ref().map_or(String::new(), |p| format!("\n  wrote dJ/du0 to {}", p.display()));
    Ok(format!(
        "gradient of J = sum (u(T) - target)^2 dx, {} on {} cells, {} steps, mode {} ({path}, {schedule})\n  J = {j:.6e}, |dJ/du0| = {norm:.6e}\n  forward {:.3} ms, gradient {:.3} ms, ratio {:.2}\n  peak memory {}\n  kinks {kinks}\n  certificate {}{check_line}{out_line}",
        args.scheme,
        n,
        s.steps,
        mode.name(),
        forward_seconds * 1e3,
        gradient_seconds * 1e3,
        ratio,
        kinkgrad::limits::human_bytes(peak_bytes as u64),
        r.certificate
    ))
}

fn plot(path: &str, g: &Grid, u0: &[f64], exact: Option<&[f64]>, u: &[f64], scheme: &str) -> Result<(), String> {
    use crate::plot::{LineChart, Series};
    let x = g.centers();
    let series = |name: &str, v: &[f64]| Series {
        name: name.into(),
        points: x.iter().copied().zip(v.iter().copied()).collect(),
    };
    // (computed, exact) share a hue, the exact solution dashed; the initial data last
    let mut all = vec![series("computed u(T)", u)];
    all.extend(exact.map(|e| series("exact u(T)", e)));
    all.push(series("initial u(0)", u0));
    let title = format!("kinkgrad transport: {scheme}");
    let chart =
        LineChart { title: &title, xlabel: "x", ylabel: "u", series: &all, log_y: false, paired: exact.is_some() };
    crate::plot::save(std::path::Path::new(path), &chart)
}

/// `f()` once to warm up (threads, fresh memory), then three timed calls: the last result and the
/// median time.
fn timed<R>(mut f: impl FnMut() -> Result<R, String>) -> Result<(R, f64), String> {
    let mut r = f()?;
    let mut ts = Vec::with_capacity(3);
    for _ in 0..3 {
        let t0 = Instant::now();
        r = f()?;
        ts.push(t0.elapsed().as_secs_f64());
    }
    ts.sort_by(f64::total_cmp);
    Ok((r, ts[1]))
}
