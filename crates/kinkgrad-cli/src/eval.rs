//! `kinkgrad eval`: the accuracy of given weights on a test set, without training. The weights are
//! a weights-only safetensors file with PyTorch's names and shapes: one written by `train --save`,
//! or by PyTorch (`safetensors.torch.save_file(model.state_dict(), ...)`) or NumPy.

use crate::report::CliError;
use clap::Args as ClapArgs;
use kinkgrad::io::safetensors_io::Dtype;
use kinkgrad::nn::{load_split_within, Init, Sequential};
use kinkgrad::{bf16, f16, Precision, Real, Representation, Rng};
use serde_json::{json, Value};
use std::path::PathBuf;

/// Arguments of `kinkgrad eval`.
#[derive(ClapArgs, Debug, Clone)]
pub struct Args {
    /// Model: `mlp` (784-256-10: fc1, fc2) or `lenet` (conv1, conv2, fc1, fc2, fc3).
    #[arg(long, value_parser = ["mlp", "lenet"])]
    pub model: String,
    /// The weights: a weights-only safetensors file with PyTorch's names and shapes (F64, F32,
    /// F16 or BF16); every tensor is checked, extra ones are refused.
    #[arg(long, value_name = "PATH")]
    pub weights: PathBuf,
    /// Data directory, as for `train` (its test set is used). Default: the built-in test split
    /// (the last 2 000 of the built-in 10 000 digits).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Precision of the evaluation. Default: the file's dtype.
    #[arg(long, value_parser = crate::flags::PRECISIONS)]
    pub precision: Option<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Run `kinkgrad eval`: the result as JSON (printed by the caller, or turned into [`human`]).
pub fn run(args: &Args) -> Result<Value, CliError> {
    let precision: Precision = match &args.precision {
        Some(p) => p.parse()?,
        None => file_precision(args)?,
    };
    match precision {
        Precision::F64 => eval::<f64>(args),
        Precision::F32 => eval::<f32>(args),
        Precision::F16 => eval::<f16>(args),
        Precision::BF16 => eval::<bf16>(args),
    }
    .map_err(CliError::from)
}

/// The precision named by the file's dtype (its first tensor's; a file mixing dtypes needs
/// `--precision`).
fn file_precision(args: &Args) -> kinkgrad::Result<Precision> {
    let (tensors, _) = kinkgrad::io::safetensors_io::load(&args.weights)?;
    let first = tensors.first().map_or(Dtype::F32, |t| t.dtype);
    if let Some(t) = tensors.iter().find(|t| t.dtype != first) {
        return Err(kinkgrad::Error::io(
            args.weights.display(),
            format!("tensor '{}' is {} but others are {first}: give --precision", t.name.escape_debug(), t.dtype),
        ));
    }
    Ok(match first {
        Dtype::F64 => Precision::F64,
        Dtype::F32 => Precision::F32,
        Dtype::F16 => Precision::F16,
        Dtype::BF16 => Precision::BF16,
    })
}

fn eval<T: Real>(args: &Args) -> kinkgrad::Result<Value> {
    let (train, test) = match &args.data {
        Some(dir) => load_split_within(dir, Some(1), crate::budget::get())?,
        None => crate::train::builtin_split()?,
    };
    if test.n == 0 {
        return Err(kinkgrad::Error::invalid("data", "the test set is empty"));
    }
    // the initial weights are all replaced; the seed only fills the model before loading
    let mut model: Sequential<T> =
        crate::train::build_model(&args.model, train.pixels_per_image(), Init::PyTorch, &mut Rng::new(0))?;
    let info = kinkgrad::nn::load_weights(&mut model, &args.weights)?;
    let (accuracy, loss) = kinkgrad::nn::evaluate(&model, &Representation::default(), &test)?;
    if !loss.is_finite() {
        return Err(kinkgrad::Error::NonFinite {
            op: format!("evaluating {} (test loss {loss})", args.weights.display()),
            stage: "value",
        });
    }
    Ok(json!({
        "model": args.model,
        "weights": args.weights.display().to_string(),
        "dtype": info.dtype.name(),
        "precision": T::NAME,
        "parameters": model.num_params(),
        "test_examples": test.n,
        "test_accuracy": accuracy,
        "test_loss": loss,
    }))
}

/// The human-readable line of an `eval` result.
pub fn human(v: &Value) -> String {
    format!(
        "{} from {} ({} parameters, {} evaluated in {}): test accuracy {:.4}  test loss {:.4} ({} examples)\n",
        v["model"].as_str().unwrap_or(""),
        crate::report::one_line(v["weights"].as_str().unwrap_or("")),
        v["parameters"],
        v["dtype"].as_str().unwrap_or(""),
        v["precision"].as_str().unwrap_or(""),
        v["test_accuracy"].as_f64().unwrap_or(0.0),
        v["test_loss"].as_f64().unwrap_or(0.0),
        v["test_examples"],
    )
}
