//! Results of a fragment-molecule run: every generated molecule goes into a SQLite database
//! (SMILES, canonical key, proxy, reward, policy version, actor, time), and running statistics
//! are kept for the metrics ([`super::stats`]: top-k in proxy and reward units, modes
//! at several thresholds, scaffolds, diversity).
//!
//! Every `evaluation.milestone_molecules` molecules the recorder writes a milestone record
//! (`"milestone": molecules`) with every statistic, the diversity of the top 1000 included,
//! to the run's JSON-lines log: statistics at exactly 10k, 20k, … molecules generated, the
//! axis the paper reports on.
//!
//! The recorder runs on its own thread: the gRPC handlers hand it accepted trajectories
//! through a bounded channel and never wait for it (a full channel drops and counts). On a
//! restart it rebuilds its statistics from the database, so a resumed run keeps counting.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use serde::Serialize;

use super::FragmentConfig;
use super::metrics as m;
use super::stats::{FromSmiles, MoleculeStats, Tracker};
use crate::env::FragmentEnvironment;
use crate::env::junction_tree::BlockTree;
use crate::env::molecule::canonical_smiles;
use crate::task::TaskError;
use crate::task::evaluation::SharedLog;
use crate::task::results::Generated;

/// Capacity of the channel into the recorder.
pub const RESULTS_QUEUE: usize = 65_536;

/// Between milestones, the diversity of the top 1000 is recomputed at most this often.
const DIVERSITY_INTERVAL: Duration = Duration::from_secs(10);

/// The statistics at a number of molecules generated, as written to the JSON-lines log.
#[derive(Debug, Clone, Serialize)]
pub struct MilestoneRecord {
    /// Molecules generated (equal to `molecules`): marks the record as a milestone.
    pub milestone: u64,
    /// Seconds since the recorder started (the learner's start).
    pub wall_seconds: f64,
    /// Every statistic.
    #[serde(flatten)]
    pub molecules: MoleculeStats,
}

/// Where and how often milestones are recorded.
pub struct Milestones {
    /// Every this many molecules (0: never).
    pub interval: u64,
    /// The run's JSON-lines log.
    pub log: Option<SharedLog>,
}

/// The recorder thread's handle: its input, its statistics and the thread.
pub struct MoleculeRecorder {
    /// Where the service sends accepted trajectories.
    pub sender: crossbeam_channel::Sender<Generated<BlockTree>>,
    /// The latest statistics.
    pub stats: Arc<Mutex<MoleculeStats>>,
    /// Ends when every sender is dropped and the queue is drained.
    pub thread: JoinHandle<Result<(), TaskError>>,
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
    reward_exponent REAL,          -- β of a reward-conditioned run (NULL otherwise)
    reward_model TEXT,             -- name@version of the reward service that scored it (NULL: built in)
    condition TEXT,                -- JSON [w_1, ..., w_n, beta] of a preference-conditioned run
    objectives TEXT,               -- JSON normalised objectives, in conditioning.objectives order
    raw_objectives TEXT,           -- JSON raw objectives (sEH proxy, QED, SA score, MW, ...)
    objective_sources TEXT         -- JSON, per objective: 'builtin' or '<service>:<model>@<version>'
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
    for column in ["reward_model", "condition", "objectives", "raw_objectives", "objective_sources"] {
        if !columns.iter().any(|c| c == column) {
            connection.execute_batch(&format!("ALTER TABLE molecules ADD COLUMN {column} TEXT"))?;
        }
    }
    Ok(())
}

/// The view `results` of a preference-conditioned run's molecules in recursionpharma/gflownet's
/// column names: `smi`, `r` (the reward as trained on), `fr_0…` (normalised objectives),
/// `pref_0…` (the preference) and `ci_beta` (the reward exponent); `objectives` objectives.
fn create_results_view(connection: &Connection, objectives: usize) -> rusqlite::Result<()> {
    let mut columns = vec!["smiles AS smi".to_string(), "reward AS r".to_string()];
    columns.extend((0..objectives).map(|i| format!("json_extract(objectives, '$[{i}]') AS fr_{i}")));
    columns.extend((0..objectives).map(|i| format!("json_extract(condition, '$[{i}]') AS pref_{i}")));
    columns.push(format!("json_extract(condition, '$[{objectives}]') AS ci_beta"));
    connection.execute_batch(&format!(
        "DROP VIEW IF EXISTS results; CREATE VIEW results AS SELECT {} FROM molecules WHERE condition IS NOT NULL;",
        columns.join(", ")
    ))
}

/// A JSON array of `values`, or NULL when there are none.
fn json_values(values: &[f64]) -> Option<String> {
    (!values.is_empty()).then(|| serde_json::to_string(values).expect("numbers serialize"))
}

/// A JSON array of `strings`, or NULL when there are none.
fn json_strings(strings: &[String]) -> Option<String> {
    (!strings.is_empty()).then(|| serde_json::to_string(strings).expect("strings serialize"))
}

/// Opens (or creates) the database at `path`, rebuilds the statistics from it and starts the
/// recorder thread. With no path, statistics are kept without a database.
pub fn start(
    env: FragmentEnvironment,
    config: &FragmentConfig,
    path: Option<&Path>,
    run_id: String,
    milestones: Milestones,
    objectives: usize,
) -> Result<MoleculeRecorder, TaskError> {
    let mut tracker = Tracker::new(config);
    let connection = match path {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|error| format!("creating {}: {error}", dir.display()))?;
            }
            let connection = Connection::open(path)
                .map_err(|error| format!("opening results database {}: {error}", path.display()))?;
            connection
                .execute_batch(SCHEMA)
                .map_err(|error| format!("creating the schema of {}: {error}", path.display()))?;
            migrate(&connection)
                .map_err(|error| format!("updating the schema of {}: {error}", path.display()))?;
            if objectives > 0 {
                create_results_view(&connection, objectives)
                    .map_err(|error| format!("creating the results view of {}: {error}", path.display()))?;
            }
            rebuild(&connection, &mut tracker)
                .map_err(|error| format!("reading {}: {error}", path.display()))?;
            Some(connection)
        }
        None => None,
    };
    let stats = Arc::new(Mutex::new(tracker.refresh(true)));
    publish(&stats.lock().expect("fresh mutex"));
    let (sender, receiver) = crossbeam_channel::bounded(RESULTS_QUEUE);
    let shared = Arc::clone(&stats);
    let thread = std::thread::Builder::new()
        .name("gfn-results".into())
        .spawn(move || record(env, connection, tracker, receiver, shared, run_id, milestones))?;
    Ok(MoleculeRecorder { sender, stats, thread })
}

fn rebuild(connection: &Connection, tracker: &mut Tracker) -> rusqlite::Result<()> {
    let mut statement = connection.prepare("SELECT smiles, proxy FROM molecules ORDER BY id")?;
    let rows =
        statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<f64>>(1)?)))?;
    for row in rows {
        let (smiles, proxy) = row?;
        tracker.add(&smiles, proxy.unwrap_or(f64::NEG_INFINITY), FromSmiles::new(&smiles));
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
    milestones: Milestones,
) -> Result<(), TaskError> {
    let started = Instant::now();
    let mut last_diversity = Instant::now();
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
                     actor_id, run_id, created_at, reward_exponent, reward_model, condition, objectives,
                     raw_objectives, objective_sources)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                )?),
                None => None,
            };
            for generated in &batch {
                let molecule = match env.molecule(&generated.terminal) {
                    Ok(molecule) => molecule,
                    Err(error) => {
                        // rebuilding accepted it, so the tree is valid: this would be a bug
                        tracing::error!(%error, "a rebuilt junction tree does not assemble");
                        continue;
                    }
                };
                let smiles = canonical_smiles(&molecule);
                let proxy = generated.record.score.unwrap_or(f64::NEG_INFINITY);
                tracker.add(&smiles, proxy, &molecule);
                if milestones.interval > 0 && tracker.molecules().is_multiple_of(milestones.interval) {
                    let record = MilestoneRecord {
                        milestone: tracker.molecules(),
                        wall_seconds: started.elapsed().as_secs_f64(),
                        molecules: tracker.refresh(true),
                    };
                    last_diversity = Instant::now();
                    write_milestone(&milestones, &record);
                }
                if let Some(insert) = insert.as_mut() {
                    insert.execute(params![
                        smiles,
                        serde_json::to_string(&generated.terminal)?,
                        generated.record.score,
                        generated.record.log_reward.exp(),
                        generated.record.log_reward,
                        generated.record.policy_version as i64,
                        generated.actor_id as i64,
                        run_id,
                        generated.received_at,
                        generated.reward_exponent,
                        generated.record.reward_model,
                        json_values(&generated.record.condition),
                        json_values(&generated.record.objectives),
                        json_values(&generated.record.raw_objectives),
                        json_strings(&generated.record.objective_sources),
                    ])?;
                }
            }
        }
        if let Some(transaction) = transaction {
            transaction.commit()?;
        }
        metrics::counter!(m::MOLECULES_STORED).increment(batch.len() as u64);
        // computed as soon as there are two molecules, then at most every DIVERSITY_INTERVAL
        let diversity = last_diversity.elapsed() >= DIVERSITY_INTERVAL || !tracker.has_similarity();
        if diversity {
            last_diversity = Instant::now();
        }
        let stats = tracker.refresh(diversity);
        publish(&stats);
        *shared.lock().unwrap_or_else(|p| p.into_inner()) = stats;
    }
    Ok(())
}

/// Logs a milestone and appends it to the evaluation log (a log that fails is reported, not fatal).
fn write_milestone(milestones: &Milestones, record: &MilestoneRecord) {
    let s = &record.molecules;
    let line = format!(
        "milestone {:>8} molecules  top-10/100/1000 proxy {:.3}/{:.3}/{:.3}  modes ≥7/7.5/8 {}/{}/{}  scaffolds ≥7.5/8 {}/{}  top-1000 similarity {:.3}",
        record.milestone,
        s.top10_proxy,
        s.top100_proxy,
        s.top1000_proxy,
        s.modes_proxy_7,
        s.modes_proxy_7_5,
        s.modes_proxy_8,
        s.scaffolds_proxy_7_5,
        s.scaffolds_proxy_8,
        s.top1000_similarity.unwrap_or(f64::NAN),
    );
    tracing::info!("{line}");
    if let Some(log) = &milestones.log
        && let Err(error) = log.lock().unwrap_or_else(|p| p.into_inner()).write(record)
    {
        tracing::error!(%error, "could not write a milestone record to the evaluation log");
    }
}

fn publish(stats: &MoleculeStats) {
    metrics::gauge!(m::MOLECULES_DISTINCT).set(stats.distinct as f64);
    metrics::gauge!(m::UNIQUE_FRACTION).set(stats.unique_fraction);
    for (k, reward, proxy) in [
        ("10", stats.top10_reward, stats.top10_proxy),
        ("100", stats.top100_reward, stats.top100_proxy),
        ("1000", stats.top1000_reward, stats.top1000_proxy),
    ] {
        metrics::gauge!(m::TOP_K_REWARD, "k" => k).set(reward);
        metrics::gauge!(m::TOP_K_PROXY, "k" => k).set(proxy);
    }
    metrics::gauge!(m::MOLECULE_MODES).set(stats.modes as f64);
    for (threshold, modes) in
        [("7", stats.modes_proxy_7), ("7.5", stats.modes_proxy_7_5), ("8", stats.modes_proxy_8)]
    {
        metrics::gauge!(m::MODES_AT_PROXY, "threshold" => threshold).set(modes as f64);
    }
    for (threshold, scaffolds) in [("7.5", stats.scaffolds_proxy_7_5), ("8", stats.scaffolds_proxy_8)] {
        metrics::gauge!(m::SCAFFOLDS_AT_PROXY, "threshold" => threshold).set(scaffolds as f64);
    }
    if let Some(similarity) = stats.top1000_similarity {
        metrics::gauge!(m::TOP1000_SIMILARITY).set(similarity);
    }
    metrics::gauge!(m::BEST_PROXY).set(stats.best_proxy);
}

#[cfg(test)]
mod tests {
    use super::*;

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
