//! Quick look at the default hybrid problem: timing of one J/dJ and a short training run.
use kinkgrad::hybrid::{data, train, GenerateConfig, HybridModel, SourceForm, TrainConfig};
use std::time::Instant;

fn main() {
    let scheme = std::env::args().nth(1).unwrap_or("upwind".into());
    let form: SourceForm = std::env::args().nth(2).unwrap_or("alpha".into()).parse().unwrap();
    let iters: usize = std::env::args().nth(3).map(|s| s.parse().unwrap()).unwrap_or(200);
    let lr: f64 = std::env::args().nth(4).map(|s| s.parse().unwrap()).unwrap_or(1e-2);
    let cfg = GenerateConfig { scheme: scheme.parse().unwrap(), source: form, ..Default::default() };
    let d = data::generate(&cfg).unwrap();
    let mut m = HybridModel::new(form, 32, 0).unwrap();
    let tc = TrainConfig { iterations: iters, lr, ..Default::default() };
    let t0 = Instant::now();
    let r = m.loss_and_gradient(&d, &d.train_indices(), &tc.mode, &tc.rep, &tc.schedule).unwrap();
    println!(
        "one J+dJ: {:.2} ms, J = {:.4e}, kinks net {} scheme {}",
        t0.elapsed().as_secs_f64() * 1e3,
        r.loss,
        r.net_kinks,
        r.scheme_kinks
    );
    let t0 = Instant::now();
    let _ = m.loss(&d, &d.train_indices()).unwrap();
    println!("one J: {:.2} ms", t0.elapsed().as_secs_f64() * 1e3);
    let test0 = m.loss(&d, &d.test_indices()).unwrap();
    let mut opt = train::adam(&m, tc.lr);
    let t0 = Instant::now();
    let h = train(&mut m, &mut opt, &d, &tc, 0, &mut |s| {
        if let Some(t) = s.test_loss {
            println!("it {} train {:.3e} test {:.3e}", s.iteration, s.train_loss, t)
        }
    })
    .unwrap();
    println!(
        "test {:.3e} -> {:.3e} ({}x) in {:.1}s; source rel L2 {:.3}",
        test0,
        h.last().unwrap().test_loss.unwrap(),
        test0 / h.last().unwrap().test_loss.unwrap(),
        t0.elapsed().as_secs_f64(),
        m.source_rel_l2(&d, &d.test_indices()).unwrap()
    );
}
