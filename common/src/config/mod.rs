//! Run configuration: a TOML file deserialized with serde, unknown keys rejected, then
//! [`RunConfig::validate`]d so that every problem is reported at once, naming its key.
//!
//! One module per group of sections, each section checking its own values
//! (`check(&self, &mut Scope)`, keys prefixed with the section's name); [`RunConfig::validate`]
//! runs them all and adds the checks that span sections.

mod env;
mod objective;
pub mod overrides;
mod policy;
mod processes;
mod reward;
mod training;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::validation::{Problems, Scope};
pub use env::EnvSection;
pub use objective::{
    DetailedBalanceConfig, FlowMatchingConfig, ObjectiveConfig, SubTrajectoryBalanceConfig,
    TrajectoryBalanceConfig,
};
pub use policy::{
    ConditioningConfig, DEFAULT_HIDDEN_LAYERS, DEFAULT_ROUNDS, MessagePassing, NetworkKind, PolicyConfig,
};
pub use processes::{ActorConfig, LearnerConfig, SecurityConfig};
pub use reward::{ObjectiveServiceConfig, RewardConfig, RewardServiceConfig};
pub use training::{CheckpointConfig, EvaluationConfig, Precision, TrainingConfig};

use crate::objective::BackwardPolicy;

/// The embedded default configuration: the 4-D hypergrid with `H = 8` and flow matching.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../../configs/hypergrid.toml");

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The TOML does not parse or has unknown keys or wrong types.
    #[error("invalid config{}: {message}", origin.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Parse { origin: Option<PathBuf>, message: String },
    /// Values that parse but are out of range; one line per problem.
    #[error("invalid config:\n  {}", problems.join("\n  "))]
    Invalid { problems: Vec<String> },
}

/// Everything a training run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Seed for the network initialisation and the samplers.
    pub seed: u64,
    /// The task (`[env] type`) and its own keys, read by that task.
    pub env: EnvSection,
    /// The policy network.
    pub policy: PolicyConfig,
    /// The training objective.
    pub objective: ObjectiveConfig,
    /// Optimisation and sampling.
    pub training: TrainingConfig,
    /// Periodic evaluation and its log.
    pub evaluation: EvaluationConfig,
    /// Checkpointing.
    pub checkpoint: CheckpointConfig,
    /// The distributed learner process.
    pub learner: LearnerConfig,
    /// The actor processes (sent to them by the learner when they register).
    pub actor: ActorConfig,
    /// Reward-exponent conditioning of the policy (off unless exponents are given).
    pub conditioning: ConditioningConfig,
    /// Authentication and encryption of the learner's gRPC service.
    pub security: SecurityConfig,
    /// Where rewards come from: the environment's built-in reward or a reward service.
    pub reward: RewardConfig,
    /// SHA-256 of the files the reward depends on, by key (`env.vocabulary`,
    /// `env.proxy_weights`): filled in by the learner, checked by every actor
    /// (`gfn_common::fingerprint`). Set them yourself to pin the files of a run.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub fingerprints: std::collections::BTreeMap<String, String>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            env: EnvSection::default(),
            policy: PolicyConfig::default(),
            objective: ObjectiveConfig::FlowMatching(FlowMatchingConfig::default()),
            training: TrainingConfig::default(),
            evaluation: EvaluationConfig::default(),
            checkpoint: CheckpointConfig::default(),
            learner: LearnerConfig::default(),
            actor: ActorConfig::default(),
            conditioning: ConditioningConfig::default(),
            security: SecurityConfig::default(),
            reward: RewardConfig::default(),
            fingerprints: Default::default(),
        }
    }
}

impl RunConfig {
    /// Parses TOML text without checking its values (the task list does that:
    /// `gfn_common::task::Tasks::config_from_str`); `origin` names the file in error messages.
    pub fn parse(text: &str, origin: Option<&Path>) -> Result<Self, ConfigError> {
        Self::parse_with_overrides(text, origin, &[])
    }

    /// Parses TOML text with `overrides` (`section.key=value`) applied, without checking values.
    pub fn parse_with_overrides(
        text: &str,
        origin: Option<&Path>,
        overrides: &[String],
    ) -> Result<Self, ConfigError> {
        let parse_error =
            |message: String| ConfigError::Parse { origin: origin.map(Path::to_path_buf), message };
        if overrides.is_empty() {
            // straight from the text, so that errors point at its lines
            return toml::from_str(text).map_err(|e| parse_error(e.to_string()));
        }
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| parse_error(e.to_string()))?;
        for assignment in overrides {
            overrides::apply(&mut table, assignment).map_err(|e| parse_error(e.to_string()))?;
        }
        toml::Value::Table(table).try_into().map_err(|e| parse_error(format!("{e} (after --set)")))
    }

    /// Reads the file `path` (the embedded default configuration without one) with `overrides`
    /// applied, without checking values.
    pub fn read(path: Option<&Path>, overrides: &[String]) -> Result<Self, ConfigError> {
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
                Self::parse_with_overrides(&text, Some(path), overrides)
            }
            None => Self::parse_with_overrides(DEFAULT_CONFIG_TOML, None, overrides),
        }
    }

    /// The embedded default configuration (the 4-D hypergrid).
    pub fn embedded_default() -> Self {
        Self::parse(DEFAULT_CONFIG_TOML, None).expect("the embedded config parses")
    }

    /// Trajectories the learner's ingest queue holds: `learner.max_queued_updates` updates'
    /// worth when set, else `learner.queue_capacity`.
    pub fn ingest_queue_capacity(&self) -> usize {
        match self.learner.max_queued_updates {
            0 => self.learner.queue_capacity,
            updates => updates.saturating_mul(self.training.batch_size),
        }
    }

    /// Intra-op threads of the learner: `learner.intra_op_threads`, or
    /// `training.intra_op_threads` when that is 0.
    pub fn learner_threads(&self) -> usize {
        match self.learner.intra_op_threads {
            0 => self.training.intra_op_threads,
            threads => threads,
        }
    }

    /// The configuration as TOML text.
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).expect("a config serializes")
    }

    /// Checks the values of every section but `[env]` (which its task checks), adding each
    /// problem with its key: each section's own checks, then those that span sections.
    /// `network` is the task's policy network, if the task's section could be read.
    pub fn check_sections(&self, network: Option<NetworkKind>, problems: &mut Problems) {
        if let Some(network) = network {
            self.policy.check(network, &mut problems.section("policy"));
            problems.section("objective").check(
                self.objective.backward_policy() == BackwardPolicy::Uniform || network == NetworkKind::Mlp,
                "backward_policy",
                "\"uniform\" for this task (a learned backward policy needs a dense network)",
                "\"learned\"",
            );
        }
        self.objective.check(&mut problems.section("objective"));
        self.training.check(&mut problems.section("training"));
        self.evaluation.check(&mut problems.section("evaluation"));
        self.checkpoint.check(&mut problems.section("checkpoint"));
        self.learner.check(&mut problems.section("learner"));
        self.actor.check(&mut problems.section("actor"));
        self.conditioning.check(&mut problems.section("conditioning"));
        self.security.check(&mut problems.section("security"));
        self.reward.check(&mut problems.section("reward"));
        self.check_across_sections(problems);
    }

    fn check_across_sections(&self, problems: &mut Problems) {
        problems.section("reward").check(
            self.reward.service().is_none()
                || (!self.conditioning.enabled() && self.conditioning.objectives.is_empty()),
            "type",
            "\"builtin\" when conditioning.reward_exponents or conditioning.objectives is set \
             (a multi-objective run takes objectives from services with [[conditioning.services]])",
            "\"service\"",
        );
        problems.section("learner").check(
            self.learner.reward_audit_fraction == 0.0 || self.reward.service().is_none(),
            "reward_audit_fraction",
            "0 with a reward service (the audit recomputes the built-in reward)",
            self.learner.reward_audit_fraction,
        );
    }
}
