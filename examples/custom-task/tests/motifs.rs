//! The `motifs` program as its user runs it: the motif task trained in one process (`train`),
//! then distributed (`launch`: a learner and two actor processes of this program over gRPC),
//! then sampled from the learner's checkpoint (`sample`); distributed again with its rewards
//! from a Python reward service (`motif_server.py`); and gfn's own actor, which does not have
//! the task, refused by the run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn motifs() -> Command {
    Command::new(env!("CARGO_BIN_EXE_motifs"))
}

fn config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("motifs.toml")
}

/// Where grpcio and grpcio-tools are installed (`scripts/test` sets `GFN_PYTHONPATH`).
fn python_path() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::env::var("GFN_PYTHONPATH").unwrap_or_else(|_| root.join(".pytools").display().to_string())
}

/// `(update, exact L1)` of each evaluation in a JSON-lines log.
fn evaluations(log: &Path) -> Vec<(u64, f64)> {
    let text = std::fs::read_to_string(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|record| Some((record["update"].as_u64()?, record["exact_l1"].as_f64()?)))
        .collect()
}

/// The log's evaluations reach `updates`, and the exact L1 fell to at most 0.35.
fn assert_trained(log: &Path, updates: u64) {
    let evaluations = evaluations(log);
    assert_eq!(evaluations.last().map(|e| e.0), Some(updates), "{evaluations:?}");
    let (first, last) = (evaluations[0].1, evaluations.last().unwrap().1);
    assert!(last < first && last <= 0.35, "exact L1 by update: {evaluations:?}");
}

fn assert_success(output: &std::process::Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}: {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// R/Z puts about 20 % of its mass on the 48 sequences that hold GATA (uniform sampling: 1 %).
fn motif_share(rows: &[csv::StringRecord]) -> f64 {
    rows.iter().filter(|row| row[1].contains("GATA")).count() as f64 / rows.len() as f64
}

#[test]
fn trained_in_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("train.jsonl");
    let output = motifs()
        .args(["train", "--no-progress", "--config"])
        .arg(config())
        .args(["--set", "seed=1", "--set", "training.updates=1500", "--log"])
        .arg(&log)
        .output()
        .unwrap();
    assert_success(&output, "motifs train");
    assert_trained(&log, 1500);
}

#[test]
fn distributed_then_sampled_from_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (log, checkpoints) = (dir.path().join("launch.jsonl"), dir.path().join("checkpoints"));
    let output = motifs()
        .args(["launch", "--no-progress", "--metrics-listen", "127.0.0.1:0", "--actors", "2", "--config"])
        .arg(config())
        .args(["--set", "seed=2", "--set", "learner.linger_seconds=1.0", "--log"])
        .arg(&log)
        .arg("--checkpoint-dir")
        .arg(&checkpoints)
        .output()
        .unwrap();
    assert_success(&output, "motifs launch");
    assert_trained(&log, 2000);

    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&checkpoints).unwrap().map(|entry| entry.unwrap().path()).collect();
    files.retain(|path| path.extension().is_some_and(|e| e == "safetensors"));
    files.sort();
    let checkpoint = files.pop().expect("the learner wrote a checkpoint");
    let out = dir.path().join("samples.csv");
    let output = motifs()
        .args(["sample", "-n", "2000", "--checkpoint"])
        .arg(&checkpoint)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_success(&output, "motifs sample");
    let mut reader = csv::Reader::from_path(&out).unwrap();
    assert_eq!(reader.headers().unwrap(), vec!["sample", "object", "reward", "log_reward"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2000);
    for row in &rows {
        assert_eq!(row[1].len(), 6, "{row:?}");
        let occurrences = (0..=2).filter(|&i| &row[1][i..i + 4] == "GATA").count();
        let reward: f64 = row[2].parse().unwrap();
        assert!((reward - (0.05 + occurrences as f64)).abs() < 1e-9, "{row:?}");
    }
    let share = motif_share(&rows);
    assert!(share > 0.1, "{share} of the samples hold the motif");
}

/// The rewards come from `motif_server.py` (the task's objects sent as "dna" text): two actors
/// call it for every trajectory, and the run trains as with the reward computed in Rust (the
/// evaluation's exact L1 is against the task's own reward, the same function).
#[test]
fn distributed_with_rewards_from_a_python_service() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("motif_server.py"))
        .args(["--listen", "127.0.0.1:0"])
        .env("PYTHONPATH", python_path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines().map_while(Result::ok);
    let first_line = lines.next().unwrap_or_default();
    let listening: serde_json::Value = serde_json::from_str(&first_line)
        .unwrap_or_else(|e| panic!("motif_server.py did not start ({e}): {first_line:?}"));
    let endpoint = listening["address"].as_str().unwrap().to_string();
    let log = dir.path().join("service.jsonl");
    let output = motifs()
        .args(["launch", "--no-progress", "--metrics-listen", "127.0.0.1:0", "--actors", "2", "--config"])
        .arg(config())
        .args(["--set", "seed=3", "--set", "learner.linger_seconds=1.0"])
        .args(["--set", "reward.type=\"service\"", "--set"])
        .arg(format!("reward.endpoints=[\"{endpoint}\"]"))
        .arg("--log")
        .arg(&log)
        .output()
        .unwrap();
    // SIGTERM: the server stops and says how many objects it scored
    Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    let stopped: Vec<serde_json::Value> = lines.filter_map(|line| serde_json::from_str(&line).ok()).collect();
    let _ = server.wait();
    assert_success(&output, "motifs launch with a reward service");
    assert_trained(&log, 2000);
    let scored = stopped.iter().find(|e| e["event"] == "stopped").and_then(|e| e["objects_scored"].as_u64());
    // every trajectory trained on (2,000 updates of 16) was scored by the service
    assert!(scored.is_some_and(|n| n >= 2000 * 16), "the service scored {scored:?} objects");
}

/// gfn's own `gfn-actor` has the built-in tasks only: the learner refuses it at registration,
/// naming the task, and the actor exits with that message instead of computing anything.
#[test]
fn an_actor_without_the_task_is_refused() {
    let gfn_actor = Path::new(env!("CARGO_BIN_EXE_motifs")).with_file_name("gfn-actor");
    assert!(gfn_actor.exists(), "{} is built with the workspace", gfn_actor.display());
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("learner.events.jsonl");
    let mut learner = motifs()
        .args(["learner", "--listen", "127.0.0.1:0", "--metrics-listen", "", "--config"])
        .arg(config())
        .arg("--events")
        .arg(&events)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let address = loop {
        let listening = std::fs::File::open(&events).ok().and_then(|file| {
            BufReader::new(file)
                .lines()
                .map_while(Result::ok)
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
                .find(|event| event["event"] == "listening")
        });
        if let Some(event) = listening {
            break event["address"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "the learner never listened");
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = Command::new(&gfn_actor).args(["--learner", &address]).output().unwrap();
    let _ = learner.kill();
    let _ = learner.wait();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the actor joined a run of a task it lacks: {stderr}");
    assert!(
        stderr.contains("\"motifs\"") && stderr.contains("hypergrid, fragments, bit_sequences"),
        "{stderr}"
    );
}
