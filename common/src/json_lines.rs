//! JSON-lines files: one serialized record per line, flushed as written (evaluation logs,
//! events).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;

/// Appends records to a JSON-lines file, flushing after each one.
pub struct JsonLinesLog {
    writer: BufWriter<File>,
}

impl JsonLinesLog {
    /// Opens `path` for appending, creating it and its directory.
    pub fn append(path: &Path) -> io::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self { writer: BufWriter::new(file) })
    }

    /// Writes one record as a line.
    pub fn write<T: Serialize>(&mut self, record: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.writer, record)?;
        self.writer.write_all(b"\n")?;
        self.writer.flush()
    }
}
