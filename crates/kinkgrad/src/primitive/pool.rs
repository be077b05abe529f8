//! The user-facing max/min reductions, all built on [`super::window`]: n-ary max and min, max/min
//! over all elements or along an axis, and 1-d/2-d max-pooling (kernel, stride; no padding).
//!
//! Tie rules, one family each (the frameworks differ between them, even inside one framework): n-ary
//! max uses [`MAX`](super::maxmin::MAX), full reductions [`MAX_REDUCE`], reductions along an axis
//! [`MAX_AXIS`], pooling [`MAXPOOL`]; each call may fix its own rule instead.

use super::window::{axis_windows, reduce_windows, Windows};
use crate::error::{Error, Result};
use crate::repr::{Convention, Family, Rule, TieRule};
use crate::reverse::Var;
use crate::scalar::Real;
use std::cell::RefCell;
use std::sync::Arc;

/// Ties of a max/min reduction over all elements.
pub const MAX_REDUCE: Family = Family {
    key: "max_reduce",
    what: "ties of a max/min reduction over all elements",
    value_range: None,
    minnorm: Rule::MinNorm,
    conventions: &[
        Convention {
            framework: "pytorch",
            rule: Rule::Mean,
            note: "torch.max(x), torch.amax(x): evenly_distribute_backward, scale_grad_by_count: 1/k each [P7-P9]",
        },
        Convention {
            framework: "jax",
            rule: Rule::Mean,
            note: "jnp.max: reduce_max JVP _reduce_chooser_jvp_rule divides by the count [J6, J7]",
        },
        Convention {
            framework: "tensorflow",
            rule: Rule::Mean,
            note: "tf.reduce_max: _MinOrMaxGrad, indicators / num_selected [T5]",
        },
    ],
};

/// Ties of a max/min along one axis.
pub const MAX_AXIS: Family = Family {
    key: "max_axis",
    what: "ties of a max/min along one axis",
    value_range: None,
    minnorm: Rule::MinNorm,
    conventions: &[
        Convention {
            framework: "pytorch",
            rule: Rule::First,
            note: "torch.max(x, dim): value_selecting_reduction_backward to the returned index, the first on CPU [P10, P12]; torch.amax(x, dim) splits 1/k (set max_axis=mean) [P9]",
        },
        Convention { framework: "jax", rule: Rule::Mean, note: "jnp.max(x, axis): _reduce_chooser_jvp_rule, 1/k per slice [J6]" },
        Convention { framework: "tensorflow", rule: Rule::Mean, note: "tf.reduce_max(x, axis): _MinOrMaxGrad, 1/k per slice [T5]" },
    ],
};

/// Ties inside a max-pooling window.
pub const MAXPOOL: Family = Family {
    key: "maxpool",
    what: "ties inside a max-pooling window",
    value_range: None,
    minnorm: Rule::MinNorm,
    conventions: &[
        Convention { framework: "pytorch", rule: Rule::First, note: "F.max_pool2d, CPU kernel: strict val > maxval scan, the first maximum in window order gets all [P13, P14]; CUDA not checked" },
        Convention {
            framework: "jax",
            rule: Rule::First,
            note: "flax max_pool = lax.reduce_window max: reverse mode select_and_scatter_add with ge, the lexicographically smallest index [J8-J10, X1]; the forward-mode tie is unspecified",
        },
        Convention { framework: "tensorflow", rule: Rule::First, note: "tf.nn.max_pool2d, CPU MaxPoolGrad: strict output_ref < input_ref scan, the first in raster order [T6, T7]; GPU (cuDNN) not checked" },
    ],
};

/// A pooling geometry: `(lead, dims, kernel, stride)`.
type PoolKey = (usize, Vec<usize>, Vec<usize>, Vec<usize>);
/// A cached geometry: its windows and output extents.
type PoolEntry = (PoolKey, Arc<Windows>, Vec<usize>);

thread_local! {
    /// The windows of the last few pooling geometries of this thread (a training loop pools the same
    /// shapes every step): they depend only on the shapes, so they are built once.
    static POOL_WINDOWS: RefCell<Vec<PoolEntry>> = const { RefCell::new(Vec::new()) };
}

/// The windows of a pooling and its output extents, from the thread's cache when seen recently.
fn cached_pool_windows(lead: usize, dims: &[usize], kernel: &[usize], stride: &[usize]) -> (Arc<Windows>, Vec<usize>) {
    const KEEP: usize = 8;
    POOL_WINDOWS.with(|c| {
        let mut c = c.borrow_mut();
        let hit = c.iter().position(|(k, _, _)| k.0 == lead && k.1 == dims && k.2 == kernel && k.3 == stride);
        if let Some(i) = hit {
            return (c[i].1.clone(), crate::tensor::pool::copied(&c[i].2));
        }
        let (w, out) = pool_windows(lead, dims, kernel, stride);
        let w = Arc::new(w);
        if c.len() == KEEP {
            c.remove(0);
        }
        c.push(((lead, dims.to_vec(), kernel.to_vec(), stride.to_vec()), w.clone(), out.clone()));
        (w, out)
    })
}

fn pool_windows(lead: usize, dims: &[usize], kernel: &[usize], stride: &[usize]) -> (Windows, Vec<usize>) {
    let out: Vec<usize> = dims.iter().zip(kernel).zip(stride).map(|((&d, &k), &s)| (d - k) / s + 1).collect();
    if dims.len() == 2 && kernel == [2, 2] && stride == [2, 2] {
        // the common 2x2 pooling: the same windows, scanned from the rows
        return (Windows::grid2(lead, dims[0], dims[1]), out);
    }
    let (h, w) = if dims.len() == 2 { (dims[0], dims[1]) } else { (1, dims[0]) };
    let (kh, kw) = if dims.len() == 2 { (kernel[0], kernel[1]) } else { (1, kernel[0]) };
    let (sh, sw) = if dims.len() == 2 { (stride[0], stride[1]) } else { (1, stride[0]) };
    let (oh, ow) = if dims.len() == 2 { (out[0], out[1]) } else { (1, out[0]) };
    let mut idx = Vec::with_capacity(lead * oh * ow * kh * kw);
    let mut start = vec![0u32];
    for l in 0..lead {
        for i in 0..oh {
            for j in 0..ow {
                for a in 0..kh {
                    for b in 0..kw {
                        idx.push((l * h * w + (i * sh + a) * w + j * sw + b) as u32);
                    }
                }
                start.push(idx.len() as u32);
            }
        }
    }
    (Windows::new(idx, start), out)
}

impl<'t, T: Real> Var<'t, T> {
    fn pool(self, kernel: &[usize], stride: &[usize], rule: Option<TieRule>) -> Result<Var<'t, T>> {
        let name = if kernel.len() == 2 { "maxpool2d" } else { "maxpool1d" };
        let shape = self.shape();
        let nd = kernel.len();
        if shape.len() < nd {
            return Err(Error::shape(name, format!("input of shape {shape:?} has fewer than {nd} dimensions")));
        }
        let dims = &shape[shape.len() - nd..];
        for i in 0..nd {
            if kernel[i] == 0 || stride[i] == 0 {
                return Err(Error::invalid(name, "kernel and stride must be positive"));
            }
            if kernel[i] > dims[i] {
                return Err(Error::shape(name, format!("kernel {kernel:?} larger than the input {dims:?}")));
            }
        }
        let lead: usize = shape[..shape.len() - nd].iter().product();
        let (w, out) = cached_pool_windows(lead, dims, kernel, stride);
        // the output shape in one pool buffer of its final length
        let mut out_shape = crate::tensor::pool::take(shape.len() - nd + out.len());
        out_shape.extend_from_slice(&shape[..shape.len() - nd]);
        out_shape.extend_from_slice(&out);
        crate::tensor::pool::give(out);
        let rule = rule.unwrap_or_else(|| self.tape().representation().ties(&MAXPOOL));
        Ok(reduce_windows(self, name, false, rule, w, out_shape))
    }
    /// 2-d max-pooling over the last two axes, kernel `(kh, kw)`, stride `(sh, sw)`, no padding.
    pub fn max_pool2d(self, kernel: (usize, usize), stride: (usize, usize)) -> Result<Var<'t, T>> {
        self.pool(&[kernel.0, kernel.1], &[stride.0, stride.1], None)
    }
    /// 2-d max-pooling with a tie rule fixed by the call.
    pub fn max_pool2d_with(self, kernel: (usize, usize), stride: (usize, usize), rule: TieRule) -> Result<Var<'t, T>> {
        self.pool(&[kernel.0, kernel.1], &[stride.0, stride.1], Some(rule))
    }
    /// 1-d max-pooling over the last axis.
    pub fn max_pool1d(self, kernel: usize, stride: usize) -> Result<Var<'t, T>> {
        self.pool(&[kernel], &[stride], None)
    }
    /// 1-d max-pooling with a tie rule fixed by the call.
    pub fn max_pool1d_with(self, kernel: usize, stride: usize, rule: TieRule) -> Result<Var<'t, T>> {
        self.pool(&[kernel], &[stride], Some(rule))
    }
    fn reduce_all(self, min: bool, rule: Option<TieRule>) -> Var<'t, T> {
        let n: usize = self.shape().iter().product();
        let w = Arc::new(Windows::new((0..n as u32).collect(), vec![0, n as u32]));
        let rule = rule.unwrap_or_else(|| self.tape().representation().ties(&MAX_REDUCE));
        reduce_windows(self, if min { "min_all" } else { "max_all" }, min, rule, w, vec![])
    }
    /// Maximum over all elements (0-d); ties by `reduce_ties`.
    pub fn max_all(self) -> Var<'t, T> {
        self.reduce_all(false, None)
    }
    /// Minimum over all elements (0-d); ties by `reduce_ties`.
    pub fn min_all(self) -> Var<'t, T> {
        self.reduce_all(true, None)
    }
    /// Maximum over all elements with a tie rule fixed by the call.
    pub fn max_all_with(self, rule: TieRule) -> Var<'t, T> {
        self.reduce_all(false, Some(rule))
    }
    /// Minimum over all elements with a tie rule fixed by the call.
    pub fn min_all_with(self, rule: TieRule) -> Var<'t, T> {
        self.reduce_all(true, Some(rule))
    }
    fn reduce_axis(
        self,
        axis: usize,
        keepdim: bool,
        min: bool,
        rule: Option<TieRule>,
        name: &'static str,
    ) -> Result<Var<'t, T>> {
        let shape = self.shape();
        crate::tensor::reduce::check_axis(name, axis, shape.len())?;
        if shape[axis] == 0 {
            return Err(Error::shape(name, "cannot reduce an empty axis"));
        }
        let w = Arc::new(axis_windows(&shape, axis));
        let mut out = shape.clone();
        if keepdim {
            out[axis] = 1;
        } else {
            out.remove(axis);
        }
        let rule = rule.unwrap_or_else(|| self.tape().representation().ties(&MAX_AXIS));
        Ok(reduce_windows(self, name, min, rule, w, out.into_vec()))
    }
    /// Maximum along `axis`; ties by `axis_ties`.
    pub fn max_axis(self, axis: usize, keepdim: bool) -> Result<Var<'t, T>> {
        self.reduce_axis(axis, keepdim, false, None, "max_axis")
    }
    /// Minimum along `axis`; ties by `axis_ties`.
    pub fn min_axis(self, axis: usize, keepdim: bool) -> Result<Var<'t, T>> {
        self.reduce_axis(axis, keepdim, true, None, "min_axis")
    }
    /// n-ary element-wise maximum of equal-shaped variables (stacked, then reduced); ties by
    /// `max_ties` unless `rule` fixes one. Argument order is the tie order.
    pub fn max_n(args: &[Var<'t, T>], rule: Option<TieRule>) -> Result<Var<'t, T>> {
        Self::maxmin_n(args, rule, false)
    }
    /// n-ary element-wise minimum; see [`Var::max_n`].
    pub fn min_n(args: &[Var<'t, T>], rule: Option<TieRule>) -> Result<Var<'t, T>> {
        Self::maxmin_n(args, rule, true)
    }
    fn maxmin_n(args: &[Var<'t, T>], rule: Option<TieRule>, min: bool) -> Result<Var<'t, T>> {
        let first = args
            .first()
            .ok_or_else(|| Error::invalid(if min { "min" } else { "max" }, "needs at least one argument"))?;
        if args.len() == 1 {
            return Ok(*first);
        }
        let s = Var::stack(args, 0)?;
        let rule = rule.unwrap_or_else(|| first.tape().representation().ties(&super::maxmin::MAX));
        s.reduce_axis(0, false, min, Some(rule), if min { "min" } else { "max" })
    }
}
