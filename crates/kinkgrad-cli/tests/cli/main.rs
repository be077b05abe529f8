//! The command line's integration tests, one binary (one link step on CI): each module runs `kinkgrad` on one topic.

mod bench_cli;
mod common;
mod consistency_cli;
mod functions_cli;
mod grad_cli;
mod hybrid_cli;
mod paradox_cli;
mod reproduce_cli;
mod robustness_cli;
mod study_cli;
mod train_cli;
mod transport_cli;
