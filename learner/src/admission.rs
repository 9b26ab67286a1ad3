//! Admission of a submitted batch: the synchronous core of the learner's ingest. A batch goes
//! in; each trajectory comes out accepted, stale, duplicate or rejected with its reason, and the
//! accepted ones come out rebuilt in the learner's environment, ready for the journal, the
//! results and the training queue.
//!
//! Two steps, both plain functions the gRPC handler calls off the async runtime:
//! - [`check`]: refuses a quarantined actor's batch as a whole, then decodes each trajectory,
//!   rebuilds it in the learner's environment, audits its reward and measures its policy lag.
//!   No lock is held: this is the CPU work (a rebuild, a recomputed reward).
//! - [`deduplicate`]: under the lock that orders acceptance (the journal's, or the delivered
//!   map's), recognises trajectories already accepted from the same actor instance — a batch
//!   sent again after a lost reply or a restart of the learner — so that none is trained twice.

use gfn_common::env::Environment;
use gfn_common::trajectory::{RebuiltTrajectory, rebuild};
use gfn_daemon::wire::trajectory_from_wire;
use gfn_proto::v1;
use gfn_proto::v1::trajectory_outcome::Kind;

use crate::audit::{Auditor, Verdict};
use crate::journal::{Delivered, Origin, deliver};
use crate::metrics as m;

/// What became of one trajectory.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Taken for training.
    Accepted,
    /// Its policy lags the learner by more than `learner.max_policy_lag` updates.
    Stale {
        /// Updates behind.
        lag: u64,
    },
    /// Already accepted from the same actor instance.
    Duplicate,
    /// Malformed, or its reward disagreed with the audit.
    Rejected {
        /// A fixed label (`invalid_action`, `reward_mismatch`, …).
        reason: &'static str,
        /// What was wrong.
        message: String,
    },
}

impl Outcome {
    /// The outcome as the reply states it.
    pub fn to_wire(&self) -> v1::TrajectoryOutcome {
        let (kind, reason, message) = match self {
            Self::Accepted => (Kind::Accepted, "", String::new()),
            Self::Stale { .. } => (Kind::Stale, "", String::new()),
            Self::Duplicate => (Kind::Duplicate, "", String::new()),
            Self::Rejected { reason, message } => (Kind::Rejected, *reason, message.clone()),
        };
        v1::TrajectoryOutcome { kind: kind as i32, reason: reason.to_string(), message }
    }
}

/// Why a whole batch is refused before any trajectory is looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchRefusal {
    /// The sender is quarantined for rewards that kept disagreeing with the audit.
    #[error(
        "actor {actor} is quarantined: its rewards kept disagreeing with the learner's recomputation \
         (learner.reward_audit_quarantine_after = {after}); check its reward files and code"
    )]
    Quarantined {
        /// The actor id of the batch.
        actor: u64,
        /// `learner.reward_audit_quarantine_after`.
        after: u32,
    },
}

/// What admission needs of the run.
pub struct Gate<'a, E: Environment> {
    /// The environment trajectories are rebuilt in.
    pub env: &'a E,
    /// The reward audit, if the run has one.
    pub auditor: Option<&'a Auditor<E::State>>,
    /// The learner's current policy version.
    pub version: u64,
    /// `learner.max_policy_lag`.
    pub max_policy_lag: u64,
    /// `learner.reward_audit_quarantine_after` (for the refusal's message).
    pub quarantine_after: u32,
}

/// A batch after [`check`]: every trajectory's outcome so far, and the candidates for
/// acceptance (not yet deduplicated).
#[derive(Debug)]
pub struct Checked<S> {
    outcomes: Vec<Outcome>,
    candidates: Vec<(usize, RebuiltTrajectory<S>, Origin)>,
}

/// A batch after [`deduplicate`]: one outcome per trajectory, and the accepted trajectories
/// with where they came from, in the batch's order.
#[derive(Debug)]
pub struct Admission<S> {
    /// One per trajectory of the batch, in order.
    pub outcomes: Vec<Outcome>,
    /// The accepted trajectories.
    pub accepted: Vec<RebuiltTrajectory<S>>,
    /// Their origins (actor instance and sequence number), one each.
    pub origins: Vec<Origin>,
}

/// The batch's sender: its actor id and process instance (0 when it does not number its
/// trajectories).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender {
    /// `TrajectoryBatch.actor_id`.
    pub actor_id: u64,
    /// `TrajectoryBatch.actor_instance`.
    pub instance: u64,
}

impl Sender {
    /// Whom the audit and the quarantine follow: the process instance across
    /// re-registrations, or the actor id when there is none.
    fn audited_as(&self) -> u64 {
        if self.instance != 0 { self.instance } else { self.actor_id }
    }
}

/// Decodes, rebuilds, audits and measures the lag of every trajectory of a batch from
/// `sender`; refuses the whole batch of a quarantined sender.
pub fn check<E: Environment>(
    gate: &Gate<'_, E>,
    sender: Sender,
    trajectories: Vec<v1::Trajectory>,
) -> Result<Checked<E::State>, BatchRefusal> {
    let audited_as = sender.audited_as();
    if gate.auditor.is_some_and(|auditor| auditor.is_quarantined(audited_as)) {
        metrics::counter!(m::REQUESTS_REJECTED, "reason" => "quarantined").increment(1);
        return Err(BatchRefusal::Quarantined { actor: sender.actor_id, after: gate.quarantine_after });
    }
    let mut outcomes = Vec::with_capacity(trajectories.len());
    let mut candidates = Vec::with_capacity(trajectories.len());
    for (index, wire) in trajectories.into_iter().enumerate() {
        let origin = Origin { instance: sender.instance, sequence: wire.sequence };
        let rebuilt = match trajectory_from_wire(wire).and_then(|t| rebuild(gate.env, &t)) {
            Ok(rebuilt) => rebuilt,
            Err(error) => {
                metrics::counter!(m::TRAJECTORIES_REJECTED, "reason" => error.reason()).increment(1);
                let message = format!("trajectory {index}: {error}");
                outcomes.push(Outcome::Rejected { reason: error.reason(), message });
                continue;
            }
        };
        if let Some(auditor) = gate.auditor
            && let Verdict::Disagrees { recomputed } =
                auditor.audit(audited_as, rebuilt.terminal(), rebuilt.log_reward)
        {
            metrics::counter!(m::TRAJECTORIES_REJECTED, "reason" => "reward_mismatch").increment(1);
            let message = format!(
                "trajectory {index}: log-reward {} disagrees with the learner's {recomputed}",
                rebuilt.log_reward
            );
            outcomes.push(Outcome::Rejected { reason: "reward_mismatch", message });
            continue;
        }
        let lag = gate.version.saturating_sub(rebuilt.policy_version);
        metrics::histogram!(m::POLICY_LAG).record(lag as f64);
        if lag > gate.max_policy_lag {
            metrics::counter!(m::TRAJECTORIES_STALE).increment(1);
            outcomes.push(Outcome::Stale { lag });
            continue;
        }
        outcomes.push(Outcome::Accepted);
        candidates.push((index, rebuilt, origin));
    }
    Ok(Checked { outcomes, candidates })
}

/// Takes the candidates of `checked` that `delivered` (the highest sequence number accepted
/// per actor instance) has not seen, advancing it; the rest are duplicates.
pub fn deduplicate<S>(checked: Checked<S>, delivered: &mut Delivered) -> Admission<S> {
    let Checked { mut outcomes, candidates } = checked;
    let mut accepted = Vec::with_capacity(candidates.len());
    let mut origins = Vec::with_capacity(candidates.len());
    for (index, rebuilt, origin) in candidates {
        if deliver(delivered, origin) {
            accepted.push(rebuilt);
            origins.push(origin);
        } else {
            outcomes[index] = Outcome::Duplicate;
        }
    }
    let duplicates = outcomes.iter().filter(|o| **o == Outcome::Duplicate).count();
    if duplicates > 0 {
        metrics::counter!(m::TRAJECTORIES_DUPLICATE).increment(duplicates as u64);
    }
    Admission { outcomes, accepted, origins }
}

impl<S> Admission<S> {
    /// The reply to a batch that arrives after the run finished: nothing taken.
    pub fn after_the_end(learner_version: u64) -> v1::SubmitReply {
        Self { outcomes: Vec::new(), accepted: Vec::new(), origins: Vec::new() }.reply(learner_version, true)
    }

    /// How many trajectories had `outcome`'s kind.
    fn count(&self, matches: impl Fn(&Outcome) -> bool) -> u32 {
        self.outcomes.iter().filter(|o| matches(o)).count() as u32
    }

    /// Whether nothing of the batch could be taken because every trajectory was rejected (the
    /// request as a whole is invalid).
    pub fn all_rejected(&self) -> bool {
        !self.outcomes.is_empty()
            && self.count(|o| matches!(o, Outcome::Rejected { .. })) as usize == self.outcomes.len()
    }

    /// The rejections' messages, joined for a status or a log line.
    pub fn rejections(&self) -> String {
        let messages: Vec<&str> = self
            .outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Rejected { message, .. } => Some(message.as_str()),
                _ => None,
            })
            .collect();
        messages.join("; ")
    }

    /// The reply: counts and one outcome per trajectory.
    pub fn reply(&self, learner_version: u64, run_finished: bool) -> v1::SubmitReply {
        v1::SubmitReply {
            accepted: self.count(|o| *o == Outcome::Accepted),
            dropped_stale: self.count(|o| matches!(o, Outcome::Stale { .. })),
            learner_version,
            run_finished,
            duplicates: self.count(|o| *o == Outcome::Duplicate),
            rejected: self.count(|o| matches!(o, Outcome::Rejected { .. })),
            outcomes: self.outcomes.iter().map(Outcome::to_wire).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gfn_common::env::Hypergrid;
    use gfn_common::reward::HypergridReward;
    use gfn_common::trajectory::Trajectory;
    use gfn_daemon::wire::trajectory_to_wire;

    use crate::journal::Journal;

    const ACTOR: Sender = Sender { actor_id: 3, instance: 77 };

    fn grid() -> Hypergrid {
        Hypergrid::new(2, 8)
    }

    fn reward() -> HypergridReward {
        HypergridReward::new(8, 0.1, 0.5, 2.0)
    }

    /// A valid trajectory to (x, y) of the 2-D grid (x steps along 0, y along 1, then stop),
    /// with its true log-reward, sampled at `version`, numbered `sequence`.
    fn walk(x: u16, y: u16, version: u64, sequence: u64) -> v1::Trajectory {
        let mut actions = vec![0; x as usize];
        actions.extend(std::iter::repeat_n(1, y as usize));
        actions.push(2);
        let log_reward = reward().reward(&vec![x, y]).ln();
        let trajectory = Trajectory { actions, log_reward, policy_version: version, ..Default::default() };
        v1::Trajectory { sequence, ..trajectory_to_wire(&trajectory) }
    }

    fn gate<'a>(
        env: &'a Hypergrid,
        auditor: Option<&'a Auditor<Vec<u16>>>,
        version: u64,
    ) -> Gate<'a, Hypergrid> {
        Gate { env, auditor, version, max_policy_lag: 4, quarantine_after: 2 }
    }

    fn admit(
        gate: &Gate<'_, Hypergrid>,
        batch: Vec<v1::Trajectory>,
        delivered: &mut Delivered,
    ) -> Admission<Vec<u16>> {
        deduplicate(check(gate, ACTOR, batch).unwrap(), delivered)
    }

    fn kinds(reply: &v1::SubmitReply) -> Vec<Kind> {
        reply.outcomes.iter().map(|o| Kind::try_from(o.kind).unwrap()).collect()
    }

    #[test]
    fn valid_trajectories_are_accepted_rebuilt_with_their_origin() {
        let env = grid();
        let mut delivered = Delivered::new();
        let admission =
            admit(&gate(&env, None, 10), vec![walk(1, 2, 10, 1), walk(7, 7, 9, 2)], &mut delivered);
        assert_eq!(admission.outcomes, [Outcome::Accepted, Outcome::Accepted]);
        assert_eq!(admission.accepted.len(), 2);
        assert_eq!(admission.accepted[1].terminal(), &vec![7, 7]);
        assert_eq!(admission.origins[1], Origin { instance: 77, sequence: 2 });
        assert_eq!(delivered[&77], 2);
        let reply = admission.reply(10, false);
        assert_eq!((reply.accepted, reply.dropped_stale, reply.duplicates, reply.rejected), (2, 0, 0, 0));
        assert_eq!(kinds(&reply), [Kind::Accepted, Kind::Accepted]);
    }

    #[test]
    fn a_trajectory_past_the_maximum_lag_is_stale() {
        let env = grid();
        let mut delivered = Delivered::new();
        // version 20, max lag 4: sampled at 16 is in, at 15 is out
        let admission =
            admit(&gate(&env, None, 20), vec![walk(1, 1, 16, 1), walk(1, 1, 15, 2)], &mut delivered);
        assert_eq!(admission.outcomes, [Outcome::Accepted, Outcome::Stale { lag: 5 }]);
        assert_eq!(admission.accepted.len(), 1);
        let reply = admission.reply(20, false);
        assert_eq!((reply.accepted, reply.dropped_stale), (1, 1));
    }

    #[test]
    fn malformed_trajectories_are_rejected_with_their_reason_and_the_rest_accepted() {
        let env = grid();
        let mut delivered = Delivered::new();
        let mut out_of_range = walk(1, 1, 0, 2);
        out_of_range.actions[0] = 9;
        let mut not_finished = walk(1, 1, 0, 3);
        not_finished.actions.pop();
        let mut nan_reward = walk(1, 1, 0, 4);
        nan_reward.log_reward = f64::NAN;
        let batch = vec![walk(2, 2, 0, 1), out_of_range, not_finished, nan_reward];
        let admission = admit(&gate(&env, None, 0), batch, &mut delivered);
        assert_eq!(admission.outcomes[0], Outcome::Accepted);
        for (index, outcome) in admission.outcomes.iter().enumerate().skip(1) {
            let Outcome::Rejected { reason, message } = outcome else { panic!("{outcome:?}") };
            assert!(!reason.is_empty() && message.starts_with(&format!("trajectory {index}:")), "{message}");
        }
        assert!(!admission.all_rejected());
        let reply = admission.reply(0, false);
        assert_eq!((reply.accepted, reply.rejected), (1, 3));
        assert_eq!(kinds(&reply), [Kind::Accepted, Kind::Rejected, Kind::Rejected, Kind::Rejected]);
        assert!(reply.outcomes[1].message.contains("trajectory 1"));
        // a batch of nothing but rejections is invalid as a whole
        let mut bad = walk(1, 1, 0, 5);
        bad.actions.clear();
        assert!(admit(&gate(&env, None, 0), vec![bad], &mut delivered).all_rejected());
    }

    #[test]
    fn a_reward_the_audit_disagrees_with_is_rejected_and_its_sender_quarantined() {
        let env = grid();
        let auditor = Auditor::new(Box::new(reward()), 1.0, 2);
        let gate = gate(&env, Some(&auditor), 0);
        let mut delivered = Delivered::new();
        let mut wrong = walk(3, 3, 0, 2);
        wrong.log_reward += 1.0;
        let admission = admit(&gate, vec![walk(3, 3, 0, 1), wrong.clone()], &mut delivered);
        assert_eq!(admission.outcomes[0], Outcome::Accepted);
        assert!(matches!(admission.outcomes[1], Outcome::Rejected { reason: "reward_mismatch", .. }));
        // a second disagreement quarantines the instance: its next batch is refused as a whole
        wrong.sequence = 3;
        let admission = admit(&gate, vec![wrong], &mut delivered);
        assert!(admission.all_rejected());
        let refusal = check(&gate, ACTOR, vec![walk(1, 1, 0, 4)]).unwrap_err();
        assert_eq!(refusal, BatchRefusal::Quarantined { actor: 3, after: 2 });
        assert!(refusal.to_string().contains("quarantined"));
        // another instance is not
        let other = Sender { actor_id: 4, instance: 78 };
        assert!(check(&gate, other, vec![walk(1, 1, 0, 1)]).is_ok());
    }

    #[test]
    fn a_batch_resent_after_a_lost_reply_is_acknowledged_not_taken_twice() {
        let env = grid();
        let gate = gate(&env, None, 0);
        let mut delivered = Delivered::new();
        let batch = vec![walk(1, 0, 0, 1), walk(0, 1, 0, 2), walk(1, 1, 0, 3)];
        assert_eq!(admit(&gate, batch.clone(), &mut delivered).accepted.len(), 3);
        // the reply was lost: the actor sends the same batch again, with one new trajectory
        let mut again = batch;
        again.push(walk(2, 2, 0, 4));
        let admission = admit(&gate, again, &mut delivered);
        assert_eq!(admission.outcomes[..3], [Outcome::Duplicate, Outcome::Duplicate, Outcome::Duplicate]);
        assert_eq!(admission.outcomes[3], Outcome::Accepted);
        assert_eq!(admission.accepted.len(), 1);
        let reply = admission.reply(0, false);
        assert_eq!((reply.accepted, reply.duplicates), (1, 3));
    }

    #[test]
    fn exactly_once_across_a_restart_of_the_learner() {
        let dir = tempfile::tempdir().unwrap();
        let env = grid();
        let gate = gate(&env, None, 0);
        let batch = vec![walk(1, 0, 0, 1), walk(0, 1, 0, 2)];
        {
            // the first learner accepts the batch and journals it; the reply never arrives
            let (mut journal, pending, mut delivered) = Journal::open(dir.path(), 0).unwrap();
            assert!(pending.is_empty());
            let admission = admit(&gate, batch.clone(), &mut delivered);
            journal.append(&admission.accepted, &admission.origins).unwrap();
        }
        // the restarted learner knows what its journal holds
        let (_journal, pending, mut delivered) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(pending.len(), 2, "the journaled trajectories go to training after the restart");
        let admission = admit(&gate, batch, &mut delivered);
        assert_eq!(admission.outcomes, [Outcome::Duplicate, Outcome::Duplicate]);
        assert!(admission.accepted.is_empty());
        // trajectories of a sender that does not number them are always taken
        let unnumbered = Sender { actor_id: 9, instance: 0 };
        let checked = check(&gate, unnumbered, vec![walk(1, 0, 0, 0)]).unwrap();
        assert_eq!(deduplicate(checked, &mut delivered).accepted.len(), 1);
    }
}
