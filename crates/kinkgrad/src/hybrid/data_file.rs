//! Hybrid data set files: safetensors or NumPy `.npz` (chosen by the extension), one schema for both
//! (documented in `docs/formats.md`, section "Hybrid data sets").
//!
//! Arrays (all numeric, any of the readers' dtypes, converted to `f64`): `alpha [S, P]` (any
//! `P >= 1`), `beta [S, N]`, `gamma [S, N]` (`N >= 3`), optionally `true_source [S, N]` (alpha form)
//! and `velocity [N]` (one per face). Settings: `scheme`, `source` (`alpha` or `state`; default
//! `alpha`), `courant`, `steps`, `n_train`, `velocity` (a constant; or the array above), and
//! optionally `true_source` = `logistic` (the built-in state-form source). In a safetensors file
//! the settings are metadata strings; in an `.npz` file they are members: numbers as 0-d (or
//! one-element) arrays, words as NumPy strings (`numpy.array("upwind")`).
//!
//! Everything is checked before the data set is built, with one line naming the file and the field:
//! the file's size against the memory budget before it is read, every shape, every value finite,
//! every setting in range, no unknown member (a misspelt name would otherwise be ignored).

use super::data::{Dataset, SourceForm, TrueSource};
use crate::error::{Error, Result};
use crate::io::npy::{self, Array};
use crate::io::safetensors_io::{self, Dtype, NamedTensor};
use crate::limits::Budget;
use crate::pde::scheme::Scheme;
use std::collections::BTreeMap;
use std::path::Path;

/// The arrays a data file may hold.
const ARRAYS: [&str; 5] = ["alpha", "beta", "gamma", "true_source", "velocity"];
/// The settings a data file may hold (metadata keys, or `.npz` members).
const SETTINGS: [&str; 7] = ["scheme", "source", "courant", "steps", "n_train", "velocity", "true_source"];

/// True when `path` names an `.npz` file (by its extension).
pub fn is_npz(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npz"))
}

/// A file's arrays and settings, before validation.
struct Fields {
    arrays: BTreeMap<String, (Vec<usize>, Vec<f64>)>,
    text: BTreeMap<String, String>,
}

/// Read a data set from a safetensors or `.npz` file (by extension), every size checked against
/// `budget` before it is allocated, and every field validated (see the module documentation).
pub fn load(path: &Path, budget: &Budget) -> Result<Dataset> {
    let len = std::fs::metadata(path).map_err(|e| Error::io(path.display(), format!("cannot read: {e}")))?.len();
    // the file's bytes, its values as f64 and the data set's copy: about three times the file
    budget.check_bytes(&format!("data set {}", path.display()), len.checked_mul(3))?;
    let fields = if is_npz(path) { npz_fields(path, budget)? } else { safetensors_fields(path)? };
    validate(Some(path), fields)
}

/// A data set from arrays in memory (`(shape, row-major values)` by name) and settings (by name,
/// as text: numbers in Rust's or Python's `repr` notation), with the names and the checks of a data
/// file (see the module documentation); errors name the field, not a file. This is the loader's one
/// validator, used by the Python package for NumPy arrays.
pub fn from_arrays(
    arrays: BTreeMap<String, (Vec<usize>, Vec<f64>)>,
    settings: BTreeMap<String, String>,
) -> Result<Dataset> {
    for (name, (shape, data)) in &arrays {
        let n = shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
        if n != Some(data.len()) {
            return Err(Error::invalid(
                "data set",
                format!("array '{}' has {} values for shape {shape:?}", name.escape_debug(), data.len()),
            ));
        }
    }
    validate(None, Fields { arrays, text: settings })
}

fn safetensors_fields(path: &Path) -> Result<Fields> {
    let (tensors, meta) = safetensors_io::load(path)?;
    let arrays = tensors.into_iter().map(|t| (t.name, (t.shape, t.data))).collect();
    Ok(Fields { arrays, text: meta })
}

fn npz_fields(path: &Path, budget: &Budget) -> Result<Fields> {
    let mut fields = Fields { arrays: BTreeMap::new(), text: BTreeMap::new() };
    for a in npy::load_npz(path, budget.max_bytes / 3)? {
        let word = |a: &Array| {
            a.text().ok_or_else(|| {
                Error::io(path.display(), format!("member '{}': expected a string (numpy.array(\"...\"))", a.name))
            })
        };
        match a.name.as_str() {
            "scheme" | "source" => {
                let t = word(&a)?;
                fields.text.insert(a.name, t);
            }
            "true_source" if a.shape.len() < 2 => {
                let t = word(&a)?;
                fields.text.insert(a.name, t);
            }
            "courant" | "steps" | "n_train" | "velocity" if a.data.len() == 1 && a.shape.len() <= 1 => {
                fields.text.insert(a.name, a.data[0].to_string());
            }
            "courant" | "steps" | "n_train" => {
                return Err(Error::io(
                    path.display(),
                    format!("member '{}': shape {:?}, expected one number", a.name, a.shape),
                ))
            }
            _ => {
                fields.arrays.insert(a.name, (a.shape, a.data));
            }
        }
    }
    Ok(fields)
}

/// Checks a file's (`origin` = its path) or memory's (`None`) fields and builds the data set.
fn validate(origin: Option<&Path>, mut f: Fields) -> Result<Dataset> {
    let bad = |what: &str, detail: String| match origin {
        Some(path) => Error::io(path.display(), format!("{what}: {detail}")),
        None => Error::invalid("data set", format!("{what}: {detail}")),
    };
    for name in f.arrays.keys() {
        if !ARRAYS.contains(&name.as_str()) {
            return Err(bad(
                "array",
                format!("unknown array '{}' (a data set holds {})", name.escape_debug(), ARRAYS.join(", ")),
            ));
        }
    }
    for key in f.text.keys() {
        if !SETTINGS.contains(&key.as_str()) {
            return Err(bad(
                "setting",
                format!("unknown setting '{}' (a data set has {})", key.escape_debug(), SETTINGS.join(", ")),
            ));
        }
    }
    let get = |k: &str| f.text.get(k).ok_or_else(|| bad("setting", format!("missing '{k}'")));
    let num = |k: &str| -> Result<f64> {
        let v = get(k)?;
        v.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| bad("setting", format!("'{k}' = '{}' is not a finite number", v.escape_debug())))
    };
    let int = |k: &str| -> Result<usize> {
        let v = get(k)?;
        v.parse::<f64>()
            .ok()
            .filter(|x| x.fract() == 0.0 && *x >= 0.0 && *x < 2f64.powi(53))
            .map(|x| x as usize)
            .ok_or_else(|| bad("setting", format!("'{k}' = '{}' is not a non-negative integer", v.escape_debug())))
    };
    let scheme: Scheme = get("scheme")?.parse().map_err(|e: Error| bad("setting 'scheme'", e.to_string()))?;
    let source: SourceForm = match f.text.get("source") {
        Some(s) => s.parse().map_err(|e: Error| bad("setting 'source'", e.to_string()))?,
        None => SourceForm::Alpha,
    };
    let mut take = |name: &str| f.arrays.remove(name);
    let (alpha, beta, gamma) = match (take("alpha"), take("beta"), take("gamma")) {
        (Some(a), Some(b), Some(g)) => (a, b, g),
        (a, b, _) => {
            let missing = if a.is_none() {
                "alpha"
            } else if b.is_none() {
                "beta"
            } else {
                "gamma"
            };
            return Err(bad("array", format!("missing '{missing}'")));
        }
    };
    let (truth_cells, face_velocity) = (take("true_source"), take("velocity"));
    if alpha.0.len() != 2 || alpha.0[1] == 0 {
        return Err(bad("array 'alpha'", format!("shape {:?}, expected [S, P] with P >= 1", alpha.0)));
    }
    let (s, p) = (alpha.0[0], alpha.0[1]);
    if beta.0.len() != 2 || beta.0[0] != s || beta.0[1] < 3 {
        return Err(bad("array 'beta'", format!("shape {:?}, expected [{s}, N] with N >= 3", beta.0)));
    }
    let n = beta.0[1];
    let like_beta = [s, n];
    if gamma.0 != like_beta {
        return Err(bad("array 'gamma'", format!("shape {:?}, expected [{s}, {n}] like 'beta'", gamma.0)));
    }
    let named = [("alpha", &alpha), ("beta", &beta), ("gamma", &gamma)];
    for (name, (_, data)) in named.iter().chain(truth_cells.as_ref().map(|t| ("true_source", t)).iter()) {
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(bad(&format!("array '{name}'"), format!("element {i} is {}", data[i])));
        }
    }
    let n_train = int("n_train")?;
    if n_train == 0 || n_train > s {
        return Err(bad("setting", format!("'n_train' = {n_train}, expected 1..={s}")));
    }
    let courant = num("courant")?;
    if !(courant > 0.0 && courant <= 1.0) {
        return Err(bad("setting", format!("'courant' = {courant}, expected in (0, 1]")));
    }
    let steps = int("steps")?;
    if steps == 0 {
        return Err(bad("setting", "'steps' = 0, expected at least 1".to_string()));
    }
    let velocity = match (face_velocity, f.text.contains_key("velocity")) {
        (Some(_), true) => {
            return Err(bad("velocity", "given both as a constant and per face: give one".to_string()));
        }
        (Some((shape, v)), false) => {
            if shape != [n] {
                return Err(bad("array 'velocity'", format!("shape {shape:?}, expected [{n}] (one per face)")));
            }
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(bad("array 'velocity'", format!("element {i} is {}", v[i])));
            }
            v
        }
        (None, true) => vec![num("velocity")?],
        (None, false) if !scheme.is_linear() => vec![1.0],
        (None, false) => return Err(bad("setting", "missing 'velocity' (a constant, or an array [N])".to_string())),
    };
    if velocity.iter().all(|&v| v == 0.0) {
        return Err(bad("velocity", "every value is 0, expected a non-zero speed".to_string()));
    }
    let truth = match (truth_cells, f.text.get("true_source").map(String::as_str)) {
        (Some(_), Some(_)) => {
            return Err(bad("true source", "given both as an array and as a setting: give one".to_string()));
        }
        (Some((shape, t)), None) => {
            if shape != like_beta {
                return Err(bad("array 'true_source'", format!("shape {shape:?}, expected [{s}, {n}] like 'beta'")));
            }
            if source != SourceForm::Alpha {
                return Err(bad("array 'true_source'", "a source per cell needs the alpha form".to_string()));
            }
            TrueSource::Cells(t.chunks(n).map(<[f64]>::to_vec).collect())
        }
        (None, Some("logistic")) if source == SourceForm::State && p >= 1 => TrueSource::Logistic,
        (None, Some(v)) => {
            return Err(bad(
                "setting",
                format!("'true_source' = '{}', expected logistic (with source = state)", v.escape_debug()),
            ))
        }
        (None, None) => TrueSource::Unknown,
    };
    Ok(Dataset {
        scheme,
        courant,
        steps,
        velocity,
        source,
        cells: n,
        alpha: alpha.1.chunks(p).map(<[f64]>::to_vec).collect(),
        beta: beta.1.chunks(n).map(<[f64]>::to_vec).collect(),
        gamma: gamma.1.chunks(n).map(<[f64]>::to_vec).collect(),
        n_train,
        truth,
    })
}

/// Save a data set (atomically): `.npz` when `path` ends in `.npz`, else safetensors; the schema of
/// the module documentation, byte-reproducible (sorted names, no timestamps).
pub fn save(path: &Path, d: &Dataset) -> Result<()> {
    let (s, n, p) = (d.len(), d.cells, d.params());
    let mut arrays = vec![
        Array::new("alpha", vec![s, p], d.alpha.concat()),
        Array::new("beta", vec![s, n], d.beta.concat()),
        Array::new("gamma", vec![s, n], d.gamma.concat()),
    ];
    let mut text: BTreeMap<String, String> = [
        ("scheme", d.scheme.name().to_string()),
        ("source", d.source.name().to_string()),
        ("courant", d.courant.to_string()),
        ("steps", d.steps.to_string()),
        ("n_train", d.n_train.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    match d.velocity.as_slice() {
        [v] => {
            text.insert("velocity".into(), v.to_string());
        }
        v => arrays.push(Array::new("velocity", vec![v.len()], v.to_vec())),
    }
    match &d.truth {
        TrueSource::Unknown => {}
        TrueSource::Cells(t) => arrays.push(Array::new("true_source", vec![s, n], t.concat())),
        TrueSource::Logistic => {
            text.insert("true_source".into(), "logistic".into());
        }
    }
    if is_npz(path) {
        let mut members: Vec<(String, Vec<u8>)> =
            arrays.iter().map(|a| (a.name.clone(), npy::npy_bytes(&a.shape, &a.data))).collect();
        for (k, v) in &text {
            let body = match v.parse::<f64>() {
                Ok(x) if k != "scheme" && k != "source" && k != "true_source" => npy::npy_bytes(&[], &[x]),
                _ => npy::npy_text_bytes(v),
            };
            members.push((k.clone(), body));
        }
        members.sort_by(|a, b| a.0.cmp(&b.0));
        let bytes = npy::npz_from_members(&members)?;
        crate::io::atomic::write_atomic_bytes(path, &bytes)
    } else {
        let tensors: Vec<NamedTensor> =
            arrays.into_iter().map(|a| NamedTensor::new(a.name, a.shape, Dtype::F64, a.data)).collect();
        safetensors_io::save(path, &tensors, &text)?;
        Ok(())
    }
}
