//! Recorded derivatives (`Tape::grad_vars`) at kinks: pinned pieces, certificates inherited through
//! recorded passes, nested derivatives, and what `safe` does not promise (issue 15 items 1 and 2).
//! Expected values are derived by hand in each test's comment.

use crate::common;

use common::representations;
use kinkgrad::primitive::relu::RELU;
use kinkgrad::reverse::{JvpCx, Op, OpCx};
use kinkgrad::{CertificateKind, Directions, Error, Mode, Representation, Tape, Tensor, Var};

fn lex(m: &str) -> Mode {
    Mode::Lex(Some(Directions::parse(m).unwrap()))
}

/// `relu` at 0, recorded in `lex` along the direction -1: the lexicographic piece is the zero piece
/// (the argument decreases), so the recorded derivative is 0. It is pinned: a later `assoc` pass
/// (whose representation says relu'(0) = 1/2), a `lex` pass along +1 (which alone would pick the
/// identity piece) and a `safe` pass all keep it, and their certificates count the kink as locked.
#[test]
fn pinned_pieces_serve_every_later_pass() {
    let tape = Tape::<f64>::with_representation(Representation::default().with_relu_at_zero(0.5));
    let x = tape.var(Tensor::scalar(0.0));
    let y = x.relu();
    let r = tape.grad_vars(y, &[x], &lex("-1")).unwrap();
    assert_eq!(r.vars[0].item().unwrap(), 0.0);
    assert_eq!((r.certificate.kind, r.certificate.locked), (CertificateKind::Generalized, 1));
    for mode in [Mode::Assoc, lex("1"), Mode::safe(), Mode::Lex(None)] {
        let g = tape.gradient(y, &[x], &mode).unwrap();
        assert_eq!(g.values[0].item().unwrap(), 0.0, "{mode}");
        let c = &g.certificate;
        assert_eq!((c.kind, c.kinks_total(), c.locked), (CertificateKind::Generalized, 1, 1), "{mode}");
        assert_eq!(tape.grad_vars(y, &[x], &mode).unwrap().vars[0].item().unwrap(), 0.0, "{mode}");
    }
    // an assoc recorded derivative does not pin: a later pass locks the kink itself
    let tape = Tape::<f64>::with_representation(Representation::default().with_relu_at_zero(0.5));
    let x = tape.var(Tensor::scalar(0.0));
    let y = x.relu();
    assert_eq!(tape.grad_vars(y, &[x], &Mode::Assoc).unwrap().vars[0].item().unwrap(), 0.5);
    assert_eq!(tape.gradient(y, &[x], &lex("1")).unwrap().values[0].item().unwrap(), 1.0);
    assert_eq!(tape.gradient(y, &[x], &lex("-1")).unwrap().values[0].item().unwrap(), 0.0);
}

/// `y = p(x)^3` with `p(x) = relu(x) - relu(-x) = x`, at x = 0 (both units on their kink): `y = x^3`,
/// `y''' = 6`. Two nested recorded derivatives and a third derivative: in `safe` and `lex` the pinned
/// pieces give `p' = 1` and the exact 6 under every representation, and every certificate counts the
/// two relu kinks once. In `assoc` each unit holds relu'(0) = z, `p' = 2z`, and the third derivative
/// is `6 (2z)^3`, representation-dependent.
#[test]
fn third_derivative_through_nested_recorded_passes() {
    for rep in representations() {
        for mode in [Mode::safe(), Mode::Lex(None), Mode::Assoc] {
            let tape = Tape::<f64>::with_representation(rep.clone());
            let x = tape.var(Tensor::scalar(0.0));
            let y = x.relu().sub(x.neg().relu()).unwrap().powi(3);
            let g1 = tape.grad_vars(y, &[x], &mode).unwrap();
            let g2 = tape.grad_vars(g1.vars[0], &[x], &mode).unwrap();
            let g3 = tape.gradient(g2.vars[0], &[x], &mode).unwrap();
            let (d, kind) = match mode {
                Mode::Assoc => (2.0 * rep.value(&RELU), CertificateKind::RepresentationDependent),
                _ => (1.0, CertificateKind::Generalized),
            };
            assert_eq!(g3.values[0].item().unwrap(), 6.0 * d * d * d, "{} {mode}", rep.name);
            for c in [&g1.certificate, &g2.certificate, &g3.certificate] {
                assert_eq!((c.kind, c.kinks_total()), (kind, 2), "{} {mode}", rep.name);
            }
        }
    }
}

/// What `safe` does not promise: `q(x, w) = relu(x w) - relu(-x w) = x w` at x = w = 0. The argument
/// `x w` moves only at second order, so no direction resolves the tie: it is counted (2 unresolved),
/// the first tied piece (zero) is pinned, and the recorded `dq/dx = w = 0` is still exact, but its
/// derivative in `w` is that of the pinned pieces (0), not the true 1. The certificate of the
/// second derivative carries the 2 unresolved ties.
#[test]
fn a_second_order_tie_is_counted_not_resolved() {
    for mode in [Mode::safe(), Mode::Lex(None)] {
        let tape = Tape::<f64>::new();
        let x = tape.var(Tensor::scalar(0.0));
        let w = tape.var(Tensor::scalar(0.0));
        let h = x.mul(w).unwrap();
        let q = h.relu().sub(h.neg().relu()).unwrap();
        let r = tape.grad_vars(q, &[x], &mode).unwrap();
        assert_eq!(r.vars[0].item().unwrap(), 0.0);
        assert_eq!((r.certificate.kinks_total(), r.certificate.unresolved), (2, 2), "{mode}");
        let g = tape.gradient(r.vars[0], &[w], &mode).unwrap();
        assert_eq!(g.values[0].item().unwrap(), 0.0, "{mode}: the pinned pieces' derivative");
        assert_eq!((g.certificate.kinks_total(), g.certificate.unresolved), (2, 2), "{mode}");
    }
}

/// A user op that hits a kink and cannot keep its pieces (the `Op` trait's defaults): a `safe` or
/// `lex` recorded derivative through it is refused with a typed error naming it; `assoc` is served.
struct Kinked;

impl Op<f64> for Kinked {
    fn name(&self) -> &'static str {
        "kinked"
    }
    fn vjp<'t>(&self, _cx: &OpCx<'t, f64>, g: Var<'t, f64>) -> Vec<Option<Var<'t, f64>>> {
        vec![Some(g)]
    }
    fn jvp(&mut self, cx: &JvpCx<'_, f64>) -> Tensor<f64> {
        cx.tangents[0].cloned().unwrap_or_else(|| Tensor::zeros(&[cx.k]))
    }
    fn kinks(&self) -> usize {
        1
    }
}

#[test]
fn an_op_that_cannot_pin_is_refused() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(0.0));
    let y = tape.push(Kinked, &[x], Tensor::scalar(0.0));
    for mode in [Mode::safe(), Mode::Lex(None)] {
        match tape.grad_vars(y, &[x], &mode) {
            Err(e @ Error::Unsupported { .. }) => assert!(e.to_string().contains("kinked"), "{e}"),
            other => panic!("{mode}: expected an unsupported error, got {other:?}"),
        }
        // a first derivative needs no pin
        assert_eq!(tape.gradient(y, &[x], &mode).unwrap().values[0].item().unwrap(), 1.0);
    }
    let r = tape.grad_vars(y, &[x], &Mode::Assoc).unwrap();
    assert_eq!(r.certificate.kind, CertificateKind::RepresentationDependent);
}
