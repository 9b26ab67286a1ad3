//! Machine-readable events of the long-running processes, for tools rather than people:
//! `gfn-learner --events PATH` and `gfn-actor --events PATH` append one JSON object per line
//! (`{"time": …, "event": "listening", …}`), flushed at once, so that `gfn launch`, tests and
//! operators' scripts follow a run without parsing human log text (whose wording may change).
//! The engine never prints: a program that wants its events shown to people (the `gfn` programs
//! print one line per event) adds a watcher with [`Events::watched_by`].
//!
//! Events, by `event`:
//! - `listening` (learner): the gRPC address bound and the run id.
//! - `metrics` (learner, actor): the address of the Prometheus endpoint.
//! - `resumed` (learner): the checkpoint resumed from and its update.
//! - `journal` (learner): trajectories pending from the journal and accepted so far.
//! - `evaluation` (learner): the evaluation record also written to the JSON-lines log.
//! - `registered` (actor): the actor id the learner gave it and the run id.
//! - `learner_finished`, `actor_finished`: the totals of the process's run.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::json_lines::JsonLinesLog;

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The learner accepts gRPC connections at `address` for run `run_id`.
    Listening {
        /// `host:port` actually bound (a requested port 0 resolved).
        address: String,
        /// The run's id.
        run_id: String,
    },
    /// The Prometheus endpoint serves `http://{address}/metrics`.
    Metrics {
        /// `host:port` bound.
        address: String,
    },
    /// The learner resumed from a checkpoint.
    Resumed {
        /// The checkpoint file.
        checkpoint: PathBuf,
        /// Its update.
        update: u64,
    },
    /// The learner opened its ingest journal.
    Journal {
        /// Accepted trajectories after the checkpoint, fed to training first.
        pending: u64,
        /// Trajectories accepted in the run so far.
        accepted: u64,
    },
    /// An evaluation of the policy (the task's record: `update`, `trajectories`, `loss`, …).
    Evaluation {
        /// The record as written to the evaluation log.
        record: serde_json::Value,
        /// The task's one-line summary of it for people (what `gfn train` prints).
        #[serde(default)]
        summary: String,
    },
    /// An actor registered with the learner.
    Registered {
        /// The id the learner assigned.
        actor_id: u64,
        /// The run's id.
        run_id: String,
    },
    /// The learner finished its updates.
    LearnerFinished {
        /// Updates applied.
        updates: u64,
        /// Trajectories trained on.
        trajectories: u64,
        /// Trajectories accepted in the run (with the ingest journal on).
        accepted: Option<u64>,
        /// Of those, the trajectories trained on in the run's final lineage (with the journal on);
        /// the rest were accepted after the final update.
        #[serde(default)]
        journal_trained: Option<u64>,
    },
    /// An actor stopped.
    ActorFinished {
        /// Trajectories rolled out.
        rolled_out: u64,
        /// Accepted by the learner.
        accepted: u64,
        /// Refused as too stale.
        stale: u64,
        /// Rejected by the learner one by one (malformed, or a reward its audit disagreed with).
        #[serde(default)]
        rejected: u64,
        /// Lost (batches refused as a whole, or not delivered).
        lost: u64,
        /// Reward evaluations that failed.
        reward_failures: u64,
    },
}

/// An event with the time it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timed {
    /// Seconds since the Unix epoch.
    pub time: f64,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// A function shown each event as it happens, on the thread that emits it.
type Watcher = Arc<dyn Fn(&Event) + Send + Sync>;

/// Where a process writes its events: a file, or nowhere, and to its watchers. Cheap to clone
/// and share between threads; a failed write is logged once per event, never fatal.
#[derive(Clone, Default)]
pub struct Events {
    log: Option<Arc<Mutex<JsonLinesLog>>>,
    watchers: Vec<Watcher>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("enabled", &self.log.is_some())
            .field("watchers", &self.watchers.len())
            .finish()
    }
}

impl Events {
    /// Events appended to `path` (created with its folder), or none without a path.
    pub fn open(path: Option<&Path>) -> std::io::Result<Self> {
        let log = path.map(JsonLinesLog::append).transpose()?.map(|log| Arc::new(Mutex::new(log)));
        Ok(Self { log, watchers: Vec::new() })
    }

    /// These events, also shown to `watcher` (e.g. a program printing them for people).
    pub fn watched_by(mut self, watcher: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.watchers.push(Arc::new(watcher));
        self
    }

    /// Shows `event` to the watchers and writes it now.
    pub fn emit(&self, event: Event) {
        for watcher in &self.watchers {
            watcher(&event);
        }
        let Some(log) = &self.log else { return };
        let timed = Timed { time: crate::task::results::unix_seconds(), event };
        if let Err(error) = log.lock().unwrap_or_else(|p| p.into_inner()).write(&timed) {
            tracing::warn!(%error, "could not write an event");
        }
    }
}

/// Reads the events written to `path` so far (a partly written last line is skipped).
pub fn read(path: &Path) -> Vec<Timed> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Follows an events file as it grows: each [`Follower::poll`] returns the complete lines
/// written since the previous one.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    offset: u64,
}

impl Follower {
    /// Follows `path` from its start (it need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), offset: 0 }
    }

    /// The events completed since the last call.
    pub fn poll(&mut self) -> Vec<Timed> {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut file) = std::fs::File::open(&self.path) else { return Vec::new() };
        let mut text = String::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err() || file.read_to_string(&mut text).is_err() {
            return Vec::new();
        }
        let Some(end) = text.rfind('\n') else { return Vec::new() };
        self.offset += end as u64 + 1;
        text[..end].lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn events_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let events = Events::open(Some(&path)).unwrap();
        events.emit(Event::Listening { address: "127.0.0.1:5".into(), run_id: "run-1".into() });
        events.emit(Event::Evaluation {
            record: serde_json::json!({"update": 3, "exact_l1": 0.5}),
            summary: "update 3 L1 0.5".into(),
        });
        let read = read(&path);
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].event, Event::Listening { address: "127.0.0.1:5".into(), run_id: "run-1".into() });
        let line = std::fs::read_to_string(&path).unwrap();
        assert!(line.starts_with("{\"time\":"), "{line}");
        assert!(line.contains("\"event\":\"listening\""), "{line}");
        Events::default().emit(Event::Metrics { address: "x".into() }); // nowhere: a no-op
        let mut follower = Follower::new(&path);
        assert_eq!(follower.poll().len(), 2);
        assert!(follower.poll().is_empty());
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"time\": 1.0").unwrap();
        assert!(follower.poll().is_empty(), "a partial line waits");
        events.emit(Event::Metrics { address: "m".into() });
        let more = follower.poll();
        assert_eq!(more.len(), 0, "the partial line and the next one join into one unparsable line");
        events.emit(Event::Metrics { address: "n".into() });
        assert_eq!(follower.poll()[0].event, Event::Metrics { address: "n".into() });
    }

    #[test]
    fn watchers_see_every_event_with_or_without_a_file() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let events = Events::default().watched_by({
            let seen = seen.clone();
            move |event| seen.lock().unwrap().push(event.clone())
        });
        events.emit(Event::Metrics { address: "a".into() });
        events.clone().emit(Event::Metrics { address: "b".into() });
        let seen = seen.lock().unwrap();
        assert_eq!(
            *seen,
            vec![Event::Metrics { address: "a".into() }, Event::Metrics { address: "b".into() }]
        );
    }

    #[test]
    fn events_of_an_older_version_still_read() {
        let old = r#"{"time":1.0,"event":"evaluation","record":{"update":1}}"#;
        let timed: Timed = serde_json::from_str(old).unwrap();
        assert_eq!(
            timed.event,
            Event::Evaluation { record: serde_json::json!({"update": 1}), summary: String::new() }
        );
    }
}
