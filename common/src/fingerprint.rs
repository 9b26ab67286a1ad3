//! Fingerprints of the files a run's reward depends on (as its task declares them,
//! `crate::task::TaskPlugin::reward_files`): the learner writes their SHA-256 into the run configuration it hands to actors, and
//! an actor whose local copy differs refuses to start, naming the file — so that an image or
//! volume mismatch in a cluster cannot silently train the learner on a different reward.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::RunConfig;

/// `sha256:<hex>` of the file at `path`.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(format!("sha256:{}", hasher.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// Why local files do not match a run's fingerprints.
#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    /// A fingerprinted file is missing or unreadable here.
    #[error(
        "{key} = {path}: cannot read it to check its fingerprint ({source}); this run's reward depends on it"
    )]
    Unreadable {
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file differs from the one the run was started with.
    #[error(
        "{key} = {path} differs from the run's ({found} here, {expected} in the run configuration): this \
         process would compute a different reward; deploy the same file"
    )]
    Mismatch { key: String, path: PathBuf, expected: String, found: String },
}

/// Records in `config.fingerprints` the SHA-256 of every file of `files` (the reward files of
/// the run's task, by key) that this process can read and that is not fingerprinted yet;
/// returns the keys of files it could not read (left out).
pub fn fill(config: &mut RunConfig, files: &[(String, PathBuf)]) -> Vec<String> {
    let mut missing = Vec::new();
    for (key, path) in files {
        if config.fingerprints.contains_key(key) {
            continue;
        }
        match sha256_file(path) {
            Ok(digest) => {
                config.fingerprints.insert(key.clone(), digest);
            }
            Err(_) => missing.push(key.clone()),
        }
    }
    missing
}

/// Checks every fingerprint of `config` against the local file of `files` it names.
pub fn verify(config: &RunConfig, files: &[(String, PathBuf)]) -> Result<(), FingerprintError> {
    for (key, path) in files {
        let Some(expected) = config.fingerprints.get(key) else { continue };
        let found = sha256_file(path).map_err(|source| FingerprintError::Unreadable {
            key: key.clone(),
            path: path.clone(),
            source,
        })?;
        if &found != expected {
            return Err(FingerprintError::Mismatch {
                key: key.clone(),
                path: path.clone(),
                expected: expected.clone(),
                found,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{BuiltinTasks, Tasks};

    #[test]
    fn a_changed_file_is_named_and_a_missing_one_too() {
        let dir = tempfile::tempdir().unwrap();
        let vocabulary = dir.path().join("blocks.json");
        let weights = dir.path().join("proxy.safetensors");
        std::fs::write(&vocabulary, b"[]").unwrap();
        std::fs::write(&weights, b"weights v1").unwrap();
        let text = format!(
            "[env]\ntype = \"fragments\"\nvocabulary = {vocabulary:?}\nproxy_weights = {weights:?}\n"
        );
        let tasks = BuiltinTasks::default();
        let mut config = tasks.config_from_str(&text, None, &[]).unwrap();
        let files = tasks.reward_files(&config);
        assert!(fill(&mut config, &files).is_empty());
        assert_eq!(config.fingerprints.len(), 2);
        assert!(config.fingerprints["env.vocabulary"].starts_with("sha256:"));
        // it travels in the configuration text
        let again = tasks.config_from_str(&config.to_toml_string(), None, &[]).unwrap();
        assert_eq!(again.fingerprints, config.fingerprints);
        verify(&again, &files).unwrap();
        std::fs::write(&weights, b"weights v2").unwrap();
        let error = verify(&again, &files).unwrap_err().to_string();
        assert!(
            error.contains("env.proxy_weights")
                && error.contains("proxy.safetensors")
                && error.contains("differs"),
            "{error}"
        );
        std::fs::remove_file(&weights).unwrap();
        assert!(verify(&again, &files).unwrap_err().to_string().contains("cannot read"));
        // a grid run depends on no file
        let mut grid = RunConfig::embedded_default();
        let files = tasks.reward_files(&grid);
        assert!(files.is_empty() && fill(&mut grid, &files).is_empty() && grid.fingerprints.is_empty());
    }
}
