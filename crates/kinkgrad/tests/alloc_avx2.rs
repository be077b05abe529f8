//! No allocation in a training step's steady state with the products forced to AVX2
//! (`KINKGRAD_SIMD=avx2`: kinkgrad's own `f32` kernel, `gemm`'s AVX2 kernels for the rest), the
//! path of an AVX2-only machine, checked on any machine that has AVX2: `support/alloc_steps.rs`.

#[path = "support/alloc_steps.rs"]
mod alloc_steps;

#[test]
fn training_steps_reuse_their_buffers_on_avx2() {
    // before anything reads the SIMD level (chosen once per process; this binary's only test)
    std::env::set_var("KINKGRAD_SIMD", "avx2");
    let avx2 = std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    assert_eq!(kinkgrad::sgemm::in_use(), avx2, "the f32 products take kinkgrad's kernel wherever AVX2 and FMA run");
    alloc_steps::steady_steps_allocate_nothing();
}
