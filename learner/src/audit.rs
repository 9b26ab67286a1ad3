//! Reward audits: the learner recomputes the reward of a sampled fraction of submitted
//! trajectories (`learner.reward_audit_fraction`) with the task's built-in reward, rejects those
//! that disagree, and quarantines an actor whose rewards keep disagreeing
//! (`learner.reward_audit_quarantine_after`): its submissions are refused for the rest of the
//! run. An actor with other proxy weights, another vocabulary or a bug is caught this way.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use rand::RngExt;

use gfn_common::reward::Reward;

use crate::metrics as m;

/// What an audit says of one trajectory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Not sampled for the audit.
    NotAudited,
    /// Recomputed and equal.
    Agrees,
    /// Recomputed and different: rejected.
    Disagrees { recomputed: f64 },
}

/// The auditor of a run.
pub struct Auditor<S> {
    reward: Box<dyn Reward<S>>,
    fraction: f64,
    quarantine_after: u32,
    disagreements: Mutex<HashMap<u64, u32>>,
    quarantined: Mutex<HashSet<u64>>,
}

/// Whether `claimed` and `recomputed` log-rewards agree (bit-identical arithmetic gives equal
/// values; a relative 1e-9 allows for a sender computing in another order).
fn agree(claimed: f64, recomputed: f64) -> bool {
    (claimed - recomputed).abs() <= 1e-9 * recomputed.abs().max(1.0)
}

impl<S> Auditor<S> {
    /// Audits `fraction` of the trajectories with `reward`; quarantines after
    /// `quarantine_after` disagreements of one actor.
    pub fn new(reward: Box<dyn Reward<S>>, fraction: f64, quarantine_after: u32) -> Self {
        Self {
            reward,
            fraction,
            quarantine_after,
            disagreements: Mutex::new(HashMap::new()),
            quarantined: Mutex::new(HashSet::new()),
        }
    }

    /// Whether `actor` (an instance number, or the actor id when it has none) is quarantined.
    pub fn is_quarantined(&self, actor: u64) -> bool {
        self.quarantined.lock().expect("quarantine lock").contains(&actor)
    }

    /// Audits one trajectory of `actor` ending in `terminal` with `claimed` log-reward.
    pub fn audit(&self, actor: u64, terminal: &S, claimed: f64) -> Verdict {
        if self.fraction <= 0.0 || (self.fraction < 1.0 && !rand::rng().random_bool(self.fraction)) {
            return Verdict::NotAudited;
        }
        metrics::counter!(m::REWARDS_AUDITED).increment(1);
        // a reward the learner cannot compute for this object disagrees with any claim
        let recomputed = self.reward.log_reward(terminal).unwrap_or(f64::NAN);
        if agree(claimed, recomputed) {
            return Verdict::Agrees;
        }
        metrics::counter!(m::REWARDS_DISAGREEING).increment(1);
        let count = {
            let mut disagreements = self.disagreements.lock().expect("audit lock");
            let count = disagreements.entry(actor).or_default();
            *count += 1;
            *count
        };
        tracing::warn!(
            actor,
            claimed,
            recomputed,
            disagreements = count,
            "a submitted reward disagrees with the learner's"
        );
        if count >= self.quarantine_after && self.quarantined.lock().expect("quarantine lock").insert(actor) {
            metrics::counter!(m::ACTORS_QUARANTINED).increment(1);
            tracing::error!(actor, disagreements = count, "actor quarantined: its rewards keep disagreeing");
        }
        Verdict::Disagrees { recomputed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gfn_common::reward::HypergridReward;

    #[test]
    fn wrong_rewards_are_caught_and_their_actor_quarantined_but_right_ones_never() {
        let reward = HypergridReward::new(8, 0.1, 0.5, 2.0);
        let truth = |x: &Vec<u16>| reward.log_reward(x).unwrap();
        let auditor = Auditor::new(Box::new(reward.clone()), 1.0, 2);
        let points: Vec<Vec<u16>> = (0..8).flat_map(|a| (0..8).map(move |b| vec![a, b])).collect();
        for point in &points {
            assert_eq!(auditor.audit(1, point, truth(point)), Verdict::Agrees);
        }
        assert!(!auditor.is_quarantined(1));
        assert!(matches!(auditor.audit(2, &points[3], truth(&points[3]) + 0.5), Verdict::Disagrees { .. }));
        assert!(!auditor.is_quarantined(2), "one disagreement is not enough");
        assert!(matches!(auditor.audit(2, &points[9], truth(&points[9]) * 1.001), Verdict::Disagrees { .. }));
        assert!(auditor.is_quarantined(2));
        assert!(!auditor.is_quarantined(1));
        // a fraction of 0 audits nothing
        let off = Auditor::new(Box::new(HypergridReward::new(8, 0.1, 0.5, 2.0)), 0.0, 1);
        assert_eq!(off.audit(3, &points[0], 123.0), Verdict::NotAudited);
    }
}
