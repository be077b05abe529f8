//! Time the parts of a small MLP forward/backward on a large batch (the hybrid source network).
use kinkgrad::nn::{Init, Sequential};
use kinkgrad::{Mode, Rng, Tape, Tensor};
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut rng = Rng::new(0);
    let net = Sequential::<f64>::mlp(&[4, 32, 32, 1], Init::He, &mut rng).unwrap();
    let n = 8192;
    let x: Vec<f64> = (0..n * 4).map(|_| rng.normal()).collect();
    let x = Tensor::new(vec![n, 4], x).unwrap();
    let w = Tensor::new(vec![n, 1], (0..n).map(|_| rng.normal()).collect()).unwrap();
    for _ in 0..200 {
        let t0 = Instant::now();
        let tape = Tape::<f64>::new();
        let p = net.param_vars(&tape);
        let s = net.forward(tape.constant(x.clone()), &p).unwrap();
        let t1 = t0.elapsed().as_secs_f64();
        let sur = s.mul(tape.constant(w.clone())).unwrap().sum();
        let t0 = Instant::now();
        let _ = tape.gradient(sur, &p, &Mode::Assoc).unwrap();
        let t2 = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let a = Tensor::<f64>::new(vec![n, 32], vec![0.5; n * 32]).unwrap();
        let b = Tensor::<f64>::new(vec![32, 32], vec![0.5; 32 * 32]).unwrap();
        let _ = a.matmul(&b).unwrap();
        let t3 = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let _ = a.matmul_t(&a, true, false).unwrap();
        let t4 = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let _ = a.map(|v| if v > 0.0 { v } else { 0.0 });
        let t5 = t0.elapsed().as_secs_f64();
        println!(
            "forward {:.3} ms, backward {:.3} ms | matmul 8192x32x32 {:.3} ms, a^T a {:.3} ms, map {:.3} ms",
            t1 * 1e3,
            t2 * 1e3,
            t3 * 1e3,
            t4 * 1e3,
            t5 * 1e3
        );
    }
}
