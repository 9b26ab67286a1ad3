//! Where a run stands, as checkpoints store it: the loop's own counters plus the fields of
//! the process hosting the loop (`X`: nothing for `gfn train`, the run id, actor ids and
//! journal position for the distributed learner), flattened into one JSON record.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, CheckpointError};
use crate::model::Model;

/// Progress that survives a restart, stored in checkpoints as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(
    serialize = "S: Serialize, X: Serialize",
    deserialize = "S: DeserializeOwned, X: DeserializeOwned + Default"
))]
pub struct RunProgress<S, X = ()> {
    /// Updates applied.
    pub update: u64,
    /// Trajectories trained on.
    pub trajectories: u64,
    /// Training seconds so far (excluding evaluation and checkpoints).
    pub training_seconds: f64,
    /// Distinct modes visited as terminal objects so far.
    pub modes_found: Vec<S>,
    /// What the hosting process keeps across restarts (flattened into the same record).
    #[serde(flatten, default)]
    pub host: X,
}

impl<S, X: Default> RunProgress<S, X> {
    /// Progress of a run that has not started.
    pub fn new() -> Self {
        Self {
            update: 0,
            trajectories: 0,
            training_seconds: 0.0,
            modes_found: Vec::new(),
            host: X::default(),
        }
    }
}

impl<S, X: Default> Default for RunProgress<S, X> {
    fn default() -> Self {
        Self::new()
    }
}

/// A checkpoint's path and the progress it holds.
pub type Resumed<S, X> = (PathBuf, RunProgress<S, X>);

/// Restores `model` and returns the progress of the newest valid checkpoint in `dir` (its path
/// too), skipping checkpoints that do not verify, lack a progress record or do not fit `model`;
/// `None` when there is none.
pub fn resume<S, X>(dir: &Path, model: &mut Model) -> Result<Option<Resumed<S, X>>, CheckpointError>
where
    S: DeserializeOwned,
    X: DeserializeOwned + Default,
{
    checkpoint::newest_valid(dir, |_, tensors, metadata| {
        let json = metadata.get(checkpoint::PROGRESS).ok_or(Unusable::NoProgress)?;
        let restored: RunProgress<S, X> = serde_json::from_str(json).map_err(Unusable::Progress)?;
        model.load_state_tensors(tensors).map_err(Unusable::Tensors)?;
        Ok::<_, Unusable>(restored)
    })
}

/// Why a checkpoint that reads is still not resumed from (logged; an older one is tried).
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error("no progress record")]
    NoProgress,
    #[error("unreadable progress record: {0}")]
    Progress(serde_json::Error),
    #[error("does not fit this model: {0}")]
    Tensors(crate::weights::LoadError),
}

/// Writes a checkpoint of `model` at `progress.update` into `dir` with the progress record and
/// the run's configuration (`config_toml`), keeping the newest `keep`.
pub fn save_checkpoint<S: Serialize, X: Serialize>(
    dir: &Path,
    model: &Model,
    progress: &RunProgress<S, X>,
    config_toml: &str,
    keep: usize,
) -> Result<PathBuf, CheckpointError> {
    let metadata = checkpoint::Metadata::from([
        (checkpoint::PROGRESS.to_string(), serde_json::to_string(progress).expect("progress serializes")),
        (checkpoint::CONFIG.to_string(), config_toml.to_string()),
    ]);
    checkpoint::save(dir, progress.update, &model.state_tensors(), &metadata, keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default)]
    struct Host {
        run_id: Option<String>,
        journal_consumed: u64,
    }

    #[test]
    fn host_fields_are_flattened_into_one_record_and_default_when_absent() {
        let progress = RunProgress::<u32, Host> {
            update: 7,
            trajectories: 112,
            training_seconds: 1.5,
            modes_found: vec![3, 9],
            host: Host { run_id: Some("run-1".into()), journal_consumed: 100 },
        };
        let json = serde_json::to_string(&progress).unwrap();
        assert_eq!(
            json,
            r#"{"update":7,"trajectories":112,"training_seconds":1.5,"modes_found":[3,9],"run_id":"run-1","journal_consumed":100}"#
        );
        let back: RunProgress<u32, Host> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.host, progress.host);
        // a single-process record read by the learner: its own fields default
        let local = serde_json::to_string(&RunProgress::<u32> { update: 3, ..RunProgress::new() }).unwrap();
        assert_eq!(local, r#"{"update":3,"trajectories":0,"training_seconds":0.0,"modes_found":[]}"#);
        let as_learner: RunProgress<u32, Host> = serde_json::from_str(&local).unwrap();
        assert_eq!((as_learner.update, as_learner.host), (3, Host::default()));
        // and the learner's record read by a single-process run: the extra fields are ignored
        let as_local: RunProgress<u32> = serde_json::from_str(&json).unwrap();
        assert_eq!(as_local.modes_found, vec![3, 9]);
    }
}
