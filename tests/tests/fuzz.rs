//! Property-based fuzzing (proptest) of what the learner takes from the outside:
//!
//! - **trajectory decoding + validation**: arbitrary bytes and mutations of the seed corpus
//!   `tests/corpus/trajectory_batches.txt` go through protobuf decoding, the wire gate
//!   (`TryFrom<v1::Trajectory>`) and rebuilding in the 2-D and 4-D grids, the conditioned grid and
//!   the 105-block fragment environment. Nothing may panic, and whatever is accepted must be a
//!   real path of the DAG: every step is an in-edge of the next state, the last state can stop.
//! - **config parsing**: arbitrary text and mutations of every shipped configuration
//!   (`configs/*.toml`, `deploy/k8s/**/run.toml`) go through `RunConfig::from_toml_str`; nothing
//!   may panic, an accepted configuration validates and round-trips through TOML.
//!
//! A short run of each is part of the test suite (256 cases); a bounded fuzzing run is
//! `PROPTEST_CASES=100000 scripts/test --test fuzz` (docs/RELIABILITY.md has the figures).
//! Property-based, not coverage-guided: cargo-fuzz (libFuzzer) needs nightly-only compiler
//! flags; proptest runs on the stable toolchain inside the ordinary test suite.

mod support;

use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use prost::Message;

use gfn_common::config::RunConfig;
use gfn_common::env::conditioned::RewardConditioned;
use gfn_common::env::fragments::FragmentLimits;
use gfn_common::env::{Environment, FragmentEnvironment, Hypergrid};
use gfn_common::task::{BuiltinTasks, Tasks};
use gfn_common::trajectory::{Trajectory, rebuild};
use gfn_proto::v1;

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root")
}

/// The seed corpus of wire-encoded trajectory batches.
fn trajectory_corpus() -> &'static Vec<Vec<u8>> {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let text = std::fs::read_to_string(repository().join("tests/corpus/trajectory_batches.txt")).unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let hex = l.split_whitespace().next().unwrap();
                (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
            })
            .collect()
    })
}

/// The shipped configurations, as text.
fn config_corpus() -> &'static Vec<String> {
    static CORPUS: OnceLock<Vec<String>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut paths: Vec<_> = std::fs::read_dir(repository().join("configs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.push(repository().join("deploy/k8s/base/run.toml"));
        paths.push(repository().join("deploy/k8s/overlays/example/run.toml"));
        paths.sort();
        paths.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
    })
}

fn fragments() -> &'static FragmentEnvironment {
    static ENV: OnceLock<FragmentEnvironment> = OnceLock::new();
    ENV.get_or_init(|| {
        FragmentEnvironment::load(&support::data::vocabulary(), FragmentLimits::default()).unwrap()
    })
}

/// Rebuilds the states of `trajectory` in `env`; an accepted one must be a real path of the DAG.
fn check_in<E: Environment>(env: &E, trajectory: &Trajectory) {
    let Ok(rebuilt) = rebuild(env, trajectory) else {
        return; // refused with a reason: fine
    };
    assert_eq!(rebuilt.states.len(), trajectory.actions.len());
    for (pair, &action) in rebuilt.states.windows(2).zip(&trajectory.actions) {
        assert!(
            env.parents(&pair[1]).iter().any(|(parent, a)| *parent == pair[0] && *a == action),
            "accepted step {action} is not an in-edge of the next state"
        );
    }
    let mut mask = vec![false; env.num_actions()];
    env.forward_mask(rebuilt.states.last().unwrap(), &mut mask);
    assert!(mask[env.stop_action() as usize], "accepted trajectory ends where it cannot stop");
    assert!(rebuilt.log_reward.is_finite());
}

/// Decodes a batch and validates every trajectory in every environment.
fn decode_and_validate(bytes: &[u8]) {
    let Ok(batch) = v1::TrajectoryBatch::decode(bytes) else {
        return;
    };
    for wire in batch.trajectories {
        let Ok(trajectory) = gfn_daemon::wire::trajectory_from_wire(wire) else {
            continue;
        };
        check_in(&Hypergrid::new(2, 8), &trajectory);
        check_in(&Hypergrid::new(4, 8), &trajectory);
        check_in(&RewardConditioned::new(Hypergrid::new(2, 8), vec![1.0, 2.0]), &trajectory);
        check_in(fragments(), &trajectory);
    }
}

/// Flips, inserts and deletes bytes of `seed` at the given positions.
fn mutate(seed: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for &(at, kind, value) in edits {
        let at = if bytes.is_empty() { 0 } else { at % (bytes.len() + 1) };
        match kind % 3 {
            0 if at < bytes.len() => bytes[at] ^= value,
            1 => bytes.insert(at, value),
            _ if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => {}
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_crash_trajectory_validation(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_and_validate(&bytes);
    }

    #[test]
    fn mutated_corpus_batches_never_crash_trajectory_validation(
        seed in 0usize..64,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..8),
    ) {
        let corpus = trajectory_corpus();
        decode_and_validate(&mutate(&corpus[seed % corpus.len()], &edits));
    }

    #[test]
    fn random_action_sequences_are_accepted_only_as_real_paths(
        actions in proptest::collection::vec(0u32..12, 1..24),
        log_reward in -50.0f64..5.0,
    ) {
        let trajectory = Trajectory { actions: actions.clone(), log_reward, ..Default::default() };
        check_in(&Hypergrid::new(2, 8), &trajectory);
        check_in(&Hypergrid::new(4, 8), &trajectory);
        check_in(&RewardConditioned::new(Hypergrid::new(2, 8), vec![1.0, 2.0]), &trajectory);
    }

    #[test]
    fn random_fragment_action_sequences_are_accepted_only_as_real_paths(
        actions in proptest::collection::vec(prop_oneof![0u32..105, 0u32..3571, Just(3570u32)], 1..10),
    ) {
        let trajectory = Trajectory { actions, log_reward: -1.0, score: Some(4.0), ..Default::default() };
        check_in(fragments(), &trajectory);
    }

    #[test]
    fn arbitrary_text_never_crashes_config_parsing(text in "\\PC{0,400}") {
        if let Ok(config) = checked(&text, None) {
            prop_assert_eq!(checked(&config.to_toml_string(), None).unwrap(), config);
        }
    }

    #[test]
    fn mutated_shipped_configs_parse_or_fail_cleanly(
        seed in 0usize..64,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..6),
        line_edits in proptest::collection::vec((any::<usize>(), "[a-z_.]{1,12} = [-0-9.e\"a-z]{0,8}"), 0..3),
    ) {
        let corpus = config_corpus();
        let seed = &corpus[seed % corpus.len()];
        let mut lines: Vec<String> = seed.lines().map(str::to_string).collect();
        for (at, line) in &line_edits {
            let at = at % (lines.len() + 1);
            if at < lines.len() && at.is_multiple_of(2) {
                lines[at] = line.clone();
            } else {
                lines.insert(at, line.clone());
            }
        }
        let bytes = mutate(lines.join("\n").as_bytes(), &edits);
        let text = String::from_utf8_lossy(&bytes);
        match checked(&text, None) {
            Ok(config) => {
                prop_assert!(BuiltinTasks::default().validate(&config).is_ok());
                prop_assert_eq!(checked(&config.to_toml_string(), None).unwrap(), config);
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }
}

#[test]
fn the_seed_corpora_hold_accepted_and_refused_inputs() {
    let corpus = trajectory_corpus();
    assert!(corpus.len() >= 10);
    let grid = Hypergrid::new(2, 8);
    let accepted = corpus
        .iter()
        .filter_map(|b| v1::TrajectoryBatch::decode(b.as_slice()).ok())
        .flat_map(|b| b.trajectories)
        .filter_map(|w| gfn_daemon::wire::trajectory_from_wire(w).ok())
        .filter(|t| rebuild(&grid, t).is_ok())
        .count();
    assert!(accepted >= 3, "valid grid trajectories in the corpus: {accepted}");
    for text in config_corpus() {
        checked(text, None).expect("every shipped configuration parses");
    }
}

/// Parsed and validated against the built-in tasks, as the programs do.
fn checked(
    text: &str,
    origin: Option<&std::path::Path>,
) -> Result<RunConfig, gfn_common::config::ConfigError> {
    BuiltinTasks::default().config_from_str(text, origin, &[])
}
