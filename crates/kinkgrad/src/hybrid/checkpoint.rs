//! Hybrid checkpoints: a **weights** file and a **state** file, as [`crate::nn::checkpoint`] (the
//! format is documented in `docs/formats.md`, section "Hybrid weights and state").
//!
//! - The weights file is weights-only safetensors with PyTorch's names and layouts (`fc1.weight
//!   [out, in]`, `fc1.bias [out]`, `fc2...`, the last layer's output 1), `F64`, and the
//!   architecture in its metadata: `format` (`kinkgrad-weights-1`), `model` (`hybrid`), `source`
//!   (`alpha` or `state`), `params` (`P`), `sizes` (`P+2,w,w,1`, or `P+3,...` in the state form),
//!   `dtype`. The metadata is optional on reading (a file written by PyTorch or NumPy has none): the
//!   architecture is read from the tensors' shapes, and a metadata entry that disagrees with them
//!   or with the data set is refused. Nothing is allocated from metadata: every size comes from a
//!   tensor the file holds, and the file's size is checked against the budget before it is read.
//! - The state file ([`crate::nn::state_path`]: `ck.safetensors` -> `ck.state.safetensors`) holds
//!   Adam's moments (`optimizer.m.NAME`, `optimizer.v.NAME`), the shuffle order (`shuffle.order`)
//!   and, in its metadata, the iteration, the optimiser step and rate, the shuffle cursor and the
//!   generator's state, the batch size, and the weights file's name and FNV-1a hash: a resume
//!   continues bit for bit and refuses a state that belongs to other weights.
//!
//! Both files are byte-reproducible and written atomically, weights first.

use super::data::{Dataset, SourceForm};
use super::model::HybridModel;
use super::train::{adam, Position, Snapshot};
use crate::error::{Error, Result};
use crate::io::atomic::write_atomic_bytes;
use crate::io::safetensors_io::{self, Dtype, NamedTensor};
use crate::limits::Budget;
use crate::nn::checkpoint::{architecture, fnv1a64, state_path, WEIGHTS_FORMAT};
use crate::nn::Optimizer;
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::path::Path;

/// The `format` metadata of a hybrid state file.
pub const STATE_FORMAT: &str = "kinkgrad-hybrid-state-1";

fn meta(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// The bytes of the weights-only file of `model`.
pub fn weights_bytes(model: &HybridModel) -> Result<Vec<u8>> {
    let tensors: Vec<NamedTensor> = model
        .net
        .param_names
        .iter()
        .zip(&model.net.params)
        .map(|(n, p)| NamedTensor::new(n.clone(), p.shape().to_vec(), Dtype::F64, p.data().to_vec()))
        .collect();
    let (_, sizes) = architecture(&model.net);
    let m = meta(&[
        ("format", WEIGHTS_FORMAT.to_string()),
        ("model", "hybrid".to_string()),
        ("source", model.form.name().to_string()),
        ("params", model.params().to_string()),
        ("sizes", sizes),
        ("dtype", Dtype::F64.name().to_string()),
    ]);
    safetensors_io::to_bytes(&tensors, &m)
}

/// Save the weights of `model` alone (atomically).
pub fn save_weights(path: &Path, model: &HybridModel) -> Result<()> {
    write_atomic_bytes(path, &weights_bytes(model)?)
}

/// Read a hybrid network from a weights-only safetensors file for a data set of source form `form`
/// with `params` parameters per sample. The layers are `fc1`, `fc2`, ... in order (each
/// `fcK.weight [out, in]` and `fcK.bias [out]`, the first taking [`HybridModel::inputs`], each
/// the previous one's outputs, the last giving 1); any other tensor, a missing bias, a
/// non-finite value or metadata disagreeing with the tensors or the data set is refused with one
/// line naming the file.
pub fn load_weights(path: &Path, form: SourceForm, params: usize, budget: &Budget) -> Result<HybridModel> {
    let len = std::fs::metadata(path).map_err(|e| Error::io(path.display(), format!("cannot read: {e}")))?.len();
    budget.check_bytes(&format!("weights file {}", path.display()), len.checked_mul(3))?;
    let (tensors, m) = safetensors_io::load(path)?;
    let bad = |d: String| Error::io(path.display(), d);
    let by_name: BTreeMap<&str, &NamedTensor> = tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut sizes = vec![HybridModel::inputs(form, params)];
    for k in 1.. {
        let (wn, bn) = (format!("fc{k}.weight"), format!("fc{k}.bias"));
        let Some(w) = by_name.get(wn.as_str()) else { break };
        let prev = *sizes.last().expect("starts with the inputs");
        if w.shape.len() != 2 || w.shape[1] != prev || w.shape[0] == 0 {
            return Err(bad(format!("tensor '{wn}' has shape {:?}, expected [out, {prev}]", w.shape)));
        }
        let b = by_name.get(bn.as_str()).ok_or_else(|| bad(format!("missing tensor '{bn}'")))?;
        if b.shape != [w.shape[0]] {
            return Err(bad(format!("tensor '{bn}' has shape {:?}, expected [{}]", b.shape, w.shape[0])));
        }
        sizes.push(w.shape[0]);
    }
    let layers = sizes.len() - 1;
    if layers == 0 {
        return Err(bad("missing tensor 'fc1.weight': not a hybrid network's weights".into()));
    }
    if sizes[layers] != 1 {
        return Err(bad(format!("the last layer fc{layers} gives {} outputs, expected 1", sizes[layers])));
    }
    if let Some(t) =
        tensors.iter().find(|t| !(t.name.starts_with("fc") && layer_of(&t.name).is_some_and(|k| k <= layers)))
    {
        return Err(bad(format!(
            "unexpected tensor '{}' (a hybrid network has fc1..fc{layers})",
            t.name.escape_debug()
        )));
    }
    if let Some(t) = tensors.iter().find(|t| t.data.iter().any(|v| !v.is_finite())) {
        return Err(bad(format!("tensor '{}' holds a NaN or infinite value", t.name)));
    }
    let sizes_text = sizes.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    for (key, want) in [
        ("model", "hybrid".to_string()),
        ("source", form.name().to_string()),
        ("params", params.to_string()),
        ("sizes", sizes_text),
    ] {
        if let Some(got) = m.get(key).filter(|g| **g != want) {
            return Err(bad(format!(
                "metadata '{key}' is '{}', but {}: refused",
                got.escape_debug(),
                if key == "sizes" { format!("the tensors give '{want}'") } else { format!("the data need '{want}'") }
            )));
        }
    }
    let mut model = HybridModel::with_sizes(form, &sizes, 0)?;
    for (p, name) in model.net.params.iter_mut().zip(&model.net.param_names) {
        let t = by_name.get(name.as_str()).ok_or_else(|| bad(format!("missing tensor '{name}'")))?;
        *p = Tensor::new(t.shape.clone(), t.data.clone())?;
    }
    Ok(model)
}

/// `K` of a name `fcK.weight` / `fcK.bias`.
fn layer_of(name: &str) -> Option<usize> {
    let rest = name.strip_prefix("fc")?;
    let (k, what) = rest.split_once('.')?;
    if what != "weight" && what != "bias" {
        return None;
    }
    k.parse().ok().filter(|&k| k > 0)
}

/// Save a checkpoint of a training run: the weights-only file at `path`, the state file at
/// [`state_path`]`(path)` (both atomically, weights first); `batch` is the run's batch size.
pub fn save(path: &Path, s: &Snapshot<'_>, batch: usize) -> Result<()> {
    let weights = weights_bytes(s.model)?;
    let mut tensors = Vec::new();
    for (i, (name, p)) in s.model.net.param_names.iter().zip(&s.model.net.params).enumerate() {
        for (key, v) in [("m", &s.opt.m), ("v", &s.opt.v)] {
            let data = v.get(i).ok_or_else(|| Error::invalid("optimizer", "not Adam's state"))?;
            tensors.push(NamedTensor::new(
                format!("optimizer.{key}.{name}"),
                p.shape().to_vec(),
                Dtype::F64,
                data.clone(),
            ));
        }
    }
    let pos = s.position;
    let order: Vec<f64> = pos.order.iter().map(|&i| i as f64).collect();
    tensors.push(NamedTensor::new("shuffle.order", vec![order.len()], Dtype::F64, order));
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let m = meta(&[
        ("format", STATE_FORMAT.to_string()),
        ("weights", file),
        ("weights_fnv1a64", format!("{:016x}", fnv1a64(&weights))),
        ("optimizer", "adam".to_string()),
        ("lr", s.opt.lr.to_string()),
        ("step", s.opt.step.to_string()),
        ("iteration", pos.iteration.to_string()),
        ("cursor", pos.cursor.to_string()),
        ("rng_state", pos.rng_state.to_string()),
        ("batch", batch.to_string()),
    ]);
    let state = safetensors_io::to_bytes(&tensors, &m)?;
    write_atomic_bytes(path, &weights)?;
    write_atomic_bytes(&state_path(path), &state)
}

/// What [`resume`] restored.
#[derive(Clone, Debug)]
pub struct Resumed {
    /// The network.
    pub model: HybridModel,
    /// Adam with the file's moments, step and learning rate.
    pub opt: Optimizer,
    /// Where the run was.
    pub position: Position,
    /// The batch size of the saving run.
    pub batch: usize,
}

/// Resume a run from the checkpoint `path` (its weights file; the state file beside it) for the data
/// set `d`. Refused with one line naming the file: weights that do not fit `d` ([`load_weights`]),
/// a state file of other weights (hash), a learning rate that is not a positive finite number, a
/// shuffle order that is not a permutation of `d`'s training samples, a cursor beyond it.
pub fn resume(path: &Path, d: &Dataset, budget: &Budget) -> Result<Resumed> {
    let model = load_weights(path, d.source, d.params(), budget)?;
    let sp = state_path(path);
    let weights = std::fs::read(path).map_err(|e| Error::io(path.display(), format!("cannot read: {e}")))?;
    let len = std::fs::metadata(&sp).map_err(|e| Error::io(sp.display(), format!("cannot read: {e}")))?.len();
    budget.check_bytes(&format!("state file {}", sp.display()), len.checked_mul(3))?;
    let (tensors, m) = safetensors_io::load(&sp)?;
    let bad = |d: String| Error::io(sp.display(), d);
    let get = |k: &str| m.get(k).map(String::as_str).ok_or_else(|| bad(format!("metadata '{k}' is missing")));
    let int = |k: &str| -> Result<u64> {
        let v = get(k)?;
        v.parse::<u64>()
            .map_err(|_| bad(format!("metadata '{k}' = '{}' is not a non-negative integer", v.escape_debug())))
    };
    if get("format")? != STATE_FORMAT {
        return Err(bad(format!("format '{}', expected {STATE_FORMAT}", get("format")?.escape_debug())));
    }
    if get("weights_fnv1a64")? != format!("{:016x}", fnv1a64(&weights)) {
        return Err(bad(format!(
            "belongs to other weights than {} (a save was interrupted between the two files, or they come from \
             different runs)",
            path.display()
        )));
    }
    let lr: f64 = get("lr")?.parse().map_err(|_| bad("metadata 'lr' is not a number".into()))?;
    if !(lr.is_finite() && lr > 0.0) {
        return Err(bad(format!("metadata 'lr' = {lr}, expected a positive number")));
    }
    let (iteration, cursor, step) = (int("iteration")? as usize, int("cursor")? as usize, int("step")?);
    let (rng_state, batch) = (int("rng_state")?, int("batch")? as usize);
    let mut expected: Vec<(String, Vec<usize>)> = Vec::new();
    for (name, p) in model.net.param_names.iter().zip(&model.net.params) {
        expected.push((format!("optimizer.m.{name}"), p.shape().to_vec()));
        expected.push((format!("optimizer.v.{name}"), p.shape().to_vec()));
    }
    expected.push(("shuffle.order".into(), vec![d.n_train]));
    let refs: Vec<(&str, &[usize])> = expected.iter().map(|(n, s)| (n.as_str(), s.as_slice())).collect();
    safetensors_io::expect_exact_shapes(&tensors, &refs).map_err(|e| e.with_path(&sp))?;
    let find = |name: &str| tensors.iter().find(|t| t.name == name).map(|t| &t.data[..]).unwrap_or(&[]);
    if let Some(t) = tensors.iter().find(|t| t.data.iter().any(|v| !v.is_finite())) {
        return Err(bad(format!("tensor '{}' holds a NaN or infinite value", t.name)));
    }
    let mut seen = vec![false; d.n_train];
    let mut order = Vec::with_capacity(d.n_train);
    for &v in find("shuffle.order") {
        let i = v as usize;
        if v.fract() != 0.0 || v < 0.0 || i >= d.n_train || seen[i] {
            return Err(bad(format!("'shuffle.order' is not a permutation of the {} training samples", d.n_train)));
        }
        seen[i] = true;
        order.push(i);
    }
    if cursor > d.n_train {
        return Err(bad(format!("metadata 'cursor' = {cursor}, beyond the {} training samples", d.n_train)));
    }
    let mut opt = adam(&model, lr);
    opt.step = step;
    for (k, name) in model.net.param_names.iter().enumerate() {
        opt.m[k].copy_from_slice(find(&format!("optimizer.m.{name}")));
        opt.v[k].copy_from_slice(find(&format!("optimizer.v.{name}")));
    }
    Ok(Resumed { model, opt, position: Position { iteration, order, cursor, rng_state }, batch })
}
