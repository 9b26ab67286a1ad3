//! Learner metrics: names and descriptions, and the Prometheus recorder (served by
//! `gfn_daemon::process::serve_metrics`).
//!
//! Names follow `gfn_learner_<name>[_<unit>][_total]`; labels come from fixed sets only.

use gfn_common::metrics::MetricDescription;
use gfn_daemon::process::{RecorderError, install_prometheus_recorder};
use metrics_exporter_prometheus::PrometheusHandle;

pub use gfn_common::metrics::names::*;

/// Trajectories received over gRPC, valid or not.
pub const TRAJECTORIES_RECEIVED: &str = "gfn_learner_trajectories_received_total";
/// Trajectories rejected, by `reason` (`invalid_action`, `too_long`, …).
pub const TRAJECTORIES_REJECTED: &str = "gfn_learner_trajectories_rejected_total";
/// Trajectories dropped because their policy lag exceeded the maximum.
pub const TRAJECTORIES_STALE: &str = "gfn_learner_trajectories_stale_total";
/// Trajectories trained on.
pub const TRAJECTORIES_TRAINED: &str = "gfn_learner_trajectories_trained_total";
/// Submit calls refused as a whole, by `reason` (`unknown_run`).
pub const REQUESTS_REJECTED: &str = "gfn_learner_requests_rejected_total";
/// Calls refused for a missing or wrong run token, by reason.
pub const UNAUTHENTICATED: &str = "gfn_learner_unauthenticated_total";
/// Calls refused by an admission limit (`RESOURCE_EXHAUSTED`), by limit and scope.
pub const LIMITED: &str = "gfn_learner_limited_total";
/// Trajectories accepted (journaled when the journal is on) and handed to training.
pub const TRAJECTORIES_ACCEPTED: &str = "gfn_learner_trajectories_accepted_total";
/// Updates applied.
pub const UPDATES: &str = "gfn_learner_updates_total";
/// Updates skipped because the loss or a gradient was NaN or infinite (weights kept).
pub const UPDATES_SKIPPED: &str = "gfn_learner_updates_skipped_total";
/// Loss of the latest update.
pub const LOSS: &str = "gfn_learner_loss";
/// Seconds per update (forward, backward, optimizer step).
pub const UPDATE_DURATION: &str = "gfn_learner_update_duration_seconds";
/// Trajectories waiting in the training queue.
pub const QUEUE_DEPTH: &str = "gfn_learner_queue_depth";
/// Policy lag of received trajectories, in updates.
pub const POLICY_LAG: &str = "gfn_learner_policy_lag_updates";
/// Newest published weights version.
pub const WEIGHTS_VERSION: &str = "gfn_learner_weights_version";
/// Actors currently streaming weights.
pub const CONNECTED_ACTORS: &str = "gfn_learner_connected_actors";
/// Trajectories recognised as sent again (same actor instance and sequence): acknowledged,
/// not trained twice.
pub const TRAJECTORIES_DUPLICATE: &str = "gfn_learner_trajectories_duplicate_total";
/// Submitted rewards the learner recomputed (`learner.reward_audit_fraction`).
pub const REWARDS_AUDITED: &str = "gfn_learner_rewards_audited_total";
/// Audited rewards that disagreed (their trajectories rejected).
pub const REWARDS_DISAGREEING: &str = "gfn_learner_rewards_disagreeing_total";
/// Actors quarantined for rewards that keep disagreeing.
pub const ACTORS_QUARANTINED: &str = "gfn_learner_actors_quarantined_total";
/// Actors counted gone after `learner.actor_timeout_seconds` of silence.
pub const ACTORS_GONE: &str = "gfn_learner_actors_gone_total";
/// Weights streams closed because a snapshot could not be sent within the actor timeout (the
/// reader stopped reading).
pub const STALLED_STREAMS: &str = "gfn_learner_weights_streams_stalled_total";
/// Actors registered since start.
pub const ACTORS_REGISTERED: &str = "gfn_learner_actors_registered_total";
/// Encoded bytes of received trajectory batches.
pub const BYTES_RECEIVED: &str = "gfn_learner_received_bytes_total";
/// Weights bytes sent to actors.
pub const WEIGHTS_BYTES_SENT: &str = "gfn_learner_weights_sent_bytes_total";
/// Checkpoints written.
pub const CHECKPOINTS: &str = "gfn_learner_checkpoints_total";

/// Installs the global Prometheus recorder, describes the learner's series and those of its
/// task (`task_metrics`), and returns its handle.
pub fn install_recorder(task_metrics: &[MetricDescription]) -> Result<PrometheusHandle, RecorderError> {
    let handle = install_prometheus_recorder(&[
        (POLICY_LAG, &[0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
        (UPDATE_DURATION, &[0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256]),
    ])?;
    describe();
    for metric in task_metrics {
        metric.describe();
    }
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(TRAJECTORIES_RECEIVED, "Trajectories received over gRPC, valid or not.");
    describe_counter!(TRAJECTORIES_REJECTED, "Trajectories rejected as malformed, by reason.");
    describe_counter!(TRAJECTORIES_STALE, "Trajectories dropped for exceeding the maximum policy lag.");
    describe_counter!(TRAJECTORIES_TRAINED, "Trajectories trained on.");
    describe_counter!(REQUESTS_REJECTED, "Submit calls refused as a whole, by reason.");
    describe_counter!(UPDATES, "Parameter updates applied.");
    describe_counter!(
        TRAJECTORIES_ACCEPTED,
        "Trajectories accepted (journaled, when the journal is on) and handed to training."
    );
    describe_counter!(
        LIMITED,
        "Calls refused by an admission limit (RESOURCE_EXHAUSTED), by limit and scope."
    );
    describe_counter!(UNAUTHENTICATED, "Calls refused for a missing or wrong run token, by reason.");
    describe_counter!(
        UPDATES_SKIPPED,
        "Updates skipped for a NaN or infinite loss or gradient (weights kept)."
    );
    describe_counter!(
        RESULTS_DROPPED,
        "Generated objects not recorded because the results recorder fell behind."
    );
    describe_gauge!(LOSS, "Loss of the latest update.");
    describe_histogram!(UPDATE_DURATION, metrics::Unit::Seconds, "Time per update.");
    describe_gauge!(EXACT_L1, "Exact L1 distance between the policy's terminal distribution and R/Z.");
    describe_gauge!(EMPIRICAL_L1, "Empirical L1 distance from fresh samples.");
    describe_gauge!(MODES_FOUND, "Distinct reward modes visited so far.");
    describe_gauge!(LEARNED_LOG_Z, "Learned log partition function.");
    for series in gfn_common::task::pareto_evaluation::metrics() {
        series.describe();
    }
    describe_gauge!(QUEUE_DEPTH, "Trajectories waiting in the training queue.");
    describe_histogram!(POLICY_LAG, "Updates between the sampling policy and the learner.");
    describe_gauge!(WEIGHTS_VERSION, "Newest published weights version.");
    describe_gauge!(CONNECTED_ACTORS, "Actors heard from within learner.actor_timeout_seconds.");
    describe_counter!(TRAJECTORIES_DUPLICATE, "Trajectories sent again, recognised and not trained twice.");
    describe_counter!(REWARDS_AUDITED, "Submitted rewards the learner recomputed.");
    describe_counter!(REWARDS_DISAGREEING, "Audited rewards that disagreed (trajectory rejected).");
    describe_counter!(ACTORS_QUARANTINED, "Actors quarantined for rewards that keep disagreeing.");
    describe_counter!(ACTORS_GONE, "Actors counted gone after learner.actor_timeout_seconds of silence.");
    describe_counter!(STALLED_STREAMS, "Weights streams closed because their reader stopped reading.");
    describe_counter!(ACTORS_REGISTERED, "Actor registrations since start.");
    describe_counter!(BYTES_RECEIVED, metrics::Unit::Bytes, "Encoded bytes of trajectory batches received.");
    describe_counter!(WEIGHTS_BYTES_SENT, metrics::Unit::Bytes, "Weights bytes streamed to actors.");
    describe_counter!(CHECKPOINTS, "Checkpoints written.");
}
