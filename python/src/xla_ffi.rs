//! The transport loss as an XLA FFI custom call (`jax.ffi.ffi_call("kinkgrad_transport", ...)`), the
//! path `kinkgrad.jax` takes on JAX's CPU backend: XLA calls [`kinkgrad_transport_ffi`] directly on
//! its own thread with the packed input buffer and the output buffer it allocated, so an evaluation
//! runs no Python (no GIL, no callback dispatch, no `device_put`, no Python objects for the garbage
//! collector), where `jax.pure_callback` spends ~0.4 ms per evaluation in JAX's Python callback path.
//!
//! The handler follows XLA's C API (`xla/ffi/api/c_api.h`, API 0.3, shipped in jaxlib under
//! `jax.ffi.include_dir()`): a `XLA_FFI_CallFrame` with one `f64` argument buffer (`u0`, `target`,
//! `velocity`, `source` concatenated), one `f64` result buffer (the loss, then the wanted gradients
//! in the order `u0`, `velocity`, `source`; the loss alone for a value-only configuration) and one
//! `int64` attribute `config`: the index of a [`Config`] registered from Python
//! ([`ffi_transport_config`]), which holds the scheme, options and sizes, checked when it was
//! registered. Each configuration keeps a [`Workspace`], so repeated evaluations reuse the piece
//! tape's buffers (the results are the same bits as a fresh call). Errors become XLA errors carrying
//! the library's one-line message. Ctrl-C does not reach the library's cancellation token on this
//! path (no Python runs): JAX's wait raises `KeyboardInterrupt` in the caller, and the evaluation
//! runs to its end in the background, as XLA's own computations do.

use crate::{certificate, to_py_err};
use kinkgrad::pde::checkpoint::Schedule;
use kinkgrad::pde::gradient::{GradientRequest, Wanted, Workspace};
use kinkgrad::pde::scheme::Transport;
use kinkgrad::{Certificate, Mode, Representation};
use pyo3::prelude::*;
use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

// ---- the C API's structures (repr(C), field for field as c_api.h) ----

#[repr(C)]
struct ExtensionBase {
    struct_size: usize,
    kind: i32,
    next: *mut ExtensionBase,
}

#[repr(C)]
struct ApiVersion {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    major: i32,
    minor: i32,
}

#[repr(C)]
struct Metadata {
    struct_size: usize,
    api_version: ApiVersion,
    traits: u32,
    state_type_id: i64,
}

#[repr(C)]
struct MetadataExtension {
    base: ExtensionBase,
    metadata: *mut Metadata,
}

#[repr(C)]
struct ErrorCreateArgs {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    message: *const c_char,
    code: i32,
}

/// The start of `XLA_FFI_Api`: only `XLA_FFI_Error_Create` is used.
#[repr(C)]
struct Api {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    api_version: ApiVersion,
    internal_api: *const c_void,
    error_create: unsafe extern "C" fn(*mut ErrorCreateArgs) -> *mut c_void,
}

#[repr(C)]
struct Buffer {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    dtype: i32,
    data: *mut c_void,
    rank: i64,
    dims: *const i64,
}

#[repr(C)]
struct Operands {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    size: i64,
    types: *const i32,
    values: *const *mut c_void,
}

#[repr(C)]
struct ByteSpan {
    ptr: *const c_char,
    len: usize,
}

#[repr(C)]
struct Scalar {
    dtype: i32,
    value: *const c_void,
}

#[repr(C)]
struct Attrs {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    size: i64,
    types: *const i32,
    names: *const *const ByteSpan,
    values: *const *const c_void,
}

/// `XLA_FFI_CallFrame`.
#[repr(C)]
pub(crate) struct CallFrame {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    api: *const Api,
    ctx: *mut c_void,
    stage: i32,
    args: Operands,
    rets: Operands,
    attrs: Attrs,
    future: *mut c_void,
}

const API_MAJOR: i32 = 0;
const API_MINOR: i32 = 3;
const EXTENSION_METADATA: i32 = 1;
const STAGE_EXECUTE: i32 = 3;
const BUFFER: i32 = 1;
const ATTR_SCALAR: i32 = 3;
const F64: i32 = 12;
const S64: i32 = 5;
const ERROR_INVALID_ARGUMENT: i32 = 3;
const ERROR_UNKNOWN: i32 = 2;
const ERROR_CANCELLED: i32 = 1;

// ---- configurations ----

/// One problem (scheme, grid, options, sizes, wanted gradients) registered from Python.
struct Config {
    transport: Transport,
    steps: usize,
    mode: Mode,
    representation: Representation,
    schedule: Schedule,
    wanted: Wanted,
    /// Cells, velocity values, source values.
    sizes: (usize, usize, usize),
    /// The loss alone (`Transport::loss`), no gradient.
    value_only: bool,
    /// Buffers reused across evaluations (a concurrent evaluation of the same configuration takes
    /// a fresh one rather than waiting).
    workspace: Mutex<Workspace>,
}

impl Config {
    fn input_len(&self) -> usize {
        2 * self.sizes.0 + self.sizes.1 + self.sizes.2
    }
    fn output_len(&self) -> usize {
        if self.value_only {
            return 1;
        }
        let w = self.wanted;
        1 + [(w.u0, self.sizes.0), (w.velocity, self.sizes.1), (w.source, self.sizes.2)]
            .iter()
            .map(|&(on, n)| if on { n } else { 0 })
            .sum::<usize>()
    }
}

static CONFIGS: Mutex<Vec<Arc<Config>>> = Mutex::new(Vec::new());
/// Evaluations served by the handler (tests count them: one per `jax.grad`).
static CALLS: AtomicU64 = AtomicU64::new(0);
/// The certificate of the latest gradient, with its number from [`next_seq`].
static LAST: Mutex<Option<(u64, Certificate)>> = Mutex::new(None);
static SEQ: AtomicU64 = AtomicU64::new(0);

fn next_seq() -> u64 {
    SEQ.fetch_add(1, Ordering::Relaxed) + 1
}

/// Registers a configuration; returns the index the custom call passes as its `config` attribute.
/// Every option is checked here (bad names and values raise `ValueError` before any evaluation).
#[pyfunction]
#[pyo3(signature = (cells, velocity_len, source_len, *, dt, steps, scheme="lw-minmod", length=1.0, wanted=vec![], value_only=false, mode="safe", schedule="all", seed=None, convention=None, relu_at_zero=None, max_ties=None, kink_rule=None, representation=None, force=false))]
#[allow(clippy::too_many_arguments)]
fn ffi_transport_config(
    cells: usize,
    velocity_len: usize,
    source_len: usize,
    dt: f64,
    steps: usize,
    scheme: &str,
    length: f64,
    wanted: Vec<String>,
    value_only: bool,
    mode: &str,
    schedule: &str,
    seed: Option<u64>,
    convention: Option<&str>,
    relu_at_zero: Option<f64>,
    max_ties: Option<&str>,
    kink_rule: Option<&str>,
    representation: Option<&str>,
    force: bool,
) -> PyResult<usize> {
    let transport = crate::transport::transport(scheme, cells, length, dt, force)?;
    let config = Config {
        transport,
        steps,
        mode: crate::mode(mode, seed, None)?,
        representation: crate::representation(convention, relu_at_zero, max_ties, kink_rule, representation)?,
        schedule: schedule.parse().map_err(to_py_err)?,
        wanted: crate::transport::wanted_set(&wanted)?,
        sizes: (cells, velocity_len, source_len),
        value_only,
        workspace: Mutex::new(Workspace::default()),
    };
    let mut configs = CONFIGS.lock().unwrap_or_else(|p| p.into_inner());
    configs.push(Arc::new(config));
    Ok(configs.len() - 1)
}

/// The handler as a `PyCapsule` for `jax.ffi.register_ffi_target(..., platform="cpu")`.
#[pyfunction]
fn ffi_transport_handler(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let f: unsafe extern "C" fn(*mut CallFrame) -> *mut c_void = kinkgrad_transport_ffi;
    // SAFETY: PyCapsule_New with a non-null pointer, no name and no destructor (a function pointer
    // of this library, alive as long as the module); the result is checked for NULL.
    unsafe {
        let cap = pyo3::ffi::PyCapsule_New(f as *mut c_void, std::ptr::null(), None);
        Bound::from_owned_ptr_or_err(py, cap)
    }
}

/// Evaluations served by the handler so far.
#[pyfunction]
fn ffi_transport_calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

/// A new number in the sequence that orders certificates (the Python half numbers the ones its
/// callbacks record with it, so `last_certificate` returns the latest of either).
#[pyfunction]
fn bridge_seq() -> u64 {
    next_seq()
}

/// The latest certificate the handler recorded: its number and the JSON text and line of
/// [`crate::certificate`]; `None` before the first.
#[pyfunction]
fn ffi_last_certificate() -> Option<(u64, (String, String))> {
    let last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    last.as_ref().map(|(seq, c)| (*seq, certificate(c)))
}

/// Adds the FFI functions to the native module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ffi_transport_config, m)?)?;
    m.add_function(wrap_pyfunction!(ffi_transport_handler, m)?)?;
    m.add_function(wrap_pyfunction!(ffi_transport_calls, m)?)?;
    m.add_function(wrap_pyfunction!(ffi_last_certificate, m)?)?;
    m.add_function(wrap_pyfunction!(bridge_seq, m)?)?;
    Ok(())
}

// ---- the handler ----

/// A failed evaluation: the XLA error code and the message.
struct Failure(i32, String);

impl From<kinkgrad::Error> for Failure {
    fn from(e: kinkgrad::Error) -> Self {
        let code = match e.kind() {
            kinkgrad::ErrorKind::Input => ERROR_INVALID_ARGUMENT,
            kinkgrad::ErrorKind::Cancelled => ERROR_CANCELLED,
            _ => ERROR_UNKNOWN,
        };
        Failure(code, e.to_string())
    }
}

fn invalid(msg: String) -> Failure {
    Failure(ERROR_INVALID_ARGUMENT, format!("kinkgrad_transport: {msg}"))
}

/// The XLA FFI handler (`XLA_FFI_Handler`): answers the metadata query, then evaluates.
///
/// # Safety
/// Called by XLA with a valid call frame as `c_api.h` describes it.
#[no_mangle]
pub unsafe extern "C" fn kinkgrad_transport_ffi(frame: *mut CallFrame) -> *mut c_void {
    let frame = &*frame;
    let ext = frame.extension_start;
    if !ext.is_null() && (*ext).kind == EXTENSION_METADATA {
        let md = &mut *(*(ext as *mut MetadataExtension)).metadata;
        md.api_version = ApiVersion {
            struct_size: std::mem::size_of::<ApiVersion>(),
            extension_start: std::ptr::null_mut(),
            major: API_MAJOR,
            minor: API_MINOR,
        };
        md.traits = 0;
        return std::ptr::null_mut();
    }
    if frame.stage != STAGE_EXECUTE {
        return std::ptr::null_mut();
    }
    // a panic must not unwind into XLA
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| evaluate(frame)))
        .unwrap_or_else(|_| Err(Failure(ERROR_UNKNOWN, "kinkgrad_transport: internal error (panic)".into())));
    match out {
        Ok(()) => std::ptr::null_mut(),
        Err(Failure(code, msg)) => {
            let msg = CString::new(msg.replace('\0', " ")).unwrap_or_default();
            let mut args = ErrorCreateArgs {
                struct_size: std::mem::offset_of!(ErrorCreateArgs, code) + 4, // c_api.h's size: up to `code`
                extension_start: std::ptr::null_mut(),
                message: msg.as_ptr(),
                code,
            };
            // XLA copies the message into its status
            ((*frame.api).error_create)(&mut args)
        }
    }
}

/// One `f64` buffer of the operands, checked as a vector of `len` values.
unsafe fn vector<'a>(ops: &'a Operands, i: usize, len: usize, what: &str) -> Result<&'a Buffer, Failure> {
    if ops.size as usize <= i || *ops.types.add(i) != BUFFER {
        return Err(invalid(format!("expected a buffer as {what}")));
    }
    let b = &*(*ops.values.add(i) as *const Buffer);
    let n: i64 = (0..b.rank as usize).map(|d| *b.dims.add(d)).product();
    if b.dtype != F64 || n as usize != len {
        return Err(invalid(format!("{what}: expected {len} float64 values")));
    }
    Ok(b)
}

/// The `config` attribute.
unsafe fn config(attrs: &Attrs) -> Result<Arc<Config>, Failure> {
    for i in 0..attrs.size as usize {
        let name = &**attrs.names.add(i);
        if std::slice::from_raw_parts(name.ptr as *const u8, name.len) != b"config" {
            continue;
        }
        let s = &*(*attrs.values.add(i) as *const Scalar);
        if *attrs.types.add(i) != ATTR_SCALAR || s.dtype != S64 {
            return Err(invalid("the attribute config must be an int64 scalar".into()));
        }
        let k = *(s.value as *const i64);
        let configs = CONFIGS.lock().unwrap_or_else(|p| p.into_inner());
        return usize::try_from(k)
            .ok()
            .and_then(|k| configs.get(k).cloned())
            .ok_or_else(|| invalid(format!("no configuration {k}")));
    }
    Err(invalid("missing the attribute config".into()))
}

unsafe fn evaluate(frame: &CallFrame) -> Result<(), Failure> {
    let c = config(&frame.attrs)?;
    let input = vector(&frame.args, 0, c.input_len(), "the packed input")?;
    let output = vector(&frame.rets, 0, c.output_len(), "the result")?;
    // SAFETY: XLA's buffers, of the lengths just checked; the input is not written, the output is
    // a distinct buffer
    let packed = std::slice::from_raw_parts(input.data as *const f64, c.input_len());
    let out = std::slice::from_raw_parts_mut(output.data as *mut f64, c.output_len());
    CALLS.fetch_add(1, Ordering::Relaxed);
    let (n, na, _) = c.sizes;
    let (u0, rest) = packed.split_at(n);
    let (target, rest) = rest.split_at(n);
    let (velocity, source) = rest.split_at(na);
    let source = if c.sizes.2 > 0 { Some(source) } else { None };
    if c.value_only {
        out[0] = c.transport.loss(u0, target, velocity, source, c.steps)?;
        return Ok(());
    }
    let req = GradientRequest {
        u0,
        target,
        velocity,
        source,
        steps: c.steps,
        mode: &c.mode,
        representation: &c.representation,
        schedule: c.schedule,
        wanted: c.wanted,
    };
    let r = match c.workspace.try_lock() {
        Ok(mut ws) => c.transport.loss_gradient_in(&req, &mut ws)?,
        Err(_) => c.transport.loss_gradient(&req)?,
    };
    out[0] = r.loss;
    let mut at = 1;
    for (on, g) in [(c.wanted.u0, &r.u0), (c.wanted.velocity, &r.velocity), (c.wanted.source, &r.source)] {
        if on {
            out[at..at + g.len()].copy_from_slice(g);
            at += g.len();
        }
    }
    *LAST.lock().unwrap_or_else(|p| p.into_inner()) = Some((next_seq(), r.certificate));
    Ok(())
}
