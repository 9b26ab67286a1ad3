//! Generated objects on their way to a task's results recorder: the training loop (the
//! learner's service for accepted trajectories, or the single-process trainer) hands every
//! trained-on terminal object to the recorder's [`ResultsSink`] and never waits for it.

use std::thread::JoinHandle;

use crate::task::TaskError;
use crate::trajectory::Trajectory;

/// A trained-on trajectory's terminal object, on its way to a results recorder: the
/// trajectory's record (`log R(x)` as trained on, the policy version, the reward model's raw
/// output and name) with what the learner adds beside it.
#[derive(Debug, Clone)]
pub struct Generated<S> {
    /// The trajectory as sampled and scored.
    pub record: Trajectory,
    /// The terminal state.
    pub terminal: S,
    /// The actor that sent it (0 in single-process runs).
    pub actor_id: u64,
    /// Seconds since the Unix epoch when it was accepted.
    pub received_at: f64,
    /// The reward exponent β the trajectory was conditioned on (reward-conditioned runs).
    pub reward_exponent: Option<f64>,
}

impl<S> Generated<S> {
    /// The same record with its terminal object mapped (e.g. a conditioned state to its tree).
    pub fn map_terminal<T>(self, f: impl FnOnce(S) -> T) -> Generated<T> {
        Generated {
            record: self.record,
            terminal: f(self.terminal),
            actor_id: self.actor_id,
            received_at: self.received_at,
            reward_exponent: self.reward_exponent,
        }
    }
}

/// Where generated objects go; `false` when the record was dropped (the recorder's queue is
/// full: recording never slows training).
pub type ResultsSink<S> = Box<dyn Fn(Generated<S>) -> bool + Send + Sync>;

/// A running results recorder: its input and its thread.
pub struct ResultsRecorder<S> {
    /// Where generated objects are handed over.
    pub sink: ResultsSink<S>,
    /// Ends when the sink is dropped and the queue is drained.
    pub thread: JoinHandle<Result<(), TaskError>>,
}

/// Seconds since the Unix epoch, now.
pub fn unix_seconds() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}
