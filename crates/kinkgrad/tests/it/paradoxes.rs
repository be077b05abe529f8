//! The talk's classic failures, with their expected values derived by hand.

use kinkgrad::{CertificateKind, Mode, Representation, Tape, Tensor, TieRule};

fn rules() -> Vec<TieRule> {
    vec![TieRule::First, TieRule::Last, TieRule::Mean, TieRule::MinNorm, TieRule::Weighted(vec![3.0, 1.0])]
}

/// Murat-Trombetti: f(x) = max(x, x) = x, so f'(x) = 1 everywhere, for every admissible tie rule.
#[test]
fn murat_trombetti_every_rule_every_form() {
    for rule in rules() {
        let rep = Representation::default().with_all_ties(rule.clone());
        for &x0 in &[-2.0, 0.0, 0.5, 3.0] {
            let tape = Tape::<f64>::with_representation(rep.clone());
            let x = tape.var(Tensor::scalar(x0));
            let forms = vec![
                ("binary", x.maximum(x).unwrap()),
                ("n-ary", kinkgrad::Var::max_n(&[x, x, x], None).unwrap()),
                ("reduction", kinkgrad::Var::stack(&[x, x], 0).unwrap().max_all()),
                (
                    "maxpool",
                    kinkgrad::Var::stack(&[x, x], 0).unwrap().reshape(&[1, 2]).unwrap().max_pool1d(2, 2).unwrap().sum(),
                ),
            ];
            for (name, f) in forms {
                for mode in [Mode::Assoc, Mode::safe(), Mode::Lex(None)] {
                    let g = tape.gradient(f, &[x], &mode).unwrap();
                    assert_eq!(g.values[0].item().unwrap(), 1.0, "{name} {rule:?} x={x0} {mode:?}");
                }
            }
        }
    }
}

fn boustany(t0: f64, second: TieRule, mode: &Mode) -> (f64, f64, CertificateKind) {
    let tape = Tape::<f64>::with_representation(Representation::pytorch());
    let t = tape.var(Tensor::scalar(t0));
    let x = tape.constant(Tensor::vector(vec![1.0, 2.0, 3.0, 4.0]));
    let tx = t.mul(x).unwrap();
    let f = tx.max_all_with(TieRule::First).sub(tx.max_all_with(second)).unwrap();
    let g = tape.gradient(f, &[t], mode).unwrap();
    (f.item().unwrap(), g.values[0].item().unwrap(), g.certificate.kind)
}

/// Boustany: f(t) = max_first(tx) - max_mean(tx) = 0; at t = 0 every entry ties, the associated
/// gradients are (1,0,0,0) and (1/4,...), so f'(0) = x.(1,0,0,0) - x.(1/4,...) = 1 - 2.5 = -1.5.
/// With max_last, 1 - 4 = -3. Away from 0 the maxima are unique and f' = 0.
#[test]
fn boustany_table() {
    for &t in &[-1.0, -0.5, -0.01, 0.01, 0.5, 1.0] {
        let (f, d, c) = boustany(t, TieRule::Mean, &Mode::Assoc);
        assert_eq!((f, d, c), (0.0, 0.0, CertificateKind::Exact), "t = {t}");
    }
    assert_eq!(boustany(0.0, TieRule::Mean, &Mode::Assoc), (0.0, -1.5, CertificateKind::RepresentationDependent));
    assert_eq!(boustany(0.0, TieRule::Last, &Mode::Assoc).1, -3.0);
    for rule in rules() {
        assert_eq!(boustany(0.0, rule.clone(), &Mode::safe()).1, 0.0, "safe {rule:?}");
        assert_eq!(boustany(0.0, rule.clone(), &Mode::Lex(None)).1, 0.0, "lex {rule:?}");
    }
}

/// The associated gradients of max_first and max_mean at 0: (1,0,0,0) and (1/4,1/4,1/4,1/4).
#[test]
fn boustany_associated_gradients() {
    for (rule, expect) in [(TieRule::First, vec![1.0, 0.0, 0.0, 0.0]), (TieRule::Mean, vec![0.25; 4])] {
        let tape = Tape::<f64>::new();
        let y = tape.var(Tensor::vector(vec![0.0; 4]));
        let m = y.max_all_with(rule);
        let g = tape.gradient(m, &[y], &Mode::Assoc).unwrap();
        assert_eq!(g.values[0].data(), expect.as_slice());
    }
}

/// relu(x) - relu(-x) = x. Associated gradient at 0: z + z = 2z; kinks: 2.
#[test]
fn relu_difference() {
    for (z, expect) in [(0.0, 0.0), (1.0, 2.0), (0.5, 1.0)] {
        let tape = Tape::<f64>::with_representation(Representation::default().with_relu_at_zero(z));
        let x = tape.var(Tensor::scalar(0.0));
        let f = x.relu().sub(x.neg().relu()).unwrap();
        let g = tape.gradient(f, &[x], &Mode::Assoc).unwrap();
        assert_eq!(g.values[0].item().unwrap(), expect);
        assert_eq!(g.certificate.kinks.total(), 2);
        for mode in [Mode::safe(), Mode::Lex(None)] {
            assert_eq!(tape.gradient(f, &[x], &mode).unwrap().values[0].item().unwrap(), 1.0);
        }
    }
}

/// f16 rounding creates ties: 1.0001 and 1.0002 differ in f64 but both round to 1.0 in f16
/// (spacing 2^-10 ~ 9.8e-4 near 1), so a 2x2 pooling window holding them ties.
#[test]
fn f16_rounding_creates_pool_ties() {
    let data = [1.0001, 1.0002, 0.5, 0.25];
    let t64 = Tape::<f64>::new();
    let x = t64.var(Tensor::from_f64(vec![1, 2, 2], &data).unwrap());
    let _ = x.max_pool2d((2, 2), (2, 2)).unwrap();
    assert_eq!(t64.kink_log().count_op("maxpool2d"), 0);
    let t16 = Tape::<kinkgrad::f16>::new();
    let x = t16.var(Tensor::from_f64(vec![1, 2, 2], &data).unwrap());
    let _ = x.max_pool2d((2, 2), (2, 2)).unwrap();
    assert_eq!(t16.kink_log().count_op("maxpool2d"), 1);
}
