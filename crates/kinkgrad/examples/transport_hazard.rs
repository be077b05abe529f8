//! Kinks on sets of positive measure, measured: 1000 steps of minmod Lax-Wendroff on 1000 cells
//! (Courant 0.5, a = 1, f64) with the JAX peer's initial data (a Gaussian plus a square pulse whose
//! flat plateau makes both limiter slopes exactly 0 in many cells at every step) and
//! J(u0) = sum (u_T - target)^2, target = u0 rolled by 100 cells.
//!
//! Prints the kink count, the gradient norm of every offered representation (`assoc`), of `safe`,
//! of the talk's composite minmod formula, and of central finite differences (one coordinate at a
//! time), and the relative distances to the finite-difference gradient. The computation is
//! `kinkgrad::pde::hazard::transport_hazard` (also in `kinkgrad reproduce`).
//!
//! `cargo run --release -p kinkgrad --example transport_hazard [cells] [steps]`

use kinkgrad::pde::hazard::transport_hazard;

fn main() -> kinkgrad::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let cells = args.first().copied().unwrap_or(1000);
    let steps = args.get(1).copied().unwrap_or(1000);
    let h = transport_hazard(cells, steps, &mut |_, _| {})?;
    println!("transport hazard: {cells} cells, {steps} steps, lw-minmod, Courant 0.5, f64");
    println!("  finite differences (h = {:e}): |g| = {:.4}", h.fd_step, h.fd_norm);
    for g in &h.gradients {
        let cert = g.certificate.as_ref().map_or(String::new(), |c| {
            format!("  kinks {}  unresolved {}  ({})", c.kinks.total(), c.unresolved, c.kind.as_str())
        });
        println!("  {:<70} |g| = {:.4e}  rel. distance to fd {:.3e}{cert}", g.label, g.norm, g.distance);
    }
    Ok(())
}
