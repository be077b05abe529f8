//! Time the parts of one hybrid gradient (default problem).
use kinkgrad::hybrid::{data, GenerateConfig, HybridModel, SourceForm};
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::pde::scheme::TransportStepper;
use kinkgrad::{Mode, Representation};
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let scheme = std::env::args().nth(1).unwrap_or("upwind".into());
    let cfg = GenerateConfig { scheme: scheme.parse().unwrap(), ..Default::default() };
    let d = data::generate(&cfg).unwrap();
    let m = HybridModel::new(SourceForm::Alpha, 32, 0).unwrap();
    let t = d.transport().unwrap();
    let rep = Representation::default();
    let idx = d.train_indices();
    for _ in 0..3 {
        let t0 = Instant::now();
        let s = m.source(&t, d.alpha[0], None).unwrap();
        let t_src = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        for &i in &idx {
            let _ = t.simulate(&d.beta[i], &[1.0], Some(&s), d.steps).unwrap();
        }
        let t_sim = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        for &i in &idx {
            let mut st = TransportStepper::new(t.clone(), vec![1.0], Some(s.clone()), rep.clone()).unwrap();
            let _ = st.loss_gradient(&d.beta[i], &d.gamma[i], d.steps, &Schedule::StoreAll).unwrap();
        }
        let t_adj = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let _ = m.loss(&d, &idx).unwrap();
        let t_loss = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let _ = m.loss_and_gradient(&d, &idx, &Mode::Assoc, &rep, &Schedule::StoreAll).unwrap();
        let t_grad = t0.elapsed().as_secs_f64();
        println!(
            "source(1 sample) {:.3} ms | 64 x simulate (1 thread) {:.2} ms | 64 x stepper loss_gradient (1 thread) {:.2} ms | model.loss {:.2} ms | model.loss_and_gradient {:.2} ms",
            t_src * 1e3, t_sim * 1e3, t_adj * 1e3, t_loss * 1e3, t_grad * 1e3
        );
    }
}
