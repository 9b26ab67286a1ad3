//! The hypergrid task (Bengio et al. 2021, §4.1): enumerable, so every run is evaluated exactly
//! (L1 between the policy's terminal distribution and `R/Z`, learned against true `log Z`).

use serde::{Deserialize, Serialize};

use crate::config::{NetworkKind, RunConfig};
use crate::env::Hypergrid;
use crate::env::conditioned::{ConditionedReward, RewardConditioned};
use crate::env::hypergrid::GridState;
use crate::reward::HypergridReward;
use crate::reward::grid_objectives::GridObjectives;
use crate::reward::preference::ObjectiveModel;
use crate::task::{HookContext, RunHooks, Task, TaskError, TaskPlugin};
use crate::validation::Scope;
use gfn_proto::reward::v1::{GridPoint, RewardObject, reward_object};

/// Hypergrid size and reward constants (`R = R0 + R1·… + R2·…`): `[env] type = "hypergrid"`.
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

impl Default for HypergridConfig {
    fn default() -> Self {
        Self { ndim: 4, height: 8, r0: 0.1, r1: 0.5, r2: 2.0 }
    }
}

impl HypergridConfig {
    /// The environment these settings describe.
    pub fn environment(&self) -> Hypergrid {
        Hypergrid::new(self.ndim, self.height)
    }

    /// The reward these settings describe.
    pub fn reward(&self) -> HypergridReward {
        HypergridReward::new(self.height, self.r0, self.r1, self.r2)
    }

    /// Checks the values (keys `env.*`).
    pub fn check(&self, env: &mut Scope<'_>) {
        env.at_least("ndim", self.ndim, 1);
        env.check(self.ndim <= 16, "ndim", "at most 16", self.ndim);
        env.check(self.height >= 2, "height", "at least 2", self.height);
        env.check(self.height <= 1024, "height", "at most 1024", self.height);
        env.positive_finite("r0", self.r0);
        env.non_negative_finite("r1", self.r1);
        env.non_negative_finite("r2", self.r2);
    }
}

/// The hypergrid and its reward.
#[derive(Clone)]
pub struct HypergridTask {
    config: HypergridConfig,
    env: Hypergrid,
}

impl HypergridTask {
    /// The grid of `config`.
    pub fn new(config: &HypergridConfig) -> Self {
        Self { config: config.clone(), env: config.environment() }
    }
}

impl TaskPlugin for HypergridTask {
    const NAME: &'static str = "hypergrid";
    type Config = HypergridConfig;

    fn from_config(config: &HypergridConfig, _run: &RunConfig) -> Result<Self, TaskError> {
        Ok(Self::new(config))
    }

    fn check(config: &HypergridConfig, _run: &RunConfig, env: &mut Scope<'_>) {
        config.check(env);
    }

    fn network_kind(_config: &HypergridConfig) -> NetworkKind {
        NetworkKind::Mlp
    }
}

impl Task for HypergridTask {
    type Env = Hypergrid;
    type Reward = HypergridReward;

    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn environment(&self) -> &Hypergrid {
        &self.env
    }

    fn reward(&self, _copies: usize) -> Result<HypergridReward, TaskError> {
        Ok(self.config.reward())
    }

    fn describe(&self) -> String {
        format!("{}-D hypergrid H = {}", self.config.ndim, self.config.height)
    }

    /// Branin and Currin on a 2-D grid ([`crate::reward::grid_objectives`]).
    fn objective_names(&self) -> Vec<&'static str> {
        crate::reward::grid_objectives::NAMES.to_vec()
    }

    fn objective_model(
        &self,
        names: &[String],
        _copies: usize,
    ) -> Result<Box<dyn ObjectiveModel<GridState>>, TaskError> {
        if self.config.ndim != 2 {
            return Err(format!(
                "the grid objectives {names:?} need env.ndim = 2 (got {})",
                self.config.ndim
            )
            .into());
        }
        Ok(Box::new(GridObjectives::new(self.config.height, names)?))
    }

    fn service_object(&self, state: &GridState) -> Result<RewardObject, TaskError> {
        let coordinates = state.iter().map(|&x| u32::from(x)).collect();
        Ok(RewardObject { object: Some(reward_object::Object::Grid(GridPoint { coordinates })) })
    }

    fn hooks(&self, context: &HookContext) -> Result<RunHooks<Hypergrid>, TaskError> {
        RunHooks::exact(&self.env, self.config.reward(), context)
    }

    fn conditioned_hooks(
        &self,
        env: &RewardConditioned<Hypergrid>,
        context: &HookContext,
    ) -> Result<RunHooks<RewardConditioned<Hypergrid>>, TaskError> {
        let reward = ConditionedReward::new(self.config.reward(), env.exponents().to_vec());
        RunHooks::exact(env, reward, context)
    }
}
