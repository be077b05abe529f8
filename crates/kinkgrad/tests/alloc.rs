//! No allocation in a training step's steady state, with the products on the paths this machine
//! chooses (`gemm`'s AVX-512 kernels where the CPU has them, else kinkgrad's own AVX2 kernel):
//! `support/alloc_steps.rs`.

#[path = "support/alloc_steps.rs"]
mod alloc_steps;

#[test]
fn training_steps_reuse_their_buffers() {
    alloc_steps::steady_steps_allocate_nothing();
}
