//! Kinks on sets of positive measure, measured: 1000 steps of minmod Lax-Wendroff on 1000 cells
//! (Courant 0.5, a = 1, f64) with the JAX peer's initial data (a Gaussian plus a square pulse whose
//! flat plateau makes both limiter slopes exactly 0 in many cells at every step) and
//! J(u0) = sum (u_T - target)^2, target = u0 rolled by 100 cells.
//!
//! Prints the kink count, the gradient norm of every offered representation (`assoc`), of `safe`,
//! and of central finite differences (one coordinate at a time), and the relative distances to the
//! finite-difference gradient.
//!
//! `cargo run --release -p kinkgrad --example transport_hazard [cells] [steps]`

use kinkgrad::pde::grid::Grid;
use kinkgrad::pde::limiter::Limiter;
use kinkgrad::pde::scheme::{Scheme, Transport};
use kinkgrad::{Mode, Representation, Tape, Tensor, TieRule};

fn main() -> kinkgrad::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let cells = args.first().copied().unwrap_or(1000);
    let steps = args.get(1).copied().unwrap_or(1000);
    let g = Grid::unit(cells)?;
    let t = Transport::from_courant(g, Scheme::Limited(Limiter::Minmod), 1.0, 0.5, false)?;
    let x: Vec<f64> = (0..cells).map(|j| j as f64 / cells as f64).collect();
    let u0: Vec<f64> =
        x.iter().map(|&x| (-200.0 * (x - 0.3f64).powi(2)).exp() + if x > 0.6 && x < 0.8 { 1.0 } else { 0.0 }).collect();
    let shift = cells / 10;
    let target: Vec<f64> = (0..cells).map(|j| u0[(j + cells - shift) % cells]).collect();

    let run = |mode: &Mode, rep: Representation| -> kinkgrad::Result<(Vec<f64>, usize, String)> {
        let tape = Tape::<f64>::with_representation(rep);
        let u = tape.var(Tensor::vector(u0.clone()));
        let a = tape.scalar(1.0);
        let mut v = u;
        for _ in 0..steps {
            v = t.step_var(v, Some(a), None)?;
        }
        let j = v.sub(tape.constant(Tensor::vector(target.clone())))?.square().sum();
        let gr = tape.gradient(j, &[u], mode)?;
        Ok((gr.values[0].to_f64_vec(), gr.certificate.kinks.total(), gr.certificate.kind.as_str().to_string()))
    };
    let loss = |u: &[f64]| -> f64 {
        let v = t.simulate(u, &[1.0], None, steps).unwrap();
        v.iter().zip(&target).map(|(a, b)| (a - b) * (a - b)).sum()
    };
    let h = 1e-6;
    let fd: Vec<f64> = (0..cells)
        .map(|i| {
            let (mut p, mut m) = (u0.clone(), u0.clone());
            p[i] += h;
            m[i] -= h;
            (loss(&p) - loss(&m)) / (2.0 * h)
        })
        .collect();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let dist = |v: &[f64]| v.iter().zip(&fd).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt() / norm(&fd);
    println!("transport hazard: {cells} cells, {steps} steps, lw-minmod, Courant 0.5, f64");
    println!("  finite differences (h = {h:e}): |g| = {:.4}", norm(&fd));
    let mut reps: Vec<(String, Representation)> = ["minnorm", "pytorch", "jax", "tensorflow"]
        .iter()
        .map(|n| (n.to_string(), Representation::preset(n).unwrap()))
        .collect();
    for (n, r) in [("first", TieRule::First), ("last", TieRule::Last), ("mean", TieRule::Mean)] {
        reps.push((format!("all ties {n}"), Representation::default().with_all_ties(r)));
    }
    for (name, rep) in reps {
        let (gv, kinks, cert) = run(&Mode::Assoc, rep)?;
        println!(
            "  assoc {name:16} |g| = {:.4}  rel. distance to fd {:.3e}  kinks {kinks}  ({cert})",
            norm(&gv),
            dist(&gv)
        );
    }
    // the talk's composite minmod R(-max(-x,-y)) - R(-max(x,y)) from relu/maximum tape ops,
    // differentiated with relu'(0) = 1 and first-argument max ties: d minmod(0,0) = (2, 0),
    // outside Clarke's set; and the same composite with the default representation
    let composite = |rep: Representation| -> kinkgrad::Result<Vec<f64>> {
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
    let gv = composite(bad)?;
    println!("  composite relu/max formula, relu'(0)=1, first ties (inadmissible): |g| = {:.4e}", norm(&gv));
    let gv = composite(Representation::default())?;
    println!("  composite relu/max formula, minnorm:                              |g| = {:.4}", norm(&gv));
    let (gv, kinks, cert) = run(&Mode::safe(), Representation::default())?;
    println!(
        "  safe                   |g| = {:.4}  rel. distance to fd {:.3e}  kinks {kinks}  ({cert})",
        norm(&gv),
        dist(&gv)
    );
    // the same mode through the library's entry point (the locked piece tape; J without the dx factor)
    let (mode, rep) = (Mode::safe(), Representation::default());
    let req = kinkgrad::pde::gradient::GradientRequest {
        u0: &u0,
        target: &target,
        velocity: &[1.0],
        source: None,
        steps,
        mode: &mode,
        representation: &rep,
        schedule: kinkgrad::pde::checkpoint::Schedule::StoreAll,
        wanted: kinkgrad::pde::gradient::Wanted::U0,
    };
    let r = t.loss_gradient(&req)?;
    let gv: Vec<f64> = r.u0.iter().map(|v| v / t.grid.dx()).collect();
    println!(
        "  safe ({})   |g| = {:.4}  rel. distance to fd {:.3e}  kinks {}  unresolved {}",
        r.path.name(),
        norm(&gv),
        dist(&gv),
        r.certificate.kinks.total(),
        r.certificate.unresolved
    );
    Ok(())
}
