//! The gate between the wire protocol (`gfn_proto::v1`) and the core's trajectory records:
//! what can be checked without the environment is checked here; replaying through the
//! environment checks the actions.

use gfn_common::trajectory::{MAX_CONDITION_VALUES, MAX_REWARD_MODEL_BYTES, Trajectory, TrajectoryError};
use gfn_proto::v1;

/// A received trajectory, checked: non-empty, finite log-reward and score, a reward model name
/// of at most [`MAX_REWARD_MODEL_BYTES`] (empty = the built-in reward).
pub fn trajectory_from_wire(wire: v1::Trajectory) -> Result<Trajectory, TrajectoryError> {
    if wire.actions.is_empty() {
        return Err(TrajectoryError::Empty);
    }
    if !wire.log_reward.is_finite() {
        return Err(TrajectoryError::NonFiniteLogReward { value: wire.log_reward });
    }
    if let Some(score) = wire.score.filter(|s| !s.is_finite()) {
        return Err(TrajectoryError::NonFiniteScore { value: score });
    }
    if wire.reward_model.len() > MAX_REWARD_MODEL_BYTES {
        return Err(TrajectoryError::RewardModelName { len: wire.reward_model.len() });
    }
    for (field, len) in [
        ("condition", wire.condition.len()),
        ("objectives", wire.objectives.len()),
        ("raw_objectives", wire.raw_objectives.len()),
        ("objective_sources", wire.objective_sources.len()),
    ] {
        if len > MAX_CONDITION_VALUES {
            return Err(TrajectoryError::TooManyValues { field, len });
        }
    }
    Ok(Trajectory {
        actions: wire.actions,
        log_reward: wire.log_reward,
        policy_version: wire.policy_version,
        score: wire.score,
        reward_model: Some(wire.reward_model).filter(|name| !name.is_empty()),
        condition: wire.condition,
        objectives: wire.objectives,
        raw_objectives: wire.raw_objectives,
        objective_sources: wire.objective_sources,
    })
}

/// A trajectory for the wire (sequence number 0: the submitter numbers them).
pub fn trajectory_to_wire(trajectory: &Trajectory) -> v1::Trajectory {
    v1::Trajectory {
        actions: trajectory.actions.clone(),
        log_reward: trajectory.log_reward,
        policy_version: trajectory.policy_version,
        score: trajectory.score,
        sequence: 0,
        reward_model: trajectory.reward_model.clone().unwrap_or_default(),
        actor_instance: 0,
        condition: trajectory.condition.clone(),
        objectives: trajectory.objectives.clone(),
        raw_objectives: trajectory.raw_objectives.clone(),
        objective_sources: trajectory.objective_sources.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_gate_rejects_empty_and_non_finite() {
        let wire = |actions: Vec<u32>, log_reward: f64| v1::Trajectory {
            actions,
            log_reward,
            policy_version: 1,
            ..Default::default()
        };
        assert_eq!(trajectory_from_wire(wire(vec![], 0.0)).unwrap_err().reason(), "empty");
        assert_eq!(
            trajectory_from_wire(wire(vec![4], f64::INFINITY)).unwrap_err().reason(),
            "non_finite_reward"
        );
        let ok = trajectory_from_wire(wire(vec![0, 4], -1.5)).unwrap();
        assert_eq!(ok.actions, vec![0, 4]);
        assert_eq!(ok.policy_version, 1);
        let nan_score = v1::Trajectory { score: Some(f64::NAN), ..wire(vec![0, 4], -1.5) };
        assert_eq!(trajectory_from_wire(nan_score).unwrap_err().reason(), "non_finite_score");
        let named =
            trajectory_from_wire(v1::Trajectory { reward_model: "qed@1".into(), ..wire(vec![0, 4], -1.5) });
        assert_eq!(named.unwrap().reward_model.as_deref(), Some("qed@1"));
        let long = v1::Trajectory { reward_model: "x".repeat(257), ..wire(vec![0, 4], -1.5) };
        assert_eq!(trajectory_from_wire(long).unwrap_err().reason(), "reward_model_name");
        let scored = trajectory_from_wire(v1::Trajectory { score: Some(7.25), ..wire(vec![0, 4], -1.5) });
        assert_eq!(scored.unwrap().score, Some(7.25));
        assert_eq!(trajectory_from_wire(trajectory_to_wire(&ok)).unwrap(), ok);
    }
}
