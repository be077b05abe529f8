//! Cancellation stops every transport loop at a step boundary with a typed error. One test in its own
//! binary: the token is process-wide, and setting it would stop the other tests' loops.

use kinkgrad::cancel::CancelToken;
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::pde::gradient::{GradientRequest, Wanted};
use kinkgrad::pde::grid::Grid;
use kinkgrad::pde::scheme::Transport;
use kinkgrad::{Error, Mode, Representation, Tape, Tensor};

#[test]
fn every_transport_loop_stops_when_cancelled() {
    let g = Grid::unit(16).unwrap();
    let t = Transport::from_courant(g, "lw-minmod".parse().unwrap(), 1.0, 0.5, false).unwrap();
    let u0: Vec<f64> = g.centers().iter().map(|&x| if x < 0.5 { 1.0 } else { 0.0 }).collect();
    let rep = Representation::default();
    let token = CancelToken::global();
    token.cancel();
    let cancelled = |e: Error| matches!(e, Error::Cancelled { .. });
    assert!(cancelled(t.simulate(&u0, &[1.0], None, 5).unwrap_err()));
    // every path of the entry point: piece tape, checkpointed, locked piece tape, locked checkpointed
    for mode in [Mode::Assoc, Mode::safe()] {
        for schedule in [Schedule::StoreAll, Schedule::Sqrt, Schedule::Revolve { snapshots: 2 }] {
            let req = GradientRequest {
                u0: &u0,
                target: &u0,
                velocity: &[1.0],
                source: None,
                steps: 5,
                mode: &mode,
                representation: &rep,
                schedule,
                wanted: Wanted::U0,
            };
            let e = t.loss_gradient(&req).unwrap_err();
            assert!(e.to_string().contains("cancelled at time step 1 of 5"), "{e}");
        }
    }
    // the time-loop op refuses to record
    let tape = Tape::<f64>::new();
    let s = tape.var(Tensor::vector(vec![0.0; 16]));
    assert!(cancelled(t.time_loop_var(s, &u0, 1.0, 5).unwrap_err()));
    token.reset();
    assert!(t.simulate(&u0, &[1.0], None, 5).is_ok());
}
