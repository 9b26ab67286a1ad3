//! Actor metrics: names, descriptions and the Prometheus recorder. Served on `/metrics` when the
//! actor is started with `--metrics-listen`; without it the counters cost nothing.
//!
//! Names follow `gfn_actor_<name>[_<unit>][_total]`, like the learner's `gfn_learner_*`. Each
//! actor process has its own endpoint; Prometheus adds the pod/instance label.

use gfn_daemon::process::{RecorderError, install_prometheus_recorder};
use metrics_exporter_prometheus::PrometheusHandle;

/// Trajectories rolled out and queued for their reward.
pub const TRAJECTORIES_ROLLED_OUT: &str = "gfn_actor_trajectories_rolled_out_total";
/// Rewards computed (positive and finite) and passed on for submission.
pub const REWARDS_SCORED: &str = "gfn_actor_rewards_scored_total";
/// Rewards that failed or were not positive and finite (their trajectories are dropped).
pub const REWARD_FAILURES: &str = "gfn_actor_reward_failures_total";
/// Seconds per batched reward call (synthetic cost included).
pub const REWARD_BATCH_DURATION: &str = "gfn_actor_reward_batch_duration_seconds";
/// Calls to a reward service, per endpoint.
pub const REWARD_CALLS: &str = "gfn_actor_reward_service_calls_total";
/// Failed reward-service calls, per endpoint and reason (deadline, refused, unavailable,
/// wrong_count, unknown_value_kind).
pub const REWARD_CALL_FAILURES: &str = "gfn_actor_reward_service_failures_total";
/// Seconds per reward-service call, per endpoint.
pub const REWARD_CALL_LATENCY: &str = "gfn_actor_reward_service_latency_seconds";
/// Objects in replies that passed the whole-reply checks, per endpoint.
pub const REWARD_OBJECTS: &str = "gfn_actor_reward_service_objects_total";
/// Objects whose trajectory was dropped because the service gave no reward for it, per reason
/// (a failed call's reason, or object_error, missing_value, not_finite, not_positive,
/// unwritable).
pub const REWARDS_REJECTED: &str = "gfn_actor_reward_service_rejected_total";
/// Times an endpoint was ejected after consecutive failures.
pub const REWARD_ENDPOINT_EJECTIONS: &str = "gfn_actor_reward_service_ejections_total";
/// 1 while an endpoint is ejected, else 0.
pub const REWARD_ENDPOINT_EJECTED: &str = "gfn_actor_reward_service_ejected";
/// Trajectories the learner accepted.
pub const TRAJECTORIES_ACCEPTED: &str = "gfn_actor_trajectories_accepted_total";
/// Trajectories sent again (a reply was lost) that the learner recognised as already accepted.
pub const TRAJECTORIES_DUPLICATE: &str = "gfn_actor_trajectories_duplicate_total";
/// Trajectories the learner dropped as stale (policy lag over its maximum).
pub const TRAJECTORIES_STALE: &str = "gfn_actor_trajectories_stale_total";
/// Trajectories of batches the learner refused as a whole, or not delivered before shutdown.
pub const TRAJECTORIES_LOST: &str = "gfn_actor_trajectories_lost_total";
/// Trajectories the learner rejected one by one (malformed, or a reward its audit disagreed with).
pub const TRAJECTORIES_REJECTED: &str = "gfn_actor_trajectories_rejected_total";
/// Submit calls that failed and were retried (learner away or busy).
pub const SUBMIT_RETRIES: &str = "gfn_actor_submit_retries_total";
/// Seconds of each reconnection or retry pause (jittered exponential back-off).
pub const BACKOFF_PAUSE: &str = "gfn_actor_backoff_pause_seconds";
/// Weights version the rollouts use.
pub const WEIGHTS_VERSION: &str = "gfn_actor_weights_version";

/// Installs the global Prometheus recorder and returns its handle.
pub fn install_recorder() -> Result<PrometheusHandle, RecorderError> {
    const BUCKETS: &[f64] =
        &[0.00001, 0.0001, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
    let handle = install_prometheus_recorder(&[
        (REWARD_BATCH_DURATION, BUCKETS),
        (REWARD_CALL_LATENCY, BUCKETS),
        (BACKOFF_PAUSE, BUCKETS),
    ])?;
    describe();
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(TRAJECTORIES_ROLLED_OUT, "Trajectories rolled out and queued for their reward.");
    describe_counter!(REWARDS_SCORED, "Rewards computed (positive and finite) and passed on for submission.");
    describe_counter!(
        REWARD_FAILURES,
        "Rewards that failed or were not positive and finite (trajectory dropped)."
    );
    describe_histogram!(
        REWARD_BATCH_DURATION,
        metrics::Unit::Seconds,
        "Time per batched reward call, synthetic cost included."
    );
    describe_counter!(REWARD_CALLS, "Calls to a reward service, per endpoint.");
    describe_counter!(REWARD_CALL_FAILURES, "Failed reward-service calls, per endpoint and reason.");
    describe_histogram!(
        REWARD_CALL_LATENCY,
        metrics::Unit::Seconds,
        "Time per reward-service call, per endpoint."
    );
    describe_counter!(REWARD_OBJECTS, "Objects in reward-service replies that passed the reply checks.");
    describe_counter!(
        REWARDS_REJECTED,
        "Objects the reward service gave no reward for (trajectory dropped), per reason."
    );
    describe_counter!(REWARD_ENDPOINT_EJECTIONS, "Reward endpoints ejected after consecutive failures.");
    describe_gauge!(REWARD_ENDPOINT_EJECTED, "1 while a reward endpoint is ejected.");
    describe_counter!(TRAJECTORIES_ACCEPTED, "Trajectories the learner accepted.");
    describe_counter!(TRAJECTORIES_STALE, "Trajectories the learner dropped as stale.");
    describe_counter!(
        TRAJECTORIES_LOST,
        "Trajectories of batches refused as a whole, or undelivered at shutdown."
    );
    describe_counter!(TRAJECTORIES_REJECTED, "Trajectories the learner rejected one by one.");
    describe_counter!(SUBMIT_RETRIES, "Submit calls that failed and were retried.");
    describe_gauge!(WEIGHTS_VERSION, "Weights version the rollouts use.");
    describe_histogram!(
        BACKOFF_PAUSE,
        metrics::Unit::Seconds,
        "Reconnection and retry pauses (jittered back-off)."
    );
    // Counters that may stay at zero for a whole run are exported from the start, so that
    // rates and alerts on them work before the first event.
    for name in
        [REWARD_FAILURES, TRAJECTORIES_STALE, TRAJECTORIES_LOST, TRAJECTORIES_REJECTED, SUBMIT_RETRIES]
    {
        metrics::counter!(name).absolute(0);
    }
}
