//! Hybrid models: gradient checks against central finite differences, checkpoint equality,
//! identifiability (hidden modes), data files, and a short training run.

use kinkgrad::hybrid::data::{self, true_source};
use kinkgrad::hybrid::{train, GenerateConfig, HybridModel, Position, SourceForm, TrainConfig};
use kinkgrad::limits::Budget;
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::pde::grid::Grid;
use kinkgrad::pde::scheme::{Scheme, Transport};
use kinkgrad::{CertificateKind, ErrorKind, Mode, Representation, Tensor};

fn small(scheme: &str, form: SourceForm) -> (kinkgrad::hybrid::Dataset, HybridModel) {
    let cfg = GenerateConfig {
        scheme: scheme.parse().unwrap(),
        cells: 32,
        steps: 20,
        source: form,
        n_train: 3,
        n_test: 2,
        seed: 7,
        ..Default::default()
    };
    (data::generate(&cfg).unwrap(), HybridModel::new(form, 8, 3).unwrap())
}

fn with_params(m: &HybridModel, flat: &[f64]) -> HybridModel {
    let mut m = m.clone();
    let mut off = 0;
    for p in m.net.params.iter_mut() {
        let n = p.len();
        *p = Tensor::new(p.shape().to_vec(), flat[off..off + n].to_vec()).unwrap();
        off += n;
    }
    m
}

/// dJ/dW against central differences (h = 1e-5) along 5 random unit directions: the relative error
/// of the directional derivative must be below 1e-6 (f64; a ReLU kink crossing inside [-h, h] is
/// improbable at random weights).
#[test]
fn gradient_matches_finite_differences() {
    for scheme in ["upwind", "lw-minmod"] {
        for form in [SourceForm::Alpha, SourceForm::State] {
            let (d, m) = small(scheme, form);
            let idx = d.train_indices();
            let r =
                m.loss_and_gradient(&d, &idx, &Mode::Assoc, &Representation::default(), &Schedule::StoreAll).unwrap();
            let w: Vec<f64> = m.net.params.iter().flat_map(|p| p.data().to_vec()).collect();
            let g: Vec<f64> = r.grads.concat();
            let mut f = |x: &[f64]| with_params(&m, x).loss(&d, &idx);
            let rep = kinkgrad::check::finite_differences(&mut f, &w, &g, 5, 1e-5, 11).unwrap();
            assert!(rep.max_rel_error < 1e-6, "{scheme} {form:?}: {}", rep.max_rel_error);
            assert!(
                (r.loss - m.loss(&d, &idx).unwrap()).abs() < 1e-14,
                "loss of the gradient pass equals the forward loss"
            );
        }
    }
}

/// Checkpointed gradients (sqrt, revolve) are bitwise equal to store-all.
#[test]
fn checkpointed_gradients_are_bitwise_equal() {
    for form in [SourceForm::Alpha, SourceForm::State] {
        let (d, m) = small("lw-minmod", form);
        let idx = d.train_indices();
        let rep = Representation::default();
        let all = m.loss_and_gradient(&d, &idx, &Mode::Assoc, &rep, &Schedule::StoreAll).unwrap();
        for s in [Schedule::Sqrt, Schedule::Revolve { snapshots: 3 }] {
            let r = m.loss_and_gradient(&d, &idx, &Mode::Assoc, &rep, &s).unwrap();
            let bits = |v: &Vec<Vec<f64>>| v.concat().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&all.grads), bits(&r.grads), "{form:?} {s}");
            // states held: below store-all's (per sample in the alpha form, whose store-all keeps a
            // piece tape of one byte per face and step instead, as the velocity is not trained)
            let n = d.beta[0].len();
            let store_all_states = match form {
                SourceForm::Alpha => d.steps * n * 8,
                SourceForm::State => d.steps * n * 8 * idx.len(),
            };
            assert!(r.peak_bytes < store_all_states, "{form:?} {s}");
        }
        if form == SourceForm::Alpha {
            assert_eq!(all.peak_bytes, d.steps * d.beta[0].len(), "the piece tape");
        } else {
            assert_eq!(all.peak_bytes, d.steps * d.beta[0].len() * 8 * idx.len());
        }
    }
}

/// Identifiability: with a = 1 and Courant number 1 (upwind is then the exact shift), the final state
/// depends on a time-independent source only through its integral over a window of length T. For
/// T = 1/2 a Fourier mode k of the source is multiplied by (1 - e^{-2 pi i k T}) / (2 pi i k), which
/// vanishes for every even k: adding cos(4 pi x) to the source leaves the observations unchanged
/// (to round-off), while cos(2 pi x) changes them. With T = 0.3516 (90 steps of 1/256, the default)
/// the even mode is seen.
#[test]
fn even_modes_are_hidden_at_half_period() {
    let n = 128;
    let grid = Grid::unit(n).unwrap();
    let x = grid.centers();
    let beta: Vec<f64> = x.iter().map(|&v| if (0.2..0.5).contains(&v) { 1.0 } else { 0.0 }).collect();
    let response = |courant: f64, steps: usize, k: f64| {
        let t = Transport::from_courant(grid, Scheme::Upwind, 1.0, courant, false).unwrap();
        let s0 = vec![0.0; n];
        let s1: Vec<f64> = x.iter().map(|&v| (2.0 * std::f64::consts::PI * k * v).cos()).collect();
        let u0 = t.simulate(&beta, &[1.0], Some(&s0), steps).unwrap();
        let u1 = t.simulate(&beta, &[1.0], Some(&s1), steps).unwrap();
        u0.iter().zip(&u1).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
    };
    // T = 1/2 with dt = dx = 1/128: 64 steps
    assert!(response(1.0, 64, 2.0) < 1e-13, "mode 2 hidden at T = 1/2");
    assert!(response(1.0, 64, 4.0) < 1e-13, "mode 4 hidden at T = 1/2");
    // mode 1 visible: amplitude |1 - e^{-i pi}| / (2 pi) = 1/pi
    assert!((response(1.0, 64, 1.0) - 1.0 / std::f64::consts::PI).abs() < 0.02);
    // the default horizon sees mode 2: |1 - e^{-4 pi i T}| / (4 pi) with T = 90/256
    let tdef = 90.0 / 256.0;
    let expect = (2.0 - 2.0 * (4.0 * std::f64::consts::PI * tdef).cos()).sqrt() / (4.0 * std::f64::consts::PI);
    let seen = response(0.5, 90, 2.0);
    assert!(seen > 0.5 * expect, "mode 2 seen at the default horizon: {seen} vs {expect}");
}

#[test]
fn true_sources() {
    // Gaussian of height alpha_0 centred at alpha_1, periodic
    assert_eq!(true_source(SourceForm::Alpha, 0.3, 0.0, &[2.0, 0.3]), 2.0);
    let v = true_source(SourceForm::Alpha, 0.98, 0.0, &[1.0, 0.03]);
    assert!((v - (-(0.05f64.powi(2)) / (2.0 * 0.0025)).exp()).abs() < 1e-12, "wraps around");
    assert_eq!(true_source(SourceForm::State, 0.0, 0.5, &[2.0, 0.0]), 0.5);
}

#[test]
fn data_files_round_trip_and_errors() {
    let dir = std::env::temp_dir().join(format!("kinkgrad-hybrid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (d, _) = small("upwind", SourceForm::Alpha);
    let p = dir.join("d.safetensors");
    data::save(&p, &d).unwrap();
    assert_eq!(data::load(&p, &Budget::default()).unwrap(), d);
    // missing file
    let e = data::load(&dir.join("none.safetensors"), &Budget::default()).unwrap_err().to_string();
    assert!(e.contains("none.safetensors"), "{e}");
    // wrong shapes: gamma with another cell count
    use kinkgrad::io::safetensors_io::{self, Dtype, NamedTensor};
    let (mut t, meta) = safetensors_io::load(&p).unwrap();
    for x in t.iter_mut().filter(|x| x.name == "gamma") {
        *x = NamedTensor::new("gamma", vec![5, 16], Dtype::F64, vec![0.0; 80]);
    }
    let bad = dir.join("bad.safetensors");
    safetensors_io::save(&bad, &t, &meta).unwrap();
    let e = data::load(&bad, &Budget::default()).unwrap_err().to_string();
    assert!(e.contains("gamma") && e.contains("expected [5, 32]"), "{e}");
    // bad metadata
    let mut meta2 = meta.clone();
    meta2.insert("n_train".into(), "9".into());
    let (t, _) = safetensors_io::load(&p).unwrap();
    safetensors_io::save(&bad, &t, &meta2).unwrap();
    assert!(data::load(&bad, &Budget::default()).unwrap_err().to_string().contains("n_train"));
    std::fs::remove_dir_all(&dir).ok();
}

/// A short run on a small problem lowers the test loss; same seed, same numbers.
#[test]
fn training_lowers_the_test_loss_deterministically() {
    let run = || {
        let (d, mut m) = small("upwind", SourceForm::Alpha);
        let cfg = TrainConfig { iterations: 60, lr: 1e-2, eval_every: 60, ..Default::default() };
        let mut opt = train::adam(&m, cfg.lr);
        let before = m.loss(&d, &d.test_indices()).unwrap();
        let h = train(&mut m, &mut opt, &d, &cfg, &mut Position::new(cfg.seed, d.n_train), &mut |_, _| Ok(())).unwrap();
        // the run's certificate sums its 60 gradients (mode safe by default)
        assert_eq!((h.certificate.gradients, h.certificate.mode), (60, "safe"));
        (before, h.steps.last().unwrap().test_loss.unwrap())
    };
    let (b, a) = run();
    assert!(a < b / 3.0, "test loss {b} -> {a}");
    assert_eq!(run().1.to_bits(), a.to_bits());
}

/// Mode `safe` locks the scheme's kinks too (alpha form). With the output layer at zero the source
/// is exactly 0, so the square pulses of the data keep flat plateaus (both limiter slopes exactly 0)
/// at every step, where the weights' tangents move them: assoc's gradient then depends on the
/// limiter's tie rule, safe's is the same bits under every rule. (With a generic source the plateaus
/// tilt after the first step, whose kinks do not depend on the weights.)
#[test]
fn safe_mode_locks_scheme_kinks() {
    let (d, mut m) = small("lw-minmod", SourceForm::Alpha);
    let last = m.net.params.len();
    for p in &mut m.net.params[last - 2..] {
        *p = Tensor::new(p.shape().to_vec(), vec![0.0; p.len()]).unwrap();
    }
    let idx = d.train_indices();
    let reps = [
        Representation::default(),
        "minnorm[limiter=mean]".parse::<Representation>().unwrap(),
        "minnorm[limiter=first]".parse::<Representation>().unwrap(),
    ];
    let bits = |v: &Vec<Vec<f64>>| v.concat().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let mut safe = Vec::new();
    let mut assoc = Vec::new();
    for rep in &reps {
        let r = m.loss_and_gradient(&d, &idx, &Mode::safe(), rep, &Schedule::StoreAll).unwrap();
        let q = m.loss_and_gradient(&d, &idx, &Mode::Assoc, rep, &Schedule::StoreAll).unwrap();
        assert!(r.scheme_kinks() > 0, "the plateaus put limiter arguments on kinks");
        assert_eq!(r.scheme_kinks(), q.scheme_kinks(), "both paths count the same scheme kinks");
        // the certificates: safe resolved every kink lexicographically, assoc by the representation
        assert_eq!(r.certificate.kind, CertificateKind::Generalized);
        assert_eq!(q.certificate.kind, CertificateKind::RepresentationDependent);
        assert_eq!(*q.certificate.representation, *rep.name);
        assert_eq!(r.certificate.locked, r.certificate.kinks_total(), "safe locks every kink it met");
        assert!((r.loss - q.loss).abs() <= 1e-15 * q.loss, "same loss on both paths");
        safe.push(r.grads);
        assoc.push(q.grads);
    }
    assert_eq!(bits(&safe[1]), bits(&safe[0]), "safe depends on the limiter's tie rule");
    assert_eq!(bits(&safe[2]), bits(&safe[0]), "safe depends on the limiter's tie rule");
    assert!(assoc.iter().any(|g| bits(g) != bits(&assoc[0])), "assoc should depend on the rule on this data");
}

/// `safe` records every time step on the network's tape and recomputes nothing: a recompute schedule
/// is a typed `Unsupported` error naming it, never a schedule reported and not followed (issue 10).
/// The state form and Burgers' equation are served (tests/hybrid_locked.rs).
#[test]
fn locked_modes_refuse_recompute_schedules() {
    let unsupported = |scheme: &str, form: SourceForm, s: Schedule, needle: &str| {
        let (d, m) = small(scheme, form);
        let e = m.loss_and_gradient(&d, &d.train_indices(), &Mode::safe(), &Representation::default(), &s).unwrap_err();
        assert!(matches!(e, kinkgrad::Error::Unsupported { .. }), "{scheme} {form:?} {s}: {e}");
        assert_eq!(e.kind(), ErrorKind::Input);
        assert!(e.to_string().contains(needle), "{e}");
    };
    unsupported("lw-minmod", SourceForm::State, Schedule::Sqrt, "sqrt");
    unsupported("burgers-godunov", SourceForm::Alpha, Schedule::Revolve { snapshots: 2 }, "revolve:2");
    unsupported("lw-minmod", SourceForm::Alpha, Schedule::Revolve { snapshots: 4 }, "revolve:4");
    unsupported("lw-minmod", SourceForm::Alpha, Schedule::Sqrt, "sqrt");
    // lex is refused for training (one tangent direction per weight)
    let (d, mut m) = small("upwind", SourceForm::Alpha);
    let cfg = TrainConfig { iterations: 1, mode: Mode::Lex(None), ..Default::default() };
    let mut opt = train::adam(&m, cfg.lr);
    assert!(matches!(
        train(&mut m, &mut opt, &d, &cfg, &mut Position::new(cfg.seed, d.n_train), &mut |_, _| Ok(())),
        Err(kinkgrad::Error::Unsupported { .. })
    ));
}

/// The certificate of an assoc gradient in both forms: the network's kinks under `net`, the scheme's
/// under `scheme` (the step op's name), the kind from the kinks (the square pulses of the data put
/// limiter arguments on kinks: the plateaus are flat at the first step).
#[test]
fn assoc_certificates_carry_network_and_scheme_kinks() {
    for form in [SourceForm::Alpha, SourceForm::State] {
        let (d, m) = small("lw-minmod", form);
        let rep: Representation = "pytorch".parse().unwrap();
        let r = m.loss_and_gradient(&d, &d.train_indices(), &Mode::Assoc, &rep, &Schedule::Sqrt).unwrap();
        let c = &r.certificate;
        assert_eq!((c.mode, &*c.representation, c.gradients), ("assoc", "pytorch", 1), "{form:?}");
        assert!(r.scheme_kinks() > 0, "{form:?}: {c}");
        assert_eq!(c.kinks.count("scheme", "transport-lw-minmod"), r.scheme_kinks(), "{form:?}: {c}");
        assert_eq!(r.net_kinks() + r.scheme_kinks(), c.kinks_total(), "{form:?}: only the two scopes");
        assert_eq!(c.kind, CertificateKind::RepresentationDependent, "{form:?}");
    }
}

/// `assoc` at relu kinks in the alpha form: the network's chunk then runs on the tape (the tapeless
/// path of `hybrid/net_grad.rs` serves chunks without kinks only). With the first layer zero (`W1`,
/// `b1`) and `b2` zero (He initialisation), every relu input is exactly 0: `3 samples x 32 cells x 8`
/// kinks in each of the two relu layers. Expected gradients by hand: `h1 = h2 = 0`, so `dW3 = 0` and
/// `db3 = sum ds`; the second layer's bias gradient is `db2_j = sum_r ds_r W3_j relu'(0)`: zero for
/// `relu'(0) = 0`, `W3_j db3` (to rounding) for `relu'(0) = 1`.
#[test]
fn assoc_at_relu_kinks_counts_them_and_follows_the_representation() {
    let (d, mut m) = small("upwind", SourceForm::Alpha);
    for p in &mut m.net.params[..2] {
        *p = Tensor::new(p.shape().to_vec(), vec![0.0; p.len()]).unwrap();
    }
    let idx = d.train_indices();
    let w3 = m.net.params[4].data().to_vec();
    for (rep, z) in [("pytorch", 0.0), ("pytorch[relu=1]", 1.0)] {
        let rep: Representation = rep.parse().unwrap();
        let r = m.loss_and_gradient(&d, &idx, &Mode::Assoc, &rep, &Schedule::StoreAll).unwrap();
        assert_eq!(r.net_kinks(), 2 * 3 * 32 * 8, "{rep:?}");
        assert_eq!(r.certificate.kind, CertificateKind::RepresentationDependent);
        assert!(r.grads[4].iter().all(|&v| v == 0.0), "dW3 = dJ/ds^T h2 = 0");
        let db3 = r.grads[5][0];
        assert!(db3 != 0.0);
        for (j, &g) in r.grads[3].iter().enumerate() {
            let want = z * w3[j] * db3;
            assert!((g - want).abs() <= 1e-12 * want.abs(), "db2[{j}] = {g}, expected {want} (relu'(0) = {z})");
        }
    }
}
