//! `gfn-actor` (and `gfn actor`): rolls out trajectories and computes rewards for a learner.

use std::process::ExitCode;

use gfn_common::task::Tasks;

use gfn_actor::actor::{ActorOptions, run};
use gfn_actor::connection::ClientTls;

/// Arguments of an actor.
#[derive(Debug, clap::Args)]
pub struct ActorArgs {
    /// The learner's gRPC address.
    #[arg(long, default_value = "127.0.0.1:50051", env = "GFN_LEARNER")]
    pub learner: String,
    /// Name reported to the learner (default: host name and process id).
    #[arg(long)]
    pub name: Option<String>,
    /// Reward worker threads for this actor (default: the run's `actor.reward_threads`).
    #[arg(long)]
    pub reward_threads: Option<usize>,
    /// Environments stepped in lockstep (default: the run's `actor.rollout_batch`).
    #[arg(long)]
    pub rollout_batch: Option<usize>,
    /// File holding the run token the learner expects (the environment variable
    /// GFN_RUN_TOKEN takes precedence; the token itself is never a command-line argument).
    #[arg(long)]
    pub token_file: Option<std::path::PathBuf>,
    /// Connect with TLS, verifying the learner's certificate against this CA (PEM).
    #[arg(long)]
    pub tls_ca: Option<std::path::PathBuf>,
    /// This actor's certificate (PEM) for a learner that requires client certificates.
    #[arg(long, requires = "tls_ca", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Name the learner's certificate must carry (default: the host of --learner).
    #[arg(long, requires = "tls_ca")]
    pub tls_domain: Option<String>,
    /// Serve Prometheus metrics (rollouts, rewards and their latency, accepted/stale/lost
    /// trajectories, weights version) on http://ADDRESS/metrics, e.g. 0.0.0.0:9100.
    #[arg(long, value_name = "ADDRESS", env = "GFN_ACTOR_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Append machine-readable events here as JSON lines (metrics address, the actor id
    /// assigned at registration, totals at exit), for tools; see `gfn_common::events`.
    #[arg(long)]
    pub events: Option<std::path::PathBuf>,
}

/// Runs an actor that can join runs of the tasks of `tasks`, until the run ends or
/// SIGTERM/SIGINT.
pub fn run_command(args: ActorArgs, tasks: impl Tasks) -> ExitCode {
    let name = args.name.unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        format!("{}-{}", if host.is_empty() { "actor" } else { &host }, std::process::id())
    });
    let token = match gfn_proto::auth::RunToken::load(args.token_file.as_deref()) {
        Ok(token) => token,
        Err(error) => return crate::cli::failure(error),
    };
    let events = match gfn_common::events::Events::open(args.events.as_deref()) {
        Ok(events) => events.watched_by({
            let (name, learner) = (name.clone(), args.learner.clone());
            move |event| {
                if let Some(line) = crate::report::actor_line(&name, &learner, event) {
                    println!("{line}");
                }
            }
        }),
        Err(error) => {
            eprintln!("error: opening the events file {:?}: {error}", args.events);
            return ExitCode::FAILURE;
        }
    };
    let options = ActorOptions {
        learner: args.learner,
        name,
        reward_threads: args.reward_threads,
        rollout_batch: args.rollout_batch,
        token,
        tls: args.tls_ca.map(|ca| ClientTls {
            ca,
            cert: args.tls_cert,
            key: args.tls_key,
            domain: args.tls_domain,
        }),
        metrics_listen: args.metrics_listen,
        events,
    };
    match run(options, tasks) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => crate::cli::failure(error),
    }
}
