//! `wide_fn!`: a free function whose body runs compiled for the CPU's vector units.
//!
//! `wide_fn! { fn name(args) -> R = body; }` defines `name`, which calls `body(args)` (an
//! `#[inline(always)]` function) from a variant compiled with AVX-512 or AVX2 when the CPU has it
//! (detected at run time), else from the baseline. The bodies are inlined into each variant, so the
//! loops use the wide registers. (A closure passed to a generic dispatcher is not reliably inlined
//! when it is large: the transport step ran 3x slower that way.) Rust never contracts
//! `a * b + c` into a fused multiply-add, so every variant gives the same bits.

macro_rules! wide_fn {
    (
        $(#[$m:meta])*
        $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $body:ident;
    ) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512dq")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512bw") {
                    // SAFETY: the CPU supports these features (checked above); the body is safe code.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
