//! Why an actor stopped with an error: each step of joining a run and taking part in it that can
//! fail, with what it was doing; the cause is the error's source.

use std::io;
use std::path::PathBuf;

use gfn_common::config::ConfigError;
use gfn_common::fingerprint::FingerprintError;
use gfn_common::task::TaskError;
use gfn_common::task::registry::UnknownTask;
use gfn_common::weights::{LoadError, WeightsError};
use gfn_daemon::process::RecorderError;

/// An actor's failure.
#[derive(Debug, thiserror::Error)]
pub enum ActorError {
    /// The run trains a task this program does not have.
    #[error("refusing to join this run")]
    UnknownTask(#[source] UnknownTask),
    /// The run's configuration does not hold here (sent invalid, or invalid for this program).
    #[error("{0}")]
    Config(&'static str, #[source] ConfigError),
    /// This actor's copies of the reward's files differ from the learner's.
    #[error("refusing to compute this run's rewards")]
    RewardFiles(#[source] FingerprintError),
    /// The task could not be built, or its reward failed to load.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// A file (a certificate, a key) could not be read.
    #[error("reading {path:?}")]
    File {
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `--tls-cert` without `--tls-key` or the other way round.
    #[error("a client certificate needs both --tls-cert and --tls-key")]
    IncompleteIdentity,
    /// An https reward endpoint, and no CA to verify it with.
    #[error("the https reward endpoint {0} needs the actor's --tls-ca (the CA that signed it)")]
    NoCaForRewards(String),
    /// Connecting to one of `conditioning.services` failed.
    #[error("conditioning.services {service:?}: {source}")]
    ObjectiveService {
        /// The service's name.
        service: String,
        /// Why.
        source: Box<ActorError>,
    },
    /// An address that is not a URI, or TLS settings the transport refused.
    #[error("{what} {address}")]
    Transport {
        /// What was being set up.
        what: &'static str,
        /// The address it was for.
        address: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// The learner refused this actor's registration (e.g. its task).
    #[error("the learner refused registration: {0}")]
    Refused(String),
    /// The learner refused this actor's run token.
    #[error(
        "the learner refused this actor's run token ({0}): set GFN_RUN_TOKEN or --token-file to the run's token"
    )]
    TokenRefused(String),
    /// The learner quarantined this actor (its rewards disagreed with the learner's audit).
    #[error("the learner quarantined this actor: {0}")]
    Quarantined(String),
    /// Weights from the learner that this actor's network cannot read or hold.
    #[error("weights version {version} do not fit")]
    Weights {
        /// The weights version.
        version: u64,
        /// Why.
        #[source]
        source: LoadError,
    },
    /// Weight bytes that are not a safetensors file of f32 tensors.
    #[error(transparent)]
    WeightBytes(#[from] WeightsError),
    /// The Prometheus recorder could not be installed.
    #[error(transparent)]
    Metrics(#[from] RecorderError),
    /// The metrics address could not be bound.
    #[error("binding metrics address {address}")]
    Bind {
        /// The address asked for.
        address: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The tokio runtime, a thread or another system resource could not be had.
    #[error("{0}")]
    System(&'static str, #[source] io::Error),
    /// Stopped (a signal) before the learner answered.
    #[error("shut down before registering")]
    ShutDown,
    /// A thread of the actor panicked.
    #[error("the {0} thread panicked")]
    Panicked(&'static str),
    /// A task of the async runtime failed.
    #[error(transparent)]
    Join(#[from] tokio::task::JoinError),
}
