//! Bugs found while writing the verification suite, one test each.

use kinkgrad::{Error, Mode, Representation, Tape, Tensor, TieRule, Var};

/// `grad_vars` is the associated gradient even after a `safe` or `lex` gradient on the same tape
/// locked the kink pieces (it used to reuse the locks: relu'(0) came out 1 after `safe`, instead of
/// the representation's 0).
#[test]
fn grad_vars_ignores_earlier_locks() {
    for z in [0.0, 0.5, -2.0] {
        let tape = Tape::<f64>::with_representation(Representation::default().with_relu_at_zero(z));
        let x = tape.var(Tensor::scalar(0.0));
        let f = x.relu().add(x.maximum(x.scale(2.0)).unwrap()).unwrap(); // kinks: relu at 0, tie 0 = 2*0
        for mode in [Mode::safe(), Mode::Lex(None), Mode::Lex(Some(kinkgrad::Directions::parse("-1").unwrap()))] {
            let _ = tape.gradient(f, &[x], &mode).unwrap();
            // by hand: relu'(0) = z, and the even split of max(x, 2x) at the tie gives (1 + 2)/2
            assert_eq!(
                tape.grad_vars(f, &[x], &Mode::Assoc).unwrap().vars[0].item().unwrap(),
                z + 1.5,
                "after {mode:?}"
            );
            assert_eq!(tape.gradient(f, &[x], &Mode::Assoc).unwrap().values[0].item().unwrap(), z + 1.5);
        }
    }
}

/// NaN propagates through the non-smooth primitives (as in PyTorch, JAX and TensorFlow) instead of
/// being read as a kink (all its signs compare as 0): relu(log(-1)) used to be 0 with one kink
/// counted, and max(1, NaN) used to be 1, so `gradient` did not report the non-finite value.
#[test]
fn nan_propagates_through_kinks() {
    type Build = for<'t> fn(Var<'t, f64>) -> Var<'t, f64>;
    let ops: Vec<(&str, Build)> = vec![
        ("relu", |v| v.relu()),
        ("leaky", |v| v.leaky_relu(0.1)),
        ("abs", |v| v.abs()),
        ("hardtanh", |v| v.hardtanh()),
        ("maximum", |v| v.maximum(v.tape().scalar(1.0)).unwrap()),
        ("minimum", |v| v.tape().scalar(-1.0).minimum(v).unwrap()),
        ("minmod", |v| v.minmod(v.tape().scalar(0.0)).unwrap()),
        ("clamp", |v| v.clamp(v.tape().scalar(0.0), v.tape().scalar(1.0)).unwrap()),
        ("max_all", |v| Var::stack(&[v.tape().scalar(1.0), v, v.tape().scalar(0.5)], 0).unwrap().max_all()),
        ("min_all", |v| Var::stack(&[v.tape().scalar(1.0), v], 0).unwrap().min_all_with(TieRule::First)),
        ("max_n", |v| Var::max_n(&[v.tape().scalar(2.0), v], None).unwrap()),
        ("max_pool1d", |v| {
            Var::stack(&[v.tape().scalar(3.0), v], 0).unwrap().reshape(&[1, 2]).unwrap().max_pool1d(2, 2).unwrap().sum()
        }),
    ];
    for (name, op) in ops {
        let tape = Tape::<f64>::new();
        let x = tape.var(Tensor::scalar(-1.0));
        let y = op(x.log()).sum();
        assert!(y.item().unwrap().is_nan(), "{name}: {:?}", y.item());
        assert_eq!(tape.kink_log().total(), 0, "{name}: NaN counted as a kink");
        match tape.gradient(y, &[x], &Mode::Assoc) {
            Err(Error::NonFinite { op, .. }) => assert_eq!(op, "log", "{name}"),
            other => panic!("{name}: expected a non-finite error, got {other:?}"),
        }
    }
}
