//! The `gfn` binary as a user runs it: bad configuration, the JSON-lines log, and resuming from
//! a checkpoint in a second process.

use std::path::Path;
use std::process::{Command, Output};

fn gfn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gfn")).args(args).output().expect("gfn runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, contents: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn invalid_configs_exit_64_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("height.toml", "[env]\ntype = \"hypergrid\"\nheight = 1\n", "env.height"),
        ("ndim.toml", "[env]\ntype = \"hypergrid\"\nndim = 0\n", "env.ndim"),
        ("reward.toml", "[env]\ntype = \"hypergrid\"\nr2 = -2.0\n", "env.r2"),
        ("unknown.toml", "[training]\nbatch = 16\n", "batch"),
        ("syntax.toml", "[training\n", "syntax.toml"),
    ];
    for (name, contents, expected) in cases {
        let path = write(dir.path(), name, contents);
        let output = gfn(&["train", "--config", &path, "--no-progress"]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: stderr does not name {expected}: {stderr}");
    }
    let output = gfn(&["train", "--config", "/nonexistent/gfn.toml"]);
    assert_eq!(output.status.code(), Some(64));
    assert!(text(&output.stderr).contains("/nonexistent/gfn.toml"));
}

#[test]
fn print_config_shows_the_embedded_default() {
    let output = gfn(&["train", "--print-config"]);
    assert!(output.status.success());
    let stdout = text(&output.stdout);
    assert!(stdout.contains("ndim = 4") && stdout.contains("height = 8"), "{stdout}");
    assert!(stdout.contains("type = \"flow_matching\""), "{stdout}");
}

#[test]
fn training_logs_json_lines_and_resumes_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "grid.toml",
        "[env]\ntype = \"hypergrid\"\nndim = 2\n[evaluation]\ninterval_updates = 100\nempirical_samples = 1000\n\
         [checkpoint]\ninterval_updates = 100\n",
    );
    let log = dir.path().join("log.jsonl").to_string_lossy().into_owned();
    let checkpoints = dir.path().join("checkpoints").to_string_lossy().into_owned();
    let common =
        ["train", "--config", &config, "--no-progress", "--log", &log, "--checkpoint-dir", &checkpoints];

    let first = gfn(&[&common[..], &["--updates", "300"]].concat());
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(text(&first.stdout).contains("final: update 300"), "{}", text(&first.stdout));

    let second = gfn(&[&common[..], &["--updates", "500"]].concat());
    assert!(second.status.success(), "{}", text(&second.stderr));
    let stdout = text(&second.stdout);
    assert!(stdout.contains("resumed from") && stdout.contains("checkpoint-000000000300"), "{stdout}");
    assert!(stdout.contains("final: update 500 trajectories 8000"), "{stdout}");

    let records: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    let updates: Vec<u64> = records.iter().map(|r| r["update"].as_u64().unwrap()).collect();
    assert_eq!(updates, vec![100, 200, 300, 400, 500]);
    let last = records.last().unwrap();
    for key in ["exact_l1", "empirical_l1", "modes_found", "learned_log_z", "true_log_z", "loss"] {
        assert!(last[key].is_number(), "{key} missing from {last}");
    }
    assert!(last["exact_l1"].as_f64().unwrap() < records[0]["exact_l1"].as_f64().unwrap());
    // three kept by default
    assert_eq!(std::fs::read_dir(&checkpoints).unwrap().count(), 3);

    // `gfn sample` draws from the newest checkpoint without a learner.
    let newest = std::fs::read_dir(&checkpoints).unwrap().map(|e| e.unwrap().path()).max().unwrap();
    let csv_path = dir.path().join("samples.csv");
    let sample = gfn(&[
        "sample",
        "--checkpoint",
        &newest.to_string_lossy(),
        "-n",
        "5000",
        "--out",
        &csv_path.to_string_lossy(),
    ]);
    assert!(sample.status.success(), "{}", text(&sample.stderr));
    assert!(text(&sample.stdout).contains("samples/s"), "{}", text(&sample.stdout));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("sample,object,reward,log_reward"));
    let rows: Vec<Vec<String>> = lines.map(|l| l.split(',').map(String::from).collect()).collect();
    assert_eq!(rows.len(), 5000);
    let modes = rows.iter().filter(|r| ["1 1", "1 6", "6 1", "6 6"].contains(&r[1].as_str())).count();
    // the four modes hold 4·2.6/Z ≈ 46 % of the mass of the 2-D grid
    assert!((1900..2700).contains(&modes), "{modes} of 5000 samples are modes");
    for row in &rows {
        let (reward, log_reward): (f64, f64) = (row[2].parse().unwrap(), row[3].parse().unwrap());
        assert!((reward.ln() - log_reward).abs() < 1e-9, "{row:?}");
    }
}

#[test]
fn launch_runs_a_learner_and_actors_to_completion() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "grid.toml",
        "[env]\ntype = \"hypergrid\"\nndim = 2\n[evaluation]\ninterval_updates = 100\nempirical_samples = 0\n\
         [learner]\nlinger_seconds = 0.5\n",
    );
    let output = gfn(&[
        "launch",
        "--config",
        &config,
        "--actors",
        "2",
        "--updates",
        "400",
        "--no-progress",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    assert!(stdout.contains("update    400"), "{stdout}");
    assert!(stdout.contains("learner exited with exit status: 0; 2 actors stopped"), "{stdout}");
}

/// The commands of docs/GETTING_STARTED.md ("First runs") and docs/CONFIGURATION.md, as shown.
#[test]
fn the_getting_started_commands_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output =
            Command::new(env!("CARGO_BIN_EXE_gfn")).args(args).current_dir(dir.path()).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", text(&output.stderr));
        // the banner goes to stderr, the evaluations to stdout
        format!("{}{}", text(&output.stderr), text(&output.stdout))
    };
    let grid = run(&["train", "--updates", "300", "--no-progress"]);
    assert!(grid.contains("4-D hypergrid") && grid.contains("final: update 300"), "{grid}");
    let small = run(&["train", "--set", "training.updates=300", "--set", "env.ndim=2", "--no-progress"]);
    assert!(small.contains("2-D hypergrid") && small.contains("final: update 300"), "{small}");
}

/// `--set` is checked exactly like the file: a bad key or value exits 64 naming it.
#[test]
fn overrides_are_refused_like_the_file() {
    for (set, expected) in [
        ("training.batch_size=0", "training.batch_size"),
        ("training.batch_sise=4", "batch_sise"),
        ("env.heigth=4", "heigth"),
        ("env.type=\"motifs\"", "no task \"motifs\""),
        ("training", "section.key=value"),
    ] {
        let output = gfn(&["train", "--no-progress", "--set", set]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{set}: {stderr}");
        assert!(stderr.contains(expected), "{set}: stderr does not name {expected}: {stderr}");
    }
}

/// The commands at the top of docs/MOLECULES.md, read from the page and run as shown from the
/// repository's root, with the budgets shrunk (`--updates 2000` → 8, `-n 10000` → 40) and the
/// run's files sent to a temporary directory instead of `runs/seh-frag/`. Needs the converted
/// proxy weights (`scripts/test` makes them).
#[test]
fn the_molecule_guide_commands_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let page = std::fs::read_to_string(root.join("docs/MOLECULES.md")).unwrap();
    let block = page.split("```sh\n").nth(1).and_then(|rest| rest.split("```").next()).unwrap();
    let commands: Vec<&str> = block
        .lines()
        .filter_map(|line| line.split('#').next().map(str::trim))
        .filter(|line| line.starts_with("gfn "))
        .collect();
    assert_eq!(commands.len(), 3, "launch, train and sample: {block}");
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().display().to_string();
    let files = [
        format!("checkpoint.dir=\"{runs}/checkpoints\""),
        format!("evaluation.log_path=\"{runs}/evaluation.jsonl\""),
        format!("evaluation.results_db=\"{runs}/molecules.sqlite\""),
    ];
    let newest_checkpoint = || {
        let mut files: Vec<_> = std::fs::read_dir(dir.path().join("checkpoints"))
            .unwrap()
            .map(|entry| entry.unwrap().path().display().to_string())
            .filter(|path| path.ends_with(".safetensors"))
            .collect();
        files.sort();
        files.pop().expect("a checkpoint")
    };
    for command in commands {
        let shrunk = command.replace("--updates 2000", "--updates 8").replace("-n 10000", "-n 40");
        let mut shrunk = shrunk.replace("--out molecules.csv", &format!("--out {runs}/molecules.csv"));
        if shrunk.contains("<newest>") {
            shrunk = shrunk.replace("runs/seh-frag/checkpoints/<newest>.safetensors", &newest_checkpoint());
        }
        let mut args: Vec<String> = shrunk.split_whitespace().skip(1).map(String::from).collect();
        match args[0].as_str() {
            "launch" => args.extend(
                ["--updates", "8", "--no-progress", "--metrics-listen", "127.0.0.1:0"].map(String::from),
            ),
            "train" => args.push("--no-progress".into()),
            _ => {}
        }
        if args[0] != "sample" {
            for set in &files {
                args.extend(["--set".to_string(), set.clone()]);
            }
        }
        let output = Command::new(env!("CARGO_BIN_EXE_gfn")).args(&args).current_dir(root).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}{}", text(&output.stdout), text(&output.stderr));
    }
    let mut reader = csv::Reader::from_path(dir.path().join("molecules.csv")).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, ["sample", "smiles", "proxy", "junction_tree", "reward", "log_reward"]);
    assert_eq!(reader.records().count(), 40);
}
