//! Optimisers: SGD with momentum and Adam. The optimiser state (momentum, Adam's moments) is kept in
//! `f64` whatever the precision of the model, and each new weight is rounded once to the parameters'
//! precision. SGD computes the update in `f64`; Adam computes its moments in `f64` and its step
//! `lr m^ / (sqrt(v^) + eps)` in `f64` for `f64`/`f32` models and in `f32` for `f16`/`bf16` ones
//! (relative error at most `9.5 * 2^-24`, far below their rounding; see `adam_chunk`). [`Optimizer::working_precision`] instead rounds
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

/// The floating-point type Adam's step is computed in: `f64` for `f64` and `f32` parameters, `f32`
/// for the 16-bit types (their values widen to `f32` exactly, and `f32` keeps 13 or 16 bits more than
/// they store, so the one rounding to 16 bits dominates the error; in `f32` the vector unit divides,
/// takes square roots and converts 16-bit values at twice the lanes).
trait Lane:
    Copy + Default + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self> + std::ops::Div<Output = Self>
{
    /// Whether [`adam_chunk`] runs in tiles of three passes (`f32`: its work then runs at the full
    /// `f32` width) or in one loop (`f64`: measured faster for `f32` parameters, 17% of a 16-bit MLP
    /// profile's samples tiled against 11% in one loop).
    const TILED: bool;
    /// `x` rounded to this type (to nearest).
    fn of(x: f64) -> Self;
    /// `x` widened to this type (exact).
    fn of_real<T: Real>(x: T) -> Self;
    /// Exact widening to `f64`.
    fn wide(self) -> f64;
    /// The square root (correctly rounded).
    fn sqrt(self) -> Self;
    /// Neither infinite nor NaN.
    fn finite(self) -> bool;
    /// The `T` nearest to `w - u` (one rounding to `T`).
    fn sub_to<T: Real>(w: Self, u: Self) -> T;
}

impl Lane for f64 {
    const TILED: bool = false;
    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn of_real<T: Real>(x: T) -> Self {
        x.to_f64()
    }
    #[inline(always)]
    fn wide(self) -> f64 {
        self
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn finite(self) -> bool {
        self.is_finite()
    }
    #[inline(always)]
    fn sub_to<T: Real>(w: Self, u: Self) -> T {
        T::from_f64(w - u)
    }
}

impl Lane for f32 {
    const TILED: bool = true;
    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn of_real<T: Real>(x: T) -> Self {
        x.to_f32()
    }
    #[inline(always)]
    fn wide(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    #[inline(always)]
    fn finite(self) -> bool {
        self.is_finite()
    }
    #[inline(always)]
    fn sub_to<T: Real>(w: Self, u: Self) -> T {
        // w - u rounded to odd in f32, then to nearest in T (16 bits): the T nearest to w - u
        T::from_f32(crate::round16::sub_to_f32_odd(w, u))
    }
}

/// Parameters per tile of [`adam_chunk`]: its three passes work on stack buffers of this length.
const TILE: usize = 256;

/// The Adam update of one chunk (parameters `w`, moments `m` and `v`, gradient `g`), element by
/// element, with the step computed in the lane type `L` ([`Lane`]):
///
/// 1. `w` and `g` widened exactly to `L`, then to `f64`; in `f64`: `g + wd w` (weight decay with `w`
///    before the update) and the moments `m`, `v` (stored in `f64`);
/// 2. in `L`: `m`, `v`, `lr`, `eps`, `c1`, `c2` rounded to `L` (for `L = f64`: no rounding), the step
///    `u = lr (m / c1) / (sqrt(v / c2) + eps)`, each operation rounded to `L`;
/// 3. the new weight: the `T` nearest to `w - u`, one rounding to `T` (through the exact `f64`
///    difference for `L = f64`, through [`crate::round16::sub_to_f32_odd`] for `L = f32`).
///
/// For the 16-bit types (`L = f32`) the relative error of `u` is at most `9.5 * 2^-24` to first order
/// (3 roundings in `m / c1`, 1 in `lr`, 1 in the product; 3 in `v / c2`, halved by the square root,
/// plus 1 there, 1 in `+ eps`; 1 in the quotient), while no intermediate leaves `f32`'s normal range.
/// For `L = f32` the steps run as three passes per [`TILE`] of elements on stack buffers (widen; the
/// moments; the step and the rounding), so that the `f32` work runs at the full `f32` width of the
/// vector unit instead of the width of the `f64` moments; for `L = f64` in one loop. Returns false when a new
/// weight, or a step's denominator, is not finite (in `f32`: a moment past `f32`'s range, possible for
/// `bf16` gradients above about `1.8e19`), which the caller reports as an error.
#[inline(always)]
fn adam_chunk<T: Real, L: Lane>(w: &mut [T], m: &mut [f64], v: &mut [f64], g: &[T], s: AdamStep) -> bool {
    let AdamStep { lr, beta1, beta2, eps, wd, c1, c2 } = s;
    let (lr_l, eps_l, c1_l, c2_l) = (L::of(lr), L::of(eps), L::of(c1), L::of(c2));
    // step 1: the moments of one element in f64, from its weight and gradient in L
    let moments = |w: L, g: L, m: &mut f64, v: &mut f64| {
        let g = g.wide() + wd * w.wide();
        *m = beta1 * *m + (1.0 - beta1) * g;
        *v = beta2 * *v + (1.0 - beta2) * g * g;
    };
    // steps 2 and 3: the new weight from the weight and the moments in L, and whether it is finite
    let update = |w: L, m: L, v: L| -> (T, bool) {
        let den = (v / c2_l).sqrt() + eps_l;
        let u = lr_l * (m / c1_l) / den;
        let new = L::sub_to::<T>(w, u);
        (new, den.finite() & new.is_finite())
    };
    let mut finite = true;
    if !L::TILED {
        for (((w, m), v), g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            let wl = L::of_real(*w);
            moments(wl, L::of_real(*g), m, v);
            let (new, ok) = update(wl, L::of(*m), L::of(*v));
            finite &= ok;
            *w = new;
        }
        return finite;
    }
    let z = L::default();
    let (mut wl, mut gl, mut ml, mut vl) = ([z; TILE], [z; TILE], [z; TILE], [z; TILE]);
    for (((w, m), v), g) in w.chunks_mut(TILE).zip(m.chunks_mut(TILE)).zip(v.chunks_mut(TILE)).zip(g.chunks(TILE)) {
        let n = w.len();
        let (wl, gl, ml, vl) = (&mut wl[..n], &mut gl[..n], &mut ml[..n], &mut vl[..n]);
        for (((wl, gl), w), g) in wl.iter_mut().zip(gl.iter_mut()).zip(w.iter()).zip(g) {
            *wl = L::of_real(*w);
            *gl = L::of_real(*g);
        }
        let mv = m.iter_mut().zip(v.iter_mut());
        for ((((ml, vl), (m, v)), wl), gl) in ml.iter_mut().zip(vl.iter_mut()).zip(mv).zip(wl.iter()).zip(gl.iter()) {
            moments(*wl, *gl, m, v);
            *ml = L::of(*m);
            *vl = L::of(*v);
        }
        for (((w, wl), ml), vl) in w.iter_mut().zip(wl.iter()).zip(ml.iter()).zip(vl.iter()) {
            let (new, ok) = update(*wl, *ml, *vl);
            finite &= ok;
            *w = new;
        }
    }
    finite
}

wide_fn! {
    /// [`adam_chunk`] in `f64` lanes (`f64` and `f32` parameters), compiled for the CPU's vector
    /// units: a function of its own, because as a closure passed to [`wide`] the loop (with the
    /// 16-bit conversions inlined) was not inlined into the wide variant and ran two `f64` lanes wide.
    fn adam_wide64<T: Real>(w: &mut [T], m: &mut [f64], v: &mut [f64], g: &[T], s: AdamStep) -> bool = adam_chunk64;
}

wide_fn! {
    /// [`adam_chunk`] in `f32` lanes (the 16-bit types), compiled for the CPU's vector units.
    fn adam_wide32<T: Real>(w: &mut [T], m: &mut [f64], v: &mut [f64], g: &[T], s: AdamStep) -> bool = adam_chunk32;
}

#[inline(always)]
fn adam_chunk64<T: Real>(w: &mut [T], m: &mut [f64], v: &mut [f64], g: &[T], s: AdamStep) -> bool {
    adam_chunk::<T, f64>(w, m, v, g, s)
}

#[inline(always)]
fn adam_chunk32<T: Real>(w: &mut [T], m: &mut [f64], v: &mut [f64], g: &[T], s: AdamStep) -> bool {
    adam_chunk::<T, f32>(w, m, v, g, s)
}

/// One Adam update of a chunk in the lane type of `T`: `f32` for the 16-bit types, `f64` otherwise.
fn adam_wide<T: Real>(w: &mut [T], m: &mut [f64], v: &mut [f64], g: &[T], s: AdamStep) -> bool {
    if std::mem::size_of::<T>() == 2 {
        adam_wide32(w, m, v, g, s)
    } else {
        adam_wide64(w, m, v, g, s)
    }
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
                    let finite = if w.len() <= CHUNK {
                        adam_wide(w, m, v, g, s)
                    } else {
                        w.par_chunks_mut(CHUNK)
                            .zip(m.par_chunks_mut(CHUNK))
                            .zip(v.par_chunks_mut(CHUNK))
                            .zip(g.par_chunks(CHUNK))
                            .map(|(((w, m), v), g)| adam_wide(w, m, v, g, s))
                            .reduce(|| true, |a, b| a & b)
                    };
                    if !finite {
                        return Err(Error::NonFinite {
                            op: format!("Adam update of parameter {i} in {}", T::NAME),
                            stage: "value",
                        });
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

    /// Adam's first step in 16 bits, by hand, where the `f32` step and the `f64` one round to
    /// different weights. g = 1/2, w = 1 - 2s (s half the 16-bit spacing below 1: 2^-12 for f16,
    /// 2^-9 for bf16; w odd, 0x3bff / 0x3f7f), lr = s. In `f32`: m = 0.05 and c1 = 0.1 round to the
    /// same significand (0.05 = 0.1 / 2 in `f64` and `f32`), so m / c1 = 1/2 exactly; likewise
    /// v / c2 = 1/4, sqrt = 1/2, and 1/2 + 1e-8 rounds to 1/2 (half the `f32` spacing there is 2^-25,
    /// about 3e-8): the step is exactly s, w - s = 1 - 3s is the midpoint of w and 1 - 4s, and the
    /// tie goes to the even one, 1 - 4s (0x3bfe / 0x3f7e). In `f64` the step would be
    /// s (1 - 2e-8), above the midpoint, and the weight would stay 1 - 2s.
    #[test]
    fn adam_16bit_first_step_by_hand() {
        fn first_step<T: Real>(s: f64) -> f64 {
            let mut o = Optimizer::new(OptimizerKind::adam(), s, &[1]);
            let mut p = vec![Tensor::<T>::from_f64(vec![1], &[1.0 - 2.0 * s]).unwrap()];
            o.update(&mut p, &[Tensor::<T>::from_f64(vec![1], &[0.5]).unwrap()]).unwrap();
            p[0].data()[0].to_f64()
        }
        assert_eq!(first_step::<f16>(2f64.powi(-12)), 1.0 - 2f64.powi(-10));
        assert_eq!(first_step::<half::bf16>(2f64.powi(-9)), 1.0 - 2f64.powi(-7));
        // f32 parameters keep the f64 step: with s = 2^-25 (half the f32 spacing below 1), w - step
        // = 1 - 2^-24 - 2^-25 (1 - 2e-8) is above the midpoint 1 - 1.5 * 2^-24, so w stays 1 - 2^-24
        // (an exact step s would tie and go to the even 1 - 2^-23)
        assert_eq!(first_step::<f32>(2f64.powi(-25)), 1.0 - 2f64.powi(-24));
    }

    /// The vectorised, chunked Adam update in f16 and bf16 (20 000 parameters: parallel chunks and
    /// loop tails) against an independent scalar one in `f64`: the moments bit for bit (they are
    /// computed in `f64` by the same formulas), and every new weight between the 16-bit values nearest
    /// to `x - e` and `x + e` (rounding to nearest is monotone), where `x = w - u` is the reference
    /// and `e = 10 * 2^-24 |u|` the bound on the `f32` step's error derived in `adam_chunk`'s doc
    /// (9.5 units of `f32` to first order, plus the reference's own `f64` error). The nearest 16-bit
    /// value is found by searching the neighbours of the `half` crate's estimate (ties to the even bit
    /// pattern). Three steps with weight decay, each from the weights the update produced.
    #[test]
    fn adam_16bit_within_one_rounding_of_a_scalar_reference() {
        fn nearest<T: Real>(x: f64, from_bits: fn(u16) -> T, bits: fn(T) -> u16, guess: fn(f64) -> T) -> f64 {
            let g = bits(guess(x));
            let mut best = guess(x);
            for b in [g.wrapping_sub(1), g, g.wrapping_add(1)] {
                let c = from_bits(b);
                let (dc, db) = ((x - c.to_f64()).abs(), (x - best.to_f64()).abs());
                if dc < db || dc == db && b & 1 == 0 {
                    best = c;
                }
            }
            best.to_f64()
        }
        fn check<T: Real>(from_bits: fn(u16) -> T, bits: fn(T) -> u16, guess: fn(f64) -> T) {
            let n = 20_000;
            let mut rng = crate::Rng::new(7);
            let w0: Vec<f64> = (0..n).map(|_| rng.uniform() - 0.5).collect();
            let mut p = vec![Tensor::<T>::from_f64(vec![n], &w0).unwrap()];
            let mut o = Optimizer::new(OptimizerKind::adam(), 1e-3, &[n]);
            o.weight_decay = 0.01;
            let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
            let mut exact = 0;
            for t in 1..=3 {
                let w = p[0].to_f64_vec();
                let gs: Vec<f64> = (0..n).map(|_| (rng.uniform() - 0.5) * 1e-2).collect();
                let g = Tensor::<T>::from_f64(vec![n], &gs).unwrap();
                o.update(&mut p, std::slice::from_ref(&g)).unwrap();
                let (c1, c2) = (1.0 - 0.9f64.powf(t as f64), 1.0 - 0.999f64.powf(t as f64));
                let got = p[0].to_f64_vec();
                for (i, g) in g.to_f64_vec().into_iter().enumerate() {
                    let g = g + 0.01 * w[i];
                    m[i] = 0.9 * m[i] + (1.0 - 0.9) * g;
                    v[i] = 0.999 * v[i] + (1.0 - 0.999) * g * g;
                    let u = 1e-3 * (m[i] / c1) / ((v[i] / c2).sqrt() + 1e-8);
                    let e = 10.0 * 2f64.powi(-24) * u.abs();
                    let (x, lo, hi) = (w[i] - u, w[i] - u - e, w[i] - u + e);
                    let r = |x| nearest(x, from_bits, bits, guess);
                    assert!(
                        r(lo) <= got[i] && got[i] <= r(hi),
                        "{} step {t} [{i}]: {} not in [{}, {}]",
                        T::NAME,
                        got[i],
                        r(lo),
                        r(hi)
                    );
                    exact += usize::from(got[i] == r(x));
                }
                assert_eq!((&o.m[0], &o.v[0]), (&m, &v), "{} step {t}", T::NAME);
            }
            // the interval is narrow: almost every weight is the nearest value of the reference
            assert!(exact > 3 * n * 99 / 100, "{} {exact}", T::NAME);
        }
        check::<f16>(f16::from_bits, f16::to_bits, f16::from_f64);
        check::<half::bf16>(half::bf16::from_bits, half::bf16::to_bits, half::bf16::from_f64);
    }

    /// A step that overflows `f32` is an error, not a silent zero: a bf16 gradient of 2^100 gives
    /// v = 0.001 * 2^200, beyond `f32` (about 2^128), so the denominator is infinite in `f32`.
    #[test]
    fn adam_16bit_overflow_is_an_error() {
        let mut o = Optimizer::new(OptimizerKind::adam(), 1e-3, &[1]);
        let mut p = vec![Tensor::<half::bf16>::from_f64(vec![1], &[1.0]).unwrap()];
        let g = Tensor::<half::bf16>::from_f64(vec![1], &[2f64.powi(100)]).unwrap();
        let e = o.update(&mut p, &[g]).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Numeric, "{e}");
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
