//! # gfn-learner
//!
//! The learner process and the `gfn` command-line tool, generic over the task the run
//! configuration names (`gfn_common::task`): nothing here is specific to one environment.
//!
//! # Layout
//! - [`admission`]: what becomes of each trajectory of a submitted batch (accepted, stale,
//!   duplicate, rejected): the synchronous core of ingestion, called off the async runtime.
//! - [`audit`]: recomputed rewards of a sampled fraction of submissions; quarantine.
//! - [`cli`]: shared command-line plumbing (config loading with exit code 64, logging).
//! - [`train_command`]: `gfn train`, the single-process trainer with a progress view.
//! - [`launch_command`]: `gfn launch`, a learner and N actor processes on loopback.
//! - [`learner_command`]: the learner's command line (`gfn-learner`, `gfn learner`).
//! - [`sample_command`]: `gfn sample`, drawing objects from a checkpoint into a CSV file.
//! - [`progress`]: the terminal progress bar and the JSON-lines log as a training observer.
//! - [`server`]: the `gfn-learner` process: startup, resume, shutdown.
//! - [`service`]: the `gfn.v1.Learner` gRPC service (registration, ingestion, weights).
//! - [`state`]: what the service and the training thread share.
//! - [`journal`]: the durable ingest journal (no accepted trajectory is lost on a restart).
//! - [`liveness`]: which actors are alive (heard from within `learner.actor_timeout_seconds`).
//! - [`limits`]: admission limits of the service (streams, submissions, ingest rate).
//! - [`training`]: the training thread: the core's training loop fed by the ingest queue, publishing
//!   weights, reporting evaluations and keeping the learner's progress in checkpoints.
//! - [`metrics`]: metric names and the Prometheus endpoint.

pub mod admission;
pub mod audit;
pub mod cli;
pub mod journal;
pub mod launch_command;
pub mod learner_command;
pub mod limits;
pub mod liveness;
pub mod metrics;
pub mod progress;
pub mod sample_command;
pub mod server;
pub mod service;
pub mod state;
pub mod train_command;
pub mod training;
