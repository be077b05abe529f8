//! Generic checks of every element-wise primitive in `kinkgrad::primitive::registry::all()`: a
//! primitive added to the registry is checked here without writing a test for it.
//!
//! - off the kinks, on each piece: the tape gradient equals central finite differences (the reference
//!   is the function's values, not its declared partials), the forward value is the piece's value, and
//!   the VJP passes the dot-product test against the JVP;
//! - on the kinks (every point of the integer grid {-2..2}^arity where several pieces are active):
//!   the associated gradient is a combination of the tied pieces' partials with weights summing to 1
//!   (a convex one for the admissible rules), with hand-derived values for each tie rule;
//! - `lex` and `safe` do not depend on the representation, return the gradient of one tied piece, and
//!   `lex` agrees with one-sided finite differences along its directions.

use kinkgrad::check::{dot_product_test, finite_differences};
use kinkgrad::primitive::{self, registry, Piecewise};
use kinkgrad::{CertificateKind, Directions, Mode, Representation, Rng, Tape, Tensor, TieRule, Var};

fn prims() -> Vec<Box<dyn Piecewise>> {
    registry::all()
}

fn prim(i: usize) -> Box<dyn Piecewise> {
    registry::all().swap_remove(i)
}

fn rules() -> Vec<TieRule> {
    vec![TieRule::First, TieRule::Last, TieRule::Mean, TieRule::MinNorm, TieRule::Weighted(vec![3.0, 1.0, 2.0])]
}

/// Representations to sweep, with a flag: true when every kink weight is in [0, 1] (the associated
/// gradient must then be a convex combination of the tied pieces' partials).
fn reps() -> Vec<(Representation, bool)> {
    let mut v = vec![
        (Representation::minnorm(), true),
        (Representation::pytorch(), true),
        (Representation::jax(), true),
        (Representation::tensorflow(), true),
    ];
    for r in rules() {
        v.push((Representation::default().with_all_ties(r), true));
    }
    for z in [0.5, 1.0] {
        v.push((Representation::default().with_relu_at_zero(z), true));
    }
    // relu'(0) may be any real: weights (3, -2) still sum to 1, but are not convex
    v.push((Representation::default().with_relu_at_zero(-2.0), false));
    let r: Representation = "minnorm[ties=last,abs=-1,hardtanh=0.5,leaky_relu=0.25]".parse().unwrap();
    v.push((r, true));
    v
}

fn switching(p: &dyn Piecewise, x: &[f64]) -> Vec<f64> {
    let mut s = vec![0.0; p.switches()];
    p.switching(x, &mut s);
    s
}

/// The partials of `piece` at `x` (they depend on `x` for the non-affine pieces, e.g. the upwind
/// flux `a u_l` and Godunov's `u^2/2`).
fn partials(p: &dyn Piecewise, piece: usize, x: &[f64]) -> Vec<f64> {
    let mut g = vec![0.0; p.arity()];
    p.piece_partials(piece, x, &mut g);
    g
}

/// `sum(w * prim(args))` on a fresh tape from flat inputs (`arity` blocks of `n`): the function the
/// finite differences see.
fn weighted_value(i: usize, x: &[f64], n: usize, w: &[f64]) -> f64 {
    let tape = Tape::<f64>::new();
    let vars: Vec<Var<'_, f64>> = x.chunks(n).map(|c| tape.var(Tensor::vector(c.to_vec()))).collect();
    let y = primitive::apply(prim(i), &vars).unwrap();
    y.mul(tape.constant(Tensor::vector(w.to_vec()))).unwrap().sum().item().unwrap()
}

/// Random points on piece `piece` only, at distance > `margin` (in switching value) from every kink.
fn sample_piece(p: &dyn Piecewise, piece: usize, n: usize, rng: &mut Rng) -> Vec<Vec<f64>> {
    let margin = 0.05;
    let mut pts = Vec::new();
    for _ in 0..100_000 {
        if pts.len() == n {
            break;
        }
        let x: Vec<f64> = (0..p.arity()).map(|_| 2.0 * rng.normal()).collect();
        if primitive::active(p, &x) == 1 << piece && switching(p, &x).iter().all(|s| s.abs() > margin) {
            pts.push(x);
        }
    }
    assert_eq!(pts.len(), n, "{}: could not sample piece {}", p.name(), p.pieces()[piece]);
    pts
}

#[test]
fn every_piece_matches_finite_differences_and_dot_product() {
    let n = 6;
    let mut rng = Rng::new(7);
    for (i, p) in prims().iter().enumerate() {
        let a = p.arity();
        for piece in 0..p.pieces().len() {
            let pts = sample_piece(p.as_ref(), piece, n, &mut rng);
            // flat layout: argument j's n values are x[j*n..(j+1)*n]
            let x: Vec<f64> = (0..a).flat_map(|j| pts.iter().map(move |q| q[j])).collect();
            let w: Vec<f64> = (0..n).map(|_| rng.normal()).collect();

            let tape = Tape::<f64>::new();
            let vars: Vec<Var<'_, f64>> = x.chunks(n).map(|c| tape.var(Tensor::vector(c.to_vec()))).collect();
            let y = primitive::apply(prim(i), &vars).unwrap();
            // forward value: the piece's own value
            for (e, q) in pts.iter().enumerate() {
                assert_eq!(y.value().data()[e], p.piece_value(piece, q), "{} value", p.name());
            }
            let loss = y.mul(tape.constant(Tensor::vector(w.clone()))).unwrap().sum();
            let g = tape.gradient(loss, &vars, &Mode::Assoc).unwrap();
            assert_eq!(g.certificate.kind, CertificateKind::Exact, "{}: off kinks", p.name());
            let grad: Vec<f64> = g.values.iter().flat_map(|t| t.to_f64_vec()).collect();
            // the declared partials, weighted (these are what the kink tests below combine)
            for (e, q) in pts.iter().enumerate() {
                let pp = partials(p.as_ref(), piece, q);
                for j in 0..a {
                    assert_eq!(grad[j * n + e], w[e] * pp[j], "{} piece {piece} partial {j}", p.name());
                }
            }
            // central finite differences of the function values (margin 0.05 >> step 1e-6)
            let rep =
                finite_differences(&mut |xs: &[f64]| Ok(weighted_value(i, xs, n, &w)), &x, &grad, 8, 1e-6, 11).unwrap();
            assert!(
                rep.max_rel_error < 1e-6,
                "{} piece {}: FD error {}",
                p.name(),
                p.pieces()[piece],
                rep.max_rel_error
            );

            // dot-product test: J u through the lexicographic forward mode (one output at a time,
            // M = u), J^T v through reverse mode
            let mut jvp = |u: &[f64]| -> Vec<f64> {
                (0..n)
                    .map(|e| {
                        let tape = Tape::<f64>::new();
                        let vars: Vec<Var<'_, f64>> =
                            x.chunks(n).map(|c| tape.var(Tensor::vector(c.to_vec()))).collect();
                        let ye = primitive::apply(prim(i), &vars).unwrap().slice(0, e, e + 1).unwrap().sum();
                        let m = Directions { rows: a * n, cols: 1, data: u.to_vec() };
                        tape.gradient(ye, &vars, &Mode::Lex(Some(m))).unwrap().ld_derivative.unwrap()[0]
                    })
                    .collect()
            };
            let mut vjp = |v: &[f64]| -> Vec<f64> {
                let tape = Tape::<f64>::new();
                let vars: Vec<Var<'_, f64>> = x.chunks(n).map(|c| tape.var(Tensor::vector(c.to_vec()))).collect();
                let y = primitive::apply(prim(i), &vars).unwrap();
                let l = y.mul(tape.constant(Tensor::vector(v.to_vec()))).unwrap().sum();
                tape.gradient(l, &vars, &Mode::Assoc).unwrap().values.iter().flat_map(|t| t.to_f64_vec()).collect()
            };
            let mismatch = dot_product_test(&mut jvp, &mut vjp, a * n, n, 3);
            assert!(mismatch < 1e-12, "{}: dot-product test {mismatch}", p.name());
        }
    }
}

/// Every point of {-2, ..., 2}^arity where more than one piece is active, with its tied set.
fn grid_kinks(p: &dyn Piecewise) -> Vec<(Vec<f64>, u32)> {
    let a = p.arity() as u32;
    let mut out = Vec::new();
    for code in 0..5usize.pow(a) {
        let x: Vec<f64> = (0..a).map(|j| (code / 5usize.pow(j) % 5) as f64 - 2.0).collect();
        let m = primitive::active(p, &x);
        if m.count_ones() > 1 {
            out.push((x, m));
        }
    }
    out
}

/// The gradient of `prim(x)` (scalar arguments) in a mode.
fn grad_at(i: usize, x: &[f64], rep: &Representation, mode: &Mode) -> (Vec<f64>, CertificateKind) {
    let tape = Tape::<f64>::with_representation(rep.clone());
    let vars: Vec<Var<'_, f64>> = x.iter().map(|&v| tape.var(Tensor::scalar(v))).collect();
    let y = primitive::apply(prim(i), &vars).unwrap();
    let g = tape.gradient(y, &vars, mode).unwrap();
    (g.values.iter().map(|t| t.item().unwrap()).collect(), g.certificate.kind)
}

fn value_at(i: usize, x: &[f64]) -> f64 {
    let tape = Tape::<f64>::new();
    let vars: Vec<Var<'_, f64>> = x.iter().map(|&v| tape.var(Tensor::scalar(v))).collect();
    primitive::apply(prim(i), &vars).unwrap().item().unwrap()
}

/// Solve `sum_p w_p P_p = g`, `sum_p w_p = 1` for the weights of the partials `P_p` (normal
/// equations). Returns the weights and the residual, or None when the points are affinely dependent.
fn affine_weights(pts: &[Vec<f64>], g: &[f64]) -> Option<(Vec<f64>, f64)> {
    let m = pts.len();
    let rows: Vec<Vec<f64>> = (0..g.len()).map(|d| pts.iter().map(|q| q[d]).chain([0.0]).collect()).collect();
    // A (rows x m): the partials' coordinates, then a row of ones; b: g then 1
    let mut a: Vec<Vec<f64>> = rows.iter().map(|r| r[..m].to_vec()).collect();
    a.push(vec![1.0; m]);
    let mut b = g.to_vec();
    b.push(1.0);
    let mut n = vec![vec![0.0; m + 1]; m];
    for r in 0..m {
        for c in 0..m {
            n[r][c] = a.iter().map(|row| row[r] * row[c]).sum();
        }
        n[r][m] = a.iter().zip(&b).map(|(row, bb)| row[r] * bb).sum();
    }
    for c in 0..m {
        let piv = (c..m).max_by(|&i, &j| n[i][c].abs().total_cmp(&n[j][c].abs())).unwrap();
        n.swap(c, piv);
        if n[c][c].abs() <= 1e-12 {
            return None;
        }
        for r in 0..m {
            if r != c {
                let f = n[r][c] / n[c][c];
                let pivot_row = n[c].clone();
                for (x, y) in n[r].iter_mut().zip(&pivot_row).skip(c) {
                    *x -= f * y;
                }
            }
        }
    }
    let w: Vec<f64> = (0..m).map(|i| n[i][m] / n[i][i]).collect();
    let res = a
        .iter()
        .zip(&b)
        .map(|(row, bb)| (row.iter().zip(&w).map(|(x, y)| x * y).sum::<f64>() - bb).abs())
        .fold(0.0, f64::max);
    Some((w, res))
}

/// Whether `g` is an affine (`convex` = false) or convex combination of the tied partials `pts`.
/// The tied partials may be affinely dependent (superbee and MC at (0, 0): five and four points in
/// the plane), so every affinely independent subset is tried: by Caratheodory's theorem a point of
/// the convex hull is a convex combination of an affinely independent subset, and a point of the
/// affine hull is an affine combination of any maximal one.
fn in_hull(pts: &[Vec<f64>], g: &[f64], convex: bool) -> bool {
    let m = pts.len();
    (1u32..1 << m).any(|subset| {
        let sub: Vec<Vec<f64>> = (0..m).filter(|i| subset >> i & 1 == 1).map(|i| pts[i].clone()).collect();
        affine_weights(&sub, g).is_some_and(|(w, res)| res < 1e-12 && (!convex || w.iter().all(|&v| v >= -1e-12)))
    })
}

#[test]
fn assoc_at_kinks_is_a_weighted_combination_of_tied_pieces() {
    for (i, p) in prims().iter().enumerate() {
        let kinks = grid_kinks(p.as_ref());
        assert!(!kinks.is_empty(), "{}: no kink on the grid", p.name());
        for (x, tied) in &kinks {
            let idx: Vec<usize> = (0..p.pieces().len()).filter(|q| tied >> q & 1 == 1).collect();
            let pts: Vec<Vec<f64>> = idx.iter().map(|&q| partials(p.as_ref(), q, x)).collect();
            for (rep, convex) in reps() {
                let (g, kind) = grad_at(i, x, &rep, &Mode::Assoc);
                assert_eq!(kind, CertificateKind::RepresentationDependent);
                assert!(
                    in_hull(&pts, &g, false),
                    "{} at {x:?} ({}): {g:?} not in the affine hull of {pts:?}",
                    p.name(),
                    rep.name
                );
                if convex {
                    assert!(
                        in_hull(&pts, &g, true),
                        "{} at {x:?} ({}): {g:?} not in the convex hull of {pts:?}",
                        p.name(),
                        rep.name
                    );
                }
            }
        }
    }
}

/// Hand-derived associated gradients at kinks, one line per (primitive, point, representation):
/// the table `kinkgrad::primitive::cases::hand_cases()` (shared with `kinkgrad reproduce`), with
/// its derivations in its comments.
#[test]
fn assoc_at_kinks_hand_values() {
    let cases = kinkgrad::primitive::cases::hand_cases();
    assert!(cases.len() >= 40);
    let all = prims();
    for kinkgrad::primitive::cases::KinkCase { primitive: name, point: x, representation: rep, assoc: expect } in cases
    {
        let i = all.iter().position(|p| p.name() == name).unwrap_or_else(|| panic!("{name} not registered"));
        let (g, _) = grad_at(i, &x, &rep, &Mode::Assoc);
        for (a, b) in g.iter().zip(&expect) {
            assert!((a - b).abs() < 1e-15, "{name} at {x:?} under {rep:?}: {g:?} != {expect:?}");
        }
    }
}

/// The piece active at `x + h m_1 + h^2 m_2 + ...` for small h: the lexicographic choice along the
/// columns of `m` (integer grid points, integer switching coefficients: h = 1e-2 separates the orders).
fn piece_along(p: &dyn Piecewise, x: &[f64], m: &Directions) -> usize {
    let h: f64 = 1e-2;
    let y: Vec<f64> = (0..x.len())
        .map(|r| x[r] + (0..m.cols).map(|c| h.powi(c as i32 + 1) * m.data[r * m.cols + c]).sum::<f64>())
        .collect();
    let mask = primitive::active(p, &y);
    assert_eq!(mask.count_ones(), 1, "{} at {y:?}", p.name());
    mask.trailing_zeros() as usize
}

#[test]
fn lex_and_safe_at_kinks_are_representation_independent_and_one_sided() {
    let mut rng = Rng::new(5);
    for (i, p) in prims().iter().enumerate() {
        let a = p.arity();
        for (x, tied) in grid_kinks(p.as_ref()) {
            let idx: Vec<usize> = (0..p.pieces().len()).filter(|q| tied >> q & 1 == 1).collect();
            let tied_partials: Vec<Vec<f64>> = idx.iter().map(|&q| partials(p.as_ref(), q, &x)).collect();
            let (lex0, kind) = grad_at(i, &x, &Representation::default(), &Mode::Lex(None));
            assert_eq!(kind, CertificateKind::Generalized);
            let (safe0, _) = grad_at(i, &x, &Representation::default(), &Mode::safe());
            for (rep, _) in reps() {
                assert_eq!(
                    grad_at(i, &x, &rep, &Mode::Lex(None)).0,
                    lex0,
                    "{} lex at {x:?} under {}",
                    p.name(),
                    rep.name
                );
                assert_eq!(
                    grad_at(i, &x, &rep, &Mode::safe()).0,
                    safe0,
                    "{} safe at {x:?} under {}",
                    p.name(),
                    rep.name
                );
            }
            // safe: the gradient of a piece active on an open set touching x (found by sampling the
            // pieces at x + 1e-3 r over random directions r; clamp at x = lo = hi has all three
            // pieces nearby although its forward tie keeps one bound piece)
            let mut near = tied_partials.clone();
            for _ in 0..200 {
                let y: Vec<f64> = x.iter().map(|v| v + 1e-3 * rng.range(-1.0, 1.0)).collect();
                let m = primitive::active(p.as_ref(), &y);
                if m.count_ones() == 1 {
                    near.push(partials(p.as_ref(), m.trailing_zeros() as usize, &x));
                }
            }
            assert!(near.contains(&safe0), "{} safe at {x:?}: {safe0:?} not in {near:?}", p.name());
            // lex with M = I, -I and a random integer matrix: the gradient of the piece active at
            // x + h m1 + h^2 m2 + ..., and f'(x; m1) is the one-sided difference quotient along m1
            let neg = Directions { rows: a, cols: a, data: Directions::identity(a).data.iter().map(|v| -v).collect() };
            // a random invertible integer matrix (integer entries keep the orders of h separated)
            let rand = loop {
                let m = Directions { rows: a, cols: a, data: (0..a * a).map(|_| rng.below(7) as f64 - 3.0).collect() };
                if m.solve_transposed(&vec![1.0; a]).is_some() {
                    break m;
                }
            };
            for m in [Directions::identity(a), neg, rand] {
                let tape = Tape::<f64>::new();
                let vars: Vec<Var<'_, f64>> = x.iter().map(|&v| tape.var(Tensor::scalar(v))).collect();
                let y = primitive::apply(prim(i), &vars).unwrap();
                let g = tape.gradient(y, &vars, &Mode::Lex(Some(m.clone()))).unwrap();
                let lexg: Vec<f64> = g.values.iter().map(|t| t.item().unwrap()).collect();
                let piece = partials(p.as_ref(), piece_along(p.as_ref(), &x, &m), &x);
                for (u, v) in lexg.iter().zip(&piece) {
                    assert!((u - v).abs() < 1e-12, "{} lex at {x:?} with {m:?}: {lexg:?} vs piece {piece:?}", p.name());
                }
                let ld = g.ld_derivative.unwrap();
                // along the ray x + t m1 the function is one polynomial piece of degree <= 2 for small
                // t > 0, so the second-order one-sided quotient is exact there (up to rounding)
                let h = 1e-3;
                let at = |t: f64| value_at(i, &(0..a).map(|r| x[r] + t * m.data[r * m.cols]).collect::<Vec<_>>());
                let one_sided = (-3.0 * at(0.0) + 4.0 * at(h) - at(2.0 * h)) / (2.0 * h);
                assert!((ld[0] - one_sided).abs() < 1e-9, "{} f'(x; m1) = {} vs {one_sided}", p.name(), ld[0]);
            }
        }
    }
}

/// Off the kinks, lex and safe return the associated gradient (there is only one piece).
#[test]
fn lex_and_safe_equal_assoc_off_kinks() {
    let mut rng = Rng::new(9);
    for (i, p) in prims().iter().enumerate() {
        for piece in 0..p.pieces().len() {
            for x in sample_piece(p.as_ref(), piece, 3, &mut rng) {
                let (assoc, k) = grad_at(i, &x, &Representation::default(), &Mode::Assoc);
                assert_eq!(k, CertificateKind::Exact);
                assert_eq!(assoc, partials(p.as_ref(), piece, &x));
                for mode in [Mode::Lex(None), Mode::safe()] {
                    let (g, k) = grad_at(i, &x, &Representation::default(), &mode);
                    assert_eq!(k, CertificateKind::Exact, "{} {mode:?}", p.name());
                    assert_eq!(g, assoc, "{} {mode:?} at {x:?}", p.name());
                }
            }
        }
    }
}
