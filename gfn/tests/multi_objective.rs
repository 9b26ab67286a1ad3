//! Preference-conditioned training as a user runs it: `gfn train` on `configs/hypergrid-moo.toml`
//! (Branin and Currin on a 32 × 32 grid), then `gfn sample --preference` with chosen trade-offs.

use std::path::Path;
use std::process::{Command, Output};

fn gfn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gfn")).args(args).output().expect("gfn runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The normalised objectives (`branin_norm`, `currin_norm`) of each sample in a CSV of
/// `gfn sample`, and the preference each was drawn under.
fn read_samples(path: &Path) -> Vec<([f64; 2], [f64; 2])> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column =
        |name: &str| headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    let (b, c) = (column("branin_norm"), column("currin_norm"));
    let (pb, pc) = (column("preference_branin"), column("preference_currin"));
    reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            let value = |i: usize| record[i].parse::<f64>().unwrap();
            ([value(b), value(c)], [value(pb), value(pc)])
        })
        .collect()
}

const PREFERENCES: [[f64; 2]; 3] = [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]];

/// For each preference `w`, how much higher the mean `w · r` of the samples drawn for `w` is
/// than that of the samples drawn for any other preference (positive: `w` is followed).
fn margins(samples: &[Vec<([f64; 2], [f64; 2])>]) -> Vec<f64> {
    let mean_under = |w: [f64; 2], drawn: &[([f64; 2], [f64; 2])]| {
        drawn.iter().map(|(r, _)| w[0] * r[0] + w[1] * r[1]).sum::<f64>() / drawn.len() as f64
    };
    PREFERENCES
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let own = mean_under(w, &samples[i]);
            let best_other = samples
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, drawn)| mean_under(w, drawn))
                .fold(f64::NEG_INFINITY, f64::max);
            own - best_other
        })
        .collect()
}

/// Least margin by which every preference must be followed: the exact target distribution
/// (`∝ s(r; w)^16` on this grid) follows the three by 0.08 or more.
const MARGIN: f64 = 0.01;

/// The commands of docs/MULTI_OBJECTIVE.md's first block, read from the page and run as shown
/// from the repository's root, with the run's files sent to a temporary directory.
fn guide_commands() -> (String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let page = std::fs::read_to_string(root.join("docs/MULTI_OBJECTIVE.md")).unwrap();
    let block = page.split("```sh\n").nth(1).and_then(|rest| rest.split("```").next()).unwrap();
    let commands: Vec<&str> = block.lines().map(str::trim).filter(|line| line.starts_with("gfn ")).collect();
    assert_eq!(commands.len(), 2, "train and sample: {block}");
    (commands[0].to_string(), commands[1].to_string())
}

fn run_in_root(command: &str) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    Command::new(env!("CARGO_BIN_EXE_gfn")).args(&args).current_dir(root).output().expect("gfn runs")
}

#[test]
fn a_preference_conditioned_policy_follows_the_preference_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("moo").display().to_string();
    let (train_command, sample_command) = guide_commands();
    let train = run_in_root(&format!("{} --no-progress", train_command.replace("runs/moo", &runs)));
    let stdout = text(&train.stdout);
    assert!(train.status.success(), "{stdout}\n{}", text(&train.stderr));
    assert!(stdout.contains("HV ") && stdout.contains("R2 ") && stdout.contains("follows "), "{stdout}");
    let checkpoint = format!("{runs}/checkpoint-000000006000.safetensors");
    assert!(Path::new(&checkpoint).exists(), "the guide samples from the run's last checkpoint");

    let sample = |name: &str, preference: Option<[f64; 2]>| {
        let out = dir.path().join(format!("{name}.csv"));
        let mut command =
            sample_command.replace("runs/moo", &runs).replace("samples.csv", out.to_str().unwrap()).replace(
                "--preference 0.5,0.5",
                &preference.map(|w| format!("--preference {},{}", w[0], w[1])).unwrap_or_default(),
            );
        command.push_str(&format!(" --seed {}", name.len()));
        let output = run_in_root(&command);
        assert!(output.status.success(), "{command}: {}", text(&output.stderr));
        read_samples(&out)
    };
    let conditioned: Vec<_> =
        PREFERENCES.iter().enumerate().map(|(i, &w)| sample(&format!("w{i}"), Some(w))).collect();
    for (drawn, w) in conditioned.iter().zip(PREFERENCES) {
        assert!(drawn.iter().all(|(_, p)| *p == w), "every sample carries the preference asked for");
    }
    let followed = margins(&conditioned);
    assert!(followed.iter().all(|&m| m > MARGIN), "the conditioned policy's margins: {followed:?}");

    // The same policy, not told the preference (each sample's drawn from the prior), fails the
    // same check: the samples for each preference come from one distribution.
    let unconditioned: Vec<_> = (0..3).map(|i| sample(&format!("prior{i}"), None)).collect();
    let ignored = margins(&unconditioned);
    assert!(ignored.iter().any(|&m| m <= MARGIN), "without the preference: {ignored:?}");

    // A preference off the simplex, or a β outside the trained range, is refused with the reason.
    let out = dir.path().join("bad.csv");
    let bad = gfn(&[
        "sample",
        "--checkpoint",
        &checkpoint,
        "--preference",
        "0.7,0.7",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stderr));
    assert!(text(&bad.stderr).contains("not on the simplex"), "{}", text(&bad.stderr));
    let hot = gfn(&[
        "sample",
        "--checkpoint",
        &checkpoint,
        "--preference",
        "0.5,0.5",
        "--reward-exponent",
        "64",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(text(&hot.stderr).contains("outside this run's range [1, 16]"), "{}", text(&hot.stderr));
}
