//! Random compositions of the primitives for the property tests (`chain_rule.rs`, `lex_safe.rs`).
//!
//! An [`Expr`] is a tree over `n` scalar inputs. `piecewise_linear` trees use only piecewise-linear
//! operations with dyadic coefficients, so that at dyadic inputs every intermediate value is exact and
//! ties are exact (kinks can be planted); `with_smooth` trees add smooth functions and products.
#![allow(dead_code)]

use kinkgrad::{Representation, Tape, Tensor, TieRule, Var};
use proptest::prelude::*;

/// An expression over scalar inputs.
#[derive(Clone, Debug)]
pub enum Expr {
    /// Input `i`.
    Input(usize),
    /// A constant.
    Const(f64),
    /// `c * a` with a dyadic constant.
    Scale(f64, Box<Expr>),
    Neg(Box<Expr>),
    Add(Box<Expr>, Box<Expr>),
    Sub(Box<Expr>, Box<Expr>),
    Relu(Box<Expr>),
    Abs(Box<Expr>),
    /// Leaky relu with slope 1/2.
    Leaky(Box<Expr>),
    HardTanh(Box<Expr>),
    Max(Box<Expr>, Box<Expr>),
    Min(Box<Expr>, Box<Expr>),
    Minmod(Box<Expr>, Box<Expr>),
    /// `clamp(x, lo, lo + |w|)`: a valid clamp whose bounds may coincide.
    Clamp(Box<Expr>, Box<Expr>, Box<Expr>),
    /// n-ary max of three.
    Max3(Box<Expr>, Box<Expr>, Box<Expr>),
    /// Full max reduction over three.
    MaxAll(Box<Expr>, Box<Expr>, Box<Expr>),
    /// Full min reduction over three.
    MinAll(Box<Expr>, Box<Expr>, Box<Expr>),
    /// 1-d max-pooling (kernel 2, stride 1) over four, summed.
    Pool(Box<Expr>, Box<Expr>, Box<Expr>, Box<Expr>),
    /// Max along axis 1 of the 2x2 matrix [[a, b], [c, d]], summed.
    MaxAxis(Box<Expr>, Box<Expr>, Box<Expr>, Box<Expr>),
    // smooth
    Tanh(Box<Expr>),
    Sin(Box<Expr>),
    Sigmoid(Box<Expr>),
    Softplus(Box<Expr>),
    Mul(Box<Expr>, Box<Expr>),
}

use Expr::*;

fn b(e: Expr) -> Box<Expr> {
    Box::new(e)
}

/// Random trees over `n` inputs; `smooth` adds the smooth operations.
pub fn expr(n: usize, smooth: bool) -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        3 => (0..n).prop_map(Input),
        1 => prop::sample::select(vec![-1.0, 0.0, 0.5, 1.0]).prop_map(Const),
    ];
    leaf.prop_recursive(4, 32, 4, move |inner| {
        let e = || inner.clone();
        let pl = prop_oneof![
            (prop::sample::select(vec![2.0, -0.5]), e()).prop_map(|(c, a)| Scale(c, b(a))),
            e().prop_map(|a| Neg(b(a))),
            (e(), e()).prop_map(|(a, c)| Add(b(a), b(c))),
            (e(), e()).prop_map(|(a, c)| Sub(b(a), b(c))),
            e().prop_map(|a| Relu(b(a))),
            e().prop_map(|a| Abs(b(a))),
            e().prop_map(|a| Leaky(b(a))),
            e().prop_map(|a| HardTanh(b(a))),
            (e(), e()).prop_map(|(a, c)| Max(b(a), b(c))),
            (e(), e()).prop_map(|(a, c)| Min(b(a), b(c))),
            (e(), e()).prop_map(|(a, c)| Minmod(b(a), b(c))),
            (e(), e(), e()).prop_map(|(a, c, d)| Clamp(b(a), b(c), b(d))),
            (e(), e(), e()).prop_map(|(a, c, d)| Max3(b(a), b(c), b(d))),
            (e(), e(), e()).prop_map(|(a, c, d)| MaxAll(b(a), b(c), b(d))),
            (e(), e(), e()).prop_map(|(a, c, d)| MinAll(b(a), b(c), b(d))),
            (e(), e(), e(), e()).prop_map(|(a, c, d, f)| Pool(b(a), b(c), b(d), b(f))),
            (e(), e(), e(), e()).prop_map(|(a, c, d, f)| MaxAxis(b(a), b(c), b(d), b(f))),
        ];
        if smooth {
            prop_oneof![
                3 => pl,
                1 => prop_oneof![
                    e().prop_map(|a| Tanh(b(a))),
                    e().prop_map(|a| Sin(b(a))),
                    e().prop_map(|a| Sigmoid(b(a))),
                    e().prop_map(|a| Softplus(b(a))),
                    (e(), e()).prop_map(|(a, c)| Mul(b(a), b(c))),
                ],
            ]
            .boxed()
        } else {
            pl.boxed()
        }
    })
}

/// Record `e` on the tape; every input and result has shape `[1]`.
pub fn build<'t>(e: &Expr, xs: &[Var<'t, f64>]) -> Var<'t, f64> {
    let tape = xs[0].tape();
    let r = |a: &Expr| build(a, xs);
    let stack = |parts: &[&Expr]| Var::concat(&parts.iter().map(|p| r(p)).collect::<Vec<_>>(), 0).unwrap();
    match e {
        Input(i) => xs[*i],
        Const(c) => tape.constant(Tensor::vector(vec![*c])),
        Scale(c, a) => r(a).scale(*c),
        Neg(a) => r(a).neg(),
        Add(a, c) => r(a).add(r(c)).unwrap(),
        Sub(a, c) => r(a).sub(r(c)).unwrap(),
        Relu(a) => r(a).relu(),
        Abs(a) => r(a).abs(),
        Leaky(a) => r(a).leaky_relu(0.5),
        HardTanh(a) => r(a).hardtanh(),
        Max(a, c) => r(a).maximum(r(c)).unwrap(),
        Min(a, c) => r(a).minimum(r(c)).unwrap(),
        Minmod(a, c) => r(a).minmod(r(c)).unwrap(),
        Clamp(x, lo, w) => {
            let lo = r(lo);
            r(x).clamp(lo, lo.add(r(w).abs()).unwrap()).unwrap()
        }
        Max3(a, c, d) => Var::max_n(&[r(a), r(c), r(d)], None).unwrap(),
        MaxAll(a, c, d) => stack(&[a, c, d]).max_all().reshape(&[1]).unwrap(),
        MinAll(a, c, d) => stack(&[a, c, d]).min_all().reshape(&[1]).unwrap(),
        Pool(a, c, d, f) => {
            stack(&[a, c, d, f]).reshape(&[1, 4]).unwrap().max_pool1d(2, 1).unwrap().sum().reshape(&[1]).unwrap()
        }
        MaxAxis(a, c, d, f) => {
            stack(&[a, c, d, f]).reshape(&[2, 2]).unwrap().max_axis(1, false).unwrap().sum().reshape(&[1]).unwrap()
        }
        Tanh(a) => r(a).tanh(),
        Sin(a) => r(a).sin(),
        Sigmoid(a) => r(a).sigmoid(),
        Softplus(a) => r(a).softplus(),
        Mul(a, c) => r(a).mul(r(c)).unwrap(),
    }
}

/// `e` at `x` (f64), on a fresh tape.
pub fn eval(e: &Expr, x: &[f64]) -> f64 {
    let tape = Tape::<f64>::new();
    let v = tape.var(Tensor::vector(x.to_vec()));
    let xs = split(v, x.len());
    build(e, &xs).sum().item().unwrap()
}

/// The `[1]`-shaped slices of a vector variable.
pub fn split<'t>(v: Var<'t, f64>, n: usize) -> Vec<Var<'t, f64>> {
    (0..n).map(|i| v.slice(0, i, i + 1).unwrap()).collect()
}

/// The gradient of `e` at `x` under `rep` in `mode`, w.r.t. one vector variable holding the inputs,
/// and the certificate.
pub fn gradient(e: &Expr, x: &[f64], rep: &Representation, mode: &kinkgrad::Mode) -> (Vec<f64>, kinkgrad::Certificate) {
    let tape = Tape::<f64>::with_representation(rep.clone());
    let v = tape.var(Tensor::vector(x.to_vec()));
    let xs = split(v, x.len());
    let y = build(e, &xs).sum();
    let g = tape.gradient(y, &[v], mode).unwrap();
    (g.values[0].to_f64_vec(), g.certificate)
}

/// The representations swept by the property tests: the presets, every tie rule, and relu'(0) in
/// {0, 1/2, 1, -2}.
pub fn representations() -> Vec<Representation> {
    let mut v =
        vec![Representation::minnorm(), Representation::pytorch(), Representation::jax(), Representation::tensorflow()];
    for r in [TieRule::First, TieRule::Last, TieRule::Mean, TieRule::Weighted(vec![3.0, 1.0, 2.0, 0.5])] {
        v.push(Representation::default().with_all_ties(r));
    }
    for z in [0.5, 1.0, -2.0] {
        v.push(Representation::default().with_relu_at_zero(z));
    }
    v
}
