//! Element-wise products where one operand repeats along the leading axes (a bias row, a scalar): the
//! row loop must agree with the definition `out[i, j] = f(a[i, j], b[j])`, evaluated here by explicit
//! index arithmetic, on small shapes and on one large enough to be split across threads.

use kinkgrad::Tensor;

fn check(a_shape: &[usize], b_shape: &[usize]) {
    let n: usize = a_shape.iter().product();
    let c: usize = b_shape.iter().product();
    let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
    let b: Vec<f64> = (0..c).map(|j| 1.0 + j as f64).collect();
    let ta = Tensor::new(a_shape.to_vec(), a.clone()).unwrap();
    let tb = Tensor::new(b_shape.to_vec(), b.clone()).unwrap();
    let out = ta.zip(&tb, "sub", |x, y| x - y).unwrap();
    assert_eq!(out.shape(), a_shape);
    // b's flat index is the output's flat index modulo b's element count (b repeats row after row)
    let want: Vec<f64> = (0..n).map(|i| a[i] - b[i % c]).collect();
    assert_eq!(out.data(), &want[..], "{a_shape:?} - {b_shape:?}");
    // the operands swapped: b broadcast as the left operand goes through the general loop
    let swapped = tb.zip(&ta, "sub", |x, y| x - y).unwrap();
    let want: Vec<f64> = (0..n).map(|i| b[i % c] - a[i]).collect();
    assert_eq!(swapped.data(), &want[..]);
}

#[test]
fn rows_repeat_like_the_definition() {
    check(&[4, 3], &[3]);
    check(&[4, 3], &[1, 3]);
    check(&[2, 3, 4], &[3, 4]);
    check(&[2, 3, 4], &[1, 1, 4]);
    check(&[5, 2], &[1]);
    check(&[5, 2], &[]);
    // 4096 x 32 = 131072 elements: above the threshold where the loop splits across threads
    check(&[4096, 32], &[32]);
    check(&[4096, 32], &[]);
}

#[test]
fn incompatible_rows_are_refused() {
    let a = Tensor::new(vec![2, 3], vec![0.0f64; 6]).unwrap();
    let b = Tensor::vector(vec![1.0f64; 4]);
    assert!(a.zip(&b, "add", |x, y| x + y).is_err());
}

/// The in-place update `w = w - lr g` (an SGD step) against its definition, element by element, on a
/// tensor large enough to be split across threads and on a small one; a second holder of the
/// buffer keeps its old values (the buffer is copied first), and unequal shapes are refused.
#[test]
fn zip_assign_updates_in_place_like_the_definition() {
    for n in [7, 70_001] {
        let w: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let g: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut t = Tensor::new(vec![n], w.clone()).unwrap();
        let held = t.clone();
        t.zip_assign(&Tensor::new(vec![n], g.clone()).unwrap(), "sgd", |a, d| a - 0.01 * d).unwrap();
        let want: Vec<f32> = w.iter().zip(&g).map(|(a, d)| a - 0.01 * d).collect();
        assert_eq!(t.data(), &want[..], "n {n}");
        assert_eq!(held.data(), &w[..]);
    }
    let mut t = Tensor::<f32>::zeros(&[2, 3]);
    assert!(t.zip_assign(&Tensor::zeros(&[3, 2]), "sgd", |a, d| a - d).is_err());
}
