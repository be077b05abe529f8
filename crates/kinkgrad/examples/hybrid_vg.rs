//! Loop the default hybrid value-and-gradient (for profiling).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use kinkgrad::hybrid::{data, GenerateConfig, HybridModel, SourceForm};
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::{Mode, Representation};
fn main() {
    let scheme = std::env::args().nth(1).unwrap_or("upwind".into());
    let d = data::generate(&GenerateConfig { scheme: scheme.parse().unwrap(), ..Default::default() }).unwrap();
    let m = HybridModel::new(SourceForm::Alpha, 32, 0).unwrap();
    let idx = d.train_indices();
    let t0 = std::time::Instant::now();
    for _ in 0..300 {
        std::hint::black_box(
            m.loss_and_gradient(&d, &idx, &Mode::Assoc, &Representation::default(), &Schedule::StoreAll).unwrap(),
        );
    }
    println!("{:.3} ms per value and gradient", t0.elapsed().as_secs_f64() / 300.0 * 1e3);
}
