//! `kinkgrad bench --peer-isa`: the vector instructions the peers may use, set through the
//! environment of the peer processes (JAX and PyTorch choose their kernels at run time from the CPU's
//! features, so on an AVX-512 machine they use AVX-512 unless told otherwise).
//!
//! `avx2` sets, for JAX (jaxlib 0.10): YNNPACK and XNNPACK off (they dispatch on the CPU alone and
//! accept no limit; the products then go to Eigen's contraction with oneDNN's `sgemm`), XLA's own
//! code generated for AVX2 (`--xla_cpu_max_isa=AVX2`), oneDNN limited to AVX2; for PyTorch: ATen's
//! kernels at their AVX2 level, oneDNN (convolutions) and MKL (products) limited to AVX2; for both,
//! glibc's string functions without their AVX-512 variants. Checked by sampling the peers' hot code
//! (docs/benchmarks.md, "Matrix products: which instructions"). A peer confirms the limit in its
//! `ready` line (`peer_isa`, `benchmarks/peer_serve.py`, which checks what the libraries report).

use std::ffi::OsString;

/// The instructions the peers may use: `Native`, whatever the peers' libraries pick for this CPU
/// (nothing is set), or `Avx2`, AVX2 and FMA at most, as on a machine without AVX-512. (The variants
/// have no doc comments of their own: clap would print them as a list in `--help` instead of the
/// `[possible values: ...]` line of every other enumerated flag.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PeerIsa {
    Native,
    Avx2,
}

/// The variable through which a peer learns the limit asked for, and confirms it.
pub const PEER_ISA_VAR: &str = "KINKGRAD_PEER_ISA";

/// XLA's flags for `avx2`: no YNNPACK or XNNPACK fusions, generated code for AVX2.
const XLA_AVX2: &str = "--xla_cpu_max_isa=AVX2 --xla_cpu_use_xnnpack=false \
    --xla_cpu_experimental_xnn_fusion_type= --xla_cpu_experimental_ynn_fusion_type=";

/// glibc's tunable for `avx2`: its string functions (memcpy, memset) without AVX-512 variants.
const GLIBC_AVX2: &str = "glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD";

impl PeerIsa {
    /// The word of `--peer-isa` and of the JSON's `peer_isa`.
    pub fn name(self) -> &'static str {
        match self {
            PeerIsa::Native => "native",
            PeerIsa::Avx2 => "avx2",
        }
    }

    /// The variables to set on a peer process, given the value each has in this process (`inherited`):
    /// `XLA_FLAGS` and `GLIBC_TUNABLES` keep an inherited value and add to it; nothing for `native`.
    pub fn env(self, inherited: impl Fn(&str) -> Option<OsString>) -> Vec<(&'static str, OsString)> {
        match self {
            PeerIsa::Native => Vec::new(),
            PeerIsa::Avx2 => {
                let join = |var: &str, sep: &str, ours: &str| match inherited(var) {
                    Some(v) if !v.is_empty() => {
                        let mut s = v;
                        s.push(sep);
                        s.push(ours);
                        s
                    }
                    _ => OsString::from(ours),
                };
                vec![
                    (PEER_ISA_VAR, "avx2".into()),
                    ("XLA_FLAGS", join("XLA_FLAGS", " ", XLA_AVX2)),
                    ("ONEDNN_MAX_CPU_ISA", "AVX2".into()),
                    ("ATEN_CPU_CAPABILITY", "avx2".into()),
                    ("MKL_ENABLE_INSTRUCTIONS", "AVX2".into()),
                    ("GLIBC_TUNABLES", join("GLIBC_TUNABLES", ":", GLIBC_AVX2)),
                ]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `native` sets nothing; `avx2` sets each library's limit (the values checked on JAX 0.10.2 and
    /// PyTorch 2.15, docs/benchmarks.md) and adds to inherited XLA flags and glibc tunables (XLA reads
    /// space-separated flags, glibc colon-separated tunables).
    #[test]
    fn avx2_sets_each_library_limit_and_keeps_inherited_values() {
        assert!(PeerIsa::Native.env(|_| Some("x".into())).is_empty());
        let none = PeerIsa::Avx2.env(|_| None);
        let get = |env: &[(&str, OsString)], k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        assert_eq!(get(&none, "KINKGRAD_PEER_ISA"), Some("avx2".into()));
        assert_eq!(get(&none, "ONEDNN_MAX_CPU_ISA"), Some("AVX2".into()));
        assert_eq!(get(&none, "ATEN_CPU_CAPABILITY"), Some("avx2".into()));
        assert_eq!(get(&none, "MKL_ENABLE_INSTRUCTIONS"), Some("AVX2".into()));
        assert_eq!(get(&none, "XLA_FLAGS"), Some(XLA_AVX2.into()));
        assert_eq!(get(&none, "GLIBC_TUNABLES"), Some(GLIBC_AVX2.into()));
        let inherited = |k: &str| match k {
            "XLA_FLAGS" => Some("--xla_dump_to=/d".into()),
            "GLIBC_TUNABLES" => Some("glibc.malloc.arena_max=2".into()),
            _ => None,
        };
        let kept = PeerIsa::Avx2.env(inherited);
        assert_eq!(get(&kept, "XLA_FLAGS"), Some(format!("--xla_dump_to=/d {XLA_AVX2}").into()));
        assert_eq!(get(&kept, "GLIBC_TUNABLES"), Some(format!("glibc.malloc.arena_max=2:{GLIBC_AVX2}").into()));
        assert!(XLA_AVX2.contains("--xla_cpu_max_isa=AVX2") && !XLA_AVX2.contains("  "), "{XLA_AVX2}");
    }
}
