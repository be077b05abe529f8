//! Losses and accuracy.
//!
//! - cross-entropy through log-softmax: `L = -(1/B) sum_b log softmax(z_b)[y_b]`
//!   (log-softmax is computed stably; its VJP is `g - softmax(z) sum(g)`);
//! - mean squared error: `L = mean((y - t)^2)`.

use crate::error::{Error, Result};
use crate::reverse::Var;
use crate::scalar::Real;
use crate::tensor::{pool, Tensor};

/// One-hot rows `[labels.len(), classes]`.
pub fn one_hot<T: Real>(labels: &[u8], classes: usize) -> Result<Tensor<T>> {
    let mut d = pool::filled(labels.len() * classes, T::ZERO);
    for (i, &l) in labels.iter().enumerate() {
        if l as usize >= classes {
            return Err(Error::invalid("label", format!("{l} is not below the {classes} classes")));
        }
        d[i * classes + l as usize] = T::ONE;
    }
    Tensor::new(pool::copied(&[labels.len(), classes]), d)
}

/// Mean cross-entropy of `logits` `[B, C]` against integer `labels` (through log-softmax).
pub fn cross_entropy<'t, T: Real>(logits: Var<'t, T>, labels: &[u8]) -> Result<Var<'t, T>> {
    let lv = logits.value();
    let s = lv.shape();
    if s.len() != 2 || s[0] != labels.len() {
        return Err(Error::shape("cross_entropy", format!("logits {s:?} for {} labels", labels.len())));
    }
    let y = logits.tape().constant(one_hot(labels, s[1])?);
    Ok(logits.log_softmax()?.mul(y)?.sum().scale(-1.0 / s[0].max(1) as f64))
}

/// Mean squared error `mean((pred - target)^2)`.
pub fn mse<'t, T: Real>(pred: Var<'t, T>, target: Var<'t, T>) -> Result<Var<'t, T>> {
    if pred.shape() != target.shape() {
        return Err(Error::shape("mse", format!("{:?} against {:?}", pred.shape(), target.shape())));
    }
    Ok(pred.sub(target)?.square().mean())
}

/// Number of rows of `logits` `[B, C]` whose largest entry (first on ties) is at the label.
pub fn correct<T: Real>(logits: &Tensor<T>, labels: &[u8]) -> usize {
    let c = *logits.shape().last().unwrap_or(&1);
    logits
        .data()
        .chunks(c.max(1))
        .zip(labels)
        .filter(|(row, &l)| {
            let mut best = 0;
            for j in 1..row.len() {
                if row[j] > row[best] {
                    best = j;
                }
            }
            best == l as usize
        })
        .count()
}
