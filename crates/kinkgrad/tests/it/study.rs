//! The precision studies ([`kinkgrad::study`]) on constructed inputs whose outcome is known by hand.

use kinkgrad::io::mnist::Mnist;
use kinkgrad::nn::{load_split, Init, Sequential};
use kinkgrad::study::{compare_model, maxpool_beta, BetaConfig, ReluPrimeConfig};
use kinkgrad::{f16, Mode, Real, Rng, Tensor};
use std::path::Path;

/// Four 2x2 "images" (pixels exact in binary), all labelled 0.
fn tiny_data() -> Mnist {
    #[rustfmt::skip]
    let images = vec![
        0.5, 0.25, 0.0, 0.0,
        0.5, 0.5, 0.0, 0.0,
        0.25, 0.125, 1.0, 0.0,
        1.0, 0.0, 0.0, 0.0,
    ];
    Mnist { images, labels: vec![0; 4], n: 4, rows: 2, cols: 2 }
}

/// MLP 4-3-10 with hand-set weights. Hidden unit 0 has weights (1, -2, 0, 0) and bias `b0`; by
/// hand its pre-activation on the four images is 0.5 - 0.5 = 0, 0.5 - 1 = -0.5, 0.25 - 0.25 = 0,
/// 1 (plus `b0`). Units 1 and 2 (weights (0.5, ...) bias 0.1 and (-1, 0, 0, 1) bias 0.3) are never
/// 0: 0.475, 0.6, 0.7875, 0.6 and -0.2, -0.2, 0.05, -0.7. The output layer reads unit 0 into logit 0
/// only, so the cotangent of unit 0 is `p_0 - 1 = 0.1 - 1 != 0` (label 0, uniform softmax at
/// h_0 = 0): with relu'(0) = 1 the first layer's row 0 receives `-0.9 x / 2` from each zero, with
/// relu'(0) = 0 nothing. So with `b0 = 0` and minibatches {0, 1}, {2, 3}: 2 exact zeros, one per
/// minibatch, both minibatches differ, the initialisation bifurcates; `safe` resolves each zero
/// along its probe directions, so its two gradients agree. With `b0 = 1/64` no zero: no difference.
fn tiny_model<T: Real>(b0: f64) -> Sequential<T> {
    let mut m = Sequential::<T>::mlp(&[4, 3, 10], Init::PyTorch, &mut Rng::new(0)).unwrap();
    #[rustfmt::skip]
    let w1 = [1.0, -2.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, -1.0, 0.0, 0.0, 1.0];
    m.params[0] = Tensor::from_f64(vec![3, 4], &w1).unwrap();
    m.params[1] = Tensor::from_f64(vec![3], &[b0, 0.1, 0.3]).unwrap();
    let mut w2 = vec![0.0; 30];
    w2[0] = 1.0;
    m.params[2] = Tensor::from_f64(vec![10, 3], &w2).unwrap();
    m.params[3] = Tensor::from_f64(vec![10], &[0.0; 10]).unwrap();
    m
}

fn check_tiny<T: Real>() {
    let cfg = ReluPrimeConfig { batch: 2, ..Default::default() };
    let data = tiny_data();
    let o = compare_model(&tiny_model::<T>(0.0), &data, &[0, 1, 2, 3], &cfg, &mut || {}).unwrap();
    assert_eq!((o.exact_zeros, o.batches, o.batches_with_zeros, o.batches_differing), (2, 2, 2, 2), "{}", T::NAME);
    assert!(o.bifurcated && !o.safe_bifurcated, "{}: {o:?}", T::NAME);
    assert_eq!(o.safe_unresolved, 0);
    let o = compare_model(&tiny_model::<T>(1.0 / 64.0), &data, &[0, 1, 2, 3], &cfg, &mut || {}).unwrap();
    assert_eq!((o.exact_zeros, o.batches_with_zeros, o.batches_differing), (0, 0, 0), "{}", T::NAME);
    assert!(!o.bifurcated && !o.safe_bifurcated);
}

#[test]
fn relu_prime_counts_a_constructed_exact_zero() {
    check_tiny::<f64>();
    check_tiny::<f32>();
    check_tiny::<f16>();
    // refusals: one line each
    let bad = ReluPrimeConfig { inits: 0, ..Default::default() };
    assert!(bad.check().unwrap_err().to_string().contains("inits"));
}

fn small() -> (Mnist, Mnist) {
    let (train, test) = load_split(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-10k")).unwrap();
    (train.split(128).0, test.split(100).0)
}

/// A run whose gradient overflows is a row, not an error: with beta = 1e30 the first tied entry of
/// a pooling window gets the weight 1 - 1e30 + 1e30/k, far above f16's largest finite value (65504),
/// and the first minibatch of LeNet on MNIST has ties among positive pooled values (the constant
/// background, where every pixel of a patch is 0 and the convolution gives its bias). In `safe`
/// mode the ties are locked along probe directions, so beta does not enter: beta = 0 and
/// beta = 1000 give bit-identical runs.
#[test]
fn maxpool_beta_diverged_is_a_row_and_safe_ignores_beta() {
    let (train, test) = small();
    let cfg = BetaConfig { epochs: 1, batch: 64, ..Default::default() };
    let r = maxpool_beta::<f16>(1e30, &Mode::Assoc, 0, &cfg, &train, &test, &mut || {}).unwrap();
    assert!(r.diverged, "{r:?}");
    assert!(r.diverged_at.as_deref().unwrap().starts_with("epoch 1, batch 1"), "{r:?}");
    assert!((0.0..=1.0).contains(&r.test_accuracy));
    // the volume on a beta = 0 run: both minibatches meet pooling ties (the background)
    let vcfg = BetaConfig { volume: true, ..cfg.clone() };
    let r = maxpool_beta::<f16>(0.0, &Mode::Assoc, 0, &vcfg, &train, &test, &mut || {}).unwrap();
    let v = r.volume.unwrap();
    assert_eq!((v.batches, v.batches_with_ties), (2, 2), "{v:?}");
    assert!(v.differing <= v.batches_with_ties && v.fraction == v.differing as f64 / 2.0);
    let a = maxpool_beta::<f32>(0.0, &Mode::safe(), 0, &cfg, &train, &test, &mut || {}).unwrap();
    let b = maxpool_beta::<f32>(1000.0, &Mode::safe(), 0, &cfg, &train, &test, &mut || {}).unwrap();
    assert!(!a.diverged && a.steps == 2);
    assert_eq!(a.train_loss.to_bits(), b.train_loss.to_bits());
    assert_eq!(a.test_accuracy, b.test_accuracy);
    assert!(a.certificate.kinks.count_op("maxpool2d") > 0, "ties were met: {}", a.certificate);
    assert!(kinkgrad::study::maxpool_beta::representation(f64::NAN).is_err());
    assert_eq!(kinkgrad::study::maxpool_beta::representation(1000.0).unwrap().name, "pytorch[maxpool=beta:1000]");
}
