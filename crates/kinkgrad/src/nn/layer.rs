//! Layers and [`Sequential`] models, built only from the library's `Var` ops.
//!
//! A model is a list of named layers and a flat list of parameter tensors (PyTorch's names and
//! layouts: `{layer}.weight`, `{layer}.bias`; a linear weight is `[out, in]`, a convolution weight
//! `[out_channels, in_channels, kh, kw]`). The forward pass records every layer's ops under the
//! layer's name ([`crate::Tape::set_scope`]), so the kink log counts relu zeros and pooling ties per
//! layer.
//!
//! | layer | forward | non-smooth? |
//! |---|---|---|
//! | `Linear` | `x W^T + b` (one GEMM, no transpose copy, the bias added in place: [`Var::linear`]) | no |
//! | `Conv2d` | im2col ([`Var::unfold2d`], a linear gather) then `cols W^T + b` written in NCHW ([`Var::conv2d`]) | no |
//! | `MaxPool2d` | window maxima ([`Var::max_pool2d_with`]) | ties in a window; rule selectable |
//! | `Relu`, `LeakyRelu`, `Abs`, `HardTanh` | piecewise primitives | at 0 (±1 for hardtanh) |
//! | `Tanh` | smooth | no |
//! | `Flatten` | `[b, ...] -> [b, prod]` | no |

use crate::error::{Error, Result};
use crate::repr::TieRule;
use crate::reverse::{Tape, Var};
use crate::rng::Rng;
use crate::scalar::Real;
use crate::tensor::Tensor;

/// One layer of a [`Sequential`] model.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// `y = x W^T + b`, `W: [out, in]`, `b: [out]`; input `[batch, in]`.
    Linear {
        /// Input features.
        inputs: usize,
        /// Output features.
        outputs: usize,
    },
    /// 2-d convolution (cross-correlation, as in PyTorch) with a square kernel; input
    /// `[batch, in_channels, h, w]`, output `[batch, out_channels, oh, ow]`,
    /// `oh = (h + 2 padding - kernel) / stride + 1`.
    Conv2d {
        /// Input channels.
        in_channels: usize,
        /// Output channels.
        out_channels: usize,
        /// Kernel size (square).
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Zero padding on every side.
        padding: usize,
    },
    /// Max-pooling over square windows of the last two axes (no padding). `rule`: the tie rule at
    /// a tie inside a window; `None` uses the tape's representation (family `maxpool`).
    MaxPool2d {
        /// Window size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Tie rule.
        rule: Option<TieRule>,
    },
    /// `max(x, 0)`; kink at 0 (`relu'(0)` from the representation).
    Relu,
    /// `x` for `x > 0`, `slope x` otherwise; kink at 0.
    LeakyRelu(f64),
    /// `|x|`; kink at 0.
    Abs,
    /// `clamp(x, -1, 1)`; kinks at ±1.
    HardTanh,
    /// `tanh x` (smooth).
    Tanh,
    /// `[b, d1, d2, ...] -> [b, d1 d2 ...]`.
    Flatten,
}

impl Layer {
    /// Parameter shapes: `[weight, bias]` for linear and convolution layers, none otherwise.
    pub fn param_shapes(&self) -> Vec<Vec<usize>> {
        (0..).map_while(|k| self.param_dims(k)).map(|(d, n)| d[..n].to_vec()).collect()
    }
    /// The shape of parameter `k` (0: weight, 1: bias) as its dimensions and their count, without
    /// allocating; `None` past the last parameter.
    fn param_dims(&self, k: usize) -> Option<([usize; 4], usize)> {
        match (self, k) {
            (Layer::Linear { inputs, outputs }, 0) => Some(([*outputs, *inputs, 0, 0], 2)),
            (Layer::Conv2d { in_channels, out_channels, kernel, .. }, 0) => {
                Some(([*out_channels, *in_channels, *kernel, *kernel], 4))
            }
            (Layer::Linear { outputs: c, .. } | Layer::Conv2d { out_channels: c, .. }, 1) => Some(([*c, 0, 0, 0], 1)),
            _ => None,
        }
    }
    /// Fan-in of a parameterised layer (inputs per output unit).
    pub fn fan_in(&self) -> usize {
        match *self {
            Layer::Linear { inputs, .. } => inputs,
            Layer::Conv2d { in_channels, kernel, .. } => in_channels * kernel * kernel,
            _ => 0,
        }
    }
    /// Apply the layer to `x` with its parameters `p` (empty for parameter-free layers).
    pub fn forward<'t, T: Real>(&self, x: Var<'t, T>, p: &[Var<'t, T>]) -> Result<Var<'t, T>> {
        // checked without allocating (a training step allocates nothing in its steady state)
        let count = (0..).map_while(|k| self.param_dims(k)).count();
        let fits = p.len() == count
            && p.iter().enumerate().all(|(k, v)| self.param_dims(k).is_some_and(|(d, n)| v.value().shape() == &d[..n]));
        if !fits {
            let want = self.param_shapes();
            let got: Vec<Vec<usize>> = p.iter().map(|v| v.shape().to_vec()).collect();
            return Err(Error::shape("layer", format!("parameters {got:?}, expected {want:?}")));
        }
        match self {
            Layer::Linear { inputs, .. } => {
                let xv = x.value();
                let s = xv.shape();
                if s.len() != 2 || s[1] != *inputs {
                    return Err(Error::shape("linear", format!("expects [batch, {inputs}], got {s:?}")));
                }
                x.linear(p[0], p[1])
            }
            Layer::Conv2d { in_channels, stride, padding, .. } => {
                let xv = x.value();
                let s = xv.shape();
                if s.len() != 4 || s[1] != *in_channels {
                    return Err(Error::shape("conv2d", format!("expects [batch, {in_channels}, h, w], got {s:?}")));
                }
                x.conv2d(p[0], p[1], (*stride, *stride), (*padding, *padding))
            }
            Layer::MaxPool2d { kernel, stride, rule } => match rule {
                Some(r) => x.max_pool2d_with((*kernel, *kernel), (*stride, *stride), r.clone()),
                None => x.max_pool2d((*kernel, *kernel), (*stride, *stride)),
            },
            Layer::Relu => Ok(x.relu()),
            Layer::LeakyRelu(s) => Ok(x.leaky_relu(*s)),
            Layer::Abs => Ok(x.abs()),
            Layer::HardTanh => Ok(x.hardtanh()),
            Layer::Tanh => Ok(x.tanh()),
            Layer::Flatten => {
                let xv = x.value();
                let s = xv.shape();
                if s.is_empty() {
                    return Err(Error::shape("flatten", "needs a batch axis"));
                }
                x.reshape(&[s[0], s[1..].iter().product()])
            }
        }
    }
}

/// How parameters are initialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// PyTorch's default for `nn.Linear` and `nn.Conv2d` (`kaiming_uniform_(a = sqrt 5)`): weights and
    /// biases uniform in `[-1/sqrt(fan_in), 1/sqrt(fan_in)]`.
    PyTorch,
    /// He (Kaiming) normal initialisation for ReLU nets: weights `N(0, 2/fan_in)`, biases 0.
    He,
}

impl std::str::FromStr for Init {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pytorch" | "default" => Ok(Init::PyTorch),
            "he" | "kaiming" => Ok(Init::He),
            _ => Err(Error::invalid("init", format!("'{s}', expected pytorch or he"))),
        }
    }
}

/// A feed-forward model: named layers applied in order, with their parameters.
#[derive(Clone, Debug)]
pub struct Sequential<T: Real> {
    /// `(name, layer)` in order; names label the kink log and the saved tensors.
    pub layers: Vec<(String, Layer)>,
    /// Parameter values, in layer order (`weight` then `bias` for each parameterised layer).
    pub params: Vec<Tensor<T>>,
    /// `{layer}.weight`, `{layer}.bias`, aligned with `params`.
    pub param_names: Vec<String>,
    /// `(first parameter index, count)` per layer.
    slots: Vec<(usize, usize)>,
}

impl<T: Real> Sequential<T> {
    /// A model with seeded initial parameters. Layer names must be distinct.
    pub fn new(layers: Vec<(String, Layer)>, init: Init, rng: &mut Rng) -> Result<Self> {
        let mut params = Vec::new();
        let mut names = Vec::new();
        let mut slots = Vec::new();
        for (i, (name, layer)) in layers.iter().enumerate() {
            if layers[..i].iter().any(|(n, _)| n == name) {
                return Err(Error::invalid("layer name", format!("'{name}' used twice")));
            }
            let shapes = layer.param_shapes();
            slots.push((params.len(), shapes.len()));
            let fan_in = layer.fan_in().max(1) as f64;
            for (k, s) in shapes.iter().enumerate() {
                let n: usize = s.iter().product();
                let data: Vec<f64> = match (init, k) {
                    (Init::PyTorch, _) => {
                        let b = 1.0 / fan_in.sqrt();
                        (0..n).map(|_| rng.range(-b, b)).collect()
                    }
                    (Init::He, 0) => (0..n).map(|_| rng.normal() * (2.0 / fan_in).sqrt()).collect(),
                    (Init::He, _) => vec![0.0; n],
                };
                params.push(Tensor::from_f64(s.clone(), &data)?);
                names.push(format!("{name}.{}", if k == 0 { "weight" } else { "bias" }));
            }
        }
        Ok(Self { layers, params, param_names: names, slots })
    }

    /// Number of scalar parameters.
    pub fn num_params(&self) -> usize {
        self.params.iter().map(|p| p.len()).sum()
    }

    /// Put the parameters on `tape` as variables (to differentiate with respect to them).
    pub fn param_vars<'t>(&self, tape: &'t Tape<T>) -> Vec<Var<'t, T>> {
        // the list from the installed buffer pool, if any (`Trainer::step` gives it back)
        let mut vars = crate::tensor::pool::take_any(self.params.len());
        vars.extend(self.params.iter().map(|p| tape.var(p.clone())));
        vars
    }

    /// Apply every layer to `x`, recording each layer's ops under its name. `params` are the
    /// variables from [`Sequential::param_vars`] (or constants holding the same values).
    pub fn forward<'t>(&self, x: Var<'t, T>, params: &[Var<'t, T>]) -> Result<Var<'t, T>> {
        if params.len() != self.params.len() {
            return Err(Error::invalid(
                "parameters",
                format!("{} given, model has {}", params.len(), self.params.len()),
            ));
        }
        let tape = x.tape();
        let mut h = x;
        for ((name, layer), &(first, count)) in self.layers.iter().zip(&self.slots) {
            tape.set_scope(name);
            h = layer.forward(h, &params[first..first + count])?;
        }
        tape.set_scope("");
        Ok(h)
    }

    /// The multilayer perceptron `784-256-10` (`fc1`, `relu1`, `fc2`) with PyTorch's layout.
    pub fn mlp(sizes: &[usize], init: Init, rng: &mut Rng) -> Result<Self> {
        if sizes.len() < 2 {
            return Err(Error::invalid("mlp", "needs at least an input and an output size"));
        }
        let mut layers = Vec::new();
        for i in 0..sizes.len() - 1 {
            layers.push((format!("fc{}", i + 1), Layer::Linear { inputs: sizes[i], outputs: sizes[i + 1] }));
            if i + 2 < sizes.len() {
                layers.push((format!("relu{}", i + 1), Layer::Relu));
            }
        }
        Self::new(layers, init, rng)
    }

    /// LeNet-5 for 28x28 inputs `[b, 1, 28, 28]`: conv 5x5 (6) - relu - maxpool 2 - conv 5x5 (16) -
    /// relu - maxpool 2 - flatten (256) - linear 120 - relu - linear 84 - relu - linear 10 (no padding,
    /// relu instead of the original tanh/sigmoid, as in the usual PyTorch rendition).
    pub fn lenet(pool_rule: Option<TieRule>, init: Init, rng: &mut Rng) -> Result<Self> {
        let pool = Layer::MaxPool2d { kernel: 2, stride: 2, rule: pool_rule };
        let conv = |i, o| Layer::Conv2d { in_channels: i, out_channels: o, kernel: 5, stride: 1, padding: 0 };
        let layers = vec![
            ("conv1".to_string(), conv(1, 6)),
            ("relu1".into(), Layer::Relu),
            ("pool1".into(), pool.clone()),
            ("conv2".into(), conv(6, 16)),
            ("relu2".into(), Layer::Relu),
            ("pool2".into(), pool),
            ("flatten".into(), Layer::Flatten),
            ("fc1".into(), Layer::Linear { inputs: 256, outputs: 120 }),
            ("relu3".into(), Layer::Relu),
            ("fc2".into(), Layer::Linear { inputs: 120, outputs: 84 }),
            ("relu4".into(), Layer::Relu),
            ("fc3".into(), Layer::Linear { inputs: 84, outputs: 10 }),
        ];
        Self::new(layers, init, rng)
    }

    /// True when the first layer is a convolution (inputs `[b, c, h, w]` rather than `[b, features]`).
    pub fn takes_images(&self) -> bool {
        matches!(self.layers.first(), Some((_, Layer::Conv2d { .. })))
    }
}
