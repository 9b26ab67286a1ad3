//! # gfn-actor
//!
//! An actor rolls out trajectories with the newest policy weights it has, computes their rewards
//! on a pool of worker threads (so that expensive rewards overlap with rollouts), and submits
//! them to the learner over gRPC. It needs nothing but the learner's address: the run
//! configuration arrives with registration. It prints nothing: it reports through its events
//! (`gfn_common::events`) and `tracing`; the `gfn` crate holds its command line.
//!
//! # Layout
//! - [`backoff`]: exponential back-off for reconnection.
//! - [`connection`]: connecting and registering with the learner.
//! - [`error`]: why an actor stopped with an error.
//! - [`weights`]: the weights stream, reassembled into the newest complete version.
//! - [`rollout`]: the rollout thread (vectorised, inference only).
//! - [`reward_pool`]: reward worker threads, with optional synthetic cost.
//! - [`reward_service`]: rewards from a reward service (`gfn.reward.v1`): endpoints, load
//!   balancing, batching, deadlines, retries, ejection, reply checks.
//! - [`submitter`]: batching and submitting trajectories, with retries.
//! - [`metrics`]: the actor's Prometheus metrics (`--metrics-listen`).
//! - [`actor`]: wiring, and shutdown on SIGTERM/SIGINT or when the run is finished.

pub mod actor;
pub mod backoff;
pub mod connection;
pub mod error;
pub mod metrics;
pub mod reward_pool;
pub mod reward_service;
pub mod rollout;
pub mod submitter;
pub mod weights;
