//! The `kinkgrad` command-line tool. All printing, files and progress bars live here; the library
//! does none of it.

mod bench;
mod diff_args;
mod expr;
mod grad;
mod hybrid;
mod interrupt;
mod output;
mod paradox;
mod plot;
mod ritz;
mod train;
mod transport;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Automatic differentiation of non-smooth programs, with explicit representations, kink counts and
/// certificates.
#[derive(Parser)]
#[command(name = "kinkgrad", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Differentiate an expression typed on the command line.
    Grad(grad::Args),
    /// Reproduce the talk's paradoxes: Boustany's table, Murat-Trombetti, rounding compensation.
    Paradox(paradox::Args),
    /// Finite-volume transport schemes: accuracy, kinks, gradients through checkpointed time loops.
    Transport(transport::TransportArgs),
    /// Train a network (MLP or LeNet) on MNIST (the built-in 10 000 digits by default).
    Train(train::Args),
    /// Deep Ritz for -u'' = f on (0, 1): quadrature (autodiff in x) or exact (sorted breakpoints).
    Ritz(ritz::Args),
    /// Time the performance workloads side by side with the JAX peers, printing the ratios.
    Bench(bench::Args),
    /// Hybrid models: a neural-network source term inside a PDE solver, trained from observations.
    Hybrid(hybrid::Args),
}

/// Keep freed memory in the heap instead of returning it to the OS: the tape allocates and frees
/// many large buffers per step, and fresh pages cost a fault and a clear each (glibc's `mallopt`;
/// `M_MMAP_THRESHOLD` = -3, `M_TRIM_THRESHOLD` = -1).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    // SAFETY: mallopt only sets allocator parameters; it is called before any other thread exists.
    unsafe {
        mallopt(-3, 512 << 20);
        mallopt(-1, 1 << 30);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    // the commands whose library loops poll the cancellation token stop at a step boundary on Ctrl-C
    if matches!(cli.command, Command::Train(_) | Command::Ritz(_) | Command::Hybrid(_) | Command::Transport(_)) {
        interrupt::install();
    }
    let result = match cli.command {
        Command::Grad(a) => grad::run(a),
        Command::Paradox(a) => paradox::run(a),
        Command::Hybrid(a) => hybrid::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Transport(a) => transport::run(&a),
        Command::Train(a) => {
            let json = a.json;
            train::run(a).map(|(v, c)| if json { format!("{v}\n") } else { train::human(&v, &c) })
        }
        Command::Ritz(a) => {
            let json = a.json;
            ritz::run(a).map(|(v, c)| if json { format!("{v}\n") } else { ritz::human(&v, &c) })
        }
    };
    match result {
        Ok(text) => {
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Err(e) if kinkgrad::cancel::requested() => {
            eprintln!("interrupted: {e}");
            ExitCode::from(interrupt::EXIT_CODE)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
