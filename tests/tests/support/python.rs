//! Python beside the tests: the packages `scripts/test` installs into `.pytools/`
//! (`GFN_PYTHONPATH`), and the reference scripts under `scripts/reference/` whose answers the
//! parity tests compare with.

use std::path::PathBuf;
use std::process::Command;

use super::data::root;

/// Where the Python packages are (`GFN_PYTHONPATH`, else `.pytools/`).
pub fn pytools() -> PathBuf {
    std::env::var("GFN_PYTHONPATH").map(PathBuf::from).unwrap_or_else(|_| root().join(".pytools"))
}

/// Runs `scripts/reference/<script>` on a file holding `input` and returns the JSON object of
/// each line it prints.
pub fn reference_answers(script: &str, input: &str) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input");
    std::fs::write(&path, input).unwrap();
    let output = Command::new("python3")
        .arg(root().join("scripts/reference").join(script))
        .arg(&path)
        .env("PYTHONPATH", pytools())
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{script}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}
