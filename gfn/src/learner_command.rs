//! `gfn-learner` (and `gfn learner`): the central learner of a distributed run. Actors connect
//! to it over gRPC.

use std::path::PathBuf;
use std::process::ExitCode;

use gfn_common::task::Tasks;

use crate::cli::{ConfigArgs, config_failure};

/// Arguments of the learner.
#[derive(Debug, clap::Args)]
pub struct LearnerArgs {
    /// The run configuration.
    #[command(flatten)]
    pub run: ConfigArgs,
    /// Override `learner.listen`, e.g. 0.0.0.0:50051 or 127.0.0.1:0 for any free port.
    #[arg(long)]
    pub listen: Option<String>,
    /// Override `learner.metrics_listen` ("" disables the endpoint).
    #[arg(long)]
    pub metrics_listen: Option<String>,
    /// Override `checkpoint.dir`; the learner resumes from the newest valid checkpoint there.
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Override `evaluation.log_path` (JSON lines).
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Append machine-readable events here as JSON lines (listening address and run id,
    /// metrics address, resume, evaluations, finish), for tools; see `gfn_common::events`.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Override `training.updates`.
    #[arg(long)]
    pub updates: Option<u64>,
    /// Override `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override `security.token_file`: the file holding the run token every RPC must carry
    /// (the environment variable GFN_RUN_TOKEN takes precedence; never the token itself here).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

/// Runs a learner for the task its configuration names (one of `tasks`) until training is done
/// or SIGTERM/SIGINT.
pub fn run(args: LearnerArgs, tasks: impl Tasks) -> ExitCode {
    let mut config = match args.run.load() {
        Ok(config) => config,
        Err(error) => return config_failure(&error),
    };
    if let Some(listen) = args.listen {
        config.learner.listen = listen;
    }
    if let Some(listen) = args.metrics_listen {
        config.learner.metrics_listen = listen;
    }
    if args.checkpoint_dir.is_some() {
        config.checkpoint.dir = args.checkpoint_dir;
    }
    if args.log.is_some() {
        config.evaluation.log_path = args.log;
    }
    if let Some(updates) = args.updates {
        config.training.updates = updates;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if args.token_file.is_some() {
        config.security.token_file = args.token_file;
    }
    if let Err(error) = tasks.validate(&config) {
        return config_failure(&error);
    }
    let events = match gfn_common::events::Events::open(args.events.as_deref()) {
        Ok(events) => events.watched_by(|event| {
            if let Some(line) = crate::report::learner_line(event) {
                println!("{line}");
            }
        }),
        Err(error) => {
            eprintln!("error: opening the events file {:?}: {error}", args.events);
            return ExitCode::FAILURE;
        }
    };
    match gfn_learner::server::run(config, events, tasks) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => crate::cli::failure(error),
    }
}
