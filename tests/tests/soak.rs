//! The fault-injection soak (not part of the test suite: `scripts/soak`, docs/RELIABILITY.md).
//!
//! A learner with a run token and three actors, each on its own host (network namespaces on a
//! bridge, made by the soak: it runs as root), train the 2-D grid (H = 8) for
//! `GFN_SOAK_UPDATES` updates (default 24,000; actors slowed by a 5 ms reward latency, so the run
//! lasts about eleven minutes) while the soak
//! - SIGKILLs a random actor every `GFN_SOAK_ACTOR_KILL_SECONDS` (20) and starts a replacement,
//! - SIGKILLs the learner every `GFN_SOAK_LEARNER_KILL_SECONDS` (90) and restarts it on the same
//!   address (it resumes from its newest valid checkpoint; actors reconnect),
//! - every `GFN_SOAK_PARTITION_SECONDS` (45) silently partitions a random actor's host for 5–20 s
//!   (its link down: no FIN, no RST) and heals it, timing how long the actor takes to be accepted
//!   again,
//! - every 2 s sends bad input: a call without the token, one with a wrong token, a batch with an
//!   invalid action and a NaN reward, an oversized message, and raw garbage on the gRPC port,
//! - samples the learner's resident memory every second.
//!
//! Then it checks: the run finished; every checkpoint left verifies (checksum); every bad input
//! got its documented status and none was trained on; the learner's memory stayed under
//! `GFN_SOAK_MEMORY_MIB` (1,024); the final exact L1 is within 0.03 of an undisturbed
//! single-process run of the same configuration (or ≤ 0.05); and it reports the trajectories the
//! actors saw accepted against those the learner trained on. It prints one JSON line of figures.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use gfn_proto::v1::{self, learner_client::LearnerClient};
use rand::{RngExt, SeedableRng};
use support::netns::{Host, Network};
use support::{Event, LearnerProcess, Process, binary, journal_origins, scrape, write_config};
use tonic::Code;
use tonic::metadata::MetadataValue;

const TOKEN: &str = "soak-token-0123456789abcdef";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// An actor on `host` with its metrics on the host's port 9100, carrying the run token.
fn start_actor(host: &Host, address: &str, name: &str) -> Process {
    let mut command = host.actor(address, name, Some(9100));
    command.env("GFN_RUN_TOKEN", TOKEN);
    Process::spawn_with_events(command)
}

/// An actor's accepted count (its metrics endpoint), if it answers.
fn accepted_by(host: &Host) -> Option<f64> {
    let address: std::net::SocketAddr = format!("{}:9100", host.address).parse().unwrap();
    TcpStream::connect_timeout(&address, Duration::from_millis(500)).ok()?;
    scrape(&address.to_string()).get("gfn_actor_trajectories_accepted_total").copied()
}

/// "… N accepted in the run so far" from a learner's start-up lines.
fn journal_base(learner: &LearnerProcess) -> u64 {
    learner
        .process
        .events()
        .iter()
        .find_map(|e| match e {
            Event::Journal { accepted, .. } => Some(*accepted),
            _ => None,
        })
        .expect("the learner reports its journal")
}

/// "gfn-learner journal: A trajectories accepted in the run, C trained on, L after …".
fn journal_totals(output: &[String]) -> (u64, u64, u64) {
    let line =
        output.iter().find(|l| l.contains("trajectories accepted in the run")).expect("journal totals");
    let numbers: Vec<u64> = line
        .trim_start_matches("gfn-learner journal: ")
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1], numbers[2])
}

fn resident_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

/// Counts of the bad inputs sent and of the answers that were as documented.
#[derive(Debug, Default)]
struct BadInputs {
    sent: u64,
    answered_as_documented: u64,
    connection_failures: u64,
}

async fn inject_bad_inputs(address: &str, counts: &mut BadInputs) {
    let Ok(channel) =
        tonic::transport::Endpoint::from_shared(format!("http://{address}")).unwrap().connect().await
    else {
        counts.connection_failures += 1; // the learner is restarting
        return;
    };
    let with = |token: Option<&str>| {
        let header = token.map(|t| format!("Bearer {t}").parse::<MetadataValue<_>>().unwrap());
        LearnerClient::with_interceptor(channel.clone(), move |mut request: tonic::Request<()>| {
            if let Some(header) = &header {
                request.metadata_mut().insert("authorization", header.clone());
            }
            Ok(request)
        })
        .max_encoding_message_size(64 << 20)
    };
    let register = support::register_request("soak-intruder");
    let expect = |result: Result<(), Code>, code: Code, counts: &mut BadInputs| {
        counts.sent += 1;
        match result {
            Err(got) if got == code => counts.answered_as_documented += 1,
            Err(Code::Unavailable) => counts.connection_failures += 1,
            other => panic!("expected {code:?}, got {other:?}"),
        }
    };
    let unauthenticated = with(None).register(register.clone()).await.map(|_| ()).map_err(|s| s.code());
    expect(unauthenticated, Code::Unauthenticated, counts);
    let wrong =
        with(Some("not-the-token-0000")).register(register.clone()).await.map(|_| ()).map_err(|s| s.code());
    expect(wrong, Code::Unauthenticated, counts);
    let Ok(registration) = with(Some(TOKEN)).register(register).await else {
        counts.connection_failures += 1;
        return;
    };
    let registration = registration.into_inner();
    let batch = |trajectories: Vec<v1::Trajectory>| v1::TrajectoryBatch {
        run_id: registration.run_id.clone(),
        actor_id: registration.actor_id,
        trajectories,
        actor_instance: 0,
    };
    let bad = vec![
        v1::Trajectory { actions: vec![0, 9, 2], log_reward: -1.0, ..Default::default() },
        v1::Trajectory { actions: vec![0, 2], log_reward: f64::NAN, ..Default::default() },
    ];
    let invalid = with(Some(TOKEN)).submit_trajectories(batch(bad)).await.map(|_| ()).map_err(|s| s.code());
    expect(invalid, Code::InvalidArgument, counts);
    let huge = vec![v1::Trajectory { actions: vec![0; 400_000], log_reward: -1.0, ..Default::default() }; 4];
    let oversized =
        with(Some(TOKEN)).submit_trajectories(batch(huge)).await.map(|_| ()).map_err(|s| s.code());
    expect(oversized, Code::OutOfRange, counts);
    // raw garbage on the port: not HTTP/2 at all
    if let Ok(mut stream) = TcpStream::connect(address) {
        let _ = stream.write_all(b"GET / HTTP/1.1\r\n\r\n\x00\xff\xfe garbage \x16\x03\x01");
        counts.sent += 1;
        counts.answered_as_documented += 1; // the check is that the learner keeps serving
    }
}

#[test]
#[ignore = "the soak runs for about ten minutes: scripts/soak"]
fn soak() {
    let updates: u64 = env_or("GFN_SOAK_UPDATES", 24_000);
    let actor_kill_every = Duration::from_secs(env_or("GFN_SOAK_ACTOR_KILL_SECONDS", 20));
    let learner_kill_every = Duration::from_secs(env_or("GFN_SOAK_LEARNER_KILL_SECONDS", 90));
    let memory_bound_mib: f64 = env_or("GFN_SOAK_MEMORY_MIB", 1024.0);
    let partition_every = Duration::from_secs(env_or("GFN_SOAK_PARTITION_SECONDS", 45));
    let dir = tempfile::tempdir().unwrap();
    let checkpoints = dir.path().join("checkpoints");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let config = write_config(
        dir.path(),
        "soak.toml",
        &format!(
            "seed = 3\n[env]\ntype = \"hypergrid\"\nndim = 2\nheight = 8\n\
             [training]\nupdates = {updates}\n\
             [evaluation]\ninterval_updates = 500\nempirical_samples = 0\n\
             [checkpoint]\ndir = {checkpoints:?}\ninterval_updates = 500\ninterval_seconds = 5\nkeep = 100000\n\
             [learner]\nlinger_seconds = 3.0\nmax_message_bytes = 1048576\nweights_chunk_bytes = 65536\n\
             [actor]\nreward_sleep_cost_ms = 5.0\n\
             [security]\ntoken_file = {token_file:?}\n"
        ),
    );
    let mut network = Network::new();
    let learner_host = network.host("l");
    let actor_hosts: Vec<Host> = (0..3).map(|i| network.host(&format!("a{i}"))).collect();
    let address = format!("{}:50051", learner_host.address);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);

    let started = Instant::now();
    let mut learner = learner_host.learner(&config);
    let mut lives = vec![learner.process.output()];
    let mut actors: Vec<Process> = actor_hosts
        .iter()
        .enumerate()
        .map(|(i, host)| start_actor(host, &address, &format!("soak-{i}")))
        .collect();
    // (host, healed at) while partitioned; (host, healed at, accepted then) while recovering
    let mut partitioned: Option<(usize, Instant)> = None;
    let mut recovering: Option<(usize, Instant, f64)> = None;
    let mut partitions = 0u64;
    let mut recoveries: Vec<f64> = Vec::new();
    let mut last_partition = Instant::now();
    let mut duplicates_recognised = 0.0;
    let mut next_actor = 3;
    let mut resumes = 0u64;
    let (mut actor_kills, mut learner_kills) = (0u64, 0u64);
    let mut bad = BadInputs::default();
    let mut max_rss: f64 = 0.0;
    let mut trained_before_kills = Vec::new();
    // (published version at the kill, update resumed at, trajectories queued at the kill)
    let mut rollbacks: Vec<(u64, u64, u64)> = Vec::new();
    // (acknowledged before a learner kill, accepted in the journal after the restart)
    let mut acknowledged_checks: Vec<(u64, u64)> = Vec::new();
    let (mut last_actor_kill, mut last_learner_kill, mut last_bad) =
        (Instant::now(), Instant::now(), Instant::now());
    let finished = loop {
        std::thread::sleep(Duration::from_millis(250));
        if let Some(rss) = resident_mib(learner.process.child.id()) {
            max_rss = max_rss.max(rss);
        }
        if learner.finished().is_some() {
            break true;
        }
        if let Some(status) = learner.process.child.try_wait().unwrap() {
            panic!("the learner exited on its own ({status}): {:?}", learner.process.output());
        }
        assert!(started.elapsed() < Duration::from_secs(3600), "the soak did not finish within an hour");
        if partitioned.is_none() && recovering.is_none() && last_partition.elapsed() >= partition_every {
            let victim = rng.random_range(0..actor_hosts.len());
            actor_hosts[victim].partition();
            partitioned = Some((victim, Instant::now() + Duration::from_secs(rng.random_range(5..=20))));
            partitions += 1;
            last_partition = Instant::now();
        }
        if let Some((victim, until)) = partitioned
            && Instant::now() >= until
        {
            actor_hosts[victim].heal();
            partitioned = None;
            recovering = Some((victim, Instant::now(), accepted_by(&actor_hosts[victim]).unwrap_or(0.0)));
        }
        if let Some((victim, healed, before)) = recovering
            && accepted_by(&actor_hosts[victim]).is_some_and(|now| now > before)
        {
            recoveries.push(healed.elapsed().as_secs_f64());
            recovering = None;
        }
        let busy =
            |i: usize| partitioned.is_some_and(|(v, _)| v == i) || recovering.is_some_and(|(v, ..)| v == i);
        if last_actor_kill.elapsed() >= actor_kill_every {
            let victim = rng.random_range(0..actors.len());
            if busy(victim) {
                continue; // not the partitioned or recovering one: its recovery is being timed
            }
            actors[victim].signal(nix::sys::signal::Signal::SIGKILL);
            actors[victim].wait(Duration::from_secs(10));
            actors[victim] = start_actor(&actor_hosts[victim], &address, &format!("soak-{next_actor}"));
            next_actor += 1;
            actor_kills += 1;
            last_actor_kill = Instant::now();
        }
        if last_learner_kill.elapsed() >= learner_kill_every {
            trained_before_kills.push(learner.metric("gfn_learner_trajectories_trained_total"));
            // acknowledged in the run so far (a lower bound: acks between scrape and kill)
            let acknowledged =
                journal_base(&learner) + learner.metric("gfn_learner_trajectories_accepted_total") as u64;
            let version = learner.metric("gfn_learner_weights_version") as u64;
            let queued = learner.metric("gfn_learner_queue_depth") as u64;
            duplicates_recognised += learner.metric("gfn_learner_trajectories_duplicate_total");
            learner.process.signal(nix::sys::signal::Signal::SIGKILL);
            learner.process.wait(Duration::from_secs(10));
            lives.push(learner.process.output());
            learner = learner_host.learner(&config);
            let resumed_at: u64 = learner
                .process
                .events()
                .iter()
                .find_map(|e| match e {
                    Event::Resumed { update, .. } => Some(*update),
                    _ => None,
                })
                .unwrap_or(0);
            resumes += (resumed_at > 0) as u64;
            rollbacks.push((version, resumed_at, queued));
            let journaled = journal_base(&learner);
            assert!(
                acknowledged <= journaled,
                "{acknowledged} trajectories acknowledged before the kill, {journaled} in the journal after it"
            );
            acknowledged_checks.push((acknowledged, journaled));
            learner_kills += 1;
            last_learner_kill = Instant::now();
        }
        if last_bad.elapsed() >= Duration::from_secs(2) {
            runtime.block_on(inject_bad_inputs(&address, &mut bad));
            last_bad = Instant::now();
        }
    };
    assert!(finished);
    if let Some((victim, _)) = partitioned {
        actor_hosts[victim].heal();
    }
    let final_metrics = learner.scrape();
    duplicates_recognised +=
        final_metrics.get("gfn_learner_trajectories_duplicate_total").copied().unwrap_or(0.0);
    // the whole journal is kept: no (actor instance, sequence) accepted twice
    let mut seen = std::collections::HashSet::new();
    let mut duplicated_after_acceptance = 0u64;
    for (instance, sequence) in journal_origins(&checkpoints.join("journal")) {
        if instance != 0 && !seen.insert((instance, sequence)) {
            duplicated_after_acceptance += 1;
        }
    }
    assert!(learner.process.wait(Duration::from_secs(60)).success(), "{:?}", learner.process.output());
    let mut accepted_by_surviving_actors = 0u64;
    for actor in &mut actors {
        assert!(actor.wait(Duration::from_secs(60)).success(), "{:?}", actor.output());
        accepted_by_surviving_actors += actor
            .events()
            .iter()
            .filter_map(|e| match e {
                Event::ActorFinished { accepted, .. } => Some(*accepted),
                _ => None,
            })
            .sum::<u64>();
    }
    let elapsed = started.elapsed();
    let output = learner.process.output();
    lives.push(output.clone());

    // every checkpoint left verifies; restarts never skipped a corrupt one
    let mut verified = 0;
    for path in gfn_common::checkpoint::list(&checkpoints).unwrap() {
        gfn_common::checkpoint::load(&path)
            .unwrap_or_else(|e| panic!("corrupt checkpoint {}: {e}", path.display()));
        verified += 1;
    }
    assert_eq!(resumes, learner_kills, "every restart resumed from a checkpoint");

    // quality against an undisturbed single-process run of the same configuration
    let evaluations = learner.evaluations();
    let soak_l1 = evaluations.last().expect("final evaluation").1;
    let reference_log = dir.path().join("reference.jsonl");
    let reference = Command::new(binary("gfn"))
        .args(["train", "--no-progress", "--config"])
        .arg(&config)
        .arg("--checkpoint-dir")
        .arg(dir.path().join("reference"))
        .arg("--log")
        .arg(&reference_log)
        .output()
        .unwrap();
    assert!(reference.status.success(), "reference run: {}", String::from_utf8_lossy(&reference.stderr));
    let last_record: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&reference_log).unwrap().lines().last().unwrap())
            .unwrap();
    let reference_l1 = last_record["exact_l1"].as_f64().expect("an exact evaluation");
    assert!(
        soak_l1 <= 0.05 || (soak_l1 - reference_l1).abs() <= 0.03,
        "final exact L1 {soak_l1} vs undisturbed {reference_l1}"
    );
    let (accepted, trained_in_lineage, after_final) = journal_totals(&output);
    assert_eq!(trained_in_lineage, updates * 16, "the final lineage trained on journaled trajectories only");
    assert_eq!(accepted, trained_in_lineage + after_final);
    assert!(max_rss <= memory_bound_mib, "learner resident memory peaked at {max_rss:.0} MiB");
    assert_eq!(bad.sent, bad.answered_as_documented + bad.connection_failures);
    let get = |name: &str| final_metrics.get(name).copied().unwrap_or(0.0);
    println!(
        "{}",
        serde_json::json!({
            "seconds": elapsed.as_secs_f64(),
            "updates": updates,
            "actor_kills": actor_kills,
            "learner_kills": learner_kills,
            "bad_inputs_sent": bad.sent,
            "bad_inputs_answered_as_documented": bad.answered_as_documented,
            "bad_inputs_during_restarts": bad.connection_failures,
            "checkpoints_verified": verified,
            "max_learner_rss_mib": max_rss,
            "final_exact_l1": soak_l1,
            "undisturbed_exact_l1": reference_l1,
            "last_life": {
                "received": get("gfn_learner_trajectories_received_total"),
                "trained": get("gfn_learner_trajectories_trained_total"),
                "stale": get("gfn_learner_trajectories_stale_total"),
                "rejected_invalid_action": get("gfn_learner_trajectories_rejected_total{reason=\"invalid_action\"}"),
                "unauthenticated_missing": get("gfn_learner_unauthenticated_total{reason=\"missing_token\"}"),
                "unauthenticated_wrong": get("gfn_learner_unauthenticated_total{reason=\"wrong_token\"}"),
                "updates_skipped": get("gfn_learner_updates_skipped_total"),
            },
            "trained_at_learner_kills": trained_before_kills,
            "updates_rolled_back": rollbacks.iter().map(|(v, r, _)| v.saturating_sub(*r)).sum::<u64>(),
            "trajectories_in_rolled_back_updates": rollbacks
                .iter()
                .map(|(v, r, q)| v.saturating_sub(*r) * 16 + q)
                .sum::<u64>(),
            "rollbacks": rollbacks,
            "acknowledged_before_kill_vs_journaled_after": acknowledged_checks,
            "journal": {
                "accepted_in_run": accepted,
                "trained_in_final_lineage": trained_in_lineage,
                "accepted_after_final_update": after_final,
            },
            "trajectories_lost_after_acceptance": acknowledged_checks.iter().map(|(a, j)| a.saturating_sub(*j)).sum::<u64>(),
            "accepted_reported_by_surviving_actors": accepted_by_surviving_actors,
            "partitions": partitions,
            "recovery_seconds_after_heal": recoveries,
            "duplicates_recognised": duplicates_recognised,
            "trajectories_duplicated_after_acceptance": duplicated_after_acceptance,
        })
    );
    assert_eq!(duplicated_after_acceptance, 0, "a trajectory was accepted twice");
    assert!(recoveries.iter().all(|&s| s <= 10.0), "an actor took long to recover: {recoveries:?}");
}
