//! Command-line plumbing shared by the binaries.

use std::path::PathBuf;
use std::process::ExitCode;

use gfn_common::config::{ConfigError, RunConfig};

/// `EX_USAGE` from sysexits.h: bad configuration or arguments.
pub const EXIT_USAGE: u8 = 64;

/// Where a command's run configuration comes from: a file (or the embedded default) and
/// `--set` overrides. Shared by `train`, `launch` and `learner`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Run configuration (TOML); the embedded default (4-D hypergrid, H = 8) without it.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Override any configuration key, checked like the file: `section.key=value` (repeatable),
    /// e.g. `--set training.batch_size=4`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl ConfigArgs {
    /// The file (or the embedded default) with the overrides applied, not yet validated: the
    /// command applies its own flags, then validates against its task list (`Tasks::validate`).
    pub fn load(&self) -> Result<RunConfig, ConfigError> {
        RunConfig::read(self.config.as_deref(), &self.set)
    }
}

/// Prints a configuration error and returns the usage exit code.
pub fn config_failure(error: &ConfigError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(EXIT_USAGE)
}

/// Prints `error` with its causes (`error: what failed: why: …`) and returns the failure exit
/// code.
pub fn failure(error: impl Into<anyhow::Error>) -> ExitCode {
    eprintln!("error: {:#}", error.into());
    ExitCode::FAILURE
}

/// Logs to stderr; `RUST_LOG` overrides the default level (`info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
