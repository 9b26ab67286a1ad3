//! # gfn-daemon
//!
//! What gfn's long-running processes (the learner, the actors, the reward server) share, kept out
//! of the core:
//! - [`process`]: cancellation on SIGTERM/SIGINT and the Prometheus `/metrics` endpoint;
//! - [`wire`]: the gate between the wire protocol and the core's trajectory records.

pub mod process;
pub mod wire;
