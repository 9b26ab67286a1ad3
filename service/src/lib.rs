//! # gfn-service
//!
//! What the long-running gfn services (`gfn-learner`, `gfn-actor`) share, kept out of the core:
//! - [`process`]: cancellation on SIGTERM/SIGINT and the Prometheus `/metrics` endpoint;
//! - [`wire`]: the gate between the wire protocol and the core's trajectory records.

pub mod process;
pub mod wire;
