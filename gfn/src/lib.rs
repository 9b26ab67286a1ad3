//! # gfn
//!
//! gfn's programs as library functions over a list of tasks, so that a program with a task of
//! its own has every command, distributed training included:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     gfn::main(gfn::BuiltinTasks::default().with::<my_task::MyTask>())
//! }
//! ```
//!
//! The `gfn`, `gfn-learner` and `gfn-actor` binaries are exactly that with the built-in tasks.
//! A task is a type implementing [`Task`] and [`TaskPlugin`] (`docs/EXTENDING.md`).
//!
//! This crate is the command-line layer: the only one that prints for people (the learner and
//! the actor report through [`core::events`], which the commands here show) and that reports
//! errors as text (`anyhow`); the engine crates below it return typed errors.
//!
//! # Layout
//! - [`main`]: the `gfn` command: `train`, `launch`, `sample`, `learner`, `actor`.
//! - [`learner_main`], [`actor_main`]: one process of a deployment (`gfn-learner`, `gfn-actor`).
//! - [`cli`]: shared command-line plumbing (config loading with exit code 64, logging).
//! - [`train_command`]: `gfn train`, the single-process trainer with a progress view.
//! - [`launch_command`]: `gfn launch`, a learner and N actor processes on loopback.
//! - [`learner_command`]: the learner's command line (`gfn-learner`, `gfn learner`).
//! - [`actor_command`]: the actor's command line (`gfn-actor`, `gfn actor`).
//! - [`sample_command`]: `gfn sample`, drawing objects from a checkpoint into a CSV file.
//! - [`score_command`]: `gfn score`, every built-in molecule objective for the user's molecules.
//! - [`progress`]: the terminal progress bar and the JSON-lines log as a training observer.
//! - [`report`]: the learner's and the actor's events as lines for people.

pub mod actor_command;
pub mod cli;
pub mod launch_command;
pub mod learner_command;
pub mod progress;
pub mod report;
pub mod sample_command;
pub mod score_command;
pub mod train_command;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use actor_command::ActorArgs;
use cli::init_logging;
use launch_command::LaunchArgs;
use learner_command::LearnerArgs;
use sample_command::SampleArgs;
use score_command::ScoreArgs;
use train_command::TrainArgs;

/// The GFlowNet core (environments, rewards, networks, objectives, tasks), for tasks of your own.
pub use gfn_common as core;
pub use gfn_common::task::{BuiltinTasks, Task, TaskPlugin, Tasks};

/// gfn: distributed GFlowNet training.
///
/// Trains a generative flow network (Bengio et al., NeurIPS 2021) so that objects are sampled
/// with probability proportional to their reward.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train in this process (by default a sampler thread rolls out each batch one update ahead
    /// of the learner) and report quality, log Z and the time per phase.
    Train(TrainArgs),
    /// Launch one learner and N actors of this program as separate processes on loopback (the
    /// distributed system on one machine), with one progress view; Ctrl-C stops them all cleanly.
    Launch(LaunchArgs),
    /// Draw objects from a trained policy (a checkpoint) and write them with their rewards as CSV.
    Sample(SampleArgs),
    /// Score molecules of your own (CSV with a `smiles` column, or one SMILES per line) by every
    /// built-in objective: sEH proxy, QED, SA, molecular weight, raw and normalised.
    Score(ScoreArgs),
    /// Run the learner of a distributed run (as `gfn-learner`).
    Learner(LearnerArgs),
    /// Run an actor of a distributed run (as `gfn-actor`).
    Actor(ActorArgs),
}

/// The `gfn` command with the tasks of `tasks`: parses the command line, runs the command and
/// returns the process's exit code (64 for a bad configuration).
pub fn main(tasks: impl Tasks) -> ExitCode {
    gfn_common::heap::keep_freed_memory();
    init_logging();
    if let Some(name) = duplicate_name(&tasks) {
        eprintln!("error: task {name:?} is registered twice");
        return ExitCode::from(cli::EXIT_USAGE);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train_command::run(args, tasks),
        Command::Launch(args) => launch_command::run(args, tasks),
        Command::Sample(args) => sample_command::run(args, tasks),
        Command::Score(args) => score_command::run(args),
        Command::Learner(args) => Ok(learner_command::run(args, tasks)),
        Command::Actor(args) => Ok(actor_command::run_command(args, tasks)),
    };
    match result {
        Ok(code) => code,
        Err(error) => cli::failure(error),
    }
}

/// The learner of a distributed run: receives trajectories from actors over gRPC, applies
/// updates of the configured objective on its own thread and broadcasts new weights. Prints
/// `gfn-learner listening on ADDR` once it accepts connections and one line per evaluation;
/// serves Prometheus metrics and the gRPC health checking protocol (service `gfn.v1.Learner`:
/// SERVING while it accepts trajectories).
#[derive(Debug, Parser)]
#[command(name = "gfn-learner", version, about, long_about)]
struct LearnerCli {
    #[command(flatten)]
    args: LearnerArgs,
}

/// `gfn-learner` with the tasks of `tasks`.
pub fn learner_main(tasks: impl Tasks) -> ExitCode {
    gfn_common::heap::keep_freed_memory();
    init_logging();
    learner_command::run(LearnerCli::parse().args, tasks)
}

/// An actor: connects to a learner (the only thing it needs), receives the run's configuration
/// and the newest policy weights, rolls out trajectories, computes their rewards on a worker pool
/// and streams them to the learner. Reconnects with exponential back-off when the learner goes
/// away; SIGTERM or Ctrl-C flushes what is in flight and exits 0. Refuses a run whose task this
/// program does not have.
#[derive(Debug, Parser)]
#[command(name = "gfn-actor", version, about, long_about)]
struct ActorCli {
    #[command(flatten)]
    args: ActorArgs,
}

/// `gfn-actor` with the tasks of `tasks`.
pub fn actor_main(tasks: impl Tasks) -> ExitCode {
    gfn_common::heap::keep_freed_memory();
    init_logging();
    actor_command::run_command(ActorCli::parse().args, tasks)
}

fn duplicate_name(tasks: &impl Tasks) -> Option<&'static str> {
    let names = tasks.names();
    names.iter().enumerate().find(|(i, name)| names[..*i].contains(name)).map(|(_, name)| *name)
}
