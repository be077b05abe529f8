//! `safe`'s skip rule for pooling ties (docs/nn.md, "Which ties `safe` skips"): a tie whose tied
//! entries are identical functions of the differentiated variables (convolutions over identical
//! constant patches, through bias, layout and relu) or all locally constant is inert and locked
//! without a tangent pass.
//!
//! Expected values: by hand (the small convolutions below), and, on LeNet batches, the full tangent
//! pass itself (`Tape::set_skip_inert(false)`: the same `safe` gradient computed by locking every
//! tie along the probe directions), which must agree bit for bit.

use kinkgrad::nn::{cross_entropy, load_split, Init, Sequential};
use kinkgrad::{Certificate, Mode, Rng, Tape, Tensor};
use std::path::Path;

/// One 1-channel 4x4 image, a 1->1 convolution 2x2 (stride 1, no padding: output 3x3... cropped by
/// pooling 2x2 stride 2 to the top-left 2x2 window), relu, max-pool, loss = sum of the pooled
/// values. Returns (dL/dW, dL/db, certificate); `wrt_input` also differentiates the image (then the
/// patches are no longer constants and no tie is inert).
fn conv_relu_pool(img: &[f64], w: [f64; 4], b: f64, skip: bool, wrt_input: bool) -> (Vec<f64>, f64, Certificate) {
    use kinkgrad::nn::Layer;
    let tape = Tape::<f64>::new();
    tape.set_skip_inert(skip);
    let x = Tensor::new(vec![1, 1, 4, 4], img.to_vec()).unwrap();
    let x = if wrt_input { tape.var(x) } else { tape.constant(x) };
    let wv = tape.var(Tensor::new(vec![1, 1, 2, 2], w.to_vec()).unwrap());
    let bv = tape.var(Tensor::new(vec![1], vec![b]).unwrap());
    let conv = Layer::Conv2d { in_channels: 1, out_channels: 1, kernel: 2, stride: 1, padding: 0 };
    let y = conv.forward(x, &[wv, bv]).unwrap().relu().max_pool2d((2, 2), (2, 2)).unwrap();
    let loss = y.sum();
    let wrt = if wrt_input { vec![wv, bv, x] } else { vec![wv, bv] };
    let g = tape.gradient(loss, &wrt, &Mode::safe()).unwrap();
    (g.values[0].to_f64_vec(), g.values[1].to_f64_vec()[0], g.certificate)
}

#[test]
fn ties_between_convolutions_of_identical_patches_are_skipped() {
    // a blank 4x4 image: every 2x2 patch is zero, the conv output is b everywhere, relu(b) = b > 0:
    // the one pooling window (top-left 2x2 of the 3x3 output) is a 4-way tie of identical functions
    // b. By hand: L = relu(b) = b, dL/db = 1, dL/dW = 0 (the patch is zero).
    let blank = [0.0; 16];
    let w = [0.3, -0.2, 0.5, 0.1];
    let (gw, gb, c) = conv_relu_pool(&blank, w, 0.25, true, false);
    assert_eq!((gw, gb), (vec![0.0; 4], 1.0));
    assert_eq!((c.kinks_total(), c.skipped, c.locked, c.unresolved, c.directions), (1, 1, 0, 0, 0), "{c}");
    // negative bias: a tie of relu zeros (locally constant), also skipped; by hand all zero
    let (gw, gb, c) = conv_relu_pool(&blank, w, -0.25, true, false);
    assert_eq!((gw, gb), (vec![0.0; 4], 0.0));
    assert_eq!((c.skipped, c.locked, c.directions), (1, 0, 0), "{c}");

    // a constant (non-zero) image: all patches equal 1, conv = sum(w) + b = 0.7 + 0.25 everywhere,
    // again identical functions; by hand dL/dW = the patch = [1, 1, 1, 1], dL/db = 1
    let ones = [1.0; 16];
    let (gw, gb, c) = conv_relu_pool(&ones, w, 0.25, true, false);
    assert_eq!((gw, gb), (vec![1.0; 4], 1.0));
    assert_eq!((c.skipped, c.locked, c.directions), (1, 0, 0), "{c}");
    // the tangent pass gives the same bits (its tie survives every direction: first position)
    let full = conv_relu_pool(&ones, w, 0.25, false, false);
    assert_eq!((full.0, full.1), (vec![1.0; 4], 1.0));
    assert_eq!((full.2.skipped, full.2.unresolved), (0, 1), "{}", full.2);
    assert!(full.2.directions >= 1);

    // equal values from different patches are not identical functions: w = [1, 1, 0, 0] sees rows
    // (1, 0) and (0, 1) of the patches as the same sum 1 + b; the image below makes the top-left
    // 2x2 conv outputs 1 + b from different patches -> locked along the probes, not skipped
    #[rustfmt::skip]
    let img = [
        1.0, 0.0, 1.0, 0.0,
        0.0, 1.0, 0.0, 1.0,
        1.0, 0.0, 1.0, 0.0,
        0.0, 1.0, 0.0, 1.0,
    ];
    // patches (row-major 2x2) at (0,0): [1,0,0,1], (0,1): [0,1,1,0], (1,0): [0,1,1,0], (1,1): [1,0,0,1];
    // with w = [1, 0, 0, 1] + b all four are 2 + b or b: (0,0) and (1,1) give 2.25, (0,1), (1,0)
    // give 0.25; the tie of (0,0) and (1,1) is between identical patches -> inert
    let (_, _, c) = conv_relu_pool(&img, [1.0, 0.0, 0.0, 1.0], 0.25, true, false);
    assert_eq!((c.kinks_total(), c.skipped, c.directions), (1, 1, 0), "{c}");
    // with w = [1, 1, 1, 1]: every patch sums to 2, four equal values, two distinct patches -> not
    // inert: locked along the probes, and the tangent pass separates nothing it need not
    let (gw, gb, c) = conv_relu_pool(&img, [1.0, 1.0, 1.0, 1.0], 0.25, true, false);
    assert_eq!((c.skipped, c.locked), (0, 1), "{c}");
    assert!(c.directions >= 1, "{c}");
    // by hand: the whole cotangent 1 goes to one tied entry: dL/db = 1, dL/dW = its patch, one of
    // [1,0,0,1] or [0,1,1,0]
    assert_eq!(gb, 1.0);
    assert!(gw == vec![1.0, 0.0, 0.0, 1.0] || gw == vec![0.0, 1.0, 1.0, 0.0], "{gw:?}");

    // the image among the differentiated variables (an input gradient): the patches move, nothing is
    // inert, the tie is locked (by hand dL/db = 1 as before)
    let (_, gb, c) = conv_relu_pool(&blank, w, 0.25, true, true);
    assert_eq!(gb, 1.0);
    assert_eq!((c.skipped, c.locked), (0, 1), "{c}");
    assert!(c.directions >= 1, "{c}");
}

/// The rule is per tie: one pooling op with an inert tie (relu zeros of strictly negative inputs)
/// and a live one (two equal positive values of different inputs): the inert tie is skipped, the
/// live one locked along the probes, and the gradient is the full tangent pass's, bit for bit.
#[test]
fn one_inert_and_one_live_tie_in_one_pooling_op() {
    // x [1, 1, 2, 4], windows (2x2, stride 2): A = {-1, -2, -3, -0.5} (all negative: relu gives
    // four zeros, an inert tie), B = {2, 1, 0.5, 2} (2 at (0, 2) and (1, 3): a live tie of two
    // different inputs). Loss L = 1 * pool_A + 3 * pool_B. By hand: dL/dx is 0 on A (relu' = 0),
    // and on B the whole weight 3 goes to one of the tied entries (relu' = 1), 0 on the others.
    #[rustfmt::skip]
    let x = vec![
        -1.0, -2.0, 2.0, 1.0,
        -3.0, -0.5, 0.5, 2.0,
    ];
    let run = |skip: bool| {
        let tape = Tape::<f64>::new();
        tape.set_skip_inert(skip);
        let xv = tape.var(Tensor::new(vec![1, 1, 2, 4], x.clone()).unwrap());
        let p = xv.relu().max_pool2d((2, 2), (2, 2)).unwrap();
        let c = tape.constant(Tensor::new(vec![1, 1, 1, 2], vec![1.0, 3.0]).unwrap());
        let l = p.mul(c).unwrap().sum();
        let g = tape.gradient(l, &[xv], &Mode::safe()).unwrap();
        (g.values[0].to_f64_vec(), g.certificate)
    };
    let (g, c) = run(true);
    assert_eq!((c.kinks_total(), c.skipped, c.locked, c.unresolved), (2, 1, 1, 0), "{c}");
    // the pass without the rule would end at the most directions (the inert tie survives them all):
    // the skip starts there
    assert_eq!(c.directions, 4, "{c}");
    assert_eq!(g[2] + g[7], 3.0, "{g:?}");
    assert!(g[2] == 0.0 || g[7] == 0.0, "{g:?}");
    assert!([0, 1, 3, 4, 5, 6].iter().all(|&i| g[i] == 0.0), "{g:?}");
    // the full tangent pass: the same bits; both ties locked, the inert one unresolved
    let (gf, full) = run(false);
    assert_eq!(g.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), gf.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    assert_eq!((full.skipped, full.locked, full.unresolved, full.directions), (0, 2, 1, 4), "{full}");
}

/// `safe` on LeNet batches of the built-in digits, with and without the skip rule: the gradients are
/// equal bit for bit (the tangent pass is the independent computation), the skipped kinks are the
/// ties the full pass left unresolved, and the loss is the same.
#[test]
fn lenet_safe_gradients_are_the_same_bits_with_and_without_the_skip_rule() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-10k");
    let (train, _) = load_split(&dir).unwrap();
    let model = Sequential::<f32>::lenet(None, Init::PyTorch, &mut Rng::new(0)).unwrap();
    let batch = 8;
    let mut skipped_total = 0;
    for first in [0usize, 40] {
        let pixels: Vec<f32> = (first..first + batch).flat_map(|i| train.image(i).to_vec()).collect();
        let labels = &train.labels[first..first + batch];
        let run = |skip: bool| {
            let tape = Tape::<f32>::new();
            tape.set_skip_inert(skip);
            let x = tape.constant(Tensor::new(vec![batch, 1, 28, 28], pixels.clone()).unwrap());
            let params = model.param_vars(&tape);
            let loss = cross_entropy(model.forward(x, &params).unwrap(), labels).unwrap();
            let g = tape.gradient(loss, &params, &Mode::safe()).unwrap();
            let bits: Vec<Vec<u32>> = g.values.iter().map(|v| v.data().iter().map(|x| x.to_bits()).collect()).collect();
            (bits, g.certificate)
        };
        let (with, c) = run(true);
        let (without, full) = run(false);
        assert_eq!(with, without, "batch at {first}");
        assert_eq!(c.kinks_total(), full.kinks_total(), "{c} / {full}");
        if c.locked > 0 {
            // the skip starts its pass where the full one ends
            assert_eq!(c.directions, full.directions, "{c} / {full}");
        }
        // per tie: every kink is either skipped or locked (ops with both kinds included)
        assert_eq!(c.skipped + c.locked, c.kinks_total(), "{c}");
        // every tie the skip rule took is one the tangent pass could not separate
        assert_eq!(c.skipped + c.unresolved, full.unresolved, "{c} / {full}");
        assert!(c.skipped > 0, "{c}");
        skipped_total += c.skipped;
    }
    assert!(skipped_total > 0);
}
