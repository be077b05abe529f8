//! Neural networks built only from the library's primitives: layers ([`Layer`], [`Sequential`]),
//! losses, optimisers, mini-batch training on MNIST-style data with per-layer kink logs and
//! resumable checkpoints, and the Deep Ritz method ([`ritz`]) where the loss differentiates the
//! network with respect to its input (gradients of gradients).
//!
//! The talk's network `f = f_l o S_l o ... o S_1 o f_0` is a [`Sequential`] of affine layers
//! (`Linear`, `Conv2d`) and non-smooth activations (`Relu`, `MaxPool2d`, ...). Training
//! differentiates it with respect to the weights in `assoc` mode (an associated gradient of the
//! chosen representation, as the frameworks do) or `safe` mode (branch-locked, independent of the
//! representation); the kink log says how often the evaluation sat exactly on a kink, per layer.
//!
//! ```
//! use kinkgrad::nn::{Init, Sequential};
//! use kinkgrad::{Rng, Tape, Tensor, Mode};
//! let mut rng = Rng::new(0);
//! let model = Sequential::<f64>::mlp(&[4, 8, 3], Init::PyTorch, &mut rng).unwrap();
//! let tape = Tape::new();
//! let x = tape.constant(Tensor::from_f64(vec![2, 4], &[0.1, 0.2, 0.3, 0.4, -1.0, 0.5, 0.0, 2.0]).unwrap());
//! let p = model.param_vars(&tape);
//! let logits = model.forward(x, &p).unwrap();
//! let loss = kinkgrad::nn::cross_entropy(logits, &[0, 2]).unwrap();
//! let g = tape.gradient(loss, &p, &Mode::Assoc).unwrap();
//! assert_eq!(g.values[0].shape(), &[8, 4]);
//! ```

pub mod checkpoint;
pub mod layer;
pub mod loss;
pub mod on_pool;
pub mod optim;
pub mod ritz;
pub mod train;

pub use checkpoint::{load_weights, save_weights, set_weights, state_path, ResumeInfo, WeightsInfo};
pub use layer::{Init, Layer, Sequential};
pub use loss::{correct, cross_entropy, mse};
pub use on_pool::{on_pool, pool_threads};
pub use optim::{Optimizer, OptimizerKind};
pub use train::{
    evaluate, kinks_per_layer, load_split, load_split_within, BatchInfo, EpochReport, Progress, StepReport, Trainer,
};
