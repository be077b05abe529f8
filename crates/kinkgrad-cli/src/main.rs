//! The `kinkgrad` command-line tool. All printing, files and progress bars live here; the library
//! does none of it.

mod bench;
mod budget;
mod diff_args;
mod eval;
mod flags;
mod grad;
mod hybrid;
mod hybrid_train;
mod interrupt;
mod manual;
mod output;
mod paradox;
mod plot;
mod progress;
mod report;
mod reproduce;
mod ritz;
mod study;
mod train;
mod transport;

use clap::{CommandFactory, FromArgMatches, Subcommand};
use report::{fail, usage_error, CliError};
use std::process::ExitCode;

/// Automatic differentiation of non-smooth programs, with explicit representations, kink counts and
/// certificates.
#[derive(clap::Parser)]
#[command(name = "kinkgrad", version, about, long_about = None)]
struct Cli {
    /// Memory a run may allocate, e.g. 4G or 512M (default: 3/4 of the available memory); sizes
    /// from flags, files and headers are checked against it before anything is allocated.
    #[arg(long, global = true, value_name = "SIZE")]
    max_memory: Option<String>,
    /// Steps (time steps, iterations) a run may take [default: 1000000].
    #[arg(long, global = true, value_name = "N")]
    max_steps: Option<u64>,
    /// Print only the results (stdout) and errors (stderr): no progress bar, no per-step line.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print one line per step (epoch, iteration, workload) on stderr.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

/// Accept values starting with '-' where a number is expected (`--cfl -1` gets the domain error,
/// not "unexpected argument"), in every subcommand.
fn allow_negative_numbers(cmd: clap::Command) -> clap::Command {
    let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    let mut cmd = cmd.allow_negative_numbers(true);
    for n in names {
        cmd = cmd.mut_subcommand(n, allow_negative_numbers);
    }
    cmd
}

/// Parses the command line; help and version are printed here (exit 0).
fn parse() -> Result<Cli, ExitCode> {
    let matches = allow_negative_numbers(Cli::command()).try_get_matches().and_then(|m| Cli::from_arg_matches(&m));
    matches.map_err(|e| {
        use clap::error::ErrorKind as K;
        if matches!(e.kind(), K::DisplayHelp | K::DisplayVersion) {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        if e.kind() == K::DisplayHelpOnMissingArgumentOrSubcommand {
            let usage = CliError::new("usage", "a subcommand is required (see --help for the list)");
            return fail(&usage, json_requested());
        }
        fail(&usage_error(&e), json_requested())
    })
}

/// Whether `--json` was given (also when the rest of the command line does not parse).
fn json_requested() -> bool {
    std::env::args_os().take_while(|a| a != "--").any(|a| a == "--json")
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
    /// Evaluate a network's weights (a weights-only safetensors file, e.g. from PyTorch) on MNIST.
    Eval(eval::Args),
    /// Deep Ritz for -u'' = f on (0, 1): quadrature (autodiff in x) or exact (sorted breakpoints).
    Ritz(ritz::Args),
    /// Precision studies: relu'(0) bifurcation (Bertoin 2021), max-pooling beta family (Boustany 2024).
    Study(study::Args),
    /// Time the performance workloads side by side with the JAX peers, printing the ratios.
    Bench(bench::Args),
    /// Hybrid models: a neural-network source term inside a PDE solver, trained from observations.
    Hybrid(hybrid::Args),
    /// Reproduce every finding of the talk and the papers in one run: DIR/index.html and DIR/report.json.
    Reproduce(reproduce::Args),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(manual::CompletionsArgs),
    /// Print the manual page (roff), or write every page into a folder with --out.
    Man(manual::ManArgs),
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
    let cli = match parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let json = json_requested();
    progress::init(cli.quiet, cli.verbose, json);
    if let Err(e) = budget::init(cli.max_memory.as_deref(), cli.max_steps) {
        return fail(&CliError::new("usage", e), json);
    }
    // the commands whose library loops poll the cancellation token stop at a step boundary on Ctrl-C
    if matches!(
        cli.command,
        Command::Train(_)
            | Command::Study(_)
            | Command::Ritz(_)
            | Command::Hybrid(_)
            | Command::Transport(_)
            | Command::Reproduce(_)
    ) {
        interrupt::install();
    }
    let result: Result<String, CliError> = match cli.command {
        Command::Grad(a) => grad::run(a),
        Command::Paradox(a) => paradox::run(a).map_err(CliError::from),
        Command::Hybrid(a) => hybrid::run(a),
        Command::Bench(a) => bench::run(a).map_err(CliError::from),
        Command::Transport(a) => transport::run(&a),
        Command::Completions(a) => manual::completions(&a, Cli::command()).map_err(|e| CliError::new("io", e)),
        Command::Man(a) => manual::man(&a, Cli::command()).map_err(|e| CliError::new("io", e)),
        Command::Train(a) => {
            let json = a.json;
            train::run(a).map(|(v, c)| if json { format!("{v}\n") } else { train::human(&v, &c) })
        }
        Command::Study(a) => study::run(a),
        Command::Reproduce(a) => reproduce::run(a),
        Command::Eval(a) => eval::run(&a).map(|v| if a.json { format!("{v}\n") } else { eval::human(&v) }),
        Command::Ritz(a) => {
            let json = a.json;
            ritz::run(a).map(|(v, c)| if json { format!("{v}\n") } else { ritz::human(&v, &c) }).map_err(CliError::from)
        }
    };
    match result {
        Ok(text) => {
            report::print_stdout(&text);
            ExitCode::SUCCESS
        }
        Err(mut e) => {
            if kinkgrad::cancel::requested() {
                e.kind = "cancelled";
            }
            fail(&e, json)
        }
    }
}
