//! What the gRPC service and the training thread share.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use gfn_common::config::RunConfig;
use gfn_common::env::Environment;
use gfn_common::trajectory::RebuiltTrajectory;

use crate::journal::Journal;
use crate::limits::Limits;
use gfn_common::task::ResultsSink;

/// One published version of the policy weights.
#[derive(Debug)]
pub struct WeightsSnapshot {
    /// The learner's update count when the weights were taken.
    pub version: u64,
    /// The weights as a safetensors file.
    pub bytes: Vec<u8>,
}

/// State shared by the gRPC handlers and the training thread.
pub struct RunState<E: Environment> {
    /// Identifies the run; stable across restarts from a checkpoint.
    pub run_id: String,
    /// The run configuration.
    pub config: RunConfig,
    /// The configuration as TOML, sent to registering actors.
    pub config_toml: String,
    /// The environment trajectories are rebuilt in.
    pub env: E,
    /// Updates applied so far (the current policy version).
    pub version: AtomicU64,
    /// Set once the last update is done.
    pub finished: AtomicBool,
    /// Next actor id to hand out.
    pub next_actor_id: AtomicU64,
    /// Validated trajectories on their way to the training thread.
    pub queue: mpsc::Sender<RebuiltTrajectory<E::State>>,
    /// The newest weights.
    pub weights: watch::Receiver<Arc<WeightsSnapshot>>,
    /// Cancelled when the learner shuts down.
    pub shutdown: CancellationToken,
    /// Where accepted terminal objects are recorded (tasks that record results).
    pub results: Option<ResultsSink<E::State>>,
    /// Admission limits of the gRPC service.
    pub limits: Arc<Limits>,
    /// The highest trajectory sequence number accepted per actor instance (updated under the
    /// journal's lock when there is one): a resent trajectory is recognised, not trained twice.
    pub delivered: std::sync::Mutex<crate::journal::Delivered>,
    /// Reward audits (when `learner.reward_audit_fraction` > 0).
    pub auditor: Option<crate::audit::Auditor<E::State>>,
    /// Which actors are alive.
    pub liveness: Arc<crate::liveness::Liveness>,
    /// The ingest journal (with a checkpoint directory): accepted trajectories are appended
    /// and enqueued under this lock, so the journal's order is the training queue's.
    pub journal: Option<Arc<tokio::sync::Mutex<Journal>>>,
}

impl<E: Environment> RunState<E> {
    /// The current policy version.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Whether the run has finished training.
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }
}
