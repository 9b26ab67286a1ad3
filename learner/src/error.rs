//! Why a learner stopped with an error: each step of starting, serving and stopping that can
//! fail, with what it was doing; the cause is the error's source.

use std::io;
use std::path::PathBuf;

use gfn_common::checkpoint::CheckpointError;
use gfn_common::fingerprint::FingerprintError;
use gfn_common::task::TaskError;
use gfn_common::task::registry::UnknownTask;
use gfn_common::training::TrainError;
use gfn_common::weights::WeightsError;
use gfn_daemon::process::RecorderError;
use gfn_proto::auth::TokenError;

/// A learner's failure.
#[derive(Debug, thiserror::Error)]
pub enum LearnerError {
    /// The run's task is not one of this program's.
    #[error(transparent)]
    UnknownTask(#[from] UnknownTask),
    /// The task could not be built, or its reward, evaluation or recorder failed.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// The reward files here differ from those the run pinned.
    #[error("this learner's reward files")]
    RewardFiles(#[source] FingerprintError),
    /// A file could not be opened or read.
    #[error("{what} {path:?}")]
    File {
        /// What the file is.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The run token could not be read.
    #[error("the run token")]
    Token(#[source] TokenError),
    /// No checkpoint could be resumed from.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The weights could not be serialized for the actors.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// The Prometheus recorder could not be installed.
    #[error(transparent)]
    Metrics(#[from] RecorderError),
    /// A listening address could not be bound.
    #[error("binding the {what} address {address}")]
    Bind {
        /// Which endpoint.
        what: &'static str,
        /// The address asked for.
        address: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The TLS settings were refused, or the gRPC server failed.
    #[error("{0}")]
    Transport(&'static str, #[source] tonic::transport::Error),
    /// The tokio runtime, a thread or another system resource could not be had.
    #[error("{0}")]
    System(&'static str, #[source] io::Error),
    /// A thread of the learner panicked.
    #[error("the {0} thread panicked")]
    Panicked(&'static str),
    /// A task of the async runtime failed.
    #[error(transparent)]
    Join(#[from] tokio::task::JoinError),
    /// Training stopped with an error.
    #[error(transparent)]
    Training(#[from] TrainError),
}
