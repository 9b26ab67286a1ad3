//! Checkpoints: one safetensors file holding the policy weights (`policy.*`), the optimizer
//! state (`adam.*`) and text metadata as UTF-8 byte tensors (`meta.<key>`): the trainer's
//! progress as JSON (`meta.progress`) and the run configuration as TOML (`meta.config`).
//!
//! Files are written atomically (temporary file, fsync, rename, fsync of the directory), named
//! `checkpoint-<update>.safetensors`, and the newest `keep` are kept. Each carries a SHA-256
//! checksum of every other entry (name, dtype, shape and bytes, in name order) as
//! `meta.sha256`, verified on load. [`newest_valid`] walks from the newest to the oldest and
//! returns the first that loads and verifies, so a file truncated or corrupted on disk is
//! reported and skipped rather than fatal.

use std::collections::BTreeMap;
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

/// Text metadata stored in a checkpoint.
pub type Metadata = BTreeMap<String, String>;

/// Metadata key of the trainer's progress (JSON).
pub const PROGRESS: &str = "progress";
/// Metadata key of the run configuration (TOML).
pub const CONFIG: &str = "config";

const META_PREFIX: &str = "meta.";
/// Metadata key of the checksum (hex SHA-256 of every other entry).
const CHECKSUM: &str = "sha256";
const PREFIX: &str = "checkpoint-";
const SUFFIX: &str = ".safetensors";

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io { path: path.to_path_buf(), source }
}

/// Writes `tensors` plus `metadata` as `dir/checkpoint-<update>.safetensors` atomically and
/// prunes all but the newest `keep` checkpoints. Returns the path written.
pub fn save(
    dir: &Path,
    update: u64,
    tensors: &[(String, Tensor)],
    metadata: &Metadata,
    keep: usize,
) -> Result<PathBuf, CheckpointError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let path = dir.join(format!("{PREFIX}{update:012}{SUFFIX}"));
    let temporary = dir.join(format!(".{PREFIX}{update:012}{SUFFIX}.tmp"));
    let mut all: Vec<(String, Tensor)> =
        tensors.iter().map(|(name, t)| (name.clone(), t.to_device(tch::Device::Cpu).contiguous())).collect();
    for (key, text) in metadata {
        all.push((format!("{META_PREFIX}{key}"), Tensor::from_slice(text.as_bytes())));
    }
    let checksum = checksum(&all);
    all.push((format!("{META_PREFIX}{CHECKSUM}"), Tensor::from_slice(checksum.as_bytes())));
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

/// Hex SHA-256 over `entries` in name order: each name, dtype, shape and raw bytes.
fn checksum(entries: &[(String, Tensor)]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&(String, Tensor)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = Sha256::new();
    for (name, tensor) in sorted {
        let tensor = tensor.to_device(tch::Device::Cpu).contiguous();
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(format!("{:?}", tensor.kind()).as_bytes());
        for dim in tensor.size() {
            hasher.update(dim.to_le_bytes());
        }
        let numel = tensor.numel();
        let mut bytes = vec![0u8; numel * tensor.kind().elt_size_in_bytes()];
        if numel > 0 {
            let len = bytes.len();
            tensor.view_dtype(Kind::Uint8).copy_data_u8(&mut bytes, len);
        }
        hasher.update(&bytes);
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads one checkpoint: its tensors (without metadata) and its metadata, after verifying its
/// checksum (checkpoints written before checksums existed load with a warning).
pub fn load(path: &Path) -> Result<(NamedTensors, Metadata), CheckpointError> {
    let format_error = |message: String| CheckpointError::Format { path: path.to_path_buf(), message };
    let mut all = Tensor::read_safetensors(path).map_err(|e| format_error(e.to_string()))?;
    let checksum_key = format!("{META_PREFIX}{CHECKSUM}");
    match all.iter().position(|(name, _)| *name == checksum_key) {
        Some(index) => {
            let (_, stored) = all.swap_remove(index);
            let stored = tensor_text(&stored).map_err(|e| format_error(format!("{checksum_key}: {e}")))?;
            let actual = checksum(&all);
            if stored != actual {
                return Err(format_error(format!("checksum mismatch: stored {stored}, contents {actual}")));
            }
        }
        None => {
            tracing::warn!(path = %path.display(), "checkpoint without a checksum (written by an older version)")
        }
    }
    let mut tensors = Vec::with_capacity(all.len());
    let mut metadata = Metadata::new();
    for (name, tensor) in all {
        match name.strip_prefix(META_PREFIX) {
            Some(key) => {
                let text = tensor_text(&tensor).map_err(|e| format_error(format!("{name}: {e}")))?;
                metadata.insert(key.to_string(), text);
            }
            None => tensors.push((name, tensor)),
        }
    }
    Ok((tensors, metadata))
}

/// The UTF-8 text stored in a byte tensor.
fn tensor_text(tensor: &Tensor) -> Result<String, std::string::FromUtf8Error> {
    let bytes = tensor.to_kind(Kind::Uint8);
    let mut buffer = vec![0u8; bytes.numel()];
    let len = buffer.len();
    bytes.copy_data(&mut buffer, len);
    String::from_utf8(buffer)
}

/// The newest checkpoint in `dir` that `accept` takes, trying older ones when a newer one fails
/// to load or is refused. `Ok(None)` if there is none.
pub fn newest_valid<T, E: std::fmt::Display>(
    dir: &Path,
    mut accept: impl FnMut(&Path, NamedTensors, Metadata) -> Result<T, E>,
) -> Result<Option<(PathBuf, T)>, CheckpointError> {
    for path in list(dir)?.into_iter().rev() {
        match load(&path) {
            Ok((tensors, metadata)) => match accept(&path, tensors, metadata) {
                Ok(value) => return Ok(Some((path, value))),
                Err(reason) => tracing::warn!(path = %path.display(), %reason, "skipping checkpoint"),
            },
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "skipping unreadable or corrupt checkpoint");
            }
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
            let metadata = Metadata::from([(PROGRESS.to_string(), format!("{{\"update\":{update}}}"))]);
            save(dir.path(), update, &weights, &metadata, 2).unwrap();
        }
        let files = list(dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        assert!(files[1].ends_with("checkpoint-000000000040.safetensors"));
        let (tensors, metadata) = load(&files[1]).unwrap();
        assert_eq!(metadata[PROGRESS], "{\"update\":40}");
        assert_eq!(tensors.len(), 1);
        assert_eq!(Vec::<f32>::try_from(&tensors[0].1).unwrap(), vec![1.0, 2.0]);
        // no temporary files left behind
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_corrupt_newest_checkpoint_falls_back_to_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let weights = vec![("policy.w".to_string(), Tensor::from_slice(&[1.0f32]))];
        let text = |t: &str| Metadata::from([(PROGRESS.to_string(), t.to_string())]);
        save(dir.path(), 1, &weights, &text("one"), 3).unwrap();
        let newest = save(dir.path(), 2, &weights, &text("two"), 3).unwrap();
        fs::write(&newest, b"truncated").unwrap();
        let found = newest_valid(dir.path(), |_, _, metadata| Ok::<_, String>(metadata[PROGRESS].clone()))
            .unwrap()
            .unwrap();
        assert_eq!(found.1, "one");
        let none = newest_valid(&dir.path().join("absent"), |_, _, p| Ok::<_, String>(p)).unwrap();
        assert!(none.is_none());
    }

    /// A flipped byte inside a tensor's data still parses as safetensors; the checksum catches
    /// it and the previous checkpoint is used.
    #[test]
    fn a_bit_flip_in_the_newest_checkpoint_is_detected_and_the_previous_one_used() {
        let dir = tempfile::tempdir().unwrap();
        let weights = vec![("policy.w".to_string(), Tensor::from_slice(&[1.5f32, -2.0, 3.25, 4.0]))];
        let text = |t: &str| Metadata::from([(PROGRESS.to_string(), t.to_string())]);
        save(dir.path(), 1, &weights, &text("one"), 3).unwrap();
        let newest = save(dir.path(), 2, &weights, &text("two"), 3).unwrap();
        assert_eq!(load(&newest).unwrap().1[PROGRESS], "two");
        let mut bytes = fs::read(&newest).unwrap();
        // the data of policy.w: the bytes of 3.25f32 (0x40500000), little endian
        let at = bytes.windows(4).position(|w| w == 3.25f32.to_le_bytes()).expect("tensor data in the file");
        bytes[at + 3] ^= 0x01;
        fs::write(&newest, &bytes).unwrap();
        let error = load(&newest).unwrap_err().to_string();
        assert!(error.contains("checksum mismatch"), "{error}");
        let found = newest_valid(dir.path(), |_, _, metadata| Ok::<_, String>(metadata[PROGRESS].clone()))
            .unwrap()
            .unwrap();
        assert_eq!(found.1, "one");
        assert!(found.0.ends_with("checkpoint-000000000001.safetensors"));
    }
}
