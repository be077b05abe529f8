//! Optimisers: SGD with momentum and Adam. The update is computed in `f64` from the gradient and
//! rounded once to the parameters' precision; the optimiser state (momentum, Adam's moments) is kept
//! in `f64` whatever the precision of the model. [`Optimizer::working_precision`] instead rounds
//! every operation of the SGD update to the parameters' precision, state included, as PyTorch's SGD
//! on a `.half()` model does.
//!
//! - SGD with momentum `mu` and weight decay `wd` (PyTorch's form): `d <- g + wd w`,
//!   `v <- mu v + d`, `w <- w - lr v`.
//! - The cosine schedule ([`cosine_lr`], PyTorch's `CosineAnnealingLR` with `eta_min = 0`).
//! - Adam (Kingma & Ba 2015): `m <- b1 m + (1-b1) g`, `v <- b2 v + (1-b2) g^2`,
//!   `w <- w - lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)`.

use crate::error::{Error, Result};
use crate::scalar::Real;
use crate::simd::wide;
use crate::tensor::Tensor;
use rayon::prelude::*;

/// Parameters per parallel task of an update.
const CHUNK: usize = 1 << 14;

/// The constants of one Adam update: hyper-parameters, weight decay and the bias corrections
/// `c1 = 1 - beta1^t`, `c2 = 1 - beta2^t`.
#[derive(Clone, Copy)]
struct AdamStep {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    wd: f64,
    c1: f64,
    c2: f64,
}

/// The Adam update of one chunk (parameters `w`, moments `m` and `v`, gradient `g`), element by
/// element: `w` and `g` widened exactly to `f64`, the formulas of the module doc in `f64` (the
/// moments stored in `f64`), one rounding of the new `w` to `T`. Weight decay enters the gradient,
/// `g + wd w`, with `w` before the update.
#[inline(always)]
fn adam_chunk<T: Real>(w: &mut [T], m: &mut [f64], v: &mut [f64], g: &[T], s: AdamStep) {
    let AdamStep { lr, beta1, beta2, eps, wd, c1, c2 } = s;
    for (((w, m), v), g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
        let g = g.to_f64() + wd * w.to_f64();
        *m = beta1 * *m + (1.0 - beta1) * g;
        *v = beta2 * *v + (1.0 - beta2) * g * g;
        *w = T::from_f64(w.to_f64() - lr * (*m / c1) / ((*v / c2).sqrt() + eps));
    }
}

wide_fn! {
    /// [`adam_chunk`] compiled for the CPU's vector units: a function of its own, because as a
    /// closure passed to [`wide`] the loop (with the 16-bit conversions inlined) was not inlined into
    /// the wide variant and ran two `f64` lanes wide (perf: the 16-bit Adam update 3.4x the `f32` one).
    fn adam_wide<T: Real>(w: &mut [T], m: &mut [f64], v: &mut [f64], g: &[T], s: AdamStep) = adam_chunk;
}

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
    /// L2 weight decay added to the gradient (`g + wd w`, PyTorch's `weight_decay`); 0 by default.
    pub weight_decay: f64,
    /// Round every operation of the update (and the state) to the parameters' precision instead of
    /// computing it in `f64` and rounding once (PyTorch's SGD on a `.half()` model). SGD only.
    pub working_precision: bool,
}

/// The cosine schedule: the learning rate of step (or epoch) `t` of `total`,
/// `lr (1 + cos(pi t / total)) / 2` (PyTorch's `CosineAnnealingLR` with `T_max = total`,
/// `eta_min = 0`).
pub fn cosine_lr(lr: f64, t: usize, total: usize) -> f64 {
    lr * (1.0 + (std::f64::consts::PI * t as f64 / total.max(1) as f64).cos()) / 2.0
}

impl Optimizer {
    /// A fresh optimiser for parameters of the given sizes.
    pub fn new(kind: OptimizerKind, lr: f64, sizes: &[usize]) -> Self {
        let m = sizes.iter().map(|&n| vec![0.0; n]).collect();
        let v = match kind {
            OptimizerKind::Adam { .. } => sizes.iter().map(|&n| vec![0.0; n]).collect(),
            OptimizerKind::Sgd { .. } => vec![],
        };
        Self { kind, lr, step: 0, m, v, weight_decay: 0.0, working_precision: false }
    }

    /// One update of `params` from `grads` (same shapes).
    pub fn update<T: Real>(&mut self, params: &mut [Tensor<T>], grads: &[Tensor<T>]) -> Result<()> {
        if params.len() != grads.len() || params.len() != self.m.len() {
            return Err(Error::invalid("optimizer", "parameter and gradient counts differ"));
        }
        if self.working_precision && !matches!(self.kind, OptimizerKind::Sgd { .. }) {
            return Err(Error::unsupported("working-precision update", "offered for sgd only"));
        }
        self.step += 1;
        let t = self.step as f64;
        let wd = self.weight_decay;
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            if p.shape() != g.shape() || self.m[i].len() != p.len() {
                return Err(Error::shape("optimizer", format!("parameter {i}: {:?} vs {:?}", p.shape(), g.shape())));
            }
            // in place, element by element (each parameter widened, updated in f64 and rounded
            // once, as the formulas above say), in parallel chunks compiled for the vector unit:
            // no buffer per step, and the same bits whatever the number of threads or SIMD level;
            // weight decay enters the gradient, g + wd w, with w before the update
            let lr = self.lr;
            let (w, g, m) = (p.data_mut(), g.data(), &mut self.m[i][..]);
            if self.working_precision {
                // each PyTorch op rounded once: d = g + wd w; v = mu v; v = v + d; w = w - lr v
                let r = |x: f64| T::from_f64(x).to_f64();
                let OptimizerKind::Sgd { momentum } = self.kind else { unreachable!("checked above") };
                for ((w, m), g) in w.iter_mut().zip(m.iter_mut()).zip(g) {
                    let d = if wd == 0.0 { g.to_f64() } else { r(g.to_f64() + wd * w.to_f64()) };
                    *m = r(r(momentum * *m) + d);
                    *w = T::from_f64(w.to_f64() - lr * *m);
                }
                continue;
            }
            match self.kind {
                OptimizerKind::Sgd { momentum } => {
                    let kernel = |((w, m), g): ((&mut [T], &mut [f64]), &[T])| {
                        wide(|| {
                            for ((w, m), g) in w.iter_mut().zip(m.iter_mut()).zip(g) {
                                *m = momentum * *m + g.to_f64() + wd * w.to_f64();
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
                    let s = AdamStep { lr, beta1, beta2, eps, wd, c1, c2 };
                    let v = &mut self.v[i][..];
                    if w.len() <= CHUNK {
                        adam_wide(w, m, v, g, s);
                    } else {
                        w.par_chunks_mut(CHUNK)
                            .zip(m.par_chunks_mut(CHUNK))
                            .zip(v.par_chunks_mut(CHUNK))
                            .zip(g.par_chunks(CHUNK))
                            .for_each(|(((w, m), v), g)| adam_wide(w, m, v, g, s));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    /// By hand: w = 1, lr 0.5, momentum 0.9, weight decay 0.1, gradients 1 then 2.
    /// Step 1: d = 1 + 0.1 = 1.1, v = 1.1, w = 1 - 0.55 = 0.45.
    /// Step 2: d = 2 + 0.045 = 2.045, v = 0.99 + 2.045 = 3.035, w = 0.45 - 1.5175 = -1.0675.
    #[test]
    fn sgd_momentum_weight_decay_by_hand() {
        let mut o = Optimizer::new(OptimizerKind::Sgd { momentum: 0.9 }, 0.5, &[1]);
        o.weight_decay = 0.1;
        let mut p = vec![Tensor::<f64>::from_f64(vec![1], &[1.0]).unwrap()];
        o.update(&mut p, &[Tensor::from_f64(vec![1], &[1.0f64]).unwrap()]).unwrap();
        assert!((p[0].data()[0] - 0.45f64).abs() < 1e-15);
        o.update(&mut p, &[Tensor::from_f64(vec![1], &[2.0f64]).unwrap()]).unwrap();
        assert!((p[0].data()[0] + 1.0675f64).abs() < 1e-14, "{:?}", p[0]);
        assert!((o.m[0][0] - 3.035).abs() < 1e-14);
    }

    /// Working precision in f16, w = 1, lr 1, momentum 0.5, no decay, gradients 2^-12 twice.
    /// f16 has 10 fraction bits: below 1 its spacing is 2^-11. By hand, rounding each op:
    /// step 1: v = 2^-12, w = round(1 - 2^-12) = 1 (halfway between 1 - 2^-11 and 1: to even, 1).
    /// step 2: v = round(0.5 * 2^-12) + 2^-12 = 1.5 * 2^-12 (exact), w = round(1 - 1.5 * 2^-12) =
    /// 1 - 2^-11 (nearer). Then the state: see below.
    #[test]
    fn working_precision_rounds_every_op() {
        let e = 2f64.powi(-12);
        let mut o = Optimizer::new(OptimizerKind::Sgd { momentum: 0.5 }, 1.0, &[1]);
        o.working_precision = true;
        let mut p = vec![Tensor::<f16>::from_f64(vec![1], &[1.0]).unwrap()];
        let g = || vec![Tensor::<f16>::from_f64(vec![1], &[e]).unwrap()];
        o.update(&mut p, &g()).unwrap();
        assert_eq!(p[0].data()[0].to_f64(), 1.0);
        o.update(&mut p, &g()).unwrap();
        assert_eq!(p[0].data()[0].to_f64(), 1.0 - 2.0 * e);
        assert_eq!(o.m[0][0], 1.5 * e);
        // the state is rounded: 0.1 in f16 is 0.0999755859375 = 1638/16384; 0.9 times it is
        // 0.08997802734375 = 1474.18 / 16384, which f16 (spacing 2^-14 in [2^-4, 2^-3)) rounds to
        // 1474/16384 (checked with NumPy's float16)
        let mut o = Optimizer::new(OptimizerKind::Sgd { momentum: 0.9 }, 1e-3, &[1]);
        o.working_precision = true;
        let mut p = vec![Tensor::<f16>::from_f64(vec![1], &[0.0]).unwrap()];
        let g = Tensor::<f16>::from_f64(vec![1], &[0.1]).unwrap();
        o.update(&mut p, std::slice::from_ref(&g)).unwrap();
        assert_eq!(o.m[0][0], 1638.0 / 16384.0);
        o.update(&mut p, &[Tensor::<f16>::from_f64(vec![1], &[0.0]).unwrap()]).unwrap();
        assert_eq!(o.m[0][0], 1474.0 / 16384.0);
        // Adam has no working-precision form
        let mut a = Optimizer::new(OptimizerKind::adam(), 1e-3, &[1]);
        a.working_precision = true;
        assert!(a.update(&mut p, std::slice::from_ref(&g)).is_err());
    }

    /// Adam's first step in 16 bits, by hand, where rounding once from `f64` and rounding through
    /// `f32` differ. w = 1, g = 1/2: m/c1 = 1/2 and v/c2 = 1/4 exactly, so the step is
    /// lr (1/2) / (1/2 + 1e-8) = lr (1 - 2e-8 + ...). With lr = h (1 + 1e-7), h half the 16-bit
    /// spacing below 1 (2^-12 for f16, 2^-9 for bf16), w - step = 1 - h - h 8e-8: just below the
    /// midpoint 1 - h, so the nearest 16-bit value is 1 - 2h (f16 0x3bff, bf16 0x3f7f). Through `f32`
    /// (spacing 2^-24 there) it would land on the midpoint and round to even, 1.
    #[test]
    fn adam_16bit_rounds_once_from_f64_by_hand() {
        fn first_step<T: Real>(h: f64) -> f64 {
            let mut o = Optimizer::new(OptimizerKind::adam(), h * (1.0 + 1e-7), &[1]);
            let mut p = vec![Tensor::<T>::from_f64(vec![1], &[1.0]).unwrap()];
            o.update(&mut p, &[Tensor::<T>::from_f64(vec![1], &[0.5]).unwrap()]).unwrap();
            p[0].data()[0].to_f64()
        }
        assert_eq!(first_step::<f16>(2f64.powi(-12)), 1.0 - 2f64.powi(-11));
        assert_eq!(first_step::<half::bf16>(2f64.powi(-9)), 1.0 - 2f64.powi(-8));
    }

    /// The vectorised, chunked Adam update in f16 and bf16 (20 000 parameters: parallel chunks and
    /// loop tails) against an independent scalar one: the formulas of the module doc in `f64`, rounded
    /// to 16 bits by searching the neighbours of the `half` crate's estimate for the nearest value
    /// (ties to the even bit pattern). Three steps with weight decay; weights, moments bit for bit.
    #[test]
    fn adam_16bit_matches_a_scalar_reference() {
        fn nearest<T: Real>(x: f64, from_bits: fn(u16) -> T, bits: fn(T) -> u16, guess: fn(f64) -> T) -> T {
            let g = bits(guess(x));
            let mut best = guess(x);
            for b in [g.wrapping_sub(1), g, g.wrapping_add(1)] {
                let c = from_bits(b);
                let (dc, db) = ((x - c.to_f64()).abs(), (x - best.to_f64()).abs());
                if dc < db || dc == db && b & 1 == 0 {
                    best = c;
                }
            }
            best
        }
        fn check<T: Real>(from_bits: fn(u16) -> T, bits: fn(T) -> u16, guess: fn(f64) -> T) {
            let n = 20_000;
            let mut rng = crate::Rng::new(7);
            let w0: Vec<f64> = (0..n).map(|_| rng.uniform() - 0.5).collect();
            let mut p = vec![Tensor::<T>::from_f64(vec![n], &w0).unwrap()];
            let mut o = Optimizer::new(OptimizerKind::adam(), 1e-3, &[n]);
            o.weight_decay = 0.01;
            let (mut w, mut m, mut v) = (p[0].to_f64_vec(), vec![0.0; n], vec![0.0; n]);
            for t in 1..=3 {
                let gs: Vec<f64> = (0..n).map(|_| (rng.uniform() - 0.5) * 1e-2).collect();
                let g = Tensor::<T>::from_f64(vec![n], &gs).unwrap();
                o.update(&mut p, std::slice::from_ref(&g)).unwrap();
                let (c1, c2) = (1.0 - 0.9f64.powf(t as f64), 1.0 - 0.999f64.powf(t as f64));
                for (i, g) in g.to_f64_vec().into_iter().enumerate() {
                    let g = g + 0.01 * w[i];
                    m[i] = 0.9 * m[i] + (1.0 - 0.9) * g;
                    v[i] = 0.999 * v[i] + (1.0 - 0.999) * g * g;
                    w[i] = nearest(w[i] - 1e-3 * (m[i] / c1) / ((v[i] / c2).sqrt() + 1e-8), from_bits, bits, guess)
                        .to_f64();
                }
                assert_eq!(p[0].to_f64_vec(), w, "{} step {t}", T::NAME);
                assert_eq!((&o.m[0], &o.v[0]), (&m, &v));
            }
        }
        check::<f16>(f16::from_bits, f16::to_bits, f16::from_f64);
        check::<half::bf16>(half::bf16::from_bits, half::bf16::to_bits, half::bf16::from_f64);
    }

    /// PyTorch's CosineAnnealingLR with T_max = 4, eta_min = 0: lr * (1 + cos(pi t / 4)) / 2 =
    /// lr, lr (2 + sqrt 2) / 4, lr / 2, lr (2 - sqrt 2) / 4, 0.
    #[test]
    fn cosine_schedule_by_hand() {
        let s = 2f64.sqrt();
        let want = [1.0, (2.0 + s) / 4.0, 0.5, (2.0 - s) / 4.0, 0.0];
        for (t, w) in want.iter().enumerate() {
            assert!((cosine_lr(1.0, t, 4) - w).abs() < 1e-15, "{t}");
        }
    }
}
