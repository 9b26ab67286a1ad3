//! `gfn-learner`: the central learner of a distributed run. Actors connect to it over gRPC.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use gfn_learner::cli::{config_failure, init_logging, load_config};

/// The gfn learner: receives trajectories from actors over gRPC, applies updates of the
/// configured objective (flow matching, trajectory, detailed or sub-trajectory balance) on its
/// own thread and broadcasts new weights. Prints `gfn-learner listening on ADDR` once it accepts
/// connections and one line per evaluation; serves Prometheus metrics and the gRPC health
/// checking protocol (service `gfn.v1.Learner`: SERVING while it accepts trajectories).
#[derive(Debug, Parser)]
#[command(name = "gfn-learner", version, about, long_about)]
struct Args {
    /// Run configuration (TOML); the embedded default (4-D hypergrid) without it.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Override `learner.listen`, e.g. 0.0.0.0:50051 or 127.0.0.1:0 for any free port.
    #[arg(long)]
    listen: Option<String>,
    /// Override `learner.metrics_listen` ("" disables the endpoint).
    #[arg(long)]
    metrics_listen: Option<String>,
    /// Override `checkpoint.dir`; the learner resumes from the newest valid checkpoint there.
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// Override `evaluation.log_path` (JSON lines).
    #[arg(long)]
    log: Option<PathBuf>,
    /// Append machine-readable events here as JSON lines (listening address and run id,
    /// metrics address, resume, evaluations, finish), for tools; see `gfn_common::events`.
    #[arg(long)]
    events: Option<PathBuf>,
    /// Override `training.updates`.
    #[arg(long)]
    updates: Option<u64>,
    /// Override `seed`.
    #[arg(long)]
    seed: Option<u64>,
    /// Override `security.token_file`: the file holding the run token every RPC must carry
    /// (the environment variable GFN_RUN_TOKEN takes precedence; never the token itself here).
    #[arg(long)]
    token_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    init_logging();
    let args = Args::parse();
    let mut config = match load_config(args.config.as_deref()) {
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
    if let Err(error) = config.validate() {
        return config_failure(&error);
    }
    let events = match gfn_common::events::Events::open(args.events.as_deref()) {
        Ok(events) => events,
        Err(error) => {
            eprintln!("error: opening the events file {:?}: {error}", args.events);
            return ExitCode::FAILURE;
        }
    };
    match gfn_learner::server::run(config, events) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
