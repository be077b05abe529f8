//! Precision studies: how often the choice at a kink changes a gradient in floating point, and what
//! it does to training.
//!
//! - [`relu_prime`]: the `relu'(0)` bifurcation of Bertoin, Bolte, Gerchinovitz and Pauwels
//!   (NeurIPS 2021, Section 3): for how many initialisations of an MLP does the first layer's weight
//!   gradient with `relu'(0) = 0` differ from the one with `relu'(0) = 1` on at least one minibatch
//!   of one epoch at learning rate 0, per precision; with the exact-zero pre-activations counted and
//!   the same comparison in `safe` mode.
//! - [`maxpool_beta`]: Boustany's (TMLR 2024) signed family of max-pooling tie weights
//!   (`beta * even split + (1 - beta) * first`, [`crate::TieRule::Beta`]) in LeNet-5 training: the
//!   test accuracy per precision and `beta`, and how often `beta = 0` and `beta = 1` gradients
//!   differ on a minibatch.
//!
//! The studies return rows of numbers; they print nothing (the CLI's `kinkgrad study` does).

pub mod maxpool_beta;
pub mod relu_prime;

pub use maxpool_beta::{maxpool_beta, BetaConfig, BetaRow, Volume};
pub use relu_prime::{compare_model, relu_prime, InitOutcome, ReluPrimeConfig, ReluPrimeRow};

use crate::error::Result;
use crate::io::mnist::Mnist;
use crate::nn::{correct, Sequential};
use crate::reverse::Tape;
use crate::scalar::Real;
use crate::tensor::Tensor;

/// Test accuracy of `model` on `data` in batches of 500, from the forward values only (no loss):
/// a diverged model (NaN or infinite logits) still gets its accuracy, as PyTorch's argmax would
/// (a row of NaN predicts class 0 here).
pub fn accuracy<T: Real>(model: &Sequential<T>, data: &Mnist) -> Result<f64> {
    let mut right = 0;
    let all: Vec<usize> = (0..data.n).collect();
    for idx in all.chunks(500) {
        let tape = Tape::<T>::new();
        let x = tape.constant(crate::nn::train::batch_inputs(data, idx, model.takes_images())?);
        let params: Vec<_> = model.params.iter().map(|p| tape.constant(p.clone())).collect();
        let logits = model.forward(x, &params)?;
        let labels: Vec<u8> = idx.iter().map(|&i| data.labels[i]).collect();
        right += correct(&logits.value(), &labels);
    }
    Ok(right as f64 / data.n.max(1) as f64)
}

/// True when two gradients differ in at least one element (numerically: `-0 == 0`).
pub fn differ<T: Real>(a: &Tensor<T>, b: &Tensor<T>) -> bool {
    a.data().iter().zip(b.data()).any(|(x, y)| x != y)
}
