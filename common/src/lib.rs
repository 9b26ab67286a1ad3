//! # gfn-common: the GFlowNet core
//!
//! Generative Flow Networks (Bengio et al., NeurIPS 2021) learn a policy that builds objects by
//! a sequence of actions so that an object `x` is sampled with probability proportional to a
//! positive reward `R(x)`. This crate holds everything that is not transport: environments,
//! rewards, networks, objectives, sampling, evaluation and checkpoints. Sampling (the actor
//! side) and learning (the learner side) meet only through plain [`trajectory::Trajectory`]
//! records.
//!
//! # Layout
//! - [`env`]: the [`env::Environment`] trait (states, masked actions, parents, network input), the
//!   hypergrid, and fragment molecules (block vocabulary, canonical junction trees, assembly).
//! - [`reward`]: the [`reward::Reward`] trait, the hypergrid reward, the sEH proxy, its
//!   featurization of assembled molecules and the fragment reward built on it.
//! - [`policy`]: tch networks producing log edge flows (an MLP, a block-graph message-passing
//!   network), their inputs, and the masked, tempered policy.
//! - [`objective`]: training losses (flow matching).
//! - [`sampler`]: vectorised rollouts (inference only).
//! - [`trajectory`]: trajectory records and their validating rebuild.
//! - [`model`]: the trained model — a network, its optimizer and an objective — updated from rebuilt batches.
//! - [`optim`]: Adam with checkpointable state (and per-parameter learning rates).
//! - [`pareto`]: Pareto front, exact hypervolume, R2 indicator and the preference grid.
//! - [`replay`]: the learner's optional replay buffer.
//! - [`eval`]: exact terminal distributions by dynamic programming, L1, log Z, and the
//!   evaluation record.
//! - [`fingerprint`]: SHA-256 of the files a reward depends on, checked by every actor.
//! - [`events`]: machine-readable process events (`--events`), read by tools and tests.
//! - [`checkpoint`]: atomic safetensors checkpoints.
//! - [`config`]: the TOML run configuration, one module per group of sections.
//! - [`validation`]: collecting every problem of a configuration at once, naming its key.
//! - [`metrics`]: the Prometheus series the core sets, and how a task declares its own.
//! - [`json_lines`]: append-only JSON-lines files (evaluation logs, events).
//! - [`task`]: the extension point — a task (environment, reward, evaluation, results) defined
//!   once and registered by name; conditioning wraps any task.
//! - [`training`]: the one training loop (hosted by `gfn train` and by the distributed learner),
//!   its checkpointed progress, and training in one process with inline or pipelined sampling.
//! - [`weights`]: policy weights as safetensors bytes.

pub mod averaging;
pub mod checkpoint;
pub mod config;
pub mod env;
pub mod eval;
pub mod events;
pub mod fingerprint;
pub mod heap;
pub mod json_lines;
pub mod metrics;
pub mod model;
pub mod objective;
pub mod optim;
pub mod pareto;
pub mod policy;
pub mod replay;
pub mod reward;
pub mod sampler;
pub mod task;
pub mod training;
pub mod trajectory;
pub mod validation;
pub mod weights;
