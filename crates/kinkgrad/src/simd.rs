//! The one SIMD dispatch: the instruction-set level detected once ([`simd_level`]), checking every
//! feature a variant enables, and two ways to run code compiled for it:
//!
//! * [`wide`]`(closure)`: small element loops (the tensor element-wise ops, the primitives' forward);
//! * `wide_fn! { fn name(args) -> R = body; }` (or `fn name<T: Bound>(args)`): defines `name`, which
//!   calls `body(args)` (an `#[inline(always)]` function) from a variant compiled with AVX-512 or
//!   AVX2, else from the baseline. For large bodies (a whole scheme step): a closure passed to a generic dispatcher is not
//!   reliably inlined when it is large (the transport step ran 3x slower that way).
//!
//! The environment variable `KINKGRAD_SIMD=avx2` or `KINKGRAD_SIMD=baseline` lowers the level (to
//! time the paths a machine without AVX-512 takes; it never raises it). Rust never contracts
//! `a * b + c` into a fused multiply-add, so every variant gives the same bits.

use std::sync::OnceLock;

/// The instruction-set level the wide kernels run with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Simd {
    /// The target's baseline (SSE2 on x86-64).
    Baseline,
    /// AVX2.
    Avx2,
    /// AVX-512 F, BW, VL and DQ (with AVX2).
    Avx512,
}

impl Simd {
    /// `baseline`, `avx2`, `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Simd::Baseline => "baseline",
            Simd::Avx2 => "avx2",
            Simd::Avx512 => "avx512",
        }
    }
}

/// True when this build's matrix products may use AVX-512: the feature `avx512-gemm` (default) turns
/// on the `gemm` crate's AVX-512 kernels, which it picks at run time where the CPU has `avx512f`;
/// without it (`--no-default-features`) the products use AVX2 + FMA on every x86-64 CPU. The level
/// below reaches the `f32` products (at AVX2 they run on [`crate::sgemm`]), not the `f64` ones.
pub const GEMM_AVX512: bool = cfg!(feature = "avx512-gemm");

/// The level in use: the best one the CPU supports with every feature its variant enables, capped by
/// `KINKGRAD_SIMD` (`avx512`, `avx2` or `baseline`; any other value is ignored). Detected once.
pub fn simd_level() -> Simd {
    static LEVEL: OnceLock<Simd> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = match std::env::var("KINKGRAD_SIMD").as_deref() {
            Ok("baseline") => Simd::Baseline,
            Ok("avx2") => Simd::Avx2,
            _ => Simd::Avx512,
        };
        detected().min(cap)
    })
}

/// The best level the CPU supports, ignoring `KINKGRAD_SIMD` (tests of each level use it).
pub(crate) fn detected() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx512dq") {
            return Simd::Avx512;
        }
        if has!("avx2") {
            return Simd::Avx2;
        }
    }
    Simd::Baseline
}

macro_rules! wide_fn {
    (
        $(#[$m:meta])*
        $vis:vis fn $name:ident$(<$($lt:lifetime),*>)?($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $body:ident;
    ) => {
        wide_fn!(@emit [$(#[$m])*] $vis $name [$($($lt),*)?] ($($arg: $ty),*) [$($ret)?] $body);
    };
    // type parameters with one bound each (`fn name<T: Real>(...)`), inferred from the arguments
    (
        $(#[$m:meta])*
        $vis:vis fn $name:ident<$($tp:ident: $bd:path),+>($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $body:ident;
    ) => {
        wide_fn!(@emit [$(#[$m])*] $vis $name [$($tp: $bd),+] ($($arg: $ty),*) [$($ret)?] $body);
    };
    (@emit [$($attr:tt)*] $vis:vis $name:ident [$($gen:tt)*] ($($arg:ident: $ty:ty),*) [$($ret:ty)?] $body:ident) => {
        $($attr)*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name<$($gen)*>($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                // the features here are exactly those `simd_level` checks for each level
                #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512dq")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512<$($gen)*>($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2<$($gen)*>($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                match $crate::simd::simd_level() {
                    // SAFETY: the CPU supports every feature the variant enables (checked once by
                    // `simd_level`); the body is safe code.
                    $crate::simd::Simd::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    $crate::simd::Simd::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::simd::Simd::Baseline => {}
                }
            }
            $body($($arg),*)
        }
    };
}

/// Run `body` compiled for the CPU's vector units: inside a function with the features of
/// [`simd_level`] enabled, so that the element loops it inlines use the wide registers. For small
/// bodies; a large one is not reliably inlined into the variant (use `wide_fn!`). Every variant gives
/// the same bits (no fused multiply-add is ever formed).
#[inline(always)]
pub fn wide<R>(body: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        match simd_level() {
            // SAFETY: the CPU supports every feature the variant enables (checked once by
            // `simd_level`); the body is safe code.
            Simd::Avx512 => return unsafe { wide_avx512(body) },
            // SAFETY: as above.
            Simd::Avx2 => return unsafe { wide_avx2(body) },
            Simd::Baseline => {}
        }
    }
    body()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn wide_avx512<R>(body: impl FnOnce() -> R) -> R {
    body()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn wide_avx2<R>(body: impl FnOnce() -> R) -> R {
    body()
}
