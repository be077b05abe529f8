//! The schemes themselves: orders of accuracy, conservation and TVD, the a < 0 mirror, Burgers'
//! shock speed, the Courant bound.

use super::*;

/// Errors (L1, Linf) after one period (T = 1, a = 1, Courant 0.5) against the exact solution, which
/// is the initial cell averages again.
fn period_errors(scheme: Scheme, n: usize, f: fn(f64) -> f64, discontinuous: bool) -> (f64, f64) {
    let g = Grid::unit(n).unwrap();
    let t = Transport::from_courant(g, scheme, 1.0, 0.5, false).unwrap();
    let u0 = if discontinuous {
        // the jumps sit on cell faces for these n: exact averages are the point values
        g.centers().iter().map(|&x| square(x)).collect::<Vec<_>>()
    } else {
        g.cell_averages(f)
    };
    let u = t.simulate(&u0, &[1.0], None, 2 * n).unwrap();
    (g.l1_distance(&u, &u0), g.linf_distance(&u, &u0))
}

/// Observed order between the coarsest and finest grid: log(e_200 / e_1600) / log 8.
fn orders(scheme: Scheme, f: fn(f64) -> f64) -> (f64, f64) {
    let disc = f(0.5) == 1.0 && f(0.1) == 0.0;
    let (a1, ai) = period_errors(scheme, 200, f, disc);
    let (b1, bi) = period_errors(scheme, 1600, f, disc);
    ((a1 / b1).ln() / 8f64.ln(), (ai / bi).ln() / 8f64.ln())
}

/// Reference orders from the issue (measured there with an independent implementation) and from
/// theory: upwind 1 on smooth data, 1/2 on a discontinuity (diffusive spreading ~ sqrt(dx t));
/// unlimited Lax-Wendroff 2; minmod Lax-Wendroff ~1.9 in L1 and ~1.3 in Linf on a sine (clipping at
/// the extrema), ~2/3 on a discontinuity (second-order dispersion, 2/(2+1)).
#[test]
fn orders_of_accuracy() {
    let (up1, _) = orders(Scheme::Upwind, sine);
    let (lw1, lwi) = orders(Scheme::LaxWendroff, sine);
    let (mm1, mmi) = orders(Scheme::Limited(Limiter::Minmod), sine);
    let (sq_up, _) = orders(Scheme::Upwind, square);
    let (sq_mm, _) = orders(Scheme::Limited(Limiter::Minmod), square);
    eprintln!("orders: upwind sine L1 {up1:.3}; lw sine L1 {lw1:.3} Linf {lwi:.3}; minmod-lw sine L1 {mm1:.3} Linf {mmi:.3}; square upwind L1 {sq_up:.3}, minmod-lw L1 {sq_mm:.3}");
    assert!((up1 - 1.0).abs() < 0.05, "upwind {up1}");
    assert!((lw1 - 2.0).abs() < 0.05 && (lwi - 2.0).abs() < 0.05, "lw {lw1} {lwi}");
    assert!((mm1 - 1.9).abs() < 0.12, "minmod L1 {mm1}");
    assert!((mmi - 1.3).abs() < 0.15, "minmod Linf {mmi}");
    assert!((sq_up - 0.5).abs() < 0.05, "square upwind {sq_up}");
    assert!((sq_mm - 0.67).abs() < 0.06, "square minmod {sq_mm}");
}

/// Mass `sum u dx` is conserved to round-off (telescoping fluxes), TV does not increase for the
/// limited schemes (Harten's TVD theorem for Courant <= 1), every scheme.
#[test]
fn conservation_and_total_variation() {
    let g = Grid::unit(100).unwrap();
    let u0: Vec<f64> = g.centers().iter().map(|&x| square(x) + 0.5 * (-200.0 * (x - 0.3f64).powi(2)).exp()).collect();
    let m0 = g.mass(&u0);
    for name in ["upwind", "lw", "lw-minmod", "lw-superbee", "lw-mc", "lw-vanleer"] {
        let s: Scheme = name.parse().unwrap();
        let t = Transport::from_courant(g, s, 1.0, 0.8, false).unwrap();
        let mut u = u0.clone();
        let mut tv = g.total_variation(&u);
        for _ in 0..150 {
            u = t.simulate(&u, &[1.0], None, 1).unwrap();
            let tv1 = g.total_variation(&u);
            if name != "lw" {
                assert!(tv1 <= tv + 1e-12, "{name}: TV grew {tv} -> {tv1}");
            }
            tv = tv1;
        }
        assert!((g.mass(&u) - m0).abs() < 1e-13, "{name}: mass drift {}", g.mass(&u) - m0);
    }
    // the unlimited scheme does increase TV at a discontinuity (Godunov's theorem): a sanity check
    let t = Transport::from_courant(g, Scheme::LaxWendroff, 1.0, 0.8, false).unwrap();
    let u = t.simulate(&u0, &[1.0], None, 20).unwrap();
    assert!(g.total_variation(&u) > g.total_variation(&u0) + 0.1);
    // Burgers with a source: mass grows by exactly dt * sum(s) dx per step (to round-off)
    let t = Transport::from_courant(g, Scheme::BurgersGodunov, 1.5, 0.9, false).unwrap();
    let s: Vec<f64> = g.centers().iter().map(|&x| (2.0 * PI * x).cos() + 0.25).collect();
    let u = t.simulate(&u0, &[], Some(&s), 50).unwrap();
    let expected = m0 + 50.0 * t.dt * g.mass(&s);
    assert!((g.mass(&u) - expected).abs() < 1e-13);
}

/// The `a < 0` branch is the mirror image of `a > 0`: reversing the grid and the velocity commutes
/// with the step (x -> -x maps u_t + a u_x = 0 to u_t - a u_x = 0).
#[test]
fn negative_velocity_is_the_mirror_image() {
    let g = Grid::unit(64).unwrap();
    let mut rng = Rng::new(1);
    let u0: Vec<f64> = (0..64).map(|_| rng.range(-1.0, 1.0)).collect();
    for name in ["upwind", "lw", "lw-minmod", "lw-superbee", "lw-mc", "lw-vanleer"] {
        let s: Scheme = name.parse().unwrap();
        let t = Transport::from_courant(g, s, 1.0, 0.7, false).unwrap();
        let right = t.simulate(&u0, &[1.0], None, 10).unwrap();
        let rev: Vec<f64> = u0.iter().rev().copied().collect();
        let left = t.simulate(&rev, &[-1.0], None, 10).unwrap();
        for j in 0..64 {
            assert!((right[j] - left[63 - j]).abs() < 1e-12, "{name} cell {j}");
        }
    }
}

/// The slide's `a < 0` formula `u_{j+1/2} = u_{j+1} + (1 - nu)/2 minmod(u_{j+1} - u_j, u_j - u_{j-1})`
/// is not consistent with Lax-Wendroff: on smooth data with a < 0 it converges at first order at
/// best, while the corrected formula (used by the library) is second order.
#[test]
fn slide_formula_for_negative_velocity_is_inconsistent() {
    fn slide_step(u: &[f64], nu: f64) -> Vec<f64> {
        // a = -1: F_{j+1/2} = a u_{j+1/2} with the slide's reconstruction
        let n = u.len();
        let mm = |x: f64, y: f64| {
            if x * y <= 0.0 {
                0.0
            } else if x.abs() < y.abs() {
                x
            } else {
                y
            }
        };
        let f: Vec<f64> = (0..n)
            .map(|j| {
                let (um, u0, up) = (u[(j + n - 1) % n], u[j], u[(j + 1) % n]);
                -(up + 0.5 * (1.0 - nu) * mm(up - u0, u0 - um))
            })
            .collect();
        (0..n).map(|j| u[j] - nu * (f[j] - f[(j + n - 1) % n])).collect()
    }
    let err = |n: usize, slide: bool| {
        let g = Grid::unit(n).unwrap();
        let u0 = g.cell_averages(sine);
        let u = if slide {
            let mut u = u0.clone();
            for _ in 0..2 * n {
                u = slide_step(&u, 0.5);
            }
            u
        } else {
            let t = Transport::from_courant(g, Scheme::Limited(Limiter::Minmod), 1.0, 0.5, false).unwrap();
            t.simulate(&u0, &[-1.0], None, 2 * n).unwrap()
        };
        g.l1_distance(&u, &u0)
    };
    let ours = (err(100, false) / err(400, false)).log(4.0);
    let slide = (err(100, true) / err(400, true)).log(4.0);
    eprintln!("a < 0, L1 order: corrected {ours:.2}, slide {slide:.2}; slide error at N=400: {:.3e}", err(400, true));
    assert!(ours > 1.7);
    assert!(slide < 1.2, "the slide's formula converged at order {slide}");
}

/// Burgers Riemann problem u_l > u_r: a shock moving at the Rankine-Hugoniot speed (u_l + u_r)/2.
#[test]
fn burgers_shock_speed() {
    for (ul, ur) in [(1.0, 0.0), (1.0, -0.5), (2.0, 1.0)] {
        let n = 800;
        let g = Grid::unit(n).unwrap();
        let x0 = 0.3;
        let u0: Vec<f64> = g.centers().iter().map(|&x| if x < x0 { ul } else { ur }).collect();
        let t = Transport::from_courant(g, Scheme::BurgersGodunov, f64::max(ul, -ur), 0.9, false).unwrap();
        let steps = (0.2 / t.dt).round() as usize;
        let time = steps as f64 * t.dt;
        let u = t.simulate(&u0, &[], None, steps).unwrap();
        // the shock: the first crossing of the mid value to the right of x0
        let mid = 0.5 * (ul + ur);
        let c = g.centers();
        let j = (0..n).find(|&j| c[j] > x0 && u[j] >= mid && u[j + 1] < mid).unwrap();
        let xs = c[j] + g.dx() * (u[j] - mid) / (u[j] - u[j + 1]);
        let expected = x0 + 0.5 * (ul + ur) * time;
        assert!((xs - expected).abs() < 2.0 * g.dx(), "({ul}, {ur}): shock at {xs}, expected {expected}");
    }
}

#[test]
fn cfl_violation_is_a_typed_error_unless_forced() {
    let g = Grid::unit(20).unwrap();
    let t = Transport::new(g, Scheme::Upwind, 0.1).unwrap(); // Courant 2 for a = 1
    let e = t.simulate(&[0.0; 20], &[1.0], None, 1).unwrap_err();
    assert!(matches!(e, kinkgrad::Error::Invalid { .. }), "{e}");
    assert!(e.to_string().contains("Courant number"));
    let mut forced = t.clone();
    forced.force = true;
    assert!(forced.simulate(&[0.0; 20], &[1.0], None, 1).is_ok());
    let tape = Tape::<f64>::new();
    let u = tape.var(Tensor::vector(vec![0.0; 20]));
    let a = tape.var(Tensor::scalar(1.0));
    assert!(t.step_var(u, Some(a), None).is_err());
    // wrong shapes and a velocity given to Burgers are typed errors too
    let b = Transport::new(g, Scheme::BurgersGodunov, 0.01).unwrap();
    assert!(b.step_var(u, Some(a), None).is_err());
    assert!(t.simulate(&[0.0; 19], &[0.1], None, 1).is_err());
    assert!("lw-foo".parse::<Scheme>().is_err());
}

/// `Transport::loss` (the forward run only) is the loss every gradient path reports, bit for bit;
/// independent value: upwind at Courant number 1 shifts by one cell per step, so after 3 steps
/// `J = Σ_j (u0[j-3] - target_j)^2 dx`.
#[test]
fn loss_alone_is_the_gradient_paths_loss() {
    let g = Grid::unit(40).unwrap();
    let up = Transport::from_courant(g, Scheme::Upwind, 1.0, 1.0, false).unwrap();
    let u0: Vec<f64> = g.centers().iter().map(|&x| sine(x)).collect();
    let target = vec![0.25; 40];
    let by_hand: f64 = (0..40).map(|j| (u0[(j + 37) % 40] - 0.25).powi(2)).sum::<f64>() / 40.0;
    let j = up.loss(&u0, &target, &[1.0], None, 3).unwrap();
    assert!((j - by_hand).abs() <= 1e-14 * by_hand, "{j} vs {by_hand}");
    let t = Transport::from_courant(g, Scheme::Limited(Limiter::Minmod), 1.0, 0.5, false).unwrap();
    let u0: Vec<f64> = g.centers().iter().map(|&x| square(x) + 0.3 * sine(x)).collect();
    let rep = Representation::default();
    for (mode, schedule) in
        [(Mode::Assoc, Schedule::StoreAll), (Mode::safe(), Schedule::StoreAll), (Mode::safe(), Schedule::Sqrt)]
    {
        let r = entry(&t, &u0, &target, &[1.0], None, 30, &mode, &rep, schedule, Wanted::U0);
        assert_eq!(t.loss(&u0, &target, &[1.0], None, 30).unwrap().to_bits(), r.loss.to_bits());
    }
    assert!(t.loss(&u0, &target[..39], &[1.0], None, 30).is_err());
}
