//! The library's integration tests, one binary (one link step on CI): each module is one topic.

mod common;

mod broadcast_rows;
mod chain_rule;
mod conventions;
mod exact_at_kinks;
mod fuzz_inputs;
mod hybrid;
mod hybrid_files;
mod hybrid_locked;
mod inert_ties;
mod lex_safe;
mod linear_op;
mod loop_op;
mod nn;
mod paradoxes;
mod piece_locked;
mod precision;
mod recorded_derivatives;
mod registry;
mod regressions;
mod relu_backward;
mod ritz;
mod study;
mod transport;
mod transport_locked;
mod windows;
