//! Prometheus series: the names of those that the generic evaluations set, and how a task
//! declares its own ([`MetricDescription`]) so that generic code describes them.

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
