//! Deep Ritz: `cargo run --release --example ritz -- exact 32 3000 0.01`.

use kinkgrad::nn::ritz::{solve, RitzConfig};

fn main() -> kinkgrad::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let mut cfg = RitzConfig::default();
    cfg.method = a.get(1).map(|s| s.parse()).transpose()?.unwrap_or(cfg.method);
    cfg.width = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(cfg.width);
    cfg.steps = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(cfg.steps);
    cfg.lr = a.get(4).and_then(|s| s.parse().ok()).unwrap_or(cfg.lr);
    cfg.depth = a.get(5).and_then(|s| s.parse().ok()).unwrap_or(cfg.depth);
    cfg.seed = a.get(6).and_then(|s| s.parse().ok()).unwrap_or(cfg.seed);
    let (_, r) = solve(&cfg, &mut |s, e| {
        if s % 500 == 0 {
            eprintln!("step {s} energy {e:.6}");
        }
    })?;
    println!("{cfg:?}\n{r:?}");
    Ok(())
}
