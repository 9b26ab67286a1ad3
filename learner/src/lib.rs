//! # gfn-learner
//!
//! The learner process and the `gfn` command-line tool.
//!
//! # Layout
//! - [`cli`]: shared command-line plumbing (config loading with exit code 64, logging).
//! - [`train_command`]: `gfn train`, the single-process trainer with a progress view.
//! - [`progress`]: the terminal progress bar and the JSON-lines log as a training observer.

pub mod cli;
pub mod progress;
pub mod train_command;
