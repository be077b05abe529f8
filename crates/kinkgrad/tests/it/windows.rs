//! Generic checks of the window maxima (n-ary max/min, reductions over all elements or along an
//! axis, 1-d and 2-d max-pooling), which are not element-wise and so not in the registry:
//! central finite differences and the dot-product test (VJP against the lexicographic JVP) at random
//! points, and the tie weights of every rule at planted ties, with hand-derived values.

use kinkgrad::check::{dot_product_test, finite_differences};
use kinkgrad::{CertificateKind, Directions, Mode, Representation, Rng, Tape, Tensor, TieRule, Var};

/// A window op applied to one input of shape `[2, 3, 4]`.
type Op = for<'t> fn(Var<'t, f64>) -> Var<'t, f64>;

const SHAPE: [usize; 3] = [2, 3, 4];

fn ops() -> Vec<(&'static str, Op)> {
    vec![
        ("max_all", |v| v.max_all()),
        ("min_all", |v| v.min_all()),
        ("max_axis0", |v| v.max_axis(0, false).unwrap()),
        ("max_axis2_keepdim", |v| v.max_axis(2, true).unwrap()),
        ("min_axis1", |v| v.min_axis(1, false).unwrap()),
        ("max_n", |v| Var::max_n(&[v.slice(0, 0, 1).unwrap(), v.slice(0, 1, 2).unwrap()], None).unwrap()),
        ("min_n", |v| {
            Var::min_n(&[v.slice(2, 0, 1).unwrap(), v.slice(2, 1, 2).unwrap(), v.slice(2, 3, 4).unwrap()], None)
                .unwrap()
        }),
        ("max_pool1d_k2_s1", |v| v.max_pool1d(2, 1).unwrap()),
        ("max_pool1d_k3_s1", |v| v.max_pool1d(3, 1).unwrap()),
        ("max_pool2d_k2_s1", |v| v.max_pool2d((2, 2), (1, 1)).unwrap()),
        ("max_pool2d_k2x3_s1x1", |v| v.max_pool2d((2, 3), (1, 1)).unwrap()),
        ("max_pool2d_k3x2_s1x2", |v| v.max_pool2d((3, 2), (1, 2)).unwrap()),
    ]
}

fn n_in() -> usize {
    SHAPE.iter().product()
}

/// `sum(w * op(x))` and its output size.
fn weighted(op: Op, x: &[f64], w: Option<&[f64]>) -> (f64, usize) {
    let tape = Tape::<f64>::new();
    let v = tape.var(Tensor::from_f64(SHAPE.to_vec(), x).unwrap());
    let y = op(v);
    let n = y.value().len();
    let w = w.map(|w| w.to_vec()).unwrap_or_else(|| vec![1.0; n]);
    let s = y.reshape(&[n]).unwrap().mul(tape.constant(Tensor::vector(w))).unwrap().sum();
    (s.item().unwrap(), n)
}

#[test]
fn window_ops_match_finite_differences_and_dot_product() {
    let mut rng = Rng::new(21);
    for (name, op) in ops() {
        for _ in 0..3 {
            // distinct values almost surely: no tie, the maxima are unique
            let x: Vec<f64> = (0..n_in()).map(|_| rng.normal()).collect();
            let n_out = weighted(op, &x, None).1;
            let w: Vec<f64> = (0..n_out).map(|_| rng.normal()).collect();
            let tape = Tape::<f64>::new();
            let v = tape.var(Tensor::from_f64(SHAPE.to_vec(), &x).unwrap());
            let y = op(v).reshape(&[n_out]).unwrap().mul(tape.constant(Tensor::vector(w.clone()))).unwrap().sum();
            let g = tape.gradient(y, &[v], &Mode::Assoc).unwrap();
            assert_eq!(g.certificate.kind, CertificateKind::Exact, "{name}");
            let grad = g.values[0].to_f64_vec();
            // FD: the nearest tie is at distance ~1e-2 for normal samples; the step is 1e-6
            let r =
                finite_differences(&mut |p: &[f64]| Ok(weighted(op, p, Some(&w)).0), &x, &grad, 6, 1e-6, 3).unwrap();
            assert!(r.max_rel_error < 1e-6, "{name}: FD error {}", r.max_rel_error);

            let mut jvp = |u: &[f64]| -> Vec<f64> {
                let tape = Tape::<f64>::new();
                let v = tape.var(Tensor::from_f64(SHAPE.to_vec(), &x).unwrap());
                let y = op(v).reshape(&[n_out]).unwrap();
                (0..n_out)
                    .map(|e| {
                        let ye = y.slice(0, e, e + 1).unwrap().sum();
                        let m = Directions { rows: n_in(), cols: 1, data: u.to_vec() };
                        tape.gradient(ye, &[v], &Mode::Lex(Some(m))).unwrap().ld_derivative.unwrap()[0]
                    })
                    .collect()
            };
            let mut vjp = |c: &[f64]| -> Vec<f64> {
                let tape = Tape::<f64>::new();
                let v = tape.var(Tensor::from_f64(SHAPE.to_vec(), &x).unwrap());
                let y = op(v).reshape(&[n_out]).unwrap().mul(tape.constant(Tensor::vector(c.to_vec()))).unwrap().sum();
                tape.gradient(y, &[v], &Mode::Assoc).unwrap().values[0].to_f64_vec()
            };
            let mismatch = dot_product_test(&mut jvp, &mut vjp, n_in(), n_out, 5);
            assert!(mismatch < 1e-12, "{name}: dot-product test {mismatch}");
        }
    }
}

/// Ties inside one window, every rule, by hand. x = (2, 5, 5, 1, 5): the maximum 5 is tied at
/// positions 1, 2, 4. first: (0,1,0,0,0); last: (0,0,0,0,1); mean and minnorm: 1/3 each;
/// weighted (1,2,3,4,5) over the tied positions: (2, 3, 5)/10.
#[test]
fn tie_weights_by_hand() {
    let x = [2.0, 5.0, 5.0, 1.0, 5.0];
    let third = 1.0 / 3.0;
    let cases = [
        (TieRule::First, [0.0, 1.0, 0.0, 0.0, 0.0]),
        (TieRule::Last, [0.0, 0.0, 0.0, 0.0, 1.0]),
        (TieRule::Mean, [0.0, third, third, 0.0, third]),
        (TieRule::MinNorm, [0.0, third, third, 0.0, third]),
        (TieRule::Weighted(vec![1.0, 2.0, 3.0, 4.0, 5.0]), [0.0, 0.2, 0.3, 0.0, 0.5]),
    ];
    for (rule, expect) in cases {
        let forms: Vec<(&str, Op)> = vec![
            ("max_all", |v| v.max_all()),
            ("max_axis", |v| v.reshape(&[1, 5]).unwrap().max_axis(1, false).unwrap().sum()),
            ("max_pool1d", |v| v.reshape(&[1, 5]).unwrap().max_pool1d(5, 5).unwrap().sum()),
            ("max_n", |v| {
                Var::max_n(&(0..5).map(|i| v.slice(0, i, i + 1).unwrap()).collect::<Vec<_>>(), None).unwrap().sum()
            }),
            // min of the negated entries: the same ties, the same weights
            ("min_all", |v| v.neg().min_all().neg()),
        ];
        for (name, f) in forms {
            let tape = Tape::<f64>::with_representation(Representation::default().with_all_ties(rule.clone()));
            let v = tape.var(Tensor::vector(x.to_vec()));
            let y = f(v);
            assert_eq!(y.item().unwrap(), 5.0);
            let g = tape.gradient(y, &[v], &Mode::Assoc).unwrap();
            assert_eq!(g.certificate.kind, CertificateKind::RepresentationDependent);
            assert_eq!(g.certificate.kinks.total(), 1, "{name}");
            for (a, b) in g.values[0].to_f64_vec().iter().zip(&expect) {
                assert!((a - b).abs() < 1e-15, "{name} {rule:?}: {:?} vs {expect:?}", g.values[0]);
            }
            // lex and safe: one tied entry gets everything (the tie is resolved along the directions),
            // whatever the rule
            for mode in [Mode::Lex(None), Mode::safe()] {
                let gm = tape.gradient(y, &[v], &mode).unwrap().values[0].to_f64_vec();
                assert_eq!(gm.iter().sum::<f64>(), 1.0, "{name} {mode:?}");
                assert!(gm.iter().all(|&w| w == 0.0 || w == 1.0), "{name} {mode:?}: {gm:?}");
                assert!([1, 2, 4].iter().any(|&i| gm[i] == 1.0), "{name} {mode:?}: {gm:?}");
            }
        }
    }
}

/// Lex with M = I at a tie of the maximum of (x, x, x): the lexicographic rule keeps the entries with
/// the largest first tangent. Along e1 only the first entry moves, so it wins: (1, 0, 0). With
/// M = -I it loses first, then along -e2 the second loses: the third wins, (0, 0, 1).
#[test]
fn lex_tie_break_by_hand() {
    for (m, expect) in [
        (Directions::identity(3), [1.0, 0.0, 0.0]),
        (Directions::parse("-1,0,0;0,-1,0;0,0,-1").unwrap(), [0.0, 0.0, 1.0]),
    ] {
        let tape = Tape::<f64>::new();
        let v = tape.var(Tensor::vector(vec![0.5, 0.5, 0.5]));
        let y = v.max_all();
        let g = tape.gradient(y, &[v], &Mode::Lex(Some(m))).unwrap();
        assert_eq!(g.values[0].to_f64_vec(), expect.to_vec());
    }
}

/// Boustany's signed family on a 2x2 pooling window with a full tie, [[3, 3], [3, 3]], cotangent 2:
/// by hand, `beta * mean + (1 - beta) * first` gives the first entry (raster order) `1 - beta +
/// beta/4` and the others `beta/4`, times 2. beta = 1000: (-1498, 500, 500, 500); beta = 0: all to
/// the first; beta = 1: the even split. A partial tie [[5, 5], [1, 5]] (k = 3, beta = 10): first
/// `1 - 10 + 10/3`, the two others `10/3`, the untied entry 0. `signed:2,-1,0,0` on the full tie is
/// the weights themselves; on the partial tie at positions 0, 1, 3 they keep (2, -1, 0) and share the
/// deficit 1 - 1 = 0. Every case sums to 1 (the chain rule). The certificate warns (signed weights)
/// for beta = 1000 but not for beta = 1 (the even split, weights >= 0).
#[test]
fn signed_tie_weights_on_a_2x2_pooling_tie() {
    let run = |rep: &str, x: [f64; 4]| {
        let rep: Representation = rep.parse().unwrap();
        let tape = Tape::<f64>::with_representation(rep);
        let v = tape.var(Tensor::from_f64(vec![1, 2, 2], &x).unwrap());
        let y = v.max_pool2d((2, 2), (2, 2)).unwrap().sum().scale(2.0);
        let g = tape.gradient(y, &[v], &Mode::Assoc).unwrap();
        (g.values[0].to_f64_vec(), g.certificate)
    };
    let full = [3.0; 4];
    let third = 10.0 / 3.0;
    for (rep, x, want) in [
        ("pytorch[maxpool=beta:1000]", full, [-1498.0, 500.0, 500.0, 500.0]),
        ("pytorch[maxpool=beta:0]", full, [2.0, 0.0, 0.0, 0.0]),
        ("pytorch[maxpool=beta:1]", full, [0.5, 0.5, 0.5, 0.5]),
        ("minnorm[maxpool=beta:10]", [5.0, 5.0, 1.0, 5.0], [2.0 * (1.0 - 10.0 + third), 2.0 * third, 0.0, 2.0 * third]),
        ("minnorm[maxpool=signed:2,-1,0,0]", full, [4.0, -2.0, 0.0, 0.0]),
        ("minnorm[maxpool=signed:2,-1,0,0]", [5.0, 5.0, 1.0, 5.0], [4.0, -2.0, 0.0, 0.0]),
    ] {
        let (g, cert) = run(rep, x);
        for (a, b) in g.iter().zip(&want) {
            assert!((a - b).abs() < 1e-12, "{rep}: {g:?} vs {want:?}");
        }
        assert!((g.iter().sum::<f64>() - 2.0).abs() < 1e-9, "{rep}: weights sum to 1");
        let signed = rep.contains("1000") || rep.contains("beta:10]") || rep.contains("signed");
        assert_eq!(!cert.warnings().is_empty(), signed, "{rep}: {:?}", cert.warnings());
        if signed {
            let json = serde_json::to_value(&cert).unwrap();
            assert!(json["warnings"][0].as_str().unwrap().contains("not minimum-norm"), "{json}");
            assert!(cert.to_string().contains("warning: maxpool="), "{cert}");
        }
    }
    // the name round-trips, and rules that do not sum to 1 are refused (the all-ones rule sums to 4)
    let r: Representation = "pytorch[maxpool=beta:1000]".parse().unwrap();
    assert_eq!(r.name.parse::<Representation>().unwrap(), r);
    for bad in ["signed:1,1,1,1", "signed:2,2", "beta:inf", "beta:x", "weighted:1,-1"] {
        let e = format!("minnorm[maxpool={bad}]").parse::<Representation>().unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
    }
    assert!(format!("{}", "signed:1,1".parse::<TieRule>().unwrap_err()).contains("sum to 1"));
}
