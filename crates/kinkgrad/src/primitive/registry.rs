//! The registry of element-wise piecewise primitives: the generic tests in `check` and `tests/`
//! iterate over it, so every primitive registered here is checked by finite differences on each of
//! its pieces, by the dot-product test, at its kinks, and for representation independence of `lex`
//! and `safe`. Window primitives (max reductions, pooling) are checked by their own generic tests.

use super::abs::Abs;
use super::clamp::{Clamp, HardTanh};
use super::leaky::LeakyRelu;
use super::maxmin::MaxMin2;
use super::minmod::Minmod;
use super::relu::Relu;
use super::Piecewise;

/// Every element-wise piecewise primitive, one line each.
pub fn all() -> Vec<Box<dyn Piecewise>> {
    vec![
        Box::new(Relu),
        Box::new(LeakyRelu(0.01)),
        Box::new(Abs),
        Box::new(Clamp),
        Box::new(HardTanh),
        Box::new(MaxMin2 { min: false, rule: None }),
        Box::new(MaxMin2 { min: true, rule: None }),
        Box::new(Minmod),
    ]
}
