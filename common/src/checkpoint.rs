//! Checkpoints: one safetensors file holding the policy weights (`policy.*`), the optimizer
//! state (`adam.*`) and the trainer's progress as JSON bytes (`meta.progress_json`).
//!
//! Files are written atomically (temporary file, fsync, rename, fsync of the directory), named
//! `checkpoint-<update>.safetensors`, and the newest `keep` are kept. [`newest_valid`] walks
//! from the newest to the oldest and returns the first that loads, so a file truncated by a
//! crash is skipped rather than fatal.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use tch::{Kind, Tensor};

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Filesystem failure.
    #[error("checkpoint I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// libtorch could not write or parse the file.
    #[error("checkpoint {path}: {message}")]
    Format { path: PathBuf, message: String },
}

/// Named tensors read from or written to a checkpoint.
pub type NamedTensors = Vec<(String, Tensor)>;

const PROGRESS_KEY: &str = "meta.progress_json";
const PREFIX: &str = "checkpoint-";
const SUFFIX: &str = ".safetensors";

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io { path: path.to_path_buf(), source }
}

/// Writes `tensors` plus `progress_json` as `dir/checkpoint-<update>.safetensors` atomically and
/// prunes all but the newest `keep` checkpoints. Returns the path written.
pub fn save(
    dir: &Path,
    update: u64,
    tensors: &[(String, Tensor)],
    progress_json: &str,
    keep: usize,
) -> Result<PathBuf, CheckpointError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let path = dir.join(format!("{PREFIX}{update:012}{SUFFIX}"));
    let temporary = dir.join(format!(".{PREFIX}{update:012}{SUFFIX}.tmp"));
    let mut all: Vec<(String, Tensor)> =
        tensors.iter().map(|(name, t)| (name.clone(), t.to_device(tch::Device::Cpu).contiguous())).collect();
    all.push((PROGRESS_KEY.into(), Tensor::from_slice(progress_json.as_bytes())));
    Tensor::write_safetensors(&all, &temporary)
        .map_err(|e| CheckpointError::Format { path: temporary.clone(), message: e.to_string() })?;
    fs::File::open(&temporary).and_then(|f| f.sync_all()).map_err(io_error(&temporary))?;
    fs::rename(&temporary, &path).map_err(io_error(&path))?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_error(dir))?;
    for old in list(dir)?.into_iter().rev().skip(keep) {
        fs::remove_file(&old).map_err(io_error(&old))?;
    }
    Ok(path)
}

/// Checkpoint files in `dir`, oldest first (empty if the directory does not exist).
pub fn list(dir: &Path) -> Result<Vec<PathBuf>, CheckpointError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir)(e)),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    paths.sort();
    Ok(paths)
}

/// Reads one checkpoint: its tensors (without the progress record) and the progress JSON.
pub fn load(path: &Path) -> Result<(NamedTensors, String), CheckpointError> {
    let format_error = |message: String| CheckpointError::Format { path: path.to_path_buf(), message };
    let mut tensors = Tensor::read_safetensors(path).map_err(|e| format_error(e.to_string()))?;
    let position = tensors
        .iter()
        .position(|(name, _)| name == PROGRESS_KEY)
        .ok_or_else(|| format_error(format!("missing {PROGRESS_KEY}")))?;
    let (_, bytes) = tensors.swap_remove(position);
    let bytes = bytes.to_kind(Kind::Uint8);
    let mut buffer = vec![0u8; bytes.numel()];
    let len = buffer.len();
    bytes.copy_data(&mut buffer, len);
    let progress = String::from_utf8(buffer).map_err(|e| format_error(e.to_string()))?;
    Ok((tensors, progress))
}

/// The newest checkpoint in `dir` that `accept` takes, trying older ones when a newer one fails
/// to load or is refused. `Ok(None)` if there is none.
pub fn newest_valid<T>(
    dir: &Path,
    mut accept: impl FnMut(&Path, NamedTensors, String) -> Result<T, String>,
) -> Result<Option<(PathBuf, T)>, CheckpointError> {
    for path in list(dir)?.into_iter().rev() {
        match load(&path) {
            Ok((tensors, progress)) => match accept(&path, tensors, progress) {
                Ok(value) => return Ok(Some((path, value))),
                Err(reason) => tracing::warn!(path = %path.display(), %reason, "skipping checkpoint"),
            },
            Err(error) => tracing::warn!(%error, "skipping unreadable checkpoint"),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_list_load_and_prune() {
        let dir = tempfile::tempdir().unwrap();
        let weights = vec![("policy.w".to_string(), Tensor::from_slice(&[1.0f32, 2.0]))];
        for update in [10, 20, 30, 40] {
            save(dir.path(), update, &weights, &format!("{{\"update\":{update}}}"), 2).unwrap();
        }
        let files = list(dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        assert!(files[1].ends_with("checkpoint-000000000040.safetensors"));
        let (tensors, progress) = load(&files[1]).unwrap();
        assert_eq!(progress, "{\"update\":40}");
        assert_eq!(tensors.len(), 1);
        assert_eq!(Vec::<f32>::try_from(&tensors[0].1).unwrap(), vec![1.0, 2.0]);
        // no temporary files left behind
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_corrupt_newest_checkpoint_falls_back_to_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let weights = vec![("policy.w".to_string(), Tensor::from_slice(&[1.0f32]))];
        save(dir.path(), 1, &weights, "one", 3).unwrap();
        let newest = save(dir.path(), 2, &weights, "two", 3).unwrap();
        fs::write(&newest, b"truncated").unwrap();
        let found = newest_valid(dir.path(), |_, _, progress| Ok(progress)).unwrap().unwrap();
        assert_eq!(found.1, "one");
        let none = newest_valid(&dir.path().join("absent"), |_, _, p| Ok(p)).unwrap();
        assert!(none.is_none());
    }
}
