//! Run configuration: a TOML file deserialized with serde, unknown keys rejected, then
//! [`RunConfig::validate`]d so that every problem is reported at once, naming its key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::objective::{BackwardPolicy, Balance, BalanceObjective, FlowMatching, Objective, TermWeighting};

/// The embedded default configuration: the 4-D hypergrid with `H = 8` and flow matching.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../configs/hypergrid.toml");

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
    /// The environment and its reward.
    pub env: EnvConfig,
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
}

/// Who may talk to the learner (docs/SECURITY.md). Without a token any client that reaches the
/// gRPC port may register and submit; the learner says so when it starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// File holding the shared run token (environment variable `GFN_RUN_TOKEN` takes
    /// precedence). Every RPC must carry it; calls without it get `UNAUTHENTICATED`.
    pub token_file: Option<PathBuf>,
    /// The learner's TLS certificate chain (PEM); with `tls_key`, gRPC is served over TLS.
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert` (PEM).
    pub tls_key: Option<PathBuf>,
    /// The run CA (PEM): when set, clients must present a certificate it signed (mutual TLS).
    pub tls_client_ca: Option<PathBuf>,
}

/// Reward-exponent (temperature) conditioning: one policy trained on `R^β` for every `β` listed,
/// `β` drawn uniformly per trajectory and given to the network (docs/OBJECTIVES.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConditioningConfig {
    /// The exponents `β_k`; empty turns conditioning off.
    pub reward_exponents: Vec<f64>,
}

impl ConditioningConfig {
    /// Whether the policy is conditioned.
    pub fn enabled(&self) -> bool {
        !self.reward_exponents.is_empty()
    }
}

/// Settings of the `gfn-learner` process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LearnerConfig {
    /// gRPC listen address (`host:port`; port 0 picks a free port).
    pub listen: String,
    /// Prometheus `/metrics` listen address; none if empty.
    pub metrics_listen: String,
    /// Trajectories buffered between ingestion and training; when full, actors wait.
    /// Ignored when `max_queued_updates` is set.
    pub queue_capacity: usize,
    /// Bound of that queue in updates (`max_queued_updates × training.batch_size`
    /// trajectories), so that the policy lag a full queue adds stays this many updates whatever
    /// the batch size; 0 uses `queue_capacity`.
    pub max_queued_updates: usize,
    /// libtorch intra-op threads of the learner's training thread; 0 uses
    /// `training.intra_op_threads` (docs/BENCHMARKS.md measures 1 against 2).
    pub intra_op_threads: usize,
    /// Trajectories whose policy version lags the learner by more than this many updates are
    /// dropped (and counted).
    pub max_policy_lag: u64,
    /// Publish new weights to actors every this many updates.
    pub weights_interval_updates: u64,
    /// Largest gRPC message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Size of the chunks weights are streamed in, in bytes.
    pub weights_chunk_bytes: usize,
    /// After the last update, keep answering actors (`run_finished`) this long before exiting.
    pub linger_seconds: f64,
    /// Concurrent `WatchWeights` streams one actor may hold (`RESOURCE_EXHAUSTED` beyond).
    pub max_weight_streams_per_actor: usize,
    /// Concurrent `WatchWeights` streams in total.
    pub max_weight_streams: usize,
    /// Concurrent `SubmitTrajectories` calls of one actor.
    pub max_submissions_per_actor: usize,
    /// Concurrent `SubmitTrajectories` calls in total.
    pub max_submissions: usize,
    /// Trajectories per second one actor may submit (a token bucket holding one second's
    /// worth); 0 = unlimited.
    pub max_ingest_per_actor: f64,
    /// HTTP/2 streams a client may open on one connection at a time.
    pub max_streams_per_connection: u32,
}

/// Settings of the `gfn-actor` processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActorConfig {
    /// Environments stepped in lockstep per rollout (one batched forward pass per step).
    pub rollout_batch: usize,
    /// Reward worker threads per actor.
    pub reward_threads: usize,
    /// Trajectories per `SubmitTrajectories` call (sent earlier if rewards are slow).
    pub submit_batch: usize,
    /// Synthetic CPU cost per reward call: a busy loop of this many milliseconds.
    pub reward_cpu_cost_ms: f64,
    /// Synthetic latency per reward call: a sleep of this many milliseconds (a remote oracle).
    pub reward_sleep_cost_ms: f64,
    /// Longest pause between reconnection attempts, in seconds (exponential back-off).
    pub reconnect_max_seconds: f64,
}

impl Default for LearnerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:50051".into(),
            metrics_listen: "127.0.0.1:9100".into(),
            queue_capacity: 32,
            max_queued_updates: 0,
            intra_op_threads: 0,
            max_policy_lag: 64,
            weights_interval_updates: 4,
            max_message_bytes: 4 << 20,
            weights_chunk_bytes: 1 << 20,
            linger_seconds: 2.0,
            max_weight_streams_per_actor: 2,
            max_weight_streams: 1024,
            max_submissions_per_actor: 4,
            max_submissions: 256,
            max_ingest_per_actor: 50_000.0,
            max_streams_per_connection: 64,
        }
    }
}

impl Default for ActorConfig {
    fn default() -> Self {
        Self {
            rollout_batch: 16,
            reward_threads: 1,
            submit_batch: 16,
            reward_cpu_cost_ms: 0.0,
            reward_sleep_cost_ms: 0.0,
            reconnect_max_seconds: 2.0,
        }
    }
}

/// The environment, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EnvConfig {
    /// The paper's hypergrid.
    Hypergrid(HypergridConfig),
    /// Fragment-based molecules scored by the sEH proxy.
    Fragments(FragmentConfig),
    /// Bit sequences written word by word in any order (Malkin et al. 2022, §5.3).
    BitSequences(crate::env::bit_sequences::BitSequenceConfig),
}

/// The fragment-molecule environment and its sEH proxy reward
/// (`R = (max(proxy, r_min) / reward_norm)^reward_exponent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FragmentConfig {
    /// Block vocabulary file (pandas JSON with `block_name`, `block_smi`, `block_r`).
    pub vocabulary: PathBuf,
    /// sEH proxy weights converted to safetensors by `scripts/convert_seh_proxy.py` (read by
    /// the actors, which compute the reward).
    pub proxy_weights: PathBuf,
    /// Fewest blocks before stop is allowed (unless no stem is left).
    pub min_blocks: usize,
    /// Most blocks per molecule.
    pub max_blocks: usize,
    /// `β`, the reward exponent.
    pub reward_exponent: f64,
    /// `R_min`: proxy values below it are clipped.
    pub r_min: f64,
    /// The proxy is divided by this.
    pub reward_norm: f64,
    /// A distinct molecule with proxy ≥ this can count as a mode.
    pub mode_threshold: f64,
    /// … if its ECFP4 Tanimoto similarity to every earlier mode is below this.
    pub mode_max_similarity: f64,
}

impl Default for FragmentConfig {
    fn default() -> Self {
        Self {
            vocabulary: "../shared/data/fragments/blocks_PDB_105.json".into(),
            proxy_weights: ".cache/seh_proxy.safetensors".into(),
            min_blocks: 2,
            max_blocks: 8,
            reward_exponent: 10.0,
            r_min: 0.1,
            reward_norm: 8.0,
            mode_threshold: 7.5,
            mode_max_similarity: 0.7,
        }
    }
}

impl FragmentConfig {
    /// The block-count limits.
    pub fn limits(&self) -> crate::env::fragments::FragmentLimits {
        crate::env::fragments::FragmentLimits { min_blocks: self.min_blocks, max_blocks: self.max_blocks }
    }

    /// Loads the vocabulary into the environment.
    pub fn environment(
        &self,
    ) -> Result<crate::env::FragmentEnvironment, crate::env::blocks::VocabularyError> {
        crate::env::FragmentEnvironment::load(&self.vocabulary, self.limits())
    }

    /// The reward constants.
    pub fn reward_settings(&self) -> crate::reward::SehRewardSettings {
        crate::reward::SehRewardSettings {
            exponent: self.reward_exponent,
            r_min: self.r_min,
            norm: self.reward_norm,
            mode_threshold: self.mode_threshold,
        }
    }
}

/// Hypergrid size and reward constants (`R = R0 + R1·… + R2·…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HypergridConfig {
    /// Number of dimensions `n ≥ 1`.
    pub ndim: usize,
    /// Side length `H ≥ 2`.
    pub height: usize,
    /// Base reward `R0 > 0`.
    pub r0: f64,
    /// Outer-region bonus `R1 ≥ 0`.
    pub r1: f64,
    /// Mode-band bonus `R2 ≥ 0`.
    pub r2: f64,
}

/// The policy network: for dense inputs (grids) an MLP of `hidden_layers` layers of `hidden`
/// units; for fragment molecules the block-graph network with embeddings `hidden` wide and
/// `hidden_layers` message-passing rounds (`message_passing` picks the core).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Units per hidden layer (block-graph network: embedding width).
    pub hidden: usize,
    /// Number of hidden layers (block-graph network: message-passing rounds).
    pub hidden_layers: usize,
    /// Block-graph network only: `"residual"` (separate weights per round, residual updates)
    /// or `"gru"` (the paper's: one shared edge-conditioned convolution and GRU cell).
    pub message_passing: MessagePassing,
}

/// The message-passing core of the block-graph network (see `policy::block_graph`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessagePassing {
    /// Separate weights per round, residual updates.
    #[default]
    Residual,
    /// The paper's: one shared NNConv (rank-one edge matrices) and GRU cell for every step.
    Gru,
}

/// The objective, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ObjectiveConfig {
    /// Flow matching (Bengio et al. 2021).
    FlowMatching(FlowMatchingConfig),
    /// Trajectory balance (Malkin et al. 2022).
    TrajectoryBalance(TrajectoryBalanceConfig),
    /// Detailed balance (Bengio et al., GFlowNet Foundations).
    DetailedBalance(DetailedBalanceConfig),
    /// Sub-trajectory balance (Madan et al. 2023).
    SubTrajectoryBalance(SubTrajectoryBalanceConfig),
}

/// Trajectory-balance settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrajectoryBalanceConfig {
    /// Adam learning rate of the scalar `log Z` (the network uses `training.learning_rate`).
    pub log_z_learning_rate: f64,
    /// `"uniform"` over the in-edges of each state, or `"learned"`.
    pub backward_policy: BackwardPolicy,
}

impl Default for TrajectoryBalanceConfig {
    fn default() -> Self {
        Self { log_z_learning_rate: 0.1, backward_policy: BackwardPolicy::Uniform }
    }
}

/// Detailed-balance settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetailedBalanceConfig {
    /// `"uniform"` over the in-edges of each state, or `"learned"`.
    pub backward_policy: BackwardPolicy,
}

/// Sub-trajectory-balance settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubTrajectoryBalanceConfig {
    /// `λ`: a sub-trajectory of `k` transitions weighs `λ^k`.
    pub lambda: f64,
    /// `"uniform"` over the in-edges of each state, or `"learned"`.
    pub backward_policy: BackwardPolicy,
}

impl Default for SubTrajectoryBalanceConfig {
    fn default() -> Self {
        Self { lambda: 0.9, backward_policy: BackwardPolicy::Uniform }
    }
}

impl ObjectiveConfig {
    /// The objective these settings describe.
    pub fn objective(&self) -> Objective {
        let balance = |balance, backward| Objective::Balance(BalanceObjective { balance, backward });
        match self {
            Self::FlowMatching(fm) => Objective::FlowMatching(fm.objective()),
            Self::TrajectoryBalance(tb) => balance(Balance::Trajectory, tb.backward_policy),
            Self::DetailedBalance(db) => balance(Balance::Detailed, db.backward_policy),
            Self::SubTrajectoryBalance(subtb) => {
                balance(Balance::SubTrajectory { lambda: subtb.lambda }, subtb.backward_policy)
            }
        }
    }

    /// The learning rate of `log Z`, for objectives that learn it.
    pub fn log_z_learning_rate(&self) -> Option<f64> {
        match self {
            Self::TrajectoryBalance(tb) => Some(tb.log_z_learning_rate),
            _ => None,
        }
    }

    /// The backward policy (uniform for flow matching, which has none).
    pub fn backward_policy(&self) -> BackwardPolicy {
        match self {
            Self::FlowMatching(_) => BackwardPolicy::Uniform,
            Self::TrajectoryBalance(c) => c.backward_policy,
            Self::DetailedBalance(c) => c.backward_policy,
            Self::SubTrajectoryBalance(c) => c.backward_policy,
        }
    }
}

/// Flow-matching settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowMatchingConfig {
    /// The `ε ≥ 0` inside the logarithms of in- and out-flows.
    pub epsilon: f64,
    /// How terms are averaged: `"balanced"` (interior mean + terminal mean) or `"transitions"`.
    pub weighting: TermWeighting,
    /// Weight of the terminal (leaf) terms against the interior ones, `> 0`: the paper's
    /// `leaf_coef` (10 in its molecule runs); 1 weighs both alike.
    pub leaf_weight: f64,
}

impl FlowMatchingConfig {
    /// The objective these settings describe.
    pub fn objective(&self) -> FlowMatching {
        FlowMatching { epsilon: self.epsilon, weighting: self.weighting, leaf_weight: self.leaf_weight }
    }
}

/// Optimisation and sampling settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    /// Number of parameter updates.
    pub updates: u64,
    /// Trajectories per update.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Adam's ε (added to the square root of the second moment).
    pub adam_epsilon: f64,
    /// Probability of a uniformly random allowed action while sampling for training.
    pub exploration_epsilon: f64,
    /// Softmax temperature while sampling for training.
    pub temperature: f64,
    /// libtorch intra-op threads per process (1 is fastest for small networks).
    pub intra_op_threads: usize,
    /// `gfn train` only: sample on a second thread, one update ahead of the learner (a policy
    /// lag of exactly one update, deterministic), instead of alternating on one thread.
    pub pipelined_sampling: bool,
    /// The learner's replay buffer (off by default: `capacity = 0`).
    pub replay: crate::replay::ReplayConfig,
    /// Polyak averaging decay per update in `[0, 1)`: the policy that samples, is published and
    /// is evaluated is an exponential moving average of the trained weights; 0 turns it off.
    pub weight_averaging: f64,
    /// Probability in `[0, 1]` that a training rollout is forced to stop as soon as it may
    /// after a length drawn uniformly from the environment's range (fragments:
    /// `[min_blocks, max_blocks]` blocks): the paper's `early_stop_reg` (0.1); 0 turns it off.
    pub early_stop_probability: f64,
}

/// Evaluation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationConfig {
    /// Evaluate every this many updates (and after the last one).
    pub interval_updates: u64,
    /// Fresh on-policy samples for the empirical L1 (0 to skip).
    pub empirical_samples: usize,
    /// JSON-lines log of evaluation records; none if absent.
    pub log_path: Option<PathBuf>,
    /// SQLite database every generated molecule is stored in (fragment runs); none if absent.
    pub results_db: Option<PathBuf>,
    /// Fragment runs: every this many molecules generated, a milestone record with every
    /// statistic (top-k proxy, modes, scaffolds, diversity) goes to the log; 0 = none.
    pub milestone_molecules: u64,
}

/// Checkpoint settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// Directory for checkpoints; none written if absent. A run resumes from the newest valid
    /// checkpoint found there.
    pub dir: Option<PathBuf>,
    /// Write a checkpoint every this many updates (0: not by count).
    pub interval_updates: u64,
    /// Write a checkpoint at least every this many seconds (0: not by time; the distributed
    /// learner only).
    pub interval_seconds: f64,
    /// Checkpoints kept in the directory (older ones are deleted).
    pub keep: usize,
    /// Distributed learner: journal every accepted trajectory durably in `<dir>/journal` before
    /// acknowledging it, and feed the journal from the checkpoint on into training after a
    /// restart, so that no accepted trajectory is lost (docs/RELIABILITY.md). Needs `dir`.
    pub journal: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            env: EnvConfig::Hypergrid(HypergridConfig::default()),
            policy: PolicyConfig::default(),
            objective: ObjectiveConfig::FlowMatching(FlowMatchingConfig::default()),
            training: TrainingConfig::default(),
            evaluation: EvaluationConfig::default(),
            checkpoint: CheckpointConfig::default(),
            learner: LearnerConfig::default(),
            actor: ActorConfig::default(),
            conditioning: ConditioningConfig::default(),
            security: SecurityConfig::default(),
        }
    }
}

impl Default for HypergridConfig {
    fn default() -> Self {
        Self { ndim: 4, height: 8, r0: 0.1, r1: 0.5, r2: 2.0 }
    }
}

impl HypergridConfig {
    /// The environment these settings describe.
    pub fn environment(&self) -> crate::env::Hypergrid {
        crate::env::Hypergrid::new(self.ndim, self.height)
    }

    /// The reward these settings describe.
    pub fn reward(&self) -> crate::reward::HypergridReward {
        crate::reward::HypergridReward::new(self.height, self.r0, self.r1, self.r2)
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self { hidden: 256, hidden_layers: 2, message_passing: MessagePassing::Residual }
    }
}

impl Default for FlowMatchingConfig {
    fn default() -> Self {
        Self { epsilon: 2.5e-5, weighting: TermWeighting::default(), leaf_weight: 1.0 }
    }
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            updates: 5_000,
            batch_size: 16,
            learning_rate: 1e-3,
            adam_epsilon: 1e-8,
            exploration_epsilon: 0.0,
            temperature: 1.0,
            intra_op_threads: 1,
            pipelined_sampling: true,
            replay: crate::replay::ReplayConfig::default(),
            weight_averaging: 0.99,
            early_stop_probability: 0.0,
        }
    }
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        Self {
            interval_updates: 250,
            empirical_samples: 10_000,
            log_path: None,
            results_db: None,
            milestone_molecules: 10_000,
        }
    }
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self { dir: None, interval_updates: 1_000, interval_seconds: 60.0, keep: 3, journal: true }
    }
}

impl RunConfig {
    /// Parses and validates TOML text; `origin` names the file in error messages.
    pub fn from_toml_str(text: &str, origin: Option<&Path>) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.map(Path::to_path_buf),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::from_toml_str(&text, Some(path))
    }

    /// The embedded default configuration.
    pub fn embedded_default() -> Self {
        Self::from_toml_str(DEFAULT_CONFIG_TOML, None).expect("the embedded config is valid")
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

    /// Checks every value, reporting all problems at once with their keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if let EnvConfig::BitSequences(bits) = &self.env
            && let Err(problem) = bits.validate()
        {
            problems.push(problem);
        }
        let mut check = |ok: bool, key: &str, requirement: &str, value: String| {
            if !ok {
                problems.push(format!("{key} must be {requirement} (got {value})"));
            }
        };
        match &self.env {
            EnvConfig::Hypergrid(grid) => {
                check(grid.ndim >= 1, "env.ndim", "at least 1", grid.ndim.to_string());
                check(grid.ndim <= 16, "env.ndim", "at most 16", grid.ndim.to_string());
                check(grid.height >= 2, "env.height", "at least 2", grid.height.to_string());
                check(grid.height <= 1024, "env.height", "at most 1024", grid.height.to_string());
                check(
                    grid.r0.is_finite() && grid.r0 > 0.0,
                    "env.r0",
                    "positive and finite",
                    grid.r0.to_string(),
                );
                check(
                    grid.r1.is_finite() && grid.r1 >= 0.0,
                    "env.r1",
                    "non-negative and finite",
                    grid.r1.to_string(),
                );
                check(
                    grid.r2.is_finite() && grid.r2 >= 0.0,
                    "env.r2",
                    "non-negative and finite",
                    grid.r2.to_string(),
                );
            }
            EnvConfig::Fragments(f) => {
                check(f.min_blocks >= 1, "env.min_blocks", "at least 1", f.min_blocks.to_string());
                check(
                    f.max_blocks >= f.min_blocks.max(1),
                    "env.max_blocks",
                    "at least env.min_blocks",
                    f.max_blocks.to_string(),
                );
                check(f.max_blocks <= 40, "env.max_blocks", "at most 40", f.max_blocks.to_string());
                let positive = |v: f64| v.is_finite() && v > 0.0;
                check(
                    positive(f.reward_exponent),
                    "env.reward_exponent",
                    "positive and finite",
                    f.reward_exponent.to_string(),
                );
                check(positive(f.r_min), "env.r_min", "positive and finite", f.r_min.to_string());
                check(
                    positive(f.reward_norm),
                    "env.reward_norm",
                    "positive and finite",
                    f.reward_norm.to_string(),
                );
                check(
                    f.mode_threshold.is_finite(),
                    "env.mode_threshold",
                    "finite",
                    f.mode_threshold.to_string(),
                );
                check(
                    (0.0..=1.0).contains(&f.mode_max_similarity),
                    "env.mode_max_similarity",
                    "in [0, 1]",
                    f.mode_max_similarity.to_string(),
                );
            }
            EnvConfig::BitSequences(_) => {} // validated by its own section above
        }
        check(self.policy.hidden >= 1, "policy.hidden", "at least 1", self.policy.hidden.to_string());
        let positive_finite = |v: f64| v.is_finite() && v > 0.0;
        match &self.objective {
            ObjectiveConfig::FlowMatching(fm) => {
                check(
                    fm.epsilon.is_finite() && fm.epsilon >= 0.0,
                    "objective.epsilon",
                    "non-negative and finite",
                    fm.epsilon.to_string(),
                );
                check(
                    positive_finite(fm.leaf_weight),
                    "objective.leaf_weight",
                    "positive and finite",
                    fm.leaf_weight.to_string(),
                );
            }
            ObjectiveConfig::TrajectoryBalance(tb) => check(
                tb.log_z_learning_rate.is_finite() && tb.log_z_learning_rate > 0.0,
                "objective.log_z_learning_rate",
                "positive and finite",
                tb.log_z_learning_rate.to_string(),
            ),
            ObjectiveConfig::DetailedBalance(_) => {}
            ObjectiveConfig::SubTrajectoryBalance(subtb) => check(
                subtb.lambda.is_finite() && subtb.lambda > 0.0,
                "objective.lambda",
                "positive and finite",
                subtb.lambda.to_string(),
            ),
        }
        check(
            self.objective.backward_policy() == BackwardPolicy::Uniform
                || !matches!(self.env, EnvConfig::Fragments(_)),
            "objective.backward_policy",
            "\"uniform\" for fragment molecules (a learned backward policy needs a dense network)",
            "\"learned\"".into(),
        );
        let exponents = &self.conditioning.reward_exponents;
        check(
            exponents.len() <= 255 && exponents.iter().all(|b| b.is_finite() && *b > 0.0),
            "conditioning.reward_exponents",
            "at most 255 positive finite values",
            format!("{exponents:?}"),
        );
        if let EnvConfig::Fragments(f) = &self.env {
            check(
                exponents.is_empty() || f.reward_exponent == 1.0,
                "env.reward_exponent",
                "1 when conditioning.reward_exponents is set (each listed β is then the exponent of \
                 max(proxy, r_min) / reward_norm)",
                f.reward_exponent.to_string(),
            );
        }
        let security = &self.security;
        check(
            security.tls_cert.is_some() == security.tls_key.is_some(),
            "security.tls_cert",
            "given together with security.tls_key",
            format!("{:?} / {:?}", security.tls_cert, security.tls_key),
        );
        check(
            security.tls_client_ca.is_none() || security.tls_cert.is_some(),
            "security.tls_client_ca",
            "used only with security.tls_cert and security.tls_key (mutual TLS needs server TLS)",
            format!("{:?}", security.tls_client_ca),
        );
        let t = &self.training;
        check(t.batch_size >= 1, "training.batch_size", "at least 1", t.batch_size.to_string());
        check(
            positive_finite(t.learning_rate),
            "training.learning_rate",
            "positive and finite",
            t.learning_rate.to_string(),
        );
        check(
            positive_finite(t.adam_epsilon),
            "training.adam_epsilon",
            "positive and finite",
            t.adam_epsilon.to_string(),
        );
        check(
            (0.0..1.0).contains(&t.weight_averaging),
            "training.weight_averaging",
            "in [0, 1) (0 = off)",
            t.weight_averaging.to_string(),
        );
        check(
            (0.0..=1.0).contains(&t.early_stop_probability),
            "training.early_stop_probability",
            "in [0, 1]",
            t.early_stop_probability.to_string(),
        );
        check(
            (0.0..=1.0).contains(&t.exploration_epsilon),
            "training.exploration_epsilon",
            "in [0, 1]",
            t.exploration_epsilon.to_string(),
        );
        check(
            t.temperature.is_finite() && t.temperature > 0.0,
            "training.temperature",
            "positive and finite",
            t.temperature.to_string(),
        );
        check(
            t.intra_op_threads >= 1,
            "training.intra_op_threads",
            "at least 1",
            t.intra_op_threads.to_string(),
        );
        check(
            (0.0..1.0).contains(&t.replay.fraction),
            "training.replay.fraction",
            "in [0, 1)",
            t.replay.fraction.to_string(),
        );
        let e = &self.evaluation;
        check(
            e.interval_updates >= 1,
            "evaluation.interval_updates",
            "at least 1",
            e.interval_updates.to_string(),
        );
        check(self.checkpoint.keep >= 1, "checkpoint.keep", "at least 1", self.checkpoint.keep.to_string());
        let c = &self.checkpoint;
        check(
            c.interval_seconds.is_finite() && c.interval_seconds >= 0.0,
            "checkpoint.interval_seconds",
            "non-negative",
            c.interval_seconds.to_string(),
        );
        let l = &self.learner;
        check(!l.listen.is_empty(), "learner.listen", "an address", format!("{:?}", l.listen));
        check(l.queue_capacity >= 1, "learner.queue_capacity", "at least 1", l.queue_capacity.to_string());
        check(
            l.max_queued_updates <= 1 << 20,
            "learner.max_queued_updates",
            "at most 1048576 (0 = use learner.queue_capacity)",
            l.max_queued_updates.to_string(),
        );
        check(
            l.intra_op_threads <= 256,
            "learner.intra_op_threads",
            "at most 256 (0 = training.intra_op_threads)",
            l.intra_op_threads.to_string(),
        );
        check(
            l.weights_interval_updates >= 1,
            "learner.weights_interval_updates",
            "at least 1",
            l.weights_interval_updates.to_string(),
        );
        check(
            l.max_message_bytes >= 1024,
            "learner.max_message_bytes",
            "at least 1024",
            l.max_message_bytes.to_string(),
        );
        check(
            (1024..=l.max_message_bytes).contains(&l.weights_chunk_bytes),
            "learner.weights_chunk_bytes",
            "between 1024 and learner.max_message_bytes",
            l.weights_chunk_bytes.to_string(),
        );
        for (value, key) in [
            (l.max_weight_streams_per_actor, "learner.max_weight_streams_per_actor"),
            (l.max_weight_streams, "learner.max_weight_streams"),
            (l.max_submissions_per_actor, "learner.max_submissions_per_actor"),
            (l.max_submissions, "learner.max_submissions"),
            (l.max_streams_per_connection as usize, "learner.max_streams_per_connection"),
        ] {
            check(value >= 1, key, "at least 1", value.to_string());
        }
        check(
            l.max_ingest_per_actor.is_finite() && l.max_ingest_per_actor >= 0.0,
            "learner.max_ingest_per_actor",
            "finite and at least 0 (0 = unlimited)",
            l.max_ingest_per_actor.to_string(),
        );
        check(
            l.linger_seconds.is_finite() && l.linger_seconds >= 0.0,
            "learner.linger_seconds",
            "non-negative",
            l.linger_seconds.to_string(),
        );
        let a = &self.actor;
        check(a.rollout_batch >= 1, "actor.rollout_batch", "at least 1", a.rollout_batch.to_string());
        check(a.reward_threads >= 1, "actor.reward_threads", "at least 1", a.reward_threads.to_string());
        check(a.submit_batch >= 1, "actor.submit_batch", "at least 1", a.submit_batch.to_string());
        for (key, value) in [
            ("actor.reward_cpu_cost_ms", a.reward_cpu_cost_ms),
            ("actor.reward_sleep_cost_ms", a.reward_sleep_cost_ms),
        ] {
            check(value.is_finite() && value >= 0.0, key, "non-negative", value.to_string());
        }
        check(
            a.reconnect_max_seconds.is_finite() && a.reconnect_max_seconds > 0.0,
            "actor.reconnect_max_seconds",
            "positive",
            a.reconnect_max_seconds.to_string(),
        );
        if problems.is_empty() { Ok(()) } else { Err(ConfigError::Invalid { problems }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_the_papers_4d_grid() {
        let config = RunConfig::embedded_default();
        assert_eq!(config.env, EnvConfig::Hypergrid(HypergridConfig::default()));
        assert_eq!(config.training.batch_size, 16);
        assert_eq!(config.policy, PolicyConfig { hidden: 256, hidden_layers: 2, ..PolicyConfig::default() });
    }

    #[test]
    fn objectives_parse_with_their_defaults_and_checks() {
        let tb = RunConfig::from_toml_str("[objective]\ntype = \"trajectory_balance\"\n", None).unwrap();
        assert_eq!(tb.objective, ObjectiveConfig::TrajectoryBalance(TrajectoryBalanceConfig::default()));
        assert_eq!(tb.objective.log_z_learning_rate(), Some(0.1));
        assert!(tb.objective.objective().learns_log_z());
        let subtb =
            "[objective]\ntype = \"sub_trajectory_balance\"\nlambda = 0.5\nbackward_policy = \"learned\"\n";
        let subtb = RunConfig::from_toml_str(subtb, None).unwrap();
        assert_eq!(
            subtb.objective.objective(),
            Objective::Balance(BalanceObjective {
                balance: Balance::SubTrajectory { lambda: 0.5 },
                backward: BackwardPolicy::Learned
            })
        );
        assert_eq!(subtb.objective.objective().extra_outputs(5), 1 + 5);
        let db = RunConfig::from_toml_str("[objective]\ntype = \"detailed_balance\"\n", None).unwrap();
        assert!(db.objective.objective().has_state_flow());
        // flow matching's ε is not a trajectory-balance key
        let error =
            RunConfig::from_toml_str("[objective]\ntype = \"trajectory_balance\"\nepsilon = 1.0\n", None)
                .unwrap_err()
                .to_string();
        assert!(error.contains("epsilon"), "{error}");
        let bad = "[env]\ntype = \"fragments\"\n[objective]\ntype = \"detailed_balance\"\nbackward_policy = \"learned\"\n\
                   [training.replay]\nfraction = 1.0\n";
        let error = RunConfig::from_toml_str(bad, None).unwrap_err().to_string();
        assert!(
            error.contains("objective.backward_policy") && error.contains("training.replay.fraction"),
            "{error}"
        );
    }

    #[test]
    fn molecule_recipe_knobs_parse_and_are_checked() {
        let paper = "[objective]\ntype = \"flow_matching\"\nleaf_weight = 10.0\n\
                     [training]\nbatch_size = 4\nearly_stop_probability = 0.1\n\
                     [learner]\nmax_queued_updates = 2\nintra_op_threads = 2\n";
        let config = RunConfig::from_toml_str(paper, None).unwrap();
        assert_eq!(
            config.objective.objective(),
            Objective::FlowMatching(FlowMatching {
                epsilon: 2.5e-5,
                weighting: TermWeighting::Balanced,
                leaf_weight: 10.0
            })
        );
        assert_eq!(config.training.early_stop_probability, 0.1);
        // the queue holds 2 updates of 4 trajectories, whatever queue_capacity says
        assert_eq!(config.ingest_queue_capacity(), 8);
        assert_eq!(config.learner_threads(), 2);
        let defaults = RunConfig::embedded_default();
        assert_eq!(defaults.ingest_queue_capacity(), defaults.learner.queue_capacity);
        assert_eq!(defaults.learner_threads(), defaults.training.intra_op_threads);
        let bad = "[objective]\ntype = \"flow_matching\"\nleaf_weight = 0.0\n\
                   [training]\nearly_stop_probability = 1.5\n[learner]\nintra_op_threads = 1000\n";
        let error = RunConfig::from_toml_str(bad, None).unwrap_err().to_string();
        for key in ["objective.leaf_weight", "training.early_stop_probability", "learner.intra_op_threads"] {
            assert!(error.contains(key), "{key} missing from: {error}");
        }
        let negative = "[objective]\ntype = \"flow_matching\"\nleaf_weight = -1.0\n";
        let error = RunConfig::from_toml_str(negative, None).unwrap_err().to_string();
        assert!(error.contains("objective.leaf_weight must be positive and finite (got -1)"), "{error}");
        // a leaf weight belongs to flow matching only
        let error =
            RunConfig::from_toml_str("[objective]\ntype = \"trajectory_balance\"\nleaf_weight = 2.0\n", None)
                .unwrap_err()
                .to_string();
        assert!(error.contains("leaf_weight"), "{error}");
    }

    #[test]
    fn conditioning_exponents_are_checked() {
        let ok = RunConfig::from_toml_str("[conditioning]\nreward_exponents = [1.0, 4.0]\n", None).unwrap();
        assert!(ok.conditioning.enabled());
        assert!(!RunConfig::embedded_default().conditioning.enabled());
        let error = RunConfig::from_toml_str("[conditioning]\nreward_exponents = [1.0, -2.0]\n", None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("conditioning.reward_exponents") && error.contains("positive"), "{error}");
        let molecules = "[env]\ntype = \"fragments\"\n[conditioning]\nreward_exponents = [1.0]\n";
        let error = RunConfig::from_toml_str(molecules, None).unwrap_err().to_string();
        assert!(error.contains("env.reward_exponent") && error.contains("1 when conditioning"), "{error}");
        let molecules = molecules.replace("\"fragments\"", "\"fragments\"\nreward_exponent = 1.0");
        assert!(RunConfig::from_toml_str(&molecules, None).unwrap().conditioning.enabled());
    }

    #[test]
    fn round_trips_through_toml() {
        let config = RunConfig::embedded_default();
        let again = RunConfig::from_toml_str(&config.to_toml_string(), None).unwrap();
        assert_eq!(config, again);
    }

    #[test]
    fn every_out_of_range_value_is_named() {
        let text = r#"
            [env]
            type = "hypergrid"
            ndim = 0
            height = 1
            r0 = -0.1
            [training]
            batch_size = 0
            learning_rate = -1.0
        "#;
        let error = RunConfig::from_toml_str(text, None).unwrap_err().to_string();
        for key in ["env.ndim", "env.height", "env.r0", "training.batch_size", "training.learning_rate"] {
            assert!(error.contains(key), "{key} missing from: {error}");
        }
        assert!(!error.contains("env.r1"), "{error}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let error = RunConfig::from_toml_str("[training]\nbatch_sise = 3\n", Some(Path::new("x.toml")))
            .unwrap_err()
            .to_string();
        assert!(error.contains("batch_sise") && error.contains("x.toml"), "{error}");
        let error = RunConfig::from_toml_str("[env]\ntype = \"hypergrid\"\nhieght = 3\n", None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("hieght"), "{error}");
        let error = RunConfig::from_toml_str("[env]\ntype = \"hypercube\"\n", None).unwrap_err().to_string();
        assert!(error.contains("hypercube"), "{error}");
        let error = RunConfig::from_toml_str("sed = 1\n", None).unwrap_err().to_string();
        assert!(error.contains("sed"), "{error}");
    }
}
