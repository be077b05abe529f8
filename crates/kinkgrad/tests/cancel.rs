//! Cancellation: the long library loops stop at a step boundary when the process-wide token is set
//! (what the command line's SIGINT handler does), with `Error::Cancelled` naming where. One test in
//! its own binary: the token is process-wide, so no other test may run beside it.

use kinkgrad::cancel::CancelToken;
use kinkgrad::hybrid::{data, train, GenerateConfig, HybridModel, SourceForm, TrainConfig};
use kinkgrad::nn::ritz::{solve, RitzConfig};
use kinkgrad::nn::{load_split, Init, OptimizerKind, Sequential, Trainer};
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::{Error, ErrorKind, Mode, Representation, Rng};
use std::path::Path;

fn cancelled_at(r: kinkgrad::Result<impl std::fmt::Debug>, needle: &str) {
    let e = r.unwrap_err();
    assert!(matches!(e, Error::Cancelled { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert!(e.to_string().contains(needle), "'{e}' lacks '{needle}'");
}

#[test]
fn long_loops_stop_at_a_step_boundary() {
    let token = CancelToken::global();
    token.cancel();
    // nn training: before the first batch
    let (train_set, _) = load_split(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-10k")).unwrap();
    let model = Sequential::<f32>::mlp(&[784, 8, 10], Init::He, &mut Rng::new(0)).unwrap();
    let mut t =
        Trainer::new(model, OptimizerKind::adam(), 1e-3, 64, Mode::Assoc, Representation::default(), 0).unwrap();
    cancelled_at(t.train_epoch(&train_set, &mut |_| {}).map(|_| ()), "epoch 1, batch 1 of 125");
    assert_eq!(t.epoch, 0, "the epoch was not counted");
    // Deep Ritz: before the first step
    cancelled_at(
        solve(&RitzConfig { width: 4, steps: 10, ..Default::default() }, &mut |_, _| {}).map(|_| ()),
        "step 1 of 10",
    );
    // hybrid: training before the first iteration; the state form's time loop at its first step
    for form in [SourceForm::Alpha, SourceForm::State] {
        let cfg = GenerateConfig { cells: 16, steps: 5, source: form, n_train: 2, n_test: 1, ..Default::default() };
        token.reset();
        let d = data::generate(&cfg).unwrap();
        token.cancel();
        let mut m = HybridModel::new(form, 4, 0).unwrap();
        let tc = TrainConfig { iterations: 3, mode: Mode::Assoc, ..Default::default() };
        let mut opt = train::adam(&m, tc.lr);
        cancelled_at(
            train(&mut m, &mut opt, &d, &tc, &mut kinkgrad::hybrid::Position::new(0, d.n_train), &mut |_, _| Ok(()))
                .map(|_| ()),
            "iteration 1 of 3",
        );
        if form == SourceForm::State {
            let r =
                m.loss_and_gradient(&d, &d.train_indices(), &Mode::Assoc, &Representation::default(), &Schedule::Sqrt);
            cancelled_at(r.map(|_| ()), "time step 1 of 5");
        }
        let t = d.transport().unwrap();
        cancelled_at(m.simulate(&d, &t, 0), "time step 1 of 5");
    }
    // reset: the loops run again
    token.reset();
    let (_, r) = solve(&RitzConfig { width: 4, steps: 2, ..Default::default() }, &mut |_, _| {}).unwrap();
    assert_eq!(r.certificate.gradients, 2);
}
