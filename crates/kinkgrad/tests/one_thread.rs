//! A training step on a pool of one thread (`RAYON_NUM_THREADS=1`, a one-core machine): `nn::on_pool`
//! must still reach the pool's thread 0 and return. Its own test binary, since the global pool is
//! built once per process. (Before the fix, a single waiting part ran on the caller's thread and
//! waited for the step forever.)

use kinkgrad::io::mnist::Mnist;
use kinkgrad::nn::{on_pool, Init, OptimizerKind, Sequential, Trainer};
use kinkgrad::{Mode, Representation, Rng};

#[test]
fn a_step_on_a_one_thread_pool_returns() {
    rayon::ThreadPoolBuilder::new().num_threads(1).build_global().expect("the global pool, built first");
    assert_eq!(rayon::current_num_threads(), 1);
    // a hang fails the test instead of stalling the suite
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(on_pool(|| (rayon::current_thread_index(), 6 * 7))));
    let (thread, v) = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("on_pool returned within 60 s");
    assert_eq!((thread, v), (Some(0), 42), "the step ran on the pool's only thread");
    // a whole training step (its products split with `rayon::join` inside the one-thread pool):
    // one SGD step on 8 images of zeros with label 0 lowers the loss of that batch
    let n = 8;
    let d = Mnist { images: vec![0.0; n * 784], labels: vec![0; n], n, rows: 28, cols: 28 };
    let idx: Vec<usize> = (0..n).collect();
    let model = Sequential::<f32>::mlp(&[784, 16, 10], Init::PyTorch, &mut Rng::new(0)).unwrap();
    let mut t = Trainer::new(model, OptimizerKind::sgd(), 0.5, n, Mode::Assoc, Representation::default(), 0).unwrap();
    let first = t.step(&d, &idx).unwrap();
    let second = t.step(&d, &idx).unwrap();
    assert!(second.loss < first.loss, "{} then {}", first.loss, second.loss);
}
