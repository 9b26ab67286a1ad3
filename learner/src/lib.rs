//! # gfn-learner
//!
//! The learner process, generic over the task the run configuration names (`gfn_common::task`):
//! nothing here is specific to one environment. It prints nothing: it reports through its
//! events (`gfn_common::events`) and `tracing`; the `gfn` crate holds its command line.
//!
//! # Layout
//! - [`admission`]: what becomes of each trajectory of a submitted batch (accepted, stale,
//!   duplicate, rejected): the synchronous core of ingestion, called off the async runtime.
//! - [`audit`]: recomputed rewards of a sampled fraction of submissions; quarantine.
//! - [`error`]: why a learner stopped with an error.
//! - [`server`]: the `gfn-learner` process: startup, resume, shutdown.
//! - [`service`]: the `gfn.v1.Learner` gRPC service (registration, ingestion, weights).
//! - [`state`]: what the service and the training thread share.
//! - [`journal`]: the durable ingest journal (no accepted trajectory is lost on a restart).
//! - [`liveness`]: which actors are alive (heard from within `learner.actor_timeout_seconds`).
//! - [`limits`]: admission limits of the service (streams, submissions, ingest rate).
//! - [`training`]: the training thread: the core's training loop fed by the ingest queue, publishing
//!   weights, reporting evaluations and keeping the learner's progress in checkpoints.
//! - [`metrics`]: metric names and the Prometheus endpoint.

pub mod admission;
pub mod audit;
pub mod error;
pub mod journal;
pub mod limits;
pub mod liveness;
pub mod metrics;
pub mod server;
pub mod service;
pub mod state;
pub mod training;
