//! `gfn`: the command-line tool for training, sampling and evaluating GFlowNets.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use gfn_learner::cli::init_logging;
use gfn_learner::launch_command::{self, LaunchArgs};
use gfn_learner::sample_command::{self, SampleArgs};
use gfn_learner::train_command::{self, TrainArgs};

/// gfn: distributed GFlowNet training.
///
/// Trains a generative flow network (Bengio et al., NeurIPS 2021) so that objects are sampled
/// with probability proportional to their reward.
#[derive(Debug, Parser)]
#[command(name = "gfn", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train in this process (sampling and learning alternate on one thread) and report the
    /// exact L1 distance to R/Z, modes found, log Z and the time per phase.
    Train(TrainArgs),
    /// Launch one learner and N actors as separate processes on loopback (the distributed
    /// system on one machine), with one progress view; Ctrl-C stops them all cleanly.
    Launch(LaunchArgs),
    /// Draw objects from a trained policy (a checkpoint) and write them with their rewards as CSV.
    Sample(SampleArgs),
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train_command::run(args),
        Command::Launch(args) => launch_command::run(args),
        Command::Sample(args) => sample_command::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
