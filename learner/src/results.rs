//! Results of a fragment-molecule run: every generated molecule goes into a SQLite database
//! (SMILES, canonical key, proxy, reward, policy version, actor, time), and running statistics
//! are kept for the metrics: the average reward of the top 10/100/1000 distinct molecules, the
//! number of modes and the fraction of unique molecules.
//!
//! Reward in these statistics is the paper's reported scale, `max(proxy, R_min) / norm`
//! (before the exponent β, so that runs with different β compare). A mode is a distinct
//! molecule with `proxy ≥ mode_threshold` whose ECFP4 Tanimoto similarity to every earlier
//! mode is below `mode_max_similarity`.
//!
//! The recorder runs on its own thread: the gRPC handlers hand it accepted trajectories
//! through a bounded channel and never wait for it (a full channel drops and counts). On a
//! restart it rebuilds its statistics from the database, so a resumed run keeps counting.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::Context;
use chematic::fp::bitvec::BitVec2048;
use chematic::fp::ecfp::ecfp4;
use rusqlite::{Connection, params};
use rustc_hash::FxHashMap;
use serde::Serialize;

use gfn_common::config::FragmentConfig;
use gfn_common::env::FragmentEnvironment;
use gfn_common::env::conditioned::ConditionedState;
use gfn_common::env::junction_tree::BlockTree;
use gfn_common::env::molecule::canonical_smiles;
use gfn_common::reward::SehRewardSettings;

use crate::metrics as m;

/// An accepted trajectory's terminal object, on its way to the results database.
#[derive(Debug, Clone)]
pub struct Generated<S> {
    /// The terminal state.
    pub terminal: S,
    /// The reward model's raw output reported by the actor.
    pub score: Option<f64>,
    /// `log R(x)` as trained on.
    pub log_reward: f64,
    /// Policy version that sampled it.
    pub policy_version: u64,
    /// The actor that sent it.
    pub actor_id: u64,
    /// Seconds since the Unix epoch when the learner accepted it.
    pub received_at: f64,
    /// The reward exponent β the trajectory was conditioned on (reward-conditioned runs).
    pub reward_exponent: Option<f64>,
}

impl<S> Generated<S> {
    /// The same record with its terminal object mapped (e.g. a conditioned state to its tree).
    pub fn map_terminal<T>(self, f: impl FnOnce(S) -> T) -> Generated<T> {
        Generated {
            terminal: f(self.terminal),
            score: self.score,
            log_reward: self.log_reward,
            policy_version: self.policy_version,
            actor_id: self.actor_id,
            received_at: self.received_at,
            reward_exponent: self.reward_exponent,
        }
    }
}

/// Where the gRPC handlers hand accepted terminal objects of an environment's states; `false`
/// when the record was dropped (the recorder's queue is full).
pub type ResultsSink<S> = Box<dyn Fn(Generated<S>) -> bool + Send + Sync>;

/// The sink of a plain fragment-molecule run.
pub fn molecule_sink(sender: crossbeam_channel::Sender<Generated<BlockTree>>) -> ResultsSink<BlockTree> {
    Box::new(move |generated| sender.try_send(generated).is_ok())
}

/// The sink of a reward-conditioned fragment-molecule run: records the tree and its `β`.
pub fn conditioned_molecule_sink(
    sender: crossbeam_channel::Sender<Generated<BlockTree>>,
    exponents: Vec<f64>,
) -> ResultsSink<ConditionedState<BlockTree>> {
    Box::new(move |generated| {
        let beta = generated.terminal.exponent.map(|k| exponents[k as usize]);
        let mut generated = generated.map_terminal(|state| state.state);
        generated.reward_exponent = beta;
        sender.try_send(generated).is_ok()
    })
}

/// Capacity of the channel into the recorder.
pub const RESULTS_QUEUE: usize = 65_536;

/// Running statistics over the molecules generated so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MoleculeStats {
    /// Molecules generated (every accepted trajectory).
    pub molecules: u64,
    /// Distinct molecules (canonical SMILES).
    pub distinct: u64,
    /// `distinct / molecules`.
    pub unique_fraction: f64,
    /// Average reward of the 10 best distinct molecules.
    pub top10_reward: f64,
    /// … of the 100 best.
    pub top100_reward: f64,
    /// … of the 1000 best.
    pub top1000_reward: f64,
    /// Modes found (see the module docs).
    pub modes: u64,
    /// Best proxy value seen.
    pub best_proxy: f64,
}

/// The statistics' state.
struct Tracker {
    settings: SehRewardSettings,
    mode_max_similarity: f64,
    reward_of: FxHashMap<String, f64>,
    /// The best 1000 distinct rewards (a min-heap).
    best: BinaryHeap<Reverse<OrderedReward>>,
    mode_fingerprints: Vec<BitVec2048>,
    stats: MoleculeStats,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedReward(f64);
impl Eq for OrderedReward {}
impl PartialOrd for OrderedReward {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrderedReward {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

const TOP: usize = 1000;

impl Tracker {
    fn new(config: &FragmentConfig) -> Self {
        Self {
            settings: config.reward_settings(),
            mode_max_similarity: config.mode_max_similarity,
            reward_of: FxHashMap::default(),
            best: BinaryHeap::new(),
            mode_fingerprints: Vec::new(),
            stats: MoleculeStats::default(),
        }
    }

    /// Counts one molecule; `fingerprint` is computed only for candidate modes.
    fn add(&mut self, smiles: &str, proxy: f64, fingerprint: impl FnOnce() -> Option<BitVec2048>) {
        self.stats.molecules += 1;
        if self.stats.molecules == 1 || proxy > self.stats.best_proxy {
            self.stats.best_proxy = proxy;
        }
        if !self.reward_of.contains_key(smiles) {
            let reward = self.settings.normalized_reward(proxy);
            self.reward_of.insert(smiles.to_string(), reward);
            self.stats.distinct += 1;
            self.best.push(Reverse(OrderedReward(reward)));
            if self.best.len() > TOP {
                self.best.pop();
            }
            if proxy >= self.settings.mode_threshold
                && let Some(fp) = fingerprint()
                && self.mode_fingerprints.iter().all(|m| m.tanimoto(&fp) < self.mode_max_similarity)
            {
                self.mode_fingerprints.push(fp);
                self.stats.modes += 1;
            }
        }
    }

    fn refresh(&mut self) -> MoleculeStats {
        let mut rewards: Vec<f64> = self.best.iter().map(|r| r.0.0).collect();
        rewards.sort_by(|a, b| b.total_cmp(a));
        let top = |k: usize| {
            let n = rewards.len().min(k);
            if n == 0 { 0.0 } else { rewards[..n].iter().sum::<f64>() / k as f64 }
        };
        let s = &mut self.stats;
        s.unique_fraction = if s.molecules == 0 { 0.0 } else { s.distinct as f64 / s.molecules as f64 };
        s.top10_reward = top(10);
        s.top100_reward = top(100);
        s.top1000_reward = top(1000);
        s.clone()
    }
}

/// The recorder thread's handle: its input, its statistics and the thread.
pub struct ResultsRecorder {
    /// Where the service sends accepted trajectories.
    pub sender: crossbeam_channel::Sender<Generated<BlockTree>>,
    /// The latest statistics.
    pub stats: Arc<Mutex<MoleculeStats>>,
    /// Ends when every sender is dropped and the queue is drained.
    pub thread: JoinHandle<anyhow::Result<()>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS molecules (
    id INTEGER PRIMARY KEY,
    smiles TEXT NOT NULL,          -- canonical SMILES (chematic), the molecule's key
    canonical_key TEXT NOT NULL,   -- canonical junction tree (JSON), the state's key
    proxy REAL,                    -- raw sEH proxy output computed by the actor
    reward REAL NOT NULL,          -- R(x) as trained on, exponent included
    log_reward REAL NOT NULL,
    policy_version INTEGER NOT NULL,
    actor_id INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    created_at REAL NOT NULL,      -- Unix seconds when the learner accepted it
    reward_exponent REAL           -- β of a reward-conditioned run (NULL otherwise)
);
CREATE INDEX IF NOT EXISTS molecules_smiles ON molecules (smiles);
";

/// Adds the columns that later versions introduced to a database an earlier one created.
fn migrate(connection: &Connection) -> rusqlite::Result<()> {
    let mut statement = connection.prepare("SELECT name FROM pragma_table_info('molecules')")?;
    let columns = statement.query_map([], |row| row.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    if !columns.iter().any(|c| c == "reward_exponent") {
        connection.execute_batch("ALTER TABLE molecules ADD COLUMN reward_exponent REAL")?;
    }
    Ok(())
}

/// Opens (or creates) the database at `path`, rebuilds the statistics from it and starts the
/// recorder thread. With no path, statistics are kept without a database.
pub fn start(
    env: FragmentEnvironment,
    config: &FragmentConfig,
    path: Option<&Path>,
    run_id: String,
) -> anyhow::Result<ResultsRecorder> {
    let mut tracker = Tracker::new(config);
    let connection = match path {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let connection = Connection::open(path)
                .with_context(|| format!("opening results database {}", path.display()))?;
            connection
                .execute_batch(SCHEMA)
                .with_context(|| format!("creating the schema of {}", path.display()))?;
            migrate(&connection).with_context(|| format!("updating the schema of {}", path.display()))?;
            rebuild(&connection, &mut tracker).with_context(|| format!("reading {}", path.display()))?;
            Some(connection)
        }
        None => None,
    };
    let stats = Arc::new(Mutex::new(tracker.refresh()));
    publish(&stats.lock().expect("fresh mutex"));
    let (sender, receiver) = crossbeam_channel::bounded(RESULTS_QUEUE);
    let shared = Arc::clone(&stats);
    let thread = std::thread::Builder::new()
        .name("gfn-learner-results".into())
        .spawn(move || record(env, connection, tracker, receiver, shared, run_id))?;
    Ok(ResultsRecorder { sender, stats, thread })
}

fn rebuild(connection: &Connection, tracker: &mut Tracker) -> rusqlite::Result<()> {
    let mut statement = connection.prepare("SELECT smiles, proxy FROM molecules ORDER BY id")?;
    let rows =
        statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<f64>>(1)?)))?;
    for row in rows {
        let (smiles, proxy) = row?;
        let fingerprint = || chematic::smiles::parse(&smiles).ok().map(|m| ecfp4(&m));
        tracker.add(&smiles, proxy.unwrap_or(f64::NEG_INFINITY), fingerprint);
    }
    Ok(())
}

fn record(
    env: FragmentEnvironment,
    mut connection: Option<Connection>,
    mut tracker: Tracker,
    receiver: crossbeam_channel::Receiver<Generated<BlockTree>>,
    shared: Arc<Mutex<MoleculeStats>>,
    run_id: String,
) -> anyhow::Result<()> {
    let mut batch = Vec::new();
    while let Ok(first) = receiver.recv() {
        batch.clear();
        batch.push(first);
        batch.extend(receiver.try_iter().take(4095));
        let transaction = match connection.as_mut() {
            Some(c) => Some(c.transaction()?),
            None => None,
        };
        {
            let mut insert = match &transaction {
                Some(t) => Some(t.prepare_cached(
                    "INSERT INTO molecules (smiles, canonical_key, proxy, reward, log_reward, policy_version,
                     actor_id, run_id, created_at, reward_exponent)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?),
                None => None,
            };
            for generated in &batch {
                let molecule = match env.molecule(&generated.terminal) {
                    Ok(molecule) => molecule,
                    Err(error) => {
                        // replay accepted it, so the tree is valid: this would be a bug
                        tracing::error!(%error, "a replayed junction tree does not assemble");
                        continue;
                    }
                };
                let smiles = canonical_smiles(&molecule);
                let proxy = generated.score.unwrap_or(f64::NEG_INFINITY);
                tracker.add(&smiles, proxy, || Some(ecfp4(&molecule)));
                if let Some(insert) = insert.as_mut() {
                    insert.execute(params![
                        smiles,
                        serde_json::to_string(&generated.terminal)?,
                        generated.score,
                        generated.log_reward.exp(),
                        generated.log_reward,
                        generated.policy_version as i64,
                        generated.actor_id as i64,
                        run_id,
                        generated.received_at,
                        generated.reward_exponent,
                    ])?;
                }
            }
        }
        if let Some(transaction) = transaction {
            transaction.commit()?;
        }
        metrics::counter!(m::MOLECULES_STORED).increment(batch.len() as u64);
        let stats = tracker.refresh();
        publish(&stats);
        *shared.lock().unwrap_or_else(|p| p.into_inner()) = stats;
    }
    Ok(())
}

fn publish(stats: &MoleculeStats) {
    metrics::gauge!(m::MOLECULES_DISTINCT).set(stats.distinct as f64);
    metrics::gauge!(m::UNIQUE_FRACTION).set(stats.unique_fraction);
    metrics::gauge!(m::TOP_K_REWARD, "k" => "10").set(stats.top10_reward);
    metrics::gauge!(m::TOP_K_REWARD, "k" => "100").set(stats.top100_reward);
    metrics::gauge!(m::TOP_K_REWARD, "k" => "1000").set(stats.top1000_reward);
    metrics::gauge!(m::MOLECULE_MODES).set(stats.modes as f64);
    metrics::gauge!(m::BEST_PROXY).set(stats.best_proxy);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_modes_and_uniqueness() {
        let config = FragmentConfig { mode_threshold: 7.0, ..FragmentConfig::default() };
        let mut tracker = Tracker::new(&config);
        fn fp(s: &str) -> impl FnOnce() -> Option<BitVec2048> + '_ {
            move || chematic::smiles::parse(s).ok().map(|m| ecfp4(&m))
        }
        tracker.add("CCO", 8.0, fp("CCO"));
        tracker.add("CCO", 8.0, fp("CCO")); // duplicate: counted, not distinct
        tracker.add("CCCO", 7.5, fp("CCCO")); // similar to CCO? ECFP4 decides
        tracker.add("c1ccccc1N", 9.0, fp("c1ccccc1N"));
        tracker.add("C", -1.0, fp("C"));
        let stats = tracker.refresh();
        assert_eq!(stats.molecules, 5);
        assert_eq!(stats.distinct, 4);
        assert!((stats.unique_fraction - 0.8).abs() < 1e-12);
        // top 10 of 4 distinct rewards: (9 + 8 + 7.5 + 0.1) / 8 / 10
        assert!((stats.top10_reward - (9.0 + 8.0 + 7.5 + 0.1) / 8.0 / 10.0).abs() < 1e-12);
        let similarity = ecfp4(&chematic::smiles::parse("CCO").unwrap())
            .tanimoto(&ecfp4(&chematic::smiles::parse("CCCO").unwrap()));
        let expected_modes = if similarity < 0.7 { 3 } else { 2 };
        assert_eq!(stats.modes, expected_modes, "Tanimoto(CCO, CCCO) = {similarity}");
        assert_eq!(stats.best_proxy, 9.0);
    }

    #[test]
    fn a_database_of_an_earlier_schema_gains_the_reward_exponent_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE molecules (id INTEGER PRIMARY KEY, smiles TEXT NOT NULL, canonical_key TEXT NOT NULL,
             proxy REAL, reward REAL NOT NULL, log_reward REAL NOT NULL, policy_version INTEGER NOT NULL,
             actor_id INTEGER NOT NULL, run_id TEXT NOT NULL, created_at REAL NOT NULL);
             INSERT INTO molecules (smiles, canonical_key, proxy, reward, log_reward, policy_version, actor_id,
             run_id, created_at) VALUES ('CCO', '{}', 7.9, 1.0, 0.0, 1, 1, 'run', 0.0);",
        )
        .unwrap();
        drop(old);
        let connection = Connection::open(&path).unwrap();
        connection.execute_batch(SCHEMA).unwrap();
        migrate(&connection).unwrap();
        migrate(&connection).unwrap(); // idempotent
        let (smiles, beta): (String, Option<f64>) = connection
            .query_row("SELECT smiles, reward_exponent FROM molecules", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((smiles.as_str(), beta), ("CCO", None));
        connection
            .execute(
                "INSERT INTO molecules (smiles, canonical_key, reward, log_reward, policy_version, actor_id,
                 run_id, created_at, reward_exponent) VALUES ('CC', '{}', 1.0, 0.0, 2, 1, 'run', 1.0, 4.0)",
                [],
            )
            .unwrap();
    }
}
