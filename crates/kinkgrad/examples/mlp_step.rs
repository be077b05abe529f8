//! Time one SGD step of an MLP 784-512-512-10, batch 128, f32 (the JAX peer workload).
use kinkgrad::{Mode, Rng, Tape, Tensor};
use std::time::Instant;

fn main() {
    let mut rng = Rng::new(0);
    let sizes = [784, 512, 512, 10];
    let batch = 128;
    let mut params: Vec<(Tensor<f32>, Tensor<f32>)> = (0..3)
        .map(|i| {
            let w: Vec<f64> = (0..sizes[i] * sizes[i + 1]).map(|_| rng.normal() * 0.05).collect();
            (Tensor::from_f64(vec![sizes[i], sizes[i + 1]], &w).unwrap(), Tensor::zeros(&[sizes[i + 1]]))
        })
        .collect();
    let x: Vec<f64> = (0..batch * 784).map(|_| rng.normal()).collect();
    let x = Tensor::<f32>::from_f64(vec![batch, 784], &x).unwrap();
    let mut onehot = vec![0.0; batch * 10];
    for b in 0..batch {
        onehot[b * 10 + rng.below(10)] = 1.0;
    }
    let onehot = Tensor::<f32>::from_f64(vec![batch, 10], &onehot).unwrap();
    let mode = if std::env::args().any(|a| a == "safe") { Mode::safe() } else { Mode::Assoc };
    let mut times = vec![];
    for _ in 0..30 {
        let t0 = Instant::now();
        let tape = Tape::<f32>::new();
        let xs = tape.constant(x.clone());
        let mut h = xs;
        let mut vars = vec![];
        for (i, (w, b)) in params.iter().enumerate() {
            let (wv, bv) = (tape.var(w.clone()), tape.var(b.clone()));
            vars.push(wv);
            vars.push(bv);
            h = h.matmul(wv).unwrap().add(bv).unwrap();
            if i < 2 {
                h = h.relu();
            }
        }
        let lp = h.log_softmax().unwrap();
        let loss = lp.mul(tape.constant(onehot.clone())).unwrap().sum().scale(-1.0 / batch as f64);
        let g = tape.gradient(loss, &vars, &mode).unwrap();
        for (i, (w, b)) in params.iter_mut().enumerate() {
            *w = w.zip(&g.values[2 * i], "sgd", |a, d| a - 0.01 * d).unwrap();
            *b = b.zip(&g.values[2 * i + 1], "sgd", |a, d| a - 0.01 * d).unwrap();
        }
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!("median step {:.3} ms", times[times.len() / 2] * 1e3);
}
