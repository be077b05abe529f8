//! Every family of the conventions table (`docs/conventions.md`): the op is built exactly at its
//! kink under each preset, and the associated gradient must be the framework's documented value. The
//! expected numbers are the frameworks' (quoted in the doc with their sources, derived by hand), not
//! kinkgrad's. Each check iterates the family's declared conventions: a framework with a declared
//! convention must have a hand-derived value here, one without must get the minimum-norm value. The
//! table in the doc is generated from the registry and checked to be current.

use kinkgrad::primitive::registry;
use kinkgrad::repr::{Family, FRAMEWORKS};
use kinkgrad::{CertificateKind, Mode, Representation, Tape, Tensor, Var};

/// (preset, PyTorch value, JAX value, TensorFlow value) per row; `minnorm` is kinkgrad's default.
fn presets() -> [(&'static str, Representation); 4] {
    [
        ("pytorch", Representation::pytorch()),
        ("jax", Representation::jax()),
        ("tensorflow", Representation::tensorflow()),
        ("minnorm", Representation::minnorm()),
    ]
}

/// The associated gradient of `f` (built by `build` on a fresh tape with the preset) w.r.t. the
/// variables, flattened; the certificate must say `representation-dependent` (we are on a kink).
fn assoc(
    rep: &Representation,
    inputs: &[Tensor<f64>],
    build: impl for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
) -> Vec<f64> {
    let tape = Tape::<f64>::with_representation(rep.clone());
    let vars: Vec<Var<'_, f64>> = inputs.iter().map(|t| tape.var(t.clone())).collect();
    let y = build(&vars);
    let g = tape.gradient(y, &vars, &Mode::Assoc).unwrap();
    assert_eq!(g.certificate.kind, CertificateKind::RepresentationDependent, "{}: no kink hit", rep.name);
    g.values.iter().flat_map(|v| v.to_f64_vec()).collect()
}

fn scalar(v: f64) -> Tensor<f64> {
    Tensor::scalar(v)
}

/// `expect`: hand-derived values in the order pytorch, jax, tensorflow, minnorm (a framework
/// without a declared convention for the family must expect the minnorm value).
fn check(row: &str, expect: [Vec<f64>; 4], got: impl Fn(&Representation) -> Vec<f64>) {
    for ((name, rep), e) in presets().iter().zip(expect) {
        assert_eq!(got(rep), e, "row {row}, preset {name}");
    }
}

/// The family's declared conventions against the hand values: a framework without a declared
/// convention must have the minnorm value (its preset falls back to the minimum-norm rule); then
/// every preset's associated gradient at the kink must be the hand-derived value.
fn check_family(key: &str, expect: [Vec<f64>; 4], got: impl Fn(&Representation) -> Vec<f64>) {
    let fam: &Family = registry::family(key).unwrap();
    for (k, fw) in FRAMEWORKS.iter().enumerate() {
        let declared = fam.conventions.iter().any(|c| c.framework == *fw);
        if !declared {
            assert_eq!(expect[k], expect[3], "{key}: {fw} declares no convention, so its value is minnorm's");
        }
    }
    check(key, expect, got);
}

/// Families without declared conventions (limiters, sort, fluxes) are the minimum-norm rule under
/// every preset.
#[test]
fn families_without_conventions_are_minnorm_in_every_preset() {
    for fam in registry::families().into_iter().filter(|f| f.conventions.is_empty()) {
        for (name, rep) in presets() {
            assert_eq!(rep.rule(fam), fam.minnorm.to_kink_rule(), "{} under {name}", fam.key);
        }
    }
}

/// The table in `docs/conventions.md` is the registry's (`registry::conventions_table`).
#[test]
fn docs_table_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/conventions.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let (begin, end) = ("<!-- conventions_table: begin -->\n", "<!-- conventions_table: end -->");
    let i = doc.find(begin).expect("begin marker in docs/conventions.md") + begin.len();
    let j = doc.find(end).expect("end marker in docs/conventions.md");
    let table = registry::conventions_table();
    if doc[i..j] != table {
        if std::env::var_os("KINKGRAD_BLESS").is_some() {
            std::fs::write(path, format!("{}{table}{}", &doc[..i], &doc[j..])).unwrap();
            return;
        }
        panic!(
            "the conventions table in docs/conventions.md is stale; regenerate it with \
             `KINKGRAD_BLESS=1 cargo test -p kinkgrad --test conventions docs_table_is_current`"
        );
    }
}

/// Row 1: relu'(0) = 0 in all three (PyTorch threshold_backward on `result <= 0`, JAX custom JVP
/// `x > 0`, TF `features > 0`).
#[test]
fn row1_relu_at_zero() {
    check_family("relu", [vec![0.0], vec![0.0], vec![0.0], vec![0.0]], |r| assoc(r, &[scalar(0.0)], |v| v[0].relu()));
}

/// Row 2: abs'(0): PyTorch `grad * sgn(x)` = 0, JAX `select(x >= 0, g, -g)` = 1, TF `sign(x)` = 0.
#[test]
fn row2_abs_at_zero() {
    check_family("abs", [vec![0.0], vec![1.0], vec![0.0], vec![0.0]], |r| assoc(r, &[scalar(0.0)], |v| v[0].abs()));
}

/// Row 9: leaky_relu'(0) with slope 0.2: PyTorch `a > 0 ? g : g * negval` = 0.2, JAX
/// `where(x >= 0, x, s x)` = 1, TF `(features > 0).select(g, g * alpha)` = 0.2. minnorm: the smaller
/// of {0.2, 1} in norm, 0.2.
#[test]
fn row9_leaky_relu_at_zero() {
    check_family("leaky_relu", [vec![0.2], vec![1.0], vec![0.2], vec![0.2]], |r| {
        assoc(r, &[scalar(0.0)], |v| v[0].leaky_relu(0.2))
    });
}

/// Row 8: hardtanh at -1 and +1: PyTorch `x <= min || x >= max ? 0` = 0, JAX nested `where(x > 1,
/// ..., where(x < -1, ..., x))` = 1 (the identity branch), TF has no hardtanh (kinkgrad uses 0, the
/// `relu6` value), minnorm 0.
#[test]
fn row8_hardtanh_at_bounds() {
    for b in [-1.0, 1.0] {
        check_family("hardtanh", [vec![0.0], vec![1.0], vec![0.0], vec![0.0]], |r| {
            assoc(r, &[scalar(b)], |v| v[0].hardtanh())
        });
    }
}

/// Row 3: `maximum(a, b)` and `minimum(a, b)` at `a = b`: PyTorch `where(self == other, grad / 2,
/// grad)` = (½, ½), JAX `_balanced_eq` = (½, ½), TF selector `greater_equal` / `less_equal` = all to
/// the first argument, (1, 0).
#[test]
fn row3_binary_max_min_tie() {
    let e = || [vec![0.5, 0.5], vec![0.5, 0.5], vec![1.0, 0.0], vec![0.5, 0.5]];
    check_family("max", e(), |r| assoc(r, &[scalar(1.5), scalar(1.5)], |v| v[0].maximum(v[1]).unwrap()));
    check("minimum", e(), |r| assoc(r, &[scalar(-2.0), scalar(-2.0)], |v| v[0].minimum(v[1]).unwrap()));
    // JAX's `jnp.maximum(x, 0)` at 0 gives ½ while `jax.nn.relu` gives 0 (table, note 1).
    let zero = || Tensor::scalar(0.0);
    let g = assoc(&Representation::jax(), &[zero()], |v| v[0].maximum(v[0].tape().constant(zero())).unwrap());
    assert_eq!(g, vec![0.5]);
}

/// Row 4: max over all elements with k tied maxima: 1/k each in all three (PyTorch
/// `evenly_distribute_backward`, JAX `_reduce_chooser_jvp_rule` divides by the count, TF
/// `_MinOrMaxGrad` divides by `num_selected`). Here x = (3, 1, 3, 3): k = 3.
#[test]
fn row4_full_reduction_ties() {
    let t = || Tensor::vector(vec![3.0, 1.0, 3.0, 3.0]);
    let third = 1.0 / 3.0;
    let e = vec![third, 0.0, third, third];
    check_family("max_reduce", [e.clone(), e.clone(), e.clone(), e.clone()], |r| assoc(r, &[t()], |v| v[0].max_all()));
    let tm = || Tensor::vector(vec![-3.0, 1.0, -3.0, -3.0]);
    check("min_all", [e.clone(), e.clone(), e.clone(), e], |r| assoc(r, &[tm()], |v| v[0].min_all()));
}

/// Row 5: max along an axis with ties: PyTorch `torch.max(x, dim)` scatters to the single returned
/// index, the first on CPU (`value_selecting_reduction_backward`); JAX and TF split 1/k per slice.
/// x = [[2, 5, 5], [7, 7, 7]] reduced along axis 1: ties of 2 and 3 entries.
#[test]
fn row5_axis_reduction_ties() {
    let t = || Tensor::from_f64(vec![2, 3], &[2.0, 5.0, 5.0, 7.0, 7.0, 7.0]).unwrap();
    let third = 1.0 / 3.0;
    let first = vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0];
    let split = vec![0.0, 0.5, 0.5, third, third, third];
    check_family("max_axis", [first, split.clone(), split.clone(), split], |r| {
        assoc(r, &[t()], |v| v[0].max_axis(1, false).unwrap().sum())
    });
}

/// Row 6: max-pooling, tie inside a window: the first tied element in raster order gets all of it
/// (PyTorch and TF CPU kernels: strict `>` scan; JAX: `select_and_scatter_add` with `ge`, which by the
/// XLA contract keeps the lexicographically smallest index). One 2x2 window [[1, 4], [4, 0]]: the
/// first 4 in raster order is at (0, 1). kinkgrad's minnorm splits evenly.
#[test]
fn row6_maxpool_ties() {
    let t = || Tensor::from_f64(vec![1, 2, 2], &[1.0, 4.0, 4.0, 0.0]).unwrap();
    let first = vec![0.0, 1.0, 0.0, 0.0];
    check_family("maxpool", [first.clone(), first.clone(), first, vec![0.0, 0.5, 0.5, 0.0]], |r| {
        assoc(r, &[t()], |v| v[0].max_pool2d((2, 2), (2, 2)).unwrap().sum())
    });
    // 1-d pooling, kernel 3 stride 3 over (2, 9, 9 | 1, 1, 0): windows tie at positions 1, 2 and 3, 4.
    let t1 = || Tensor::from_f64(vec![1, 6], &[2.0, 9.0, 9.0, 1.0, 1.0, 0.0]).unwrap();
    let first = vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0];
    check("max_pool1d", [first.clone(), first.clone(), first, vec![0.0, 0.5, 0.5, 0.5, 0.5, 0.0]], |r| {
        assoc(r, &[t1()], |v| v[0].max_pool1d(3, 3).unwrap().sum())
    });
}

/// Row 7: clamp with x on a bound, gradient w.r.t. (x, lo, hi): PyTorch `torch.clamp` gives x 1 at
/// both bounds and the tensor bounds 0; JAX `jnp.clip` = `minimum(max, maximum(min, x))` splits the
/// tie in half between x and the bound; TF `clip_by_value` (`maximum(minimum(t, max), min)`, ties to
/// the first argument, the value path) gives x 1.
#[test]
fn row7_clamp_at_bounds() {
    let (lo, hi) = (-1.0, 2.0);
    // x = lo
    check_family("clamp", [vec![1.0, 0.0, 0.0], vec![0.5, 0.5, 0.0], vec![1.0, 0.0, 0.0], vec![0.5, 0.5, 0.0]], |r| {
        assoc(r, &[scalar(lo), scalar(lo), scalar(hi)], |v| v[0].clamp(v[1], v[2]).unwrap())
    });
    // x = hi
    check("clamp hi", [vec![1.0, 0.0, 0.0], vec![0.5, 0.0, 0.5], vec![1.0, 0.0, 0.0], vec![0.5, 0.0, 0.5]], |r| {
        assoc(r, &[scalar(hi), scalar(lo), scalar(hi)], |v| v[0].clamp(v[1], v[2]).unwrap())
    });
}

/// The presets are found by name (the CLI's `--convention`), and an unknown name is a typed error.
#[test]
fn presets_by_name() {
    for (name, rep) in presets() {
        assert_eq!(Representation::preset(name).unwrap(), rep);
    }
    assert!(Representation::preset("theano").is_err());
}
