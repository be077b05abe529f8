//! Neural-network layers, training and checkpoints.
//!
//! Expected values come from independent computations: central finite differences (layer
//! gradients), a direct loop implementation of the convolution (im2col forward), bitwise comparison
//! of two runs (determinism, resume), and the data files' documented class counts.

use kinkgrad::check::finite_differences;
use kinkgrad::io::mnist::Mnist;
use kinkgrad::nn::{load_split, Init, Layer, OptimizerKind, Sequential, Trainer};
use kinkgrad::{Error, Mode, Representation, Rng, Tape, Tensor, TieRule};
use std::path::{Path, PathBuf};

fn builtin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-10k")
}

/// loss(x, params) = sum(layer(x) * r) for a fixed random r; returns the value.
fn layer_loss(layer: &Layer, x: &[f64], xs: &[usize], params: &[Vec<f64>], r_seed: u64) -> f64 {
    let tape = Tape::<f64>::new();
    let xv = tape.var(Tensor::from_f64(xs.to_vec(), x).unwrap());
    let shapes = layer.param_shapes();
    let ps: Vec<_> =
        params.iter().zip(&shapes).map(|(p, s)| tape.var(Tensor::from_f64(s.clone(), p).unwrap())).collect();
    let y = layer.forward(xv, &ps).unwrap();
    let mut rng = Rng::new(r_seed);
    let r: Vec<f64> = (0..y.value().len()).map(|_| rng.normal()).collect();
    let rv = tape.constant(Tensor::from_f64(y.shape().into_vec(), &r).unwrap());
    y.mul(rv).unwrap().sum().item().unwrap()
}

/// Check the gradient of `layer_loss` with respect to the input and every parameter by central
/// finite differences (h = 1e-6) along random directions.
fn check_layer(layer: Layer, x: Vec<f64>, xs: Vec<usize>) {
    let mut rng = Rng::new(7);
    let params: Vec<Vec<f64>> =
        layer.param_shapes().iter().map(|s| (0..s.iter().product()).map(|_| rng.normal() * 0.5).collect()).collect();
    // the analytic gradient
    let tape = Tape::<f64>::new();
    let xv = tape.var(Tensor::from_f64(xs.clone(), &x).unwrap());
    let shapes = layer.param_shapes();
    let ps: Vec<_> =
        params.iter().zip(&shapes).map(|(p, s)| tape.var(Tensor::from_f64(s.clone(), p).unwrap())).collect();
    let y = layer.forward(xv, &ps).unwrap();
    let mut rr = Rng::new(3);
    let r: Vec<f64> = (0..y.value().len()).map(|_| rr.normal()).collect();
    let loss = y.mul(tape.constant(Tensor::from_f64(y.shape().into_vec(), &r).unwrap())).unwrap().sum();
    let mut wrt = vec![xv];
    wrt.extend(ps.iter().copied());
    let g = tape.gradient(loss, &wrt, &Mode::Assoc).unwrap();
    assert_eq!(g.certificate.kind.as_str(), "exact", "{layer:?}: the test point must be off the kinks");
    let flat_g: Vec<f64> = g.values.iter().flat_map(|t| t.to_f64_vec()).collect();
    let mut flat_x = x.clone();
    for p in &params {
        flat_x.extend(p);
    }
    let nx = x.len();
    let sizes: Vec<usize> = params.iter().map(|p| p.len()).collect();
    let mut f = |z: &[f64]| -> kinkgrad::Result<f64> {
        let mut off = nx;
        let ps: Vec<Vec<f64>> = sizes
            .iter()
            .map(|&n| {
                let v = z[off..off + n].to_vec();
                off += n;
                v
            })
            .collect();
        Ok(layer_loss(&layer, &z[..nx], &xs, &ps, 3))
    };
    let rep = finite_differences(&mut f, &flat_x, &flat_g, 8, 1e-6, 11).unwrap();
    assert!(rep.max_rel_error < 1e-6, "{layer:?}: finite-difference mismatch {}", rep.max_rel_error);
}

/// Inputs bounded away from the kinks at 0 and ±1: |x| in [0.1, 0.9] or [1.1, 2].
fn off_kink_inputs(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let m = if rng.uniform() < 0.5 { rng.range(0.1, 0.9) } else { rng.range(1.1, 2.0) };
            if rng.uniform() < 0.5 {
                -m
            } else {
                m
            }
        })
        .collect()
}

#[test]
fn every_layer_matches_finite_differences() {
    let x4 = off_kink_inputs(2 * 3 * 5 * 5, 1);
    check_layer(Layer::Linear { inputs: 6, outputs: 4 }, off_kink_inputs(12, 2), vec![2, 6]);
    check_layer(
        Layer::Conv2d { in_channels: 3, out_channels: 4, kernel: 3, stride: 2, padding: 1 },
        x4.clone(),
        vec![2, 3, 5, 5],
    );
    check_layer(
        Layer::Conv2d { in_channels: 3, out_channels: 2, kernel: 2, stride: 1, padding: 0 },
        x4.clone(),
        vec![2, 3, 5, 5],
    );
    for act in [Layer::Relu, Layer::LeakyRelu(0.1), Layer::Abs, Layer::HardTanh, Layer::Tanh, Layer::Flatten] {
        check_layer(act, x4.clone(), vec![2, 3, 5, 5]);
    }
    // max-pooling: distinct values 0.1 apart, so no window is near a tie
    let mut rng = Rng::new(5);
    let mut v: Vec<f64> = (0..2 * 2 * 4 * 4).map(|i| i as f64 * 0.1).collect();
    rng.shuffle(&mut v);
    for rule in [None, Some(TieRule::First), Some(TieRule::Last), Some(TieRule::Mean)] {
        check_layer(Layer::MaxPool2d { kernel: 2, stride: 2, rule }, v.clone(), vec![2, 2, 4, 4]);
    }
}

#[test]
fn conv2d_matches_direct_loops() {
    // y[n, o, i, j] = b[o] + sum_{c, a, b} w[o, c, a, b] x[n, c, i s + a - p, j s + b - p]
    let (b, c, h, w, o, k, s, p) = (2, 2, 6, 5, 3, 3, 2, 1);
    let layer = Layer::Conv2d { in_channels: c, out_channels: o, kernel: k, stride: s, padding: p };
    let mut rng = Rng::new(9);
    let x: Vec<f64> = (0..b * c * h * w).map(|_| rng.normal()).collect();
    let wt: Vec<f64> = (0..o * c * k * k).map(|_| rng.normal()).collect();
    let bias: Vec<f64> = (0..o).map(|_| rng.normal()).collect();
    let tape = Tape::<f64>::new();
    let xv = tape.constant(Tensor::from_f64(vec![b, c, h, w], &x).unwrap());
    let wv = tape.constant(Tensor::from_f64(vec![o, c, k, k], &wt).unwrap());
    let bv = tape.constant(Tensor::from_f64(vec![o], &bias).unwrap());
    let y = layer.forward(xv, &[wv, bv]).unwrap().value();
    let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
    assert_eq!(y.shape(), &[b, o, oh, ow]);
    for n in 0..b {
        for oc in 0..o {
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = bias[oc];
                    for ci in 0..c {
                        for a in 0..k {
                            for bb in 0..k {
                                let (yy, xx) = ((i * s + a) as isize - p as isize, (j * s + bb) as isize - p as isize);
                                if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
                                    acc += wt[((oc * c + ci) * k + a) * k + bb]
                                        * x[((n * c + ci) * h + yy as usize) * w + xx as usize];
                                }
                            }
                        }
                    }
                    let got = y.data()[((n * o + oc) * oh + i) * ow + j];
                    assert!((got - acc).abs() < 1e-12, "({n},{oc},{i},{j}): {got} vs {acc}");
                }
            }
        }
    }
}

#[test]
fn unfold2d_equals_the_index_gather_bit_for_bit() {
    // `unfold2d` runs im2col as direct window loops; the generic `gather` over the indices of
    // `unfold2d_indices` is the independent implementation: values, the scatter-add of the
    // backward pass (f64 sums in the same order) and the tangents of `lex` must agree bit for bit,
    // with padding and strides (the padded, strided and contiguous runs) and with LeNet's geometry
    use kinkgrad::reverse::ops::gather::unfold2d_indices;
    use std::sync::Arc;
    let mut rng = Rng::new(17);
    for (shape, k, s, p) in [
        ([2, 3, 7, 6], (3, 2), (2, 1), (1, 2)),
        ([2, 1, 9, 9], (5, 5), (1, 1), (0, 0)),
        ([1, 2, 5, 5], (3, 3), (2, 2), (1, 1)),
    ] {
        let n: usize = shape.iter().product();
        let x: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let (idx, (oh, ow)) = unfold2d_indices(&shape, k, s, p).unwrap();
        let out = [shape[0] * oh * ow, shape[1] * k.0 * k.1];
        // the transposed layout (`unfold2d_t`): element (q, r) is element (r, q) of `unfold2d`
        let idx_t: Vec<u32> =
            (0..out[1]).flat_map(|q| (0..out[0]).map(move |r| (r, q))).map(|(r, q)| idx[r * out[1] + q]).collect();
        // every 7th weight exactly 0: relu kinks at 0, so `lex` runs its tangent pass through the gather
        let r: Vec<f64> = (0..out[0] * out[1]).map(|i| if i % 7 == 0 { 0.0 } else { rng.normal() }).collect();
        let run = |direct: bool, transposed: bool, mode: &Mode| {
            let tape = Tape::<f32>::new();
            let xv = tape.var(Tensor::from_f64(shape.to_vec(), &x).unwrap());
            let shape_out = if transposed { [out[1], out[0]] } else { out };
            let cols = match (direct, transposed) {
                (true, false) => xv.unfold2d(k, s, p).unwrap().0,
                (true, true) => xv.unfold2d_t(k, s, p).unwrap().0,
                (false, false) => xv.gather(Arc::from(idx.clone()), &shape_out).unwrap(),
                (false, true) => xv.gather(Arc::from(idx_t.clone()), &shape_out).unwrap(),
            };
            assert_eq!(*cols.shape(), shape_out);
            let rv = tape.constant(Tensor::from_f64(shape_out.to_vec(), &r).unwrap());
            let y = cols.mul(rv).unwrap().relu().square().sum();
            (cols.value(), tape.gradient(y, &[xv], mode).unwrap().values.remove(0))
        };
        for mode in [Mode::Assoc, Mode::Lex(None)] {
            for transposed in [false, true] {
                let ((c1, g1), (c2, g2)) = (run(true, transposed, &mode), run(false, transposed, &mode));
                assert!(c1.bit_eq(&c2) && g1.bit_eq(&g2), "{shape:?} {k:?} {s:?} {p:?} {mode:?} {transposed}");
            }
        }
    }
}

/// `sum(relu(conv(x) * r)^2)` through `Var::conv2d` or through the composition it replaces
/// (`unfold2d`, `linear`, reshape and permute to NCHW); returns the output and the gradients with
/// respect to `x`, `W` and `b`.
fn conv_run<T: kinkgrad::Real>(
    fused: bool,
    mode: &Mode,
    shape: [usize; 4],
    out: usize,
    k: usize,
    s: usize,
    p: usize,
) -> (Tensor<T>, Vec<Tensor<T>>) {
    let mut rng = Rng::new(5);
    let mut data = |n: usize| -> Vec<f64> { (0..n).map(|_| rng.normal()).collect() };
    let tape = Tape::<T>::new();
    let x = tape.var(Tensor::from_f64(shape.to_vec(), &data(shape.iter().product())).unwrap());
    // weights scaled by 1/sqrt(fan-in) and the factors below by 1/100: the f16 sum stays finite
    let fan = (shape[1] * k * k) as f64;
    let wd: Vec<f64> = data(out * shape[1] * k * k).iter().map(|v| v / fan.sqrt()).collect();
    let w = tape.var(Tensor::from_f64(vec![out, shape[1], k, k], &wd).unwrap());
    let b = tape.var(Tensor::from_f64(vec![out], &data(out)).unwrap());
    let y = if fused {
        x.conv2d(w, b, (s, s), (p, p)).unwrap()
    } else {
        let (cols, (oh, ow)) = x.unfold2d((k, k), (s, s), (p, p)).unwrap();
        let y = cols.linear(w.reshape(&[out, shape[1] * k * k]).unwrap(), b).unwrap();
        y.reshape(&[shape[0], oh * ow, out])
            .unwrap()
            .permute(&[0, 2, 1])
            .unwrap()
            .reshape(&[shape[0], out, oh, ow])
            .unwrap()
    };
    // every 5th factor exactly 0: relu kinks, so `safe` and `lex` run their tangent pass through the op
    let n = y.value().len();
    let r: Vec<f64> = data(n).iter().enumerate().map(|(i, &v)| if i % 5 == 0 { 0.0 } else { v / 100.0 }).collect();
    let r = tape.constant(Tensor::from_f64(y.shape().into_vec(), &r).unwrap());
    let j = y.mul(r).unwrap().relu().square().sum();
    (y.value(), tape.gradient(j, &[x, w, b], mode).unwrap().values)
}

#[test]
fn conv2d_equals_unfold_linear_permute_bit_for_bit() {
    // `Var::conv2d` writes NCHW from the transposed im2col and a product oriented the other way
    // (`W colsT`); the composition of `unfold2d`, `linear` and the permute (the previous
    // implementation; its values are checked against a direct loop in `conv2d_matches_direct_loops`)
    // is the reference: values bit for bit (each output the same dot product in the same order),
    // gradients to the type's rounding (`dW`, `db` and the col2im sums run in another order), in
    // every mode (`safe`/`lex` through the JVP), in f64, f32 and f16 (bias in the f32 sum, one
    // rounding), with padding and strides and LeNet's geometry; every product here has more than
    // 16 x 16 outputs (for smaller ones `gemm` takes a dot-product kernel when an operand is
    // contiguous along `k`, which the two orientations do not share, so their bits may differ)
    fn check<T: kinkgrad::Real>(tol: f64) {
        for (shape, out, k, s, p) in
            [([12, 3, 7, 6], 4, 3, 2, 1), ([3, 1, 12, 12], 6, 5, 1, 0), ([2, 6, 12, 12], 16, 5, 1, 0)]
        {
            for mode in [Mode::Assoc, Mode::safe(), Mode::Lex(None)] {
                let (y1, g1) = conv_run::<T>(true, &mode, shape, out, k, s, p);
                let (y2, g2) = conv_run::<T>(false, &mode, shape, out, k, s, p);
                assert_eq!(y1.shape(), y2.shape());
                assert!(y1.bit_eq(&y2), "{} {shape:?} {mode:?}: values", T::NAME);
                for (a, b) in g1.iter().zip(&g2) {
                    let (a, b) = (a.to_f64_vec(), b.to_f64_vec());
                    let scale = b.iter().fold(1e-30f64, |m, v| m.max(v.abs()));
                    let err = a.iter().zip(&b).fold(0f64, |m, (x, y)| m.max((x - y).abs()));
                    assert!(
                        err <= tol * scale,
                        "{} {shape:?} {mode:?}: gradients differ by {err} (scale {scale})",
                        T::NAME
                    );
                }
            }
        }
    }
    // tolerances: a few roundings of the type relative to the largest gradient entry
    check::<f64>(1e-13);
    check::<f32>(1e-5);
    check::<kinkgrad::f16>(4e-3);
}

#[test]
fn pool_tie_rule_is_selectable() {
    // one 2x2 window of equal values: first/last/mean put the cotangent 1 on (1,0,0,0), (0,0,0,1),
    // (1/4 each) -- the definitions of the rules.
    for (rule, want) in
        [(TieRule::First, [1.0, 0.0, 0.0, 0.0]), (TieRule::Last, [0.0, 0.0, 0.0, 1.0]), (TieRule::Mean, [0.25; 4])]
    {
        let tape = Tape::<f64>::new();
        let x = tape.var(Tensor::from_f64(vec![1, 1, 2, 2], &[0.5; 4]).unwrap());
        let y = Layer::MaxPool2d { kernel: 2, stride: 2, rule: Some(rule) }.forward(x, &[]).unwrap().sum();
        let g = tape.gradient(y, &[x], &Mode::Assoc).unwrap();
        assert_eq!(g.values[0].to_f64_vec(), want);
        assert_eq!(tape.kink_log().count_op("maxpool2d"), 1);
    }
}

fn subset(m: &Mnist, n: usize) -> Mnist {
    m.split(n).0
}

fn small_trainer(seed: u64, mode: Mode) -> (Trainer<f32>, Mnist, Mnist) {
    let (train, test) = load_split(&builtin()).unwrap();
    let mut rng = Rng::new(seed);
    let model = Sequential::<f32>::mlp(&[784, 32, 10], Init::PyTorch, &mut rng).unwrap();
    let t = Trainer::new(model, OptimizerKind::adam(), 1e-3, 32, mode, Representation::pytorch(), seed).unwrap();
    (t, subset(&train, 640), subset(&test, 500))
}

#[test]
fn builtin_split_is_8000_2000() {
    // the README of data/mnist-10k: 10 000 digits, first 8 000 train, last 2 000 test
    let (train, test) = load_split(&builtin()).unwrap();
    assert_eq!((train.n, test.n), (8000, 2000));
}

#[test]
fn training_smoke_learns() {
    // 640 examples, 3 epochs of a 784-32-10 MLP: well above chance (10%) on held-out digits
    let (mut t, train, test) = small_trainer(1, Mode::Assoc);
    let before = t.evaluate(&test).unwrap().0;
    for _ in 0..3 {
        t.train_epoch(&train, &mut |_| {}).unwrap();
    }
    let (acc, _) = t.evaluate(&test).unwrap();
    assert!(acc > 0.7 && acc > before + 0.3, "accuracy {before} -> {acc}");
}

#[test]
fn same_seed_same_numbers() {
    let run = || {
        let (mut t, train, _) = small_trainer(4, Mode::Assoc);
        let r = t.train_epoch(&train, &mut |_| {}).unwrap();
        (t.model.params, r.loss)
    };
    let (a, la) = run();
    let (b, lb) = run();
    assert_eq!(la.to_bits(), lb.to_bits());
    assert!(a.iter().zip(&b).all(|(x, y)| x.bit_eq(y)));
}

#[test]
fn safe_mode_and_low_precision_train() {
    let (mut t, train, _) = small_trainer(2, Mode::safe());
    let r = t.train_epoch(&subset(&train, 96), &mut |_| {}).unwrap();
    assert!(r.loss.is_finite());
    let (train, _) = load_split(&builtin()).unwrap();
    let mut rng = Rng::new(0);
    let model = Sequential::<kinkgrad::f16>::mlp(&[784, 16, 10], Init::He, &mut rng).unwrap();
    let mut t = Trainer::new(model, OptimizerKind::sgd(), 1e-2, 32, Mode::Assoc, Representation::default(), 0).unwrap();
    let r = t.train_epoch(&subset(&train, 128), &mut |_| {}).unwrap();
    assert!(r.loss.is_finite());
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kinkgrad-nn-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn resume_continues_bit_for_bit() {
    let dir = tmp("resume");
    let path = dir.join("ckpt.safetensors");
    // straight: two epochs
    let (mut a, train, _) = small_trainer(5, Mode::Assoc);
    a.train_epoch(&train, &mut |_| {}).unwrap();
    a.save(&path).unwrap();
    a.train_epoch(&train, &mut |_| {}).unwrap();
    // resumed: a fresh trainer (other initial weights) loads the checkpoint and trains epoch 2
    let (mut b, _, _) = small_trainer(99, Mode::Assoc);
    let info = b.resume(&path, false).unwrap();
    assert_eq!((b.epoch, info.epoch, info.batch), (1, 1, 0));
    b.train_epoch(&train, &mut |_| {}).unwrap();
    assert!(a.model.params.iter().zip(&b.model.params).all(|(x, y)| x.bit_eq(y)));
    assert_eq!(a.opt.m, b.opt.m);
    // the weights are standard safetensors: names and shapes as in PyTorch
    let (tensors, meta) = kinkgrad::io::safetensors_io::load(&path).unwrap();
    let w = tensors.iter().find(|t| t.name == "fc1.weight").unwrap();
    assert_eq!(w.shape, vec![32, 784]);
    assert_eq!(meta.get("model").map(String::as_str), Some("mlp"));
    assert_eq!(meta.get("sizes").map(String::as_str), Some("784,32,10"));
    assert!(tensors.iter().all(|t| !t.name.starts_with("optimizer")), "weights only");
    let (_, state) = kinkgrad::io::safetensors_io::load(&kinkgrad::nn::state_path(&path)).unwrap();
    assert_eq!(state.get("epoch").map(String::as_str), Some("1"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn checkpoint_errors_are_clear() {
    let dir = tmp("errors");
    let path = dir.join("ckpt.safetensors");
    let (a, _, _) = small_trainer(6, Mode::Assoc);
    a.save(&path).unwrap();
    // a model of another width: refused from the recorded architecture, naming the file
    let mut rng = Rng::new(0);
    let other = Sequential::<f32>::mlp(&[784, 16, 10], Init::PyTorch, &mut rng).unwrap();
    let mut b =
        Trainer::new(other, OptimizerKind::adam(), 1e-3, 32, Mode::Assoc, Representation::default(), 0).unwrap();
    let e = b.resume(&path, false).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, Error::Io { .. }) && msg.contains("'784,32,10'") && msg.contains("ckpt.state.safetensors"),
        "{msg}"
    );
    // the weights alone, read into that model: a shape error naming the file and the tensor
    let e = kinkgrad::nn::load_weights(&mut b.model, &path).unwrap_err().to_string();
    assert!(e.contains("sizes is '784,32,10'"), "{e}");
    // a missing file
    let e = b.resume(&dir.join("nope.safetensors"), false).unwrap_err();
    assert!(matches!(e, Error::Io { .. }) && e.to_string().contains("nope.safetensors"), "{e}");
    // a missing data directory
    let e = load_split(&dir.join("no-data")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }) && e.to_string().contains("no-data"), "{e}");
    // a truncated IDX file
    let bytes = std::fs::read(builtin().join("labels-idx1-ubyte.gz")).unwrap();
    let ddir = dir.join("trunc");
    std::fs::create_dir_all(&ddir).unwrap();
    std::fs::copy(builtin().join("images-idx3-ubyte.gz"), ddir.join("images-idx3-ubyte.gz")).unwrap();
    std::fs::write(ddir.join("labels-idx1-ubyte.gz"), &bytes[..bytes.len() / 2]).unwrap();
    let e = load_split(&ddir).unwrap_err();
    assert!(matches!(e, Error::Io { .. }) && e.to_string().contains("labels-idx1-ubyte.gz"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn full_size_layout_gives_train_and_t10k() {
    // a directory laid out like the original distribution (train-* and t10k-*, raw and gzip'd)
    // yields the two sets as written, not an 80/20 split
    use kinkgrad::io::idx::{write_idx, IdxArray, IdxData};
    let dir = tmp("fullsize");
    let write = |stem: &str, n: usize, gz: bool, fill: u8| {
        let img = IdxArray { dims: vec![n, 2, 3], data: IdxData::U8(vec![fill; n * 6]) };
        let lbl = IdxArray { dims: vec![n], data: IdxData::U8((0..n).map(|i| (i % 10) as u8).collect()) };
        let ext = if gz { ".gz" } else { "" };
        write_idx(&dir.join(format!("{stem}-images-idx3-ubyte{ext}")), &img, gz).unwrap();
        write_idx(&dir.join(format!("{stem}-labels-idx1-ubyte{ext}")), &lbl, gz).unwrap();
    };
    write("train", 7, false, 255);
    write("t10k", 3, true, 0);
    let (train, test) = load_split(&dir).unwrap();
    assert_eq!((train.n, test.n, train.rows, train.cols), (7, 3, 2, 3));
    assert!(train.images.iter().all(|&v| v == 1.0) && test.images.iter().all(|&v| v == 0.0));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn lex_mode_agrees_with_reverse_mode_off_kinks() {
    // off kinks every mode returns the same derivative: the forward (JVP) rules of the im2col
    // gather, the convolution and the pooling agree with their reverse (VJP) rules
    let layers = [
        Layer::Conv2d { in_channels: 1, out_channels: 2, kernel: 3, stride: 1, padding: 1 },
        Layer::MaxPool2d { kernel: 2, stride: 2, rule: None },
    ];
    let mut rng = Rng::new(8);
    let mut xs: Vec<f64> = (0..16).map(|i| i as f64 * 0.1 + 0.05).collect();
    rng.shuffle(&mut xs);
    let w: Vec<f64> = (0..18).map(|_| rng.normal()).collect();
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_f64(vec![1, 1, 4, 4], &xs).unwrap());
    let wv = tape.constant(Tensor::from_f64(vec![2, 1, 3, 3], &w).unwrap());
    let bv = tape.constant(Tensor::from_f64(vec![2], &[0.1, -0.2]).unwrap());
    let h = layers[0].forward(x, &[wv, bv]).unwrap();
    let y = layers[1].forward(h, &[]).unwrap().square().sum();
    let a = tape.gradient(y, &[x], &Mode::Assoc).unwrap();
    assert_eq!(a.certificate.kind.as_str(), "exact");
    let l = tape.gradient(y, &[x], &Mode::Lex(None)).unwrap();
    for (p, q) in a.values[0].to_f64_vec().iter().zip(l.values[0].to_f64_vec()) {
        assert!((p - q).abs() < 1e-12 * (1.0 + p.abs()), "{p} vs {q}");
    }
}

#[test]
fn a_checkpoint_saved_mid_epoch_resumes_bit_for_bit_and_is_byte_reproducible() {
    use kinkgrad::nn::{state_path, Progress};
    let dir = tmp("mid-epoch");
    let (d1, d2) = (dir.join("run1"), dir.join("run2"));
    std::fs::create_dir_all(&d1).unwrap();
    std::fs::create_dir_all(&d2).unwrap();
    let (ck1, ck2) = (d1.join("ck.safetensors"), d2.join("ck.safetensors"));
    // 640 examples in batches of 32: 20 batches per epoch; pause after 7 steps and save
    let (mut a, train, _) = small_trainer(7, Mode::Assoc);
    let p = a.train_until(&train, Some(7), &mut |_| {}).unwrap();
    assert!(matches!(p, Progress::Paused { epoch: 1, batch: 7, step: 7 }), "{p:?}");
    a.save(&ck1).unwrap();
    // the same run again (another process would do the same) writes the same bytes
    let (mut a2, _, _) = small_trainer(7, Mode::Assoc);
    a2.train_until(&train, Some(7), &mut |_| {}).unwrap();
    a2.save(&ck2).unwrap();
    let read = |p: &std::path::Path| std::fs::read(p).unwrap();
    assert_eq!(read(&ck1), read(&ck2));
    assert_eq!(read(&state_path(&ck1)), read(&state_path(&ck2)));
    // straight on to the end of epoch 2, against a fresh trainer resumed from the checkpoint
    let ra = a.train_epoch(&train, &mut |_| {}).unwrap();
    a.train_epoch(&train, &mut |_| {}).unwrap();
    let (mut b, _, _) = small_trainer(99, Mode::Assoc);
    let info = b.resume(&ck1, false).unwrap();
    assert_eq!((info.epoch, info.batch, info.step), (0, 7, 7));
    let rb = b.train_epoch(&train, &mut |_| {}).unwrap();
    b.train_epoch(&train, &mut |_| {}).unwrap();
    assert_eq!((ra.loss.to_bits(), ra.train_accuracy), (rb.loss.to_bits(), rb.train_accuracy));
    assert!(a.model.params.iter().zip(&b.model.params).all(|(x, y)| x.bit_eq(y)));
    assert_eq!((&a.opt.m, &a.opt.v, a.opt.step), (&b.opt.m, &b.opt.v, b.opt.step));
    // a state file paired with other weights (a kill between the two renames) is refused
    a.save(&ck2).unwrap();
    std::fs::copy(&ck2, &ck1).unwrap();
    let e = b.resume(&ck1, false).unwrap_err().to_string();
    assert!(e.contains("belongs to other weights") && e.contains("ck.state.safetensors"), "{e}");
    // another precision is refused unless allowed
    let mut rng = Rng::new(0);
    let m64 = Sequential::<f64>::mlp(&[784, 32, 10], Init::PyTorch, &mut rng).unwrap();
    let mut c = Trainer::new(m64, OptimizerKind::adam(), 1e-3, 32, Mode::Assoc, Representation::pytorch(), 0).unwrap();
    let e = c.resume(&ck2, false).unwrap_err().to_string();
    assert!(e.contains("precision is f32, this run uses f64"), "{e}");
    c.resume(&ck2, true).unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

/// The optimisers' in-place update, by hand, on a parameter large enough to be split into parallel
/// chunks (40 000 elements) and on a small one.
/// Adam's first step: m = 0.1 g, v = 0.001 g^2, so m / (1 - 0.9) = g and v / (1 - 0.999) = g^2 and
/// w <- w - lr g / (|g| + eps). SGD with momentum 0.9, lr 0.5, gradients 1 then 2: v = 1, w = 1 - 0.5;
/// v = 0.9 + 2 = 2.9, w = 0.5 - 1.45 = -0.95.
#[test]
fn optimizer_updates_by_hand_in_parallel_chunks() {
    use kinkgrad::nn::Optimizer;
    for n in [40_000, 3] {
        let g: Vec<f64> = (0..n).map(|i| (i % 7) as f64 - 3.0).collect();
        let mut o = Optimizer::new(OptimizerKind::adam(), 0.1, &[n]);
        let mut p = vec![Tensor::<f64>::from_f64(vec![n], &vec![1.0; n]).unwrap()];
        o.update(&mut p, &[Tensor::from_f64(vec![n], &g).unwrap()]).unwrap();
        for (w, g) in p[0].data().iter().zip(&g) {
            let want = 1.0 - 0.1 * g / (g.abs() + 1e-8);
            assert!((w - want).abs() < 1e-15, "{w} vs {want}");
        }
        let mut o = Optimizer::new(OptimizerKind::Sgd { momentum: 0.9 }, 0.5, &[n]);
        let mut p = vec![Tensor::<f32>::from_f64(vec![n], &vec![1.0; n]).unwrap()];
        for g in [1.0, 2.0] {
            o.update(&mut p, &[Tensor::from_f64(vec![n], &vec![g; n]).unwrap()]).unwrap();
        }
        assert!(p[0].data().iter().all(|&w| w == -0.95f32), "{:?}", &p[0].data()[..3]);
    }
}
