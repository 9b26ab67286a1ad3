//! The hypergrid task (Bengio et al. 2021, §4.1): enumerable, so every run is evaluated exactly
//! (L1 between the policy's terminal distribution and `R/Z`, learned against true `log Z`).

use crate::config::HypergridConfig;
use crate::env::Hypergrid;
use crate::env::conditioned::{ConditionedReward, RewardConditioned};
use crate::env::hypergrid::GridState;
use crate::reward::HypergridReward;
use crate::reward::service::ServiceObject;
use crate::task::{HookContext, RunHooks, Task};

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

impl Task for HypergridTask {
    type Env = Hypergrid;
    type Reward = HypergridReward;

    fn name(&self) -> &'static str {
        "hypergrid"
    }

    fn environment(&self) -> &Hypergrid {
        &self.env
    }

    fn reward(&self, _copies: usize) -> anyhow::Result<HypergridReward> {
        Ok(self.config.reward())
    }

    fn describe(&self) -> String {
        format!("{}-D hypergrid H = {}", self.config.ndim, self.config.height)
    }

    fn service_object(&self, state: &GridState) -> anyhow::Result<ServiceObject> {
        Ok(ServiceObject::Grid(state.iter().map(|&x| u32::from(x)).collect()))
    }

    fn hooks(&self, context: &HookContext) -> anyhow::Result<RunHooks<Hypergrid>> {
        RunHooks::exact(&self.env, self.config.reward(), context)
    }

    fn conditioned_hooks(
        &self,
        env: &RewardConditioned<Hypergrid>,
        context: &HookContext,
    ) -> anyhow::Result<RunHooks<RewardConditioned<Hypergrid>>> {
        let reward = ConditionedReward::new(self.config.reward(), env.exponents().to_vec());
        RunHooks::exact(env, reward, context)
    }
}
