//! Kinks on sets of positive measure, measured: minmod Lax-Wendroff (Courant 0.5, a = 1, f64) on
//! the JAX peer's initial data (a Gaussian plus a square pulse whose flat plateau makes both
//! limiter slopes exactly 0 in many cells at every step), `J(u0) = sum (u_T - target)^2` with the
//! target `u0` rolled by a tenth of the grid. The gradient of every offered representation
//! (`assoc`), of `safe` (tape and the library's locked piece tape) and of the talk's composite
//! minmod `R(-max(-x,-y)) - R(-max(x,y))` against central finite differences.
//!
//! One computation, read by the example `transport_hazard` and by `kinkgrad reproduce`.

use crate::pde::checkpoint::Schedule;
use crate::pde::gradient::{GradientRequest, Wanted};
use crate::pde::grid::Grid;
use crate::pde::limiter::Limiter;
use crate::pde::scheme::{Scheme, Transport};
use crate::{Certificate, Mode, Representation, Result, Tape, Tensor, TieRule};

/// One gradient of the hazard loss.
#[derive(Clone, Debug)]
pub struct HazardGradient {
    /// What computed it (`assoc minnorm`, `safe`, `composite ...`).
    pub label: String,
    /// Its Euclidean norm.
    pub norm: f64,
    /// Its distance to the finite-difference gradient, relative to that gradient's norm.
    pub distance: f64,
    /// Its certificate (None for the composite formula, whose kinks are relu/max ties).
    pub certificate: Option<Certificate>,
}

/// The hazard run's measurements.
#[derive(Clone, Debug)]
pub struct Hazard {
    /// Cells and steps.
    pub cells: usize,
    /// Time steps.
    pub steps: usize,
    /// The finite-difference step.
    pub fd_step: f64,
    /// Norm of the central finite-difference gradient (one coordinate at a time).
    pub fd_norm: f64,
    /// The gradients: every offered representation in `assoc`, the composite formula twice
    /// (inadmissible representation, minimum-norm), `safe` on the tape and through
    /// `Transport::loss_gradient`.
    pub gradients: Vec<HazardGradient>,
}

/// Runs the hazard workload on `cells` cells for `steps` steps; `progress(done, total)` is called
/// as the finite differences (one pair of runs per cell) and the gradients advance.
///
/// # Errors
///
/// The library's errors (an invalid grid, cancellation, a non-finite gradient).
pub fn transport_hazard(cells: usize, steps: usize, progress: &mut dyn FnMut(usize, usize)) -> Result<Hazard> {
    let g = Grid::unit(cells)?;
    let t = Transport::from_courant(g, Scheme::Limited(Limiter::Minmod), 1.0, 0.5, false)?;
    let x: Vec<f64> = (0..cells).map(|j| j as f64 / cells as f64).collect();
    let u0: Vec<f64> =
        x.iter().map(|&x| (-200.0 * (x - 0.3f64).powi(2)).exp() + if x > 0.6 && x < 0.8 { 1.0 } else { 0.0 }).collect();
    let shift = cells / 10;
    let target: Vec<f64> = (0..cells).map(|j| u0[(j + cells - shift) % cells]).collect();
    let total = cells + 10;
    let loss = |u: &[f64]| -> Result<f64> {
        let v = t.simulate(u, &[1.0], None, steps)?;
        Ok(v.iter().zip(&target).map(|(a, b)| (a - b) * (a - b)).sum())
    };
    let h = 1e-6;
    let mut fd = Vec::with_capacity(cells);
    for i in 0..cells {
        let (mut p, mut m) = (u0.clone(), u0.clone());
        p[i] += h;
        m[i] -= h;
        fd.push((loss(&p)? - loss(&m)?) / (2.0 * h));
        progress(i + 1, total);
    }
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let fd_norm = norm(&fd);
    let dist = |v: &[f64]| v.iter().zip(&fd).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt() / fd_norm;
    let entry = |label: String, v: &[f64], certificate: Option<Certificate>| HazardGradient {
        label,
        norm: norm(v),
        distance: dist(v),
        certificate,
    };
    // the scheme's step on a tape, differentiated in `mode` under `rep`
    let taped = |mode: &Mode, rep: Representation| -> Result<(Vec<f64>, Certificate)> {
        let tape = Tape::<f64>::with_representation(rep);
        let u = tape.var(Tensor::vector(u0.clone()));
        let a = tape.scalar(1.0);
        let mut v = u;
        for _ in 0..steps {
            v = t.step_var(v, Some(a), None)?;
        }
        let j = v.sub(tape.constant(Tensor::vector(target.clone())))?.square().sum();
        let gr = tape.gradient(j, &[u], mode)?;
        Ok((gr.values[0].to_f64_vec(), gr.certificate))
    };
    let mut reps: Vec<(String, Representation)> = ["minnorm", "pytorch", "jax", "tensorflow"]
        .iter()
        .map(|n| Ok((n.to_string(), Representation::preset(n)?)))
        .collect::<Result<_>>()?;
    for (n, r) in [("first", TieRule::First), ("last", TieRule::Last), ("mean", TieRule::Mean)] {
        reps.push((format!("all ties {n}"), Representation::default().with_all_ties(r)));
    }
    let mut gradients = Vec::new();
    for (name, rep) in reps {
        let (gv, c) = taped(&Mode::Assoc, rep)?;
        gradients.push(entry(format!("assoc {name}"), &gv, Some(c)));
        progress(cells + gradients.len(), total);
    }
    // the talk's composite minmod R(-max(-x,-y)) - R(-max(x,y)) from relu/maximum tape ops; with
    // relu'(0) = 1 and first-argument max ties d minmod(0,0) = (2, 0), outside Clarke's set
    let composite = |rep: Representation| -> Result<Vec<f64>> {
        let tape = Tape::<f64>::with_representation(rep);
        let u = tape.var(Tensor::vector(u0.clone()));
        let nu = 0.5;
        let mut v = u;
        for _ in 0..steps {
            let dp = v.roll(0, -1)?.sub(v)?;
            let dm = v.sub(v.roll(0, 1)?)?;
            let m1 = dp.neg().maximum(dm.neg())?.neg().relu();
            let m2 = dp.maximum(dm)?.neg().relu();
            let flux = v.add(m1.sub(m2)?.scale(0.5 * (1.0 - nu)))?;
            v = v.sub(flux.sub(flux.roll(0, 1)?)?.scale(nu))?;
        }
        let j = v.sub(tape.constant(Tensor::vector(target.clone())))?.square().sum();
        Ok(tape.gradient(j, &[u], &Mode::Assoc)?.values[0].to_f64_vec())
    };
    let bad = Representation::default().with_all_ties(TieRule::First).with_relu_at_zero(1.0);
    gradients.push(entry(
        "composite relu/max formula, relu'(0)=1, first ties (inadmissible)".into(),
        &composite(bad)?,
        None,
    ));
    gradients.push(entry("composite relu/max formula, minnorm".into(), &composite(Representation::default())?, None));
    progress(cells + gradients.len(), total);
    let (gv, c) = taped(&Mode::safe(), Representation::default())?;
    gradients.push(entry("safe (tape)".into(), &gv, Some(c)));
    // the same mode through the library's entry point (J without the dx factor)
    let (mode, rep) = (Mode::safe(), Representation::default());
    let req = GradientRequest {
        u0: &u0,
        target: &target,
        velocity: &[1.0],
        source: None,
        steps,
        mode: &mode,
        representation: &rep,
        schedule: Schedule::StoreAll,
        wanted: Wanted::U0,
    };
    let r = t.loss_gradient(&req)?;
    let gv: Vec<f64> = r.u0.iter().map(|v| v / t.grid.dx()).collect();
    gradients.push(entry(format!("safe ({})", r.path.name()), &gv, Some(r.certificate)));
    progress(total, total);
    Ok(Hazard { cells, steps, fd_step: h, fd_norm, gradients })
}
