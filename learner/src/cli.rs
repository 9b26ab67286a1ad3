//! Command-line plumbing shared by the binaries.

use std::path::Path;
use std::process::ExitCode;

use gfn_common::config::{ConfigError, DEFAULT_CONFIG_TOML, RunConfig};

/// `EX_USAGE` from sysexits.h: bad configuration or arguments.
pub const EXIT_USAGE: u8 = 64;

/// Reads `path` or, if absent, the embedded default configuration, with `overrides`
/// (`--set section.key=value`) applied; the caller applies its flags, then validates the result
/// against its task list (`Tasks::validate`).
pub fn load_config(path: Option<&Path>, overrides: &[String]) -> Result<RunConfig, ConfigError> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
            RunConfig::parse_with_overrides(&text, Some(path), overrides)
        }
        None => RunConfig::parse_with_overrides(DEFAULT_CONFIG_TOML, None, overrides),
    }
}

/// Prints a configuration error and returns the usage exit code.
pub fn config_failure(error: &ConfigError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(EXIT_USAGE)
}

/// Logs to stderr; `RUST_LOG` overrides the default level (`info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
