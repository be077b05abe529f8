//! Optimisers: SGD with momentum and Adam. The update is computed in `f64` from the gradient and
//! rounded once to the parameters' precision; the optimiser state (momentum, Adam's moments) is kept
//! in `f64` whatever the precision of the model.
//!
//! - SGD with momentum `mu` (PyTorch's form): `v <- mu v + g`, `w <- w - lr v`.
//! - Adam (Kingma & Ba 2015): `m <- b1 m + (1-b1) g`, `v <- b2 v + (1-b2) g^2`,
//!   `w <- w - lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)`.

use crate::error::{Error, Result};
use crate::scalar::Real;
use crate::simd::wide;
use crate::tensor::Tensor;
use rayon::prelude::*;

/// Parameters per parallel task of an update.
const CHUNK: usize = 1 << 14;

/// One chunk of an Adam update: parameters, first and second moments, gradient.
type AdamChunk<'a, T> = (((&'a mut [T], &'a mut [f64]), &'a mut [f64]), &'a [T]);

/// Which optimiser and its hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum OptimizerKind {
    /// SGD with momentum.
    Sgd {
        /// Momentum (0 for plain SGD).
        momentum: f64,
    },
    /// Adam.
    Adam {
        /// First-moment decay.
        beta1: f64,
        /// Second-moment decay.
        beta2: f64,
        /// Denominator guard.
        eps: f64,
    },
}

impl OptimizerKind {
    /// Adam with PyTorch's defaults (0.9, 0.999, 1e-8).
    pub fn adam() -> Self {
        OptimizerKind::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }
    /// SGD with momentum 0.9.
    pub fn sgd() -> Self {
        OptimizerKind::Sgd { momentum: 0.9 }
    }
    /// `sgd` or `adam`.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerKind::Sgd { .. } => "sgd",
            OptimizerKind::Adam { .. } => "adam",
        }
    }
}

impl std::str::FromStr for OptimizerKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sgd" => Ok(Self::sgd()),
            "adam" => Ok(Self::adam()),
            _ => Err(Error::invalid("optimizer", format!("'{s}', expected sgd or adam"))),
        }
    }
}

/// An optimiser with its state.
#[derive(Clone, Debug)]
pub struct Optimizer {
    /// The rule.
    pub kind: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// Steps taken.
    pub step: u64,
    /// First state vector per parameter (momentum buffer or Adam's `m`).
    pub m: Vec<Vec<f64>>,
    /// Second state vector per parameter (Adam's `v`; empty for SGD).
    pub v: Vec<Vec<f64>>,
}

impl Optimizer {
    /// A fresh optimiser for parameters of the given sizes.
    pub fn new(kind: OptimizerKind, lr: f64, sizes: &[usize]) -> Self {
        let m = sizes.iter().map(|&n| vec![0.0; n]).collect();
        let v = match kind {
            OptimizerKind::Adam { .. } => sizes.iter().map(|&n| vec![0.0; n]).collect(),
            OptimizerKind::Sgd { .. } => vec![],
        };
        Self { kind, lr, step: 0, m, v }
    }

    /// One update of `params` from `grads` (same shapes).
    pub fn update<T: Real>(&mut self, params: &mut [Tensor<T>], grads: &[Tensor<T>]) -> Result<()> {
        if params.len() != grads.len() || params.len() != self.m.len() {
            return Err(Error::invalid("optimizer", "parameter and gradient counts differ"));
        }
        self.step += 1;
        let t = self.step as f64;
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            if p.shape() != g.shape() || self.m[i].len() != p.len() {
                return Err(Error::shape("optimizer", format!("parameter {i}: {:?} vs {:?}", p.shape(), g.shape())));
            }
            // in place, element by element (each parameter widened, updated in f64 and rounded
            // once, as the formulas above say), in parallel chunks compiled for the vector unit:
            // no buffer per step, and the same bits whatever the number of threads or SIMD level
            let lr = self.lr;
            let (w, g, m) = (p.data_mut(), g.data(), &mut self.m[i][..]);
            match self.kind {
                OptimizerKind::Sgd { momentum } => {
                    let kernel = |((w, m), g): ((&mut [T], &mut [f64]), &[T])| {
                        wide(|| {
                            for ((w, m), g) in w.iter_mut().zip(m.iter_mut()).zip(g) {
                                *m = momentum * *m + g.to_f64();
                                *w = T::from_f64(w.to_f64() - lr * *m);
                            }
                        })
                    };
                    if w.len() <= CHUNK {
                        kernel(((w, m), g));
                    } else {
                        w.par_chunks_mut(CHUNK).zip(m.par_chunks_mut(CHUNK)).zip(g.par_chunks(CHUNK)).for_each(kernel);
                    }
                }
                OptimizerKind::Adam { beta1, beta2, eps } => {
                    let (c1, c2) = (1.0 - beta1.powf(t), 1.0 - beta2.powf(t));
                    let kernel = |(((w, m), v), g): AdamChunk<'_, T>| {
                        wide(|| {
                            for (((w, m), v), g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
                                let g = g.to_f64();
                                *m = beta1 * *m + (1.0 - beta1) * g;
                                *v = beta2 * *v + (1.0 - beta2) * g * g;
                                *w = T::from_f64(w.to_f64() - lr * (*m / c1) / ((*v / c2).sqrt() + eps));
                            }
                        })
                    };
                    let v = &mut self.v[i][..];
                    if w.len() <= CHUNK {
                        kernel((((w, m), v), g));
                    } else {
                        w.par_chunks_mut(CHUNK)
                            .zip(m.par_chunks_mut(CHUNK))
                            .zip(v.par_chunks_mut(CHUNK))
                            .zip(g.par_chunks(CHUNK))
                            .for_each(kernel);
                    }
                }
            }
        }
        Ok(())
    }
}
