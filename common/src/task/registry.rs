//! The registered tasks, by the name `env.type` gives them, and the visitor through which a
//! caller (the learner, an actor, a `gfn` command) receives the configured task with its
//! concrete types. Conditioning wraps every task the same way.
//!
//! Registering a task: a variant of [`crate::config::EnvConfig`] for its configuration
//! section and one arm in [`visit_task`].

use crate::config::{EnvConfig, RunConfig};
use crate::task::Task;
use crate::task::bit_sequences::BitSequenceTask;
use crate::task::conditioned::Conditioned;
use crate::task::fragments::FragmentTask;
use crate::task::hypergrid::HypergridTask;

/// The names of the registered tasks (the values of `env.type`).
pub const TASK_NAMES: &[&str] = &["hypergrid", "fragments", "bit_sequences"];

/// Receives the configured task with its concrete type.
pub trait TaskVisitor {
    /// What the visit returns.
    type Output;
    /// Runs with `task`.
    fn visit<T: Task + Clone>(self, task: T) -> anyhow::Result<Self::Output>;
}

/// Builds the task `config.env` names — conditioned on a reward exponent when
/// `[conditioning]` asks for it — and hands it to `visitor`.
pub fn visit_task<V: TaskVisitor>(config: &RunConfig, visitor: V) -> anyhow::Result<V::Output> {
    match &config.env {
        EnvConfig::Hypergrid(grid) => with_conditioning(config, HypergridTask::new(grid), visitor),
        EnvConfig::Fragments(fragments) => with_conditioning(config, FragmentTask::load(fragments)?, visitor),
        EnvConfig::BitSequences(bits) => with_conditioning(config, BitSequenceTask::new(bits), visitor),
    }
}

fn with_conditioning<T: Task + Clone, V: TaskVisitor>(
    config: &RunConfig,
    task: T,
    visitor: V,
) -> anyhow::Result<V::Output> {
    if config.conditioning.enabled() {
        visitor.visit(Conditioned::new(task, config.conditioning.reward_exponents.clone()))
    } else {
        visitor.visit(task)
    }
}
