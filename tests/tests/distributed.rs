//! The distributed system as users run it: a real `gfn-learner` and real `gfn-actor`
//! processes talking gRPC over loopback, judged by exact L1 and by the learner's `/metrics`.

mod support;

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{Event, LearnerProcess, start_actor, wait_until, write_config};

const GRID_2D: &str = "seed = 3\n[env]\ntype = \"hypergrid\"\nndim = 2\n";

/// The median exact L1 of the evaluations at or after `from_update` (single evaluations of a
/// converged 2-D grid can spike, so one unlucky evaluation must not decide).
fn median_l1_from(evaluations: &[(u64, f64)], from_update: u64) -> f64 {
    let mut late: Vec<f64> = evaluations.iter().filter(|e| e.0 >= from_update).map(|e| e.1).collect();
    assert!(!late.is_empty(), "no evaluation from update {from_update}: {evaluations:?}");
    late.sort_by(f64::total_cmp);
    late[late.len() / 2]
}

fn config(dir: &std::path::Path, updates: u64, extra: &str) -> std::path::PathBuf {
    write_config(
        dir,
        "run.toml",
        &format!(
            "{GRID_2D}[training]\nupdates = {updates}\n[evaluation]\ninterval_updates = 250\nempirical_samples = 0\n\
             [learner]\nlinger_seconds = 1.0\n{extra}"
        ),
    )
}

/// (1) Learner + 3 actors train the 2-D grid to exact L1 ≤ 0.05 (median of the late
/// evaluations); every process exits 0.
#[test]
fn learner_and_three_actors_train_the_2d_grid() {
    let dir = tempfile::tempdir().unwrap();
    let mut learner = LearnerProcess::start(&config(dir.path(), 1500, ""), "127.0.0.1:0", &[]);
    let mut actors: Vec<_> = (0..3).map(|i| start_actor(&learner.address, &format!("a{i}"))).collect();
    assert!(learner.process.wait(Duration::from_secs(120)).success());
    let evaluations = learner.evaluations();
    assert_eq!(evaluations.last().map(|e| e.0), Some(1500), "{evaluations:?}");
    // Converged: the evaluations from update 750 on have a median ≤ 0.05. (Single evaluations
    // can spike — a 2-D grid trained to L1 ≈ 0 jumps to 0.1–0.15 in a few % of evaluations,
    // single-process too — so one unlucky evaluation must not decide.)
    let median = median_l1_from(&evaluations, 750);
    assert!(median <= 0.05, "median exact L1 {median} from update 750; evaluations {evaluations:?}");
    for actor in &mut actors {
        // the learner told them the run was over
        assert!(actor.wait(Duration::from_secs(30)).success(), "{:?}", actor.output());
        assert!(actor.output().iter().any(|l| l.contains("accepted")));
    }
}

/// (2) An actor killed with SIGKILL mid-run: training continues without a stall over a second.
#[test]
fn killing_an_actor_does_not_stall_training() {
    let dir = tempfile::tempdir().unwrap();
    let mut learner = LearnerProcess::start(&config(dir.path(), 100_000, ""), "127.0.0.1:0", &[]);
    let actors: Vec<_> = (0..2).map(|i| start_actor(&learner.address, &format!("a{i}"))).collect();
    wait_until(Duration::from_secs(30), "training to start", || {
        learner.metric("gfn_learner_updates_total") >= 200.0
    });
    actors[0].signal(Signal::SIGKILL);
    let killed_at = Instant::now();
    let mut last = learner.metric("gfn_learner_updates_total");
    let mut last_progress = Instant::now();
    let mut longest_stall = Duration::ZERO;
    while killed_at.elapsed() < Duration::from_secs(4) {
        std::thread::sleep(Duration::from_millis(50));
        let updates = learner.metric("gfn_learner_updates_total");
        if updates > last {
            last = updates;
            last_progress = Instant::now();
        }
        longest_stall = longest_stall.max(last_progress.elapsed());
    }
    assert!(longest_stall < Duration::from_secs(1), "training stalled for {longest_stall:?}");
    assert!(last >= 400.0, "only {last} updates");
    // SIGTERM on the surviving actor: it flushes what it has and exits 0.
    let mut survivor = actors.into_iter().nth(1).unwrap();
    survivor.signal(Signal::SIGTERM);
    assert!(survivor.wait(Duration::from_secs(15)).success(), "{:?}", survivor.output());
    let finished = survivor.events().into_iter().find_map(|e| match e {
        Event::ActorFinished { accepted, lost, .. } => Some((accepted, lost)),
        _ => None,
    });
    assert!(finished.is_some_and(|(accepted, lost)| accepted > 0 && lost == 0), "{finished:?}");
    learner.process.signal(Signal::SIGTERM);
    assert!(learner.process.wait(Duration::from_secs(30)).success());
}

/// (3) The learner killed with SIGKILL and restarted on the same address resumes from its
/// checkpoint; the actors reconnect on their own and the run completes.
#[test]
fn killed_learner_resumes_from_checkpoint_and_actors_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoints = dir.path().join("checkpoints");
    let config = config(
        dir.path(),
        1500,
        &format!("[checkpoint]\ndir = {:?}\ninterval_updates = 200\n", checkpoints.display().to_string()),
    );
    let first = LearnerProcess::start(&config, "127.0.0.1:0", &[]);
    let address = first.address.clone();
    let mut actors: Vec<_> = (0..2).map(|i| start_actor(&address, &format!("a{i}"))).collect();
    wait_until(Duration::from_secs(60), "a checkpoint past update 400", || {
        first.metric("gfn_learner_updates_total") >= 450.0
    });
    // every trajectory acknowledged so far is journaled (a lower bound: more may be acked
    // between this scrape and the kill)
    let acknowledged = first.metric("gfn_learner_trajectories_accepted_total") as u64;
    first.process.signal(Signal::SIGKILL);
    drop(first);
    std::thread::sleep(Duration::from_millis(300));
    let mut second = LearnerProcess::start(&config, &address, &[]);
    let resumed_at = second.process.wait_for_event(Duration::from_secs(10), |event| match event {
        Event::Resumed { update, .. } => Some(*update),
        _ => None,
    });
    assert!(resumed_at >= 400, "resumed at update {resumed_at}");
    // nothing acknowledged is lost: what the checkpoint holds plus what the journal feeds back
    let pending = second
        .process
        .events()
        .iter()
        .find_map(|e| match e {
            Event::Journal { pending, .. } => Some(*pending),
            _ => None,
        })
        .unwrap_or(0);
    let in_checkpoint = resumed_at * 16;
    assert!(
        acknowledged <= in_checkpoint + pending,
        "{acknowledged} acknowledged, {in_checkpoint} in the checkpoint + {pending} journaled after it"
    );
    assert!(pending > 0, "the first learner trained past its checkpoint, so some were fed back");
    // an actor joining after the restart gets a new id (ids 1 and 2 were handed out before)
    let mut late = start_actor(&address, "late");
    let late_id = late.wait_for_event(Duration::from_secs(30), |event| match event {
        Event::Registered { actor_id, .. } => Some(*actor_id),
        _ => None,
    });
    assert!(late_id >= 3, "actor id {late_id} reused after the learner restarted");
    actors.push(late);
    assert!(second.process.wait(Duration::from_secs(120)).success(), "{:?}", second.process.output());
    let evaluations = second.evaluations();
    assert_eq!(evaluations.last().map(|e| e.0), Some(1500), "{evaluations:?}");
    // the final lineage trained on 1,500 × 16 journaled trajectories, in journal order
    let finished = second.finished();
    assert!(
        matches!(
            finished,
            Some(Event::LearnerFinished { updates: 1500, trajectories: 24000, accepted: Some(_), .. })
        ),
        "{finished:?}"
    );
    assert!(evaluations.first().unwrap().0 > resumed_at, "evaluations restarted from 0: {evaluations:?}");
    for actor in &mut actors {
        assert!(actor.wait(Duration::from_secs(30)).success(), "{:?}", actor.output());
    }
}

/// Median exact L1 of the late evaluations the trajectory-balance run must reach (single-process
/// runs with the same settings: 0.03–0.05 at 1,500 updates; an untrained policy is above 0.3).
const TB_2D_L1: f64 = 0.08;

/// (6) The objective comes from the run configuration alone: the same learner and actors train
/// the 2-D grid with trajectory balance and a replay buffer.
#[test]
fn learner_and_two_actors_train_with_trajectory_balance_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "[objective]\ntype = \"trajectory_balance\"\n\
                 [training.replay]\ncapacity = 2000\nwarmup = 200\nfraction = 0.25\n";
    let mut learner = LearnerProcess::start(&config(dir.path(), 1500, extra), "127.0.0.1:0", &[]);
    let mut actors: Vec<_> = (0..2).map(|i| start_actor(&learner.address, &format!("tb{i}"))).collect();
    assert!(learner.process.wait(Duration::from_secs(120)).success());
    let evaluations = learner.evaluations();
    assert_eq!(evaluations.last().map(|e| e.0), Some(1500), "{evaluations:?}");
    let median = median_l1_from(&evaluations, 750);
    assert!(median <= TB_2D_L1, "median exact L1 {median} from update 750; evaluations {evaluations:?}");
    for actor in &mut actors {
        assert!(actor.wait(Duration::from_secs(30)).success(), "{:?}", actor.output());
    }
}

/// (7) Reward-exponent conditioning over the wire: actors draw β ∈ {1, 2} at the root and score
/// `R^β`; the learner's exact L1 over (x, β) falls (single-process flow matching: 0.03 at 2,000
/// updates).
#[test]
fn learner_and_two_actors_train_a_reward_exponent_conditioned_policy() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "[conditioning]\nreward_exponents = [1.0, 2.0]\n";
    let mut learner = LearnerProcess::start(&config(dir.path(), 1500, extra), "127.0.0.1:0", &[]);
    let mut actors: Vec<_> = (0..2).map(|i| start_actor(&learner.address, &format!("c{i}"))).collect();
    assert!(learner.process.wait(Duration::from_secs(120)).success());
    let evaluations = learner.evaluations();
    assert_eq!(evaluations.last().map(|e| e.0), Some(1500), "{evaluations:?}");
    let median = median_l1_from(&evaluations, 750);
    assert!(median <= 0.08, "median exact L1 {median} from update 750; evaluations {evaluations:?}");
    for actor in &mut actors {
        assert!(actor.wait(Duration::from_secs(30)).success(), "{:?}", actor.output());
    }
}

/// (8) An actor's own Prometheus endpoint (`--metrics-listen`): its counters move and agree
/// with each other and with the learner's (what the actor counts as accepted the learner
/// accepted first), and the totals it prints at exit are at least what was last scraped.
#[test]
fn an_actor_serves_its_own_metrics_consistent_with_the_learners() {
    let dir = tempfile::tempdir().unwrap();
    let mut learner = LearnerProcess::start(&config(dir.path(), 100_000, ""), "127.0.0.1:0", &[]);
    let mut command = std::process::Command::new(support::binary("gfn-actor"));
    command.args(["--learner", &learner.address, "--name", "observed", "--metrics-listen", "127.0.0.1:0"]);
    let mut actor = support::Process::spawn_with_events(command);
    let actor_metrics = actor.wait_for_event(Duration::from_secs(10), |event| match event {
        Event::Metrics { address } => Some(address.clone()),
        _ => None,
    });
    wait_until(Duration::from_secs(30), "the actor's trajectories to be accepted", || {
        support::scrape(&actor_metrics).get("gfn_actor_trajectories_accepted_total").copied().unwrap_or(0.0)
            >= 2000.0
    });
    let seen = support::scrape(&actor_metrics);
    let learner_seen = learner.scrape();
    let get = |name: &str| seen.get(name).copied().unwrap_or_else(|| panic!("{name} missing: {seen:?}"));
    let accepted = get("gfn_actor_trajectories_accepted_total");
    let scored = get("gfn_actor_rewards_scored_total");
    let rolled_out = get("gfn_actor_trajectories_rolled_out_total");
    assert!(
        rolled_out >= scored && scored >= accepted,
        "rolled out {rolled_out}, scored {scored}, accepted {accepted}"
    );
    assert_eq!(get("gfn_actor_reward_failures_total"), 0.0);
    assert_eq!(get("gfn_actor_trajectories_lost_total"), 0.0);
    assert!(get("gfn_actor_reward_batch_duration_seconds_count") >= 1.0);
    let learner_accepted = learner_seen["gfn_learner_trajectories_accepted_total"];
    assert!(learner_accepted >= accepted, "learner accepted {learner_accepted} < actor's {accepted}");
    let version = get("gfn_actor_weights_version");
    assert!(
        version >= 1.0 && version <= learner_seen["gfn_learner_weights_version"],
        "weights version {version}"
    );

    actor.signal(Signal::SIGTERM);
    assert!(actor.wait(Duration::from_secs(15)).success(), "{:?}", actor.output());
    let final_accepted = actor
        .events()
        .into_iter()
        .find_map(|e| match e {
            Event::ActorFinished { accepted, .. } => Some(accepted as f64),
            _ => None,
        })
        .expect("the actor's exit totals");
    assert!(final_accepted >= accepted, "{final_accepted} at exit vs scraped {accepted}");
    learner.process.signal(Signal::SIGTERM);
    assert!(learner.process.wait(Duration::from_secs(30)).success());
}
