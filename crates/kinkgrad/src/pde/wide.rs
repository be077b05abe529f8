//! `wide_fn!`: a free function whose body runs compiled for the CPU's vector units.
//!
//! `wide_fn! { fn name(args) -> R = body; }` defines `name`, which calls `body(args)` (an
//! `#[inline(always)]` function) from a variant compiled with AVX-512 or AVX2 when the CPU has every
//! feature the variant enables, else from the baseline. The level is detected once ([`simd_level`]);
//! the environment variable `KINKGRAD_SIMD=avx2` or `KINKGRAD_SIMD=baseline` lowers it (for
//! benchmarking the paths a CI machine without AVX-512 takes; it never raises it). The bodies are
//! inlined into each variant, so the loops use the wide registers. (A closure passed to a generic
//! dispatcher is not reliably inlined when it is large: the transport step ran 3x slower that way.)
//! Rust never contracts `a * b + c` into a fused multiply-add, so every variant gives the same bits.

use std::sync::OnceLock;

/// The instruction-set level the wide kernels of [`crate::pde`] run with.
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

fn detected() -> Simd {
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
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name$(<$($lt),*>)?($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                // the features here are exactly those `simd_level` checks for each level
                #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512dq")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512$(<$($lt),*>)?($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2$(<$($lt),*>)?($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                match $crate::pde::wide::simd_level() {
                    // SAFETY: the CPU supports every feature the variant enables (checked once by
                    // `simd_level`); the body is safe code.
                    $crate::pde::wide::Simd::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    $crate::pde::wide::Simd::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::pde::wide::Simd::Baseline => {}
                }
            }
            $body($($arg),*)
        }
    };
}
