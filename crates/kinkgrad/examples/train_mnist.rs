//! Train an MLP or LeNet on the built-in MNIST-10k set: `cargo run --release --example train_mnist -- mlp f32 5`.

use kinkgrad::nn::{kinks_per_layer, load_split, Init, OptimizerKind, Sequential, Trainer};
use kinkgrad::{bf16, f16, Mode, Real, Representation, Rng};
use std::path::Path;

fn run<T: Real>(model: &str, epochs: usize, mode: Mode) -> kinkgrad::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-10k");
    let (train, test) = load_split(&dir)?;
    let mut rng = Rng::new(0);
    let m = match model {
        "lenet" => Sequential::<T>::lenet(None, Init::PyTorch, &mut rng)?,
        _ => Sequential::<T>::mlp(&[784, 256, 10], Init::PyTorch, &mut rng)?,
    };
    let mut tr = Trainer::new(m, OptimizerKind::adam(), 1e-3, 64, mode, Representation::pytorch(), 0)?;
    for _ in 0..epochs {
        let r = tr.train_epoch(&train, &mut |_| {})?;
        let (acc, loss) = tr.evaluate(&test)?;
        println!(
            "{} epoch {} loss {:.4} train {:.4} test {:.4} (loss {:.4}) {:.2}s kinks {:?}",
            T::NAME,
            r.epoch,
            r.loss,
            r.train_accuracy,
            acc,
            loss,
            r.seconds,
            kinks_per_layer(&tr.model, &r.kinks).into_iter().filter(|k| k.1 + k.2 > 0).collect::<Vec<_>>()
        );
    }
    Ok(())
}

fn main() -> kinkgrad::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let model = a.get(1).map(String::as_str).unwrap_or("mlp");
    let prec = a.get(2).map(String::as_str).unwrap_or("f32");
    let epochs = a.get(3).and_then(|e| e.parse().ok()).unwrap_or(5);
    let mode = if a.get(4).map(String::as_str) == Some("safe") { Mode::safe() } else { Mode::Assoc };
    match prec {
        "f64" => run::<f64>(model, epochs, mode),
        "f16" => run::<f16>(model, epochs, mode),
        "bf16" => run::<bf16>(model, epochs, mode),
        _ => run::<f32>(model, epochs, mode),
    }
}
