//! # gfn-learner
//!
//! The learner process and the `gfn` command-line tool.
//!
//! # Layout
//! - [`cli`]: shared command-line plumbing (config loading with exit code 64, logging).
//! - [`train_command`]: `gfn train`, the single-process trainer with a progress view.
//! - [`progress`]: the terminal progress bar and the JSON-lines log as a training observer.
//! - [`server`]: the `gfn-learner` process: startup, resume, shutdown.
//! - [`service`]: the `gfn.v1.Learner` gRPC service (registration, ingestion, weights).
//! - [`state`]: what the service and the training thread share.
//! - [`training`]: the training thread (updates, weights publishing, evaluation, checkpoints).
//! - [`metrics`]: metric names and the Prometheus endpoint.

pub mod cli;
pub mod metrics;
pub mod progress;
pub mod server;
pub mod service;
pub mod state;
pub mod train_command;
pub mod training;
