//! Hybrid files: an `.npz` data set written here byte by byte (P = 3 parameters, a velocity per
//! face) that loads and trains, the weights-only file with PyTorch names, bitwise resume from the
//! weights + state pair, and the refusals (one line, naming the file and the field).

use kinkgrad::hybrid::checkpoint::{self, load_weights, save_weights};
use kinkgrad::hybrid::data::{self, TrueSource};
use kinkgrad::hybrid::{adam, train, GenerateConfig, HybridModel, Position, Snapshot, SourceForm, TrainConfig};
use kinkgrad::io::npy::{npy_bytes, npy_text_bytes, npz_from_members};
use kinkgrad::io::safetensors_io::{self, Dtype, NamedTensor};
use kinkgrad::limits::Budget;
use kinkgrad::pde::grid::Grid;
use kinkgrad::pde::scheme::Transport;
use kinkgrad::Mode;
use std::path::PathBuf;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kinkgrad-hybrid-files-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

const N: usize = 16;
const S: usize = 6;
const STEPS: usize = 6;

/// Members of a data set with P = 3 parameters and the velocity `a_j = 1 + 0.5 sin(2 pi x_{j+1/2})`
/// per face (upwind, Courant 0.5 for `max |a| = 1.5`). The observations come from the source
/// `s(x; alpha) = alpha_0 sin(2 pi x) + alpha_1 cos(2 pi x) + alpha_2` through the library's scheme
/// (what is tested here is the file path and that a network can learn from it, not the scheme).
fn members(with_truth: bool) -> Vec<(String, Vec<u8>)> {
    let g = Grid::unit(N).unwrap();
    let x = g.centers();
    let tau = 2.0 * std::f64::consts::PI;
    let velocity: Vec<f64> = (0..N).map(|j| 1.0 + 0.5 * (tau * (j + 1) as f64 / N as f64).sin()).collect();
    let t = Transport::from_courant(g, "upwind".parse().unwrap(), 1.5, 0.5, false).unwrap();
    let (mut alpha, mut beta, mut gamma, mut truth) = (vec![], vec![], vec![], vec![]);
    for i in 0..S {
        let a = [0.5 + 0.1 * i as f64, 0.3 - 0.05 * i as f64, 0.1 * (i % 3) as f64];
        let s: Vec<f64> = x.iter().map(|&xj| a[0] * (tau * xj).sin() + a[1] * (tau * xj).cos() + a[2]).collect();
        let b: Vec<f64> = x.iter().map(|&xj| (tau * (xj + 0.1 * i as f64)).cos()).collect();
        gamma.extend(t.simulate(&b, &velocity, Some(&s), STEPS).unwrap());
        alpha.extend(a);
        beta.extend(b);
        truth.extend(s);
    }
    let mut m = vec![
        ("alpha".to_string(), npy_bytes(&[S, 3], &alpha)),
        ("beta".to_string(), npy_bytes(&[S, N], &beta)),
        ("gamma".to_string(), npy_bytes(&[S, N], &gamma)),
        ("velocity".to_string(), npy_bytes(&[N], &velocity)),
        ("scheme".to_string(), npy_text_bytes("upwind")),
        ("courant".to_string(), npy_bytes(&[], &[0.5])),
        ("steps".to_string(), npy_bytes(&[], &[STEPS as f64])),
        ("n_train".to_string(), npy_bytes(&[], &[4.0])),
    ];
    if with_truth {
        m.push(("true_source".to_string(), npy_bytes(&[S, N], &truth)));
    }
    m
}

fn write(path: &std::path::Path, m: &[(String, Vec<u8>)]) {
    std::fs::write(path, npz_from_members(m).unwrap()).unwrap();
}

/// The `.npz` data set loads with P = 3, the per-face velocity and the true source as written, and
/// trains: 40 Adam iterations (safe mode, which serves a per-face velocity on the step ops) lower the
/// test loss; the source error is reported only when the file holds a true source.
#[test]
fn an_npz_data_set_with_three_parameters_and_face_velocities_trains() {
    let dir = dir("npz");
    let p = dir.join("d.npz");
    write(&p, &members(true));
    let d = data::load(&p, &Budget::default()).unwrap();
    assert_eq!((d.len(), d.params(), d.cells, d.n_train, d.steps), (S, 3, N, 4, STEPS));
    assert_eq!(d.velocity.len(), N);
    assert_eq!(d.alpha[1], vec![0.6, 0.25, 0.1]);
    assert!(matches!(d.truth, TrueSource::Cells(ref t) if t.len() == S));
    // the saver writes the same schema back, byte-reproducibly, and the loader reads it unchanged
    let q = dir.join("copy.npz");
    data::save(&q, &d).unwrap();
    assert_eq!(data::load(&q, &Budget::default()).unwrap(), d);
    let bytes = std::fs::read(&q).unwrap();
    data::save(&q, &d).unwrap();
    assert_eq!(std::fs::read(&q).unwrap(), bytes);

    let sizes = [HybridModel::inputs(SourceForm::Alpha, 3), 8, 8, 1];
    assert_eq!(sizes[0], 5);
    let mut m = HybridModel::with_sizes(SourceForm::Alpha, &sizes, 1).unwrap();
    let cfg = TrainConfig { iterations: 40, lr: 1e-2, eval_every: 40, ..Default::default() };
    let mut opt = adam(&m, cfg.lr);
    let before = m.loss(&d, &d.test_indices()).unwrap();
    let run = train(&mut m, &mut opt, &d, &cfg, &mut Position::new(0, d.n_train), &mut |_, _| Ok(())).unwrap();
    let after = run.steps.last().unwrap().test_loss.unwrap();
    assert!(after < before / 2.0, "test loss {before} -> {after}");
    assert!(m.source_rel_l2(&d, &d.test_indices()).unwrap().is_some());
    // without `true_source` there is nothing to compare against: no source error
    write(&p, &members(false));
    let d2 = data::load(&p, &Budget::default()).unwrap();
    assert_eq!(d2.truth, TrueSource::Unknown);
    assert_eq!(m.source_rel_l2(&d2, &d2.test_indices()).unwrap(), None);
    assert_eq!(m.observable_rel_l2(&d2, &d2.test_indices()).unwrap(), None);
    std::fs::remove_dir_all(&dir).ok();
}

/// Every broken field is refused with one line naming the file and the field.
#[test]
fn broken_data_files_are_refused_in_one_line() {
    let dir = dir("bad");
    let p = dir.join("d.npz");
    type Edit = Box<dyn Fn(&mut Vec<(String, Vec<u8>)>)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("unknown member", Box::new(|m| m.push(("alphas".into(), npy_bytes(&[1], &[1.0])))), "unknown array 'alphas'"),
        ("face velocity", Box::new(|m| m[3].1 = npy_bytes(&[7], &[1.0; 7])), "expected [16] (one per face)"),
        ("numeric scheme", Box::new(|m| m[4].1 = npy_bytes(&[], &[1.0])), "expected a string"),
        ("NaN", Box::new(|m| m[2].1 = npy_bytes(&[S, N], &[f64::NAN; S * N])), "array 'gamma'"),
        ("alpha 1-D", Box::new(|m| m[0].1 = npy_bytes(&[S], &[1.0; S])), "expected [S, P]"),
        ("n_train", Box::new(|m| m[7].1 = npy_bytes(&[], &[7.0])), "'n_train' = 7"),
        ("no steps", Box::new(|m| m.retain(|(n, _)| n != "steps")), "missing 'steps'"),
        ("both velocities", Box::new(|m| m.push(("velocity".into(), npy_bytes(&[], &[1.0])))), "given both"),
    ];
    for (what, edit, needle) in cases {
        let mut m = members(true);
        edit(&mut m);
        write(&p, &m);
        let e = data::load(&p, &Budget::default()).map(|_| ()).expect_err(what).to_string();
        assert!(e.contains("d.npz") && e.contains(needle) && !e.contains('\n'), "{what}: '{e}' lacks '{needle}'");
    }
    // the file's size is checked against the budget before it is read
    write(&p, &members(true));
    let e = data::load(&p, &Budget::new(1000, 10)).unwrap_err().to_string();
    assert!(e.contains("memory budget"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

fn small() -> kinkgrad::hybrid::Dataset {
    let cfg = GenerateConfig { cells: 16, steps: 6, n_train: 3, n_test: 1, seed: 5, ..Default::default() };
    data::generate(&cfg).unwrap()
}

/// `2N` iterations in one run and `N` + save + resume + `N` write byte-identical weights and state
/// files (batches of 2 out of 3 training samples: the resume lands in the middle of a shuffle
/// order, so the saved order, cursor and generator state are all needed).
#[test]
fn resume_is_bitwise() {
    let d = small();
    let cfg = |iterations| TrainConfig { iterations, batch: 2, mode: Mode::Assoc, ..Default::default() };
    let run = |out: &std::path::Path, from: Option<&std::path::Path>, iterations: usize| {
        let (mut m, mut opt, mut pos) = match from {
            Some(p) => {
                let r = checkpoint::resume(p, &d, &Budget::default()).unwrap();
                assert_eq!(r.batch, 2);
                (r.model, r.opt, r.position)
            }
            None => {
                let m = HybridModel::new(SourceForm::Alpha, 4, 2).unwrap();
                let o = adam(&m, 1e-2);
                (m, o, Position::new(0, d.n_train))
            }
        };
        train(&mut m, &mut opt, &d, &cfg(iterations), &mut pos, &mut |_, _| Ok(())).unwrap();
        checkpoint::save(out, &Snapshot { model: &m, opt: &opt, position: &pos }, 2).unwrap();
    };
    let (a, b) = (dir("whole"), dir("halves"));
    let (pa, pb) = (a.join("ck.safetensors"), b.join("ck.safetensors"));
    run(&pa, None, 6);
    run(&pb, None, 3);
    let (w3, s3) = (std::fs::read(&pb).unwrap(), std::fs::read(kinkgrad::nn::state_path(&pb)).unwrap());
    run(&pb, Some(&pb), 6);
    assert_eq!(std::fs::read(&pa).unwrap(), std::fs::read(&pb).unwrap(), "weights");
    let (sa, sb) = (kinkgrad::nn::state_path(&pa), kinkgrad::nn::state_path(&pb));
    assert_eq!(std::fs::read(&sa).unwrap(), std::fs::read(&sb).unwrap(), "state");

    // refusals of the pair: a state of other weights, a rate <= 0 or NaN
    std::fs::write(&pb, &w3).unwrap();
    let e = checkpoint::resume(&pb, &d, &Budget::default()).unwrap_err().to_string();
    assert!(e.contains("belongs to other weights"), "{e}");
    std::fs::write(&sb, &s3).unwrap();
    for lr in ["-1", "NaN", "0"] {
        let (t, mut meta) = safetensors_io::load(&sb).unwrap();
        meta.insert("lr".into(), lr.into());
        safetensors_io::save(&sb, &t, &meta).unwrap();
        let e = checkpoint::resume(&pb, &d, &Budget::default()).unwrap_err().to_string();
        assert!(e.contains("'lr'") && !e.contains('\n'), "{lr}: {e}");
    }
    std::fs::remove_dir_all(&a).ok();
    std::fs::remove_dir_all(&b).ok();
}

/// The weights file holds exactly PyTorch's names and shapes (`fcK.weight [out, in]`,
/// `fcK.bias [out]`) and reads back; a file written without metadata (as PyTorch or NumPy would)
/// reads the same; inconsistent metadata, a wrong input count and extra tensors are refused.
#[test]
fn weights_files_have_pytorch_names_and_inconsistent_ones_are_refused() {
    let dir = dir("weights");
    let p = dir.join("w.safetensors");
    let m = HybridModel::with_sizes(SourceForm::Alpha, &[5, 6, 6, 1], 3).unwrap();
    save_weights(&p, &m).unwrap();
    let (t, meta) = safetensors_io::load(&p).unwrap();
    let names: Vec<(&str, &[usize])> = t.iter().map(|x| (x.name.as_str(), x.shape.as_slice())).collect();
    assert_eq!(
        names,
        [
            ("fc1.bias", &[6][..]),
            ("fc1.weight", &[6, 5][..]),
            ("fc2.bias", &[6][..]),
            ("fc2.weight", &[6, 6][..]),
            ("fc3.bias", &[1][..]),
            ("fc3.weight", &[1, 6][..])
        ]
    );
    assert_eq!((meta["model"].as_str(), meta["sizes"].as_str(), meta["params"].as_str()), ("hybrid", "5,6,6,1", "3"));
    let back = load_weights(&p, SourceForm::Alpha, 3, &Budget::default()).unwrap();
    assert_eq!(back.net.params, m.net.params);
    // no metadata at all (a PyTorch/NumPy file): the architecture comes from the shapes
    let q = dir.join("plain.safetensors");
    safetensors_io::save(&q, &t, &Default::default()).unwrap();
    assert_eq!(load_weights(&q, SourceForm::Alpha, 3, &Budget::default()).unwrap().net.params, m.net.params);
    let refused = |tensors: &[NamedTensor], meta: &[(&str, &str)], params: usize, needle: &str| {
        let meta = meta.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        safetensors_io::save(&q, tensors, &meta).unwrap();
        let e = load_weights(&q, SourceForm::Alpha, params, &Budget::default()).unwrap_err().to_string();
        assert!(e.contains(needle) && e.contains("plain.safetensors") && !e.contains('\n'), "'{e}' lacks '{needle}'");
    };
    refused(&t, &[("sizes", "5,100000000000,100000000000,1")], 3, "metadata 'sizes'");
    refused(&t, &[("width", "18446744073709551615"), ("source", "state")], 3, "metadata 'source'");
    refused(&t, &[], 2, "expected [out, 4]");
    let mut extra = t.clone();
    extra.push(NamedTensor::new("adam.m.0", vec![1], Dtype::F64, vec![0.0]));
    refused(&extra, &[], 3, "unexpected tensor 'adam.m.0'");
    let no_bias: Vec<NamedTensor> = t.iter().filter(|x| x.name != "fc2.bias").cloned().collect();
    refused(&no_bias, &[], 3, "missing tensor 'fc2.bias'");
    std::fs::remove_dir_all(&dir).ok();
}
