//! The `[learner]`, `[actor]` and `[security]` sections: settings of the distributed
//! processes (ignored by `gfn train`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::validation::Scope;

/// Settings of the `gfn-learner` process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LearnerConfig {
    /// gRPC listen address (`host:port`; port 0 picks a free port).
    pub listen: String,
    /// Prometheus `/metrics` listen address; none if empty.
    pub metrics_listen: String,
    /// Trajectories buffered between ingestion and training; when full, actors wait.
    /// Ignored when `max_queued_updates` is set.
    pub queue_capacity: usize,
    /// Bound of that queue in updates (`max_queued_updates × training.batch_size`
    /// trajectories), so that the policy lag a full queue adds stays this many updates whatever
    /// the batch size; 0 uses `queue_capacity`.
    pub max_queued_updates: usize,
    /// libtorch intra-op threads of the learner's training thread; 0 uses
    /// `training.intra_op_threads` (docs/BENCHMARKS.md measures 1 against 2).
    pub intra_op_threads: usize,
    /// Trajectories whose policy version lags the learner by more than this many updates are
    /// dropped (and counted).
    pub max_policy_lag: u64,
    /// Publish new weights to actors every this many updates.
    pub weights_interval_updates: u64,
    /// Largest gRPC message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Size of the chunks weights are streamed in, in bytes.
    pub weights_chunk_bytes: usize,
    /// After the last update, keep answering actors (`run_finished`) this long before exiting.
    pub linger_seconds: f64,
    /// Concurrent `WatchWeights` streams one actor may hold (`RESOURCE_EXHAUSTED` beyond).
    pub max_weight_streams_per_actor: usize,
    /// Concurrent `WatchWeights` streams in total.
    pub max_weight_streams: usize,
    /// Concurrent `SubmitTrajectories` calls of one actor.
    pub max_submissions_per_actor: usize,
    /// Concurrent `SubmitTrajectories` calls in total.
    pub max_submissions: usize,
    /// Trajectories per second one actor may submit (a token bucket holding one second's
    /// worth); 0 = unlimited.
    pub max_ingest_per_actor: f64,
    /// HTTP/2 streams a client may open on one connection at a time.
    pub max_streams_per_connection: u32,
    /// HTTP/2 keepalive: a PING on every connection this often, in seconds (0 = none) …
    pub keepalive_seconds: f64,
    /// … and a connection whose PING is not answered within this long is closed.
    pub keepalive_timeout_seconds: f64,
    /// An actor not heard from for this long (no call, no weights chunk taken off its stream)
    /// is counted gone (`gfn_learner_connected_actors`) and its weights streams are closed.
    pub actor_timeout_seconds: f64,
    /// Fraction in `[0, 1]` of submitted trajectories whose reward the learner recomputes with
    /// the task's built-in reward (0: no audit); a mismatch rejects the trajectory.
    pub reward_audit_fraction: f64,
    /// Rewards disagreeing with the audit after which an actor is quarantined: its submissions
    /// are refused (`PERMISSION_DENIED`) for the rest of the run.
    pub reward_audit_quarantine_after: u32,
}

/// Settings of the `gfn-actor` processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActorConfig {
    /// Environments stepped in lockstep per rollout (one batched forward pass per step).
    pub rollout_batch: usize,
    /// Reward worker threads per actor.
    pub reward_threads: usize,
    /// Trajectories per `SubmitTrajectories` call (sent earlier if rewards are slow).
    pub submit_batch: usize,
    /// Synthetic CPU cost per reward call: a busy loop of this many milliseconds.
    pub reward_cpu_cost_ms: f64,
    /// Synthetic latency per reward call: a sleep of this many milliseconds (a remote oracle).
    pub reward_sleep_cost_ms: f64,
    /// Longest pause between reconnection attempts, in seconds (exponential back-off, jittered).
    pub reconnect_max_seconds: f64,
    /// HTTP/2 keepalive towards the learner: a PING this often, in seconds (0 = none) …
    pub keepalive_seconds: f64,
    /// … and the connection is dropped (and re-dialled) when one is not answered this fast.
    pub keepalive_timeout_seconds: f64,
    /// Deadline of each Register and SubmitTrajectories call, in seconds.
    pub rpc_deadline_seconds: f64,
}

impl Default for LearnerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:50051".into(),
            metrics_listen: "127.0.0.1:9100".into(),
            queue_capacity: 32,
            max_queued_updates: 0,
            intra_op_threads: 0,
            max_policy_lag: 64,
            weights_interval_updates: 4,
            max_message_bytes: 4 << 20,
            weights_chunk_bytes: 1 << 20,
            linger_seconds: 2.0,
            max_weight_streams_per_actor: 2,
            max_weight_streams: 1024,
            max_submissions_per_actor: 4,
            max_submissions: 256,
            max_ingest_per_actor: 50_000.0,
            max_streams_per_connection: 64,
            keepalive_seconds: 5.0,
            keepalive_timeout_seconds: 5.0,
            actor_timeout_seconds: 15.0,
            reward_audit_fraction: 0.0,
            reward_audit_quarantine_after: 3,
        }
    }
}

impl Default for ActorConfig {
    fn default() -> Self {
        Self {
            rollout_batch: 16,
            reward_threads: 1,
            submit_batch: 16,
            reward_cpu_cost_ms: 0.0,
            reward_sleep_cost_ms: 0.0,
            reconnect_max_seconds: 2.0,
            keepalive_seconds: 5.0,
            keepalive_timeout_seconds: 5.0,
            rpc_deadline_seconds: 10.0,
        }
    }
}

/// Who may talk to the learner (docs/SECURITY.md). Without a token any client that reaches the
/// gRPC port may register and submit; the learner says so when it starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// File holding the shared run token (environment variable `GFN_RUN_TOKEN` takes
    /// precedence). Every RPC must carry it; calls without it get `UNAUTHENTICATED`.
    pub token_file: Option<PathBuf>,
    /// The learner's TLS certificate chain (PEM); with `tls_key`, gRPC is served over TLS.
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert` (PEM).
    pub tls_key: Option<PathBuf>,
    /// The run CA (PEM): when set, clients must present a certificate it signed (mutual TLS).
    pub tls_client_ca: Option<PathBuf>,
    /// The CA (PEM) the certificates of `https` reward services chain to, for the learner's own
    /// calls to `[[conditioning.services]]` in its evaluation (default: `tls_client_ca`).
    pub service_ca: Option<PathBuf>,
}

impl LearnerConfig {
    /// Checks the section's values (keys `learner.*`).
    pub fn check(&self, learner: &mut Scope<'_>) {
        learner.check(!self.listen.is_empty(), "listen", "an address", format!("{:?}", self.listen));
        learner.at_least("queue_capacity", self.queue_capacity, 1);
        learner.check(
            self.max_queued_updates <= 1 << 20,
            "max_queued_updates",
            "at most 1048576 (0 = use learner.queue_capacity)",
            self.max_queued_updates,
        );
        learner.check(
            self.intra_op_threads <= 256,
            "intra_op_threads",
            "at most 256 (0 = training.intra_op_threads)",
            self.intra_op_threads,
        );
        learner.at_least("weights_interval_updates", self.weights_interval_updates, 1);
        learner.check(
            self.max_message_bytes >= 1024,
            "max_message_bytes",
            "at least 1024",
            self.max_message_bytes,
        );
        learner.check(
            (1024..=self.max_message_bytes).contains(&self.weights_chunk_bytes),
            "weights_chunk_bytes",
            "between 1024 and learner.max_message_bytes",
            self.weights_chunk_bytes,
        );
        for (value, key) in [
            (self.max_weight_streams_per_actor, "max_weight_streams_per_actor"),
            (self.max_weight_streams, "max_weight_streams"),
            (self.max_submissions_per_actor, "max_submissions_per_actor"),
            (self.max_submissions, "max_submissions"),
            (self.max_streams_per_connection as usize, "max_streams_per_connection"),
        ] {
            learner.at_least(key, value, 1);
        }
        learner.check(
            self.max_ingest_per_actor.is_finite() && self.max_ingest_per_actor >= 0.0,
            "max_ingest_per_actor",
            "finite and at least 0 (0 = unlimited)",
            self.max_ingest_per_actor,
        );
        learner.non_negative_finite("linger_seconds", self.linger_seconds);
        learner.non_negative_finite("keepalive_seconds", self.keepalive_seconds);
        learner.positive_finite("keepalive_timeout_seconds", self.keepalive_timeout_seconds);
        learner.positive_finite("actor_timeout_seconds", self.actor_timeout_seconds);
        learner.check(
            (0.0..=1.0).contains(&self.reward_audit_fraction),
            "reward_audit_fraction",
            "in [0, 1]",
            self.reward_audit_fraction,
        );
        learner.at_least("reward_audit_quarantine_after", self.reward_audit_quarantine_after, 1);
    }
}

impl ActorConfig {
    /// Checks the section's values (keys `actor.*`).
    pub fn check(&self, actor: &mut Scope<'_>) {
        actor.at_least("rollout_batch", self.rollout_batch, 1);
        actor.at_least("reward_threads", self.reward_threads, 1);
        actor.at_least("submit_batch", self.submit_batch, 1);
        actor.non_negative_finite("reward_cpu_cost_ms", self.reward_cpu_cost_ms);
        actor.non_negative_finite("reward_sleep_cost_ms", self.reward_sleep_cost_ms);
        actor.positive_finite("reconnect_max_seconds", self.reconnect_max_seconds);
        actor.non_negative_finite("keepalive_seconds", self.keepalive_seconds);
        actor.positive_finite("keepalive_timeout_seconds", self.keepalive_timeout_seconds);
        actor.positive_finite("rpc_deadline_seconds", self.rpc_deadline_seconds);
    }
}

impl SecurityConfig {
    /// Checks the section's values (keys `security.*`).
    pub fn check(&self, security: &mut Scope<'_>) {
        security.check(
            self.tls_cert.is_some() == self.tls_key.is_some(),
            "tls_cert",
            "given together with security.tls_key",
            format!("{:?} / {:?}", self.tls_cert, self.tls_key),
        );
        security.check(
            self.tls_client_ca.is_none() || self.tls_cert.is_some(),
            "tls_client_ca",
            "used only with security.tls_cert and security.tls_key (mutual TLS needs server TLS)",
            format!("{:?}", self.tls_client_ca),
        );
    }
}
