//! The backward pass of relu (a cotangent scaled by each element's piece derivative, recorded as one
//! op) differentiated again: gradients of gradients and lexicographic derivatives of a gradient,
//! against closed forms.
//!
//! `y = relu(w x)` for a scalar `w` and `x = (2, -1, 0, 3)`; `g = d sum(y) / dx = w D` with `D_i = 1`
//! where `w x_i > 0`, `0` where `w x_i < 0` and `z = relu'(0)` (the representation's rule) at the kink
//! `x_3 = 0`. Then `J = sum g^2 = w^2 sum D_i^2` and `dJ/dw = 2 w sum D_i^2` (the pieces stay fixed
//! in `w` near `w = 1.5`; the kink element stays on its kink for every `w`).

use kinkgrad::{Mode, Representation, Tape, Tensor};

#[test]
fn gradient_of_a_relu_gradient_matches_the_closed_form() {
    let w0 = 1.5;
    for z in [0.0, 0.5, 1.0] {
        let rep = Representation::default().with_relu_at_zero(z);
        // pieces: x = 2 and 3 active, x = -1 inactive, x = 0 on the kink
        let sum_d2 = 2.0 + z * z;
        for mode in [Mode::Assoc, Mode::Lex(None)] {
            let tape = Tape::<f64>::with_representation(rep.clone());
            let w = tape.var(Tensor::scalar(w0));
            let x = tape.var(Tensor::vector(vec![2.0, -1.0, 0.0, 3.0]));
            let y = x.mul(w).unwrap().relu();
            let g = tape.grad_vars(y.sum(), &[x], &Mode::Assoc).unwrap().vars[0];
            assert_eq!(g.value().to_f64_vec(), vec![w0, 0.0, w0 * z, w0], "z = {z}");
            let j = g.square().sum();
            let gw = tape.gradient(j, &[w], &mode).unwrap();
            let want = 2.0 * w0 * sum_d2;
            assert!((gw.values[0].item().unwrap() - want).abs() < 1e-12, "z = {z}, {mode:?}");
        }
    }
}

/// A cotangent large enough to be split across threads (70 000 elements): `d sum(r relu(x)) / dx` is
/// `r` where `x > 0`, `0` where `x < 0` and `z r` at the zeros.
#[test]
fn large_relu_gradient_is_the_masked_weight() {
    let n = 70_000;
    let x: Vec<f64> = (0..n).map(|i| ((i % 7) as f64) - 3.0).collect();
    let r: Vec<f64> = (0..n).map(|i| 1.0 + (i % 11) as f64).collect();
    let z = 0.25;
    let tape = Tape::<f64>::with_representation(Representation::default().with_relu_at_zero(z));
    let xv = tape.var(Tensor::vector(x.clone()));
    let j = xv.relu().mul(tape.constant(Tensor::vector(r.clone()))).unwrap().sum();
    let g = tape.gradient(j, &[xv], &Mode::Assoc).unwrap();
    let want: Vec<f64> = x
        .iter()
        .zip(&r)
        .map(|(&x, &r)| {
            if x > 0.0 {
                r
            } else if x == 0.0 {
                z * r
            } else {
                0.0
            }
        })
        .collect();
    assert_eq!(g.values[0].to_f64_vec(), want);
    assert_eq!(g.certificate.kinks.total(), n / 7, "one zero in every 7 elements");
}
