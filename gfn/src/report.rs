//! The learner's and the actor's events as lines for people: what `gfn-learner` and `gfn-actor`
//! print on standard output (tools read the events file instead; this wording may change).

use gfn_common::events::Event;

/// The line `gfn-learner` prints for `event`, if any.
pub fn learner_line(event: &Event) -> Option<String> {
    Some(match event {
        Event::Listening { address, run_id } => format!("gfn-learner listening on {address} run {run_id}"),
        Event::Metrics { address } => format!("gfn-learner metrics on http://{address}/metrics"),
        Event::Resumed { checkpoint, update } => {
            format!("gfn-learner resumed from {} at update {update}", checkpoint.display())
        }
        Event::Journal { pending, accepted } => format!(
            "gfn-learner journal: {pending} accepted trajectories after the checkpoint go to training first, \
             {accepted} accepted in the run so far"
        ),
        Event::Evaluation { summary, .. } => summary.clone(),
        Event::LearnerFinished { updates, trajectories, accepted, journal_trained } => {
            let mut line = format!("gfn-learner finished: {updates} updates, {trajectories} trajectories");
            if let (Some(accepted), Some(trained)) = (accepted, journal_trained) {
                line.push_str(&format!(
                    "\ngfn-learner journal: {accepted} trajectories accepted in the run, {trained} trained on, \
                     {} after the final update",
                    accepted.saturating_sub(*trained)
                ));
            }
            line
        }
        Event::Registered { .. } | Event::ActorFinished { .. } => return None,
    })
}

/// The line `gfn-actor` named `name`, of the learner at `learner`, prints for `event`, if any.
pub fn actor_line(name: &str, learner: &str, event: &Event) -> Option<String> {
    Some(match event {
        Event::Metrics { address } => format!("gfn-actor metrics on http://{address}/metrics"),
        Event::Registered { actor_id, run_id } => {
            format!("gfn-actor {name} registered with {learner} as actor {actor_id} of {run_id}")
        }
        Event::ActorFinished { rolled_out, accepted, stale, rejected, lost, reward_failures } => format!(
            "gfn-actor {name}: {rolled_out} trajectories rolled out, {accepted} accepted, {stale} stale, \
             {rejected} rejected, {lost} lost, {reward_failures} reward failures"
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_learner_reports_its_address_and_the_journal_totals_at_the_end() {
        let listening = Event::Listening { address: "127.0.0.1:5".into(), run_id: "run-1".into() };
        assert_eq!(learner_line(&listening).unwrap(), "gfn-learner listening on 127.0.0.1:5 run run-1");
        let finished = Event::LearnerFinished {
            updates: 10,
            trajectories: 160,
            accepted: Some(170),
            journal_trained: Some(160),
        };
        let lines = learner_line(&finished).unwrap();
        assert_eq!(
            lines.lines().collect::<Vec<_>>(),
            [
                "gfn-learner finished: 10 updates, 160 trajectories",
                "gfn-learner journal: 170 trajectories accepted in the run, 160 trained on, 10 after the final update"
            ]
        );
        let without_journal =
            Event::LearnerFinished { updates: 10, trajectories: 160, accepted: None, journal_trained: None };
        assert_eq!(learner_line(&without_journal).unwrap().lines().count(), 1);
        let evaluation =
            Event::Evaluation { record: serde_json::json!({}), summary: "update 10 L1 0.1".into() };
        assert_eq!(learner_line(&evaluation).unwrap(), "update 10 L1 0.1");
        assert_eq!(learner_line(&Event::Registered { actor_id: 1, run_id: "r".into() }), None);
    }

    #[test]
    fn the_actor_reports_its_registration_and_totals() {
        let registered = Event::Registered { actor_id: 3, run_id: "run-1".into() };
        assert_eq!(
            actor_line("a0", "l:50051", &registered).unwrap(),
            "gfn-actor a0 registered with l:50051 as actor 3 of run-1"
        );
        let finished = Event::ActorFinished {
            rolled_out: 5,
            accepted: 4,
            stale: 1,
            rejected: 0,
            lost: 0,
            reward_failures: 0,
        };
        assert!(actor_line("a0", "l", &finished).unwrap().contains("4 accepted, 1 stale"));
        assert_eq!(actor_line("a0", "l", &Event::Journal { pending: 0, accepted: 0 }), None);
    }
}
