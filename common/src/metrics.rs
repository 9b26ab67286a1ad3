//! Training metrics: the evaluation record written as one JSON line per evaluation, the names
//! of the Prometheus series that the generic evaluations set, and how a task declares its own
//! series ([`MetricDescription`]) so that generic code describes them.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One evaluation of the policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationRecord {
    /// Updates applied.
    pub update: u64,
    /// Trajectories trained on.
    pub trajectories: u64,
    /// Seconds spent sampling and learning so far (evaluation excluded).
    pub training_seconds: f64,
    /// Mean training loss since the previous evaluation.
    pub loss: f64,
    /// `Σ_x |p_θ(x) − R(x)/Z|` with `p_θ` computed exactly by dynamic programming.
    pub exact_l1: f64,
    /// The same distance with `p_θ` estimated from fresh on-policy samples.
    pub empirical_l1: Option<f64>,
    /// Distinct modes visited as terminal objects during training.
    pub modes_found: usize,
    /// Number of modes of the reward.
    pub num_modes: usize,
    /// The learned `log Z` (log total flow out of `s0`).
    pub learned_log_z: Option<f64>,
    /// The true `log Σ_x R(x)`.
    pub true_log_z: Option<f64>,
}

/// Appends records to a JSON-lines file, flushing after each one.
pub struct JsonLinesLog {
    writer: BufWriter<File>,
}

impl JsonLinesLog {
    /// Opens `path` for appending, creating it and its directory.
    pub fn append(path: &Path) -> io::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self { writer: BufWriter::new(file) })
    }

    /// Writes one record as a line.
    pub fn write<T: Serialize>(&mut self, record: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.writer, record)?;
        self.writer.write_all(b"\n")?;
        self.writer.flush()
    }
}

/// Names of the Prometheus series set by evaluations and result recorders (the learner
/// process exports them; in a process without a recorder they cost nothing).
pub mod names {
    /// Exact L1 of the latest evaluation.
    pub const EXACT_L1: &str = "gfn_learner_exact_l1";
    /// Empirical L1 of the latest evaluation.
    pub const EMPIRICAL_L1: &str = "gfn_learner_empirical_l1";
    /// Distinct modes found so far.
    pub const MODES_FOUND: &str = "gfn_learner_modes_found";
    /// Learned log Z of the latest evaluation.
    pub const LEARNED_LOG_Z: &str = "gfn_learner_learned_log_z";
    /// Generated objects not recorded because the results recorder fell behind.
    pub const RESULTS_DROPPED: &str = "gfn_learner_results_dropped_total";
}

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A monotone count (`_total`).
    Counter,
    /// A value that goes up and down.
    Gauge,
}

/// One Prometheus series a task sets, with its help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDescription {
    /// `gfn_learner_<name>[_<unit>][_total]`.
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: MetricKind,
    /// One sentence for `# HELP`.
    pub help: &'static str,
}

impl MetricDescription {
    /// A counter.
    pub const fn counter(name: &'static str, help: &'static str) -> Self {
        Self { name, kind: MetricKind::Counter, help }
    }

    /// A gauge.
    pub const fn gauge(name: &'static str, help: &'static str) -> Self {
        Self { name, kind: MetricKind::Gauge, help }
    }

    /// Describes the series to the installed recorder (its `# HELP` line).
    pub fn describe(&self) {
        match self.kind {
            MetricKind::Counter => metrics::describe_counter!(self.name, self.help),
            MetricKind::Gauge => metrics::describe_gauge!(self.name, self.help),
        }
    }
}
