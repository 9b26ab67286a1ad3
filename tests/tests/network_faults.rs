//! Real network faults: learner and actors on their own addresses in network namespaces made
//! by the test (a bridge and veth pairs; CI runs as root — a test that cannot create them fails,
//! it never skips). A silent partition is a host's link set down: packets are dropped and
//! nobody is told, as when a node loses power or a cable is cut (`tc netem` is not available
//! here).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::netns::{Host, Network};
use support::{Event, Process, journal_origins, scrape, write_config};

/// Bound on how long the learner takes to count a silently partitioned actor gone:
/// `learner.actor_timeout_seconds` (15 s) after the stream's keepalive (5 s PING + 5 s timeout)
/// closes it, with slack for this 2-core machine.
const GONE_WITHIN: Duration = Duration::from_secs(30);
/// Bound on how long a healed actor takes to be back at full rate.
const BACK_WITHIN: Duration = Duration::from_secs(5);

fn config(dir: &Path) -> std::path::PathBuf {
    write_config(
        dir,
        "run.toml",
        "seed = 3\n[env]\ntype = \"hypergrid\"\nndim = 2\nheight = 8\n[policy]\nhidden = 64\n\
         [training]\nupdates = 10000000\n[evaluation]\ninterval_updates = 1000000\nempirical_samples = 0\n\
         [learner]\nlinger_seconds = 0.0\n[actor]\nrollout_batch = 16\nsubmit_batch = 16\n",
    )
}

/// A run of `updates` updates that checkpoints (and journals every accepted trajectory, keeping
/// all of the journal) in `dir/checkpoints`.
fn journaled_config(dir: &Path, updates: u64) -> std::path::PathBuf {
    write_config(
        dir,
        "journaled.toml",
        &format!(
            "seed = 4\n[env]\ntype = \"hypergrid\"\nndim = 2\nheight = 8\n[policy]\nhidden = 64\n\
             [training]\nupdates = {updates}\n[evaluation]\ninterval_updates = 1000000\nempirical_samples = 0\n\
             [checkpoint]\ndir = {:?}\ninterval_updates = 500\ninterval_seconds = 0.0\nkeep = 100000\n\
             [learner]\nlinger_seconds = 2.0\n[actor]\nrollout_batch = 16\nsubmit_batch = 16\n",
            dir.join("checkpoints")
        ),
    )
}

struct Run {
    learner: Process,
    learner_metrics: String,
    actors: Vec<(Process, String)>,
}

/// A learner on `learner_host` and one actor on each of `actor_hosts`.
fn start(dir: &Path, learner_host: &Host, actor_hosts: &[&Host]) -> Run {
    let learner = learner_host.learner(&config(dir));
    let actors = actor_hosts
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let actor = Process::spawn(host.actor(&learner.address, &format!("a{i}"), Some(9100)));
            (actor, format!("{}:9100", host.address))
        })
        .collect();
    Run { learner_metrics: learner.metrics.clone(), learner: learner.process, actors }
}

fn metric(address: &str, name: &str) -> f64 {
    scrape(address).get(name).copied().unwrap_or(0.0)
}

fn wait_for(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    started.elapsed()
}

/// An actor's accepted trajectories per second over `window`.
fn rate(metrics: &str, window: Duration) -> f64 {
    let before = metric(metrics, "gfn_actor_trajectories_accepted_total");
    std::thread::sleep(window);
    (metric(metrics, "gfn_actor_trajectories_accepted_total") - before) / window.as_secs_f64()
}

/// (1) One actor silently partitioned: training never stalls for more than a second (the other
/// actor keeps it fed), the learner counts the actor gone within GONE_WITHIN, and once healed the
/// actor is back at full rate within BACK_WITHIN.
#[test]
fn a_silently_partitioned_actor_is_counted_gone_and_back_at_full_rate_once_healed() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::new();
    let (l, a0, a1) = (network.host("l"), network.host("a0"), network.host("a1"));
    let mut run = start(dir.path(), &l, &[&a0, &a1]);
    let learner = run.learner_metrics.clone();
    let connected = || metric(&learner, "gfn_learner_connected_actors");
    wait_for(Duration::from_secs(60), "both actors connected", || connected() == 2.0);
    let victim = run.actors[1].1.clone();
    wait_for(Duration::from_secs(30), "the victim submitting", || {
        metric(&victim, "gfn_actor_trajectories_accepted_total") > 0.0
    });
    let full_rate = rate(&victim, Duration::from_secs(3));
    assert!(full_rate > 0.0);

    a1.partition();
    let partitioned = Instant::now();
    let mut last_update = (metric(&learner, "gfn_learner_updates_total"), Instant::now());
    let mut longest_stall = Duration::ZERO;
    let mut gone_after = None;
    while gone_after.is_none() || partitioned.elapsed() < gone_after.unwrap() + Duration::from_secs(2) {
        assert!(
            partitioned.elapsed() < GONE_WITHIN + Duration::from_secs(5),
            "the learner never counted it gone"
        );
        std::thread::sleep(Duration::from_millis(100));
        let updates = metric(&learner, "gfn_learner_updates_total");
        if updates > last_update.0 {
            last_update = (updates, Instant::now());
        }
        longest_stall = longest_stall.max(last_update.1.elapsed());
        if gone_after.is_none() && connected() == 1.0 {
            gone_after = Some(partitioned.elapsed());
        }
    }
    let gone_after = gone_after.unwrap();
    println!("partition: counted gone after {gone_after:?}, longest stall {longest_stall:?}");
    assert!(gone_after <= GONE_WITHIN, "counted gone after {gone_after:?}");
    assert!(longest_stall <= Duration::from_secs(1), "training stalled for {longest_stall:?}");
    assert!(metric(&learner, "gfn_learner_actors_gone_total") >= 1.0);

    a1.heal();
    let healed = Instant::now();
    let back_after = wait_for(BACK_WITHIN + Duration::from_secs(10), "the healed actor at full rate", || {
        rate(&victim, Duration::from_millis(500)) >= 0.5 * full_rate
    });
    println!("healed: back at ≥ half its rate after {back_after:?} (full rate {full_rate:.0}/s)");
    assert!(
        healed.elapsed() <= BACK_WITHIN + Duration::from_millis(600),
        "back after {:?}",
        healed.elapsed()
    );
    wait_for(Duration::from_secs(20), "the learner counting it again", || connected() == 2.0);
    for (actor, _) in &mut run.actors {
        assert!(actor.child.try_wait().unwrap().is_none(), "actors keep running: {:?}", actor.output());
    }
    assert!(run.learner.child.try_wait().unwrap().is_none(), "{:?}", run.learner.output());
}

/// (2) The learner silently partitioned from every actor, then healed: all actors resume on
/// their own (no restart, no operator).
#[test]
fn actors_resume_on_their_own_after_the_learner_was_partitioned_from_all_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::new();
    let (l, a0, a1) = (network.host("l"), network.host("a0"), network.host("a1"));
    let mut run = start(dir.path(), &l, &[&a0, &a1]);
    let learner = run.learner_metrics.clone();
    wait_for(Duration::from_secs(60), "both actors connected", || {
        metric(&learner, "gfn_learner_connected_actors") == 2.0
    });
    l.partition();
    std::thread::sleep(Duration::from_secs(20));
    l.heal();
    let healed_updates = metric(&learner, "gfn_learner_updates_total");
    let accepted: Vec<f64> =
        run.actors.iter().map(|(_, m)| metric(m, "gfn_actor_trajectories_accepted_total")).collect();
    let resumed = wait_for(Duration::from_secs(30), "every actor submitting again", || {
        run.actors
            .iter()
            .zip(&accepted)
            .all(|((_, m), before)| metric(m, "gfn_actor_trajectories_accepted_total") > before + 32.0)
    });
    println!("all actors resumed {resumed:?} after the heal");
    assert!(metric(&learner, "gfn_learner_updates_total") > healed_updates);
    wait_for(Duration::from_secs(30), "both actors counted again", || {
        metric(&learner, "gfn_learner_connected_actors") == 2.0
    });
    assert!(run.learner.child.try_wait().unwrap().is_none(), "{:?}", run.learner.output());
}

/// (3) The learner SIGKILLed while an actor is silently partitioned, restarted on its address,
/// then the partition healed: the run completes, and every accepted trajectory is trained
/// exactly once — the journal holds no (actor instance, sequence) twice, batches sent again are
/// recognised as duplicates, and trained + left after the final update = accepted.
#[test]
fn a_learner_killed_during_a_partition_trains_every_accepted_trajectory_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::new();
    let (l, a0, a1) = (network.host("l"), network.host("a0"), network.host("a1"));
    let config = journaled_config(dir.path(), 6000);
    let grpc = format!("{}:50051", l.address);
    let learner_metrics = format!("{}:9100", l.address);
    let start_learner = || l.learner(&config).process;
    let mut learner = start_learner();
    let mut actors: Vec<Process> = [&a0, &a1]
        .iter()
        .enumerate()
        .map(|(i, host)| Process::spawn_with_events(host.actor(&grpc, &format!("a{i}"), None)))
        .collect();
    wait_for(Duration::from_secs(60), "1,000 updates", || {
        metric(&learner_metrics, "gfn_learner_updates_total") >= 1000.0
    });
    a1.partition();
    std::thread::sleep(Duration::from_secs(2));
    learner.signal(nix::sys::signal::Signal::SIGKILL);
    learner.wait(Duration::from_secs(10));
    let mut learner = start_learner();
    std::thread::sleep(Duration::from_secs(3));
    a1.heal();
    let finished = learner.wait_for_event(Duration::from_secs(240), |event| match event {
        Event::LearnerFinished { updates, trajectories, accepted, .. } => {
            Some((*updates, *trajectories, *accepted))
        }
        _ => None,
    });
    let duplicates = metric(&learner_metrics, "gfn_learner_trajectories_duplicate_total");
    assert!(learner.wait(Duration::from_secs(30)).success(), "{:?}", learner.output());
    for actor in &mut actors {
        assert!(actor.wait(Duration::from_secs(60)).success(), "{:?}", actor.output());
    }
    let (updates, trained, accepted) = finished;
    let accepted = accepted.expect("journaled run");
    assert_eq!(updates, 6000);
    let origins = journal_origins(&dir.path().join("checkpoints/journal"));
    assert_eq!(origins.len() as u64, accepted, "the journal holds every accepted trajectory");
    let mut seen = std::collections::HashSet::new();
    for origin in &origins {
        assert!(origin.0 != 0 && origin.1 != 0, "actors number their trajectories: {origin:?}");
        assert!(seen.insert(*origin), "accepted twice: {origin:?}");
    }
    let left_over = learner
        .output()
        .iter()
        .find_map(|line| line.split(" trained on, ").nth(1)?.split(' ').next()?.parse::<u64>().ok())
        .expect("the learner reports what is left after the final update");
    println!(
        "accepted {accepted}, trained {trained}, left after the final update {left_over}, \
         duplicates recognised after the restart {duplicates}"
    );
    assert_eq!(
        trained + left_over,
        accepted,
        "every accepted trajectory trained once (or left after the end)"
    );
}

/// Longest time 32 actors may take to be back after the learner restarts.
const ALL_BACK_WITHIN: Duration = Duration::from_secs(45);

/// (4) 32 actor processes (on their own host) reconnect after a learner restart on its own
/// host: all back within ALL_BACK_WITHIN, no call refused for overload on the way, and their
/// back-off pauses visibly jittered (each actor's own pauses, from its metrics, differ).
#[test]
fn thirty_two_actors_all_reconnect_after_a_learner_restart_without_overload() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::new();
    let (l, a) = (network.host("l"), network.host("a"));
    let config = journaled_config(dir.path(), 10_000_000);
    let grpc = format!("{}:50051", l.address);
    let learner_metrics = format!("{}:9100", l.address);
    let start_learner = || l.learner(&config).process;
    let connected = || metric(&learner_metrics, "gfn_learner_connected_actors");
    let mut learner = start_learner();
    let actors: Vec<Process> =
        (0..32).map(|i| Process::spawn(a.actor(&grpc, &format!("a{i}"), Some(9200 + i)))).collect();
    let actor_metrics: Vec<String> = (0..32).map(|i| format!("{}:{}", a.address, 9200 + i)).collect();
    wait_for(Duration::from_secs(120), "32 actors connected", || connected() >= 32.0);
    // past the first checkpoint (500 updates), so the restarted learner resumes the same run and
    // the actors keep their registrations
    wait_for(Duration::from_secs(120), "the first checkpoint", || {
        metric(&learner_metrics, "gfn_learner_checkpoints_total") >= 1.0
    });
    learner.signal(nix::sys::signal::Signal::SIGKILL);
    learner.wait(Duration::from_secs(10));
    let restarted = Instant::now();
    let mut learner = start_learner();
    learner.wait_for_event(Duration::from_secs(10), |e| matches!(e, Event::Resumed { .. }).then_some(()));
    let back = wait_for(ALL_BACK_WITHIN, "all 32 actors back", || connected() >= 32.0);
    let limited: f64 = scrape(&learner_metrics)
        .iter()
        .filter(|(name, _)| name.starts_with("gfn_learner_limited_total"))
        .map(|(_, value)| value)
        .sum();
    println!(
        "32 actors back {back:?} after the restarted learner listened ({:?} after the kill)",
        restarted.elapsed()
    );
    assert_eq!(limited, 0.0, "no call refused for overload");
    // every actor waited out its own pauses: the sums differ from actor to actor
    let pauses: Vec<(f64, f64)> = actor_metrics
        .iter()
        .map(|m| {
            let sample = scrape(m);
            let get = |k: &str| sample.get(k).copied().unwrap_or(0.0);
            (get("gfn_actor_backoff_pause_seconds_count"), get("gfn_actor_backoff_pause_seconds_sum"))
        })
        .collect();
    let paused: Vec<f64> = pauses.iter().filter(|(count, _)| *count > 0.0).map(|(_, sum)| *sum).collect();
    let distinct: std::collections::BTreeSet<u64> = paused.iter().map(|s| (s * 1e6) as u64).collect();
    println!(
        "{} of 32 actors paused before reconnecting; {} distinct pause totals, {:.3}–{:.3} s",
        paused.len(),
        distinct.len(),
        paused.iter().copied().fold(f64::INFINITY, f64::min),
        paused.iter().copied().fold(0.0, f64::max)
    );
    assert!(paused.len() >= 16, "most actors backed off: {pauses:?}");
    assert!(distinct.len() * 10 >= paused.len() * 9, "pauses jittered: {paused:?}");
    assert!(metric(&learner_metrics, "gfn_learner_trajectories_accepted_total") > 0.0);
    drop(learner);
    drop(actors);
}
