//! Any task conditioned on a reward exponent: the policy chooses `β` at the root from
//! `conditioning.reward_exponents` and is trained on `R(x)^β` (see
//! [`crate::env::conditioned`]). Works for every registered task; a task decides what its
//! conditioned runs evaluate and record ([`Task::conditioned_hooks`]).

use crate::env::conditioned::{ConditionedReward, ConditionedState, RewardConditioned};
use crate::reward::Scored;
use crate::task::{HookContext, RunHooks, Task, TaskError, TaskState};

/// `T` conditioned on a reward exponent.
#[derive(Clone)]
pub struct Conditioned<T: Task> {
    inner: T,
    env: RewardConditioned<T::Env>,
}

impl<T: Task> Conditioned<T> {
    /// Conditions `inner` on `exponents` (1 to 255 of them, as the configuration validates).
    pub fn new(inner: T, exponents: Vec<f64>) -> Self {
        let env = RewardConditioned::new(inner.environment().clone(), exponents);
        Self { inner, env }
    }

    /// The unconditioned task.
    pub fn inner(&self) -> &T {
        &self.inner
    }
}

impl<T: Task> Task for Conditioned<T> {
    type Env = RewardConditioned<T::Env>;
    type Reward = ConditionedReward<T::Reward>;

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn environment(&self) -> &Self::Env {
        &self.env
    }

    fn reward(&self, copies: usize) -> Result<Self::Reward, TaskError> {
        Ok(ConditionedReward::new(self.inner.reward(copies)?, self.env.exponents().to_vec()))
    }

    fn describe(&self) -> String {
        format!("{}, conditioned on β ∈ {:?}", self.inner.describe(), self.env.exponents())
    }

    fn hooks(&self, context: &HookContext) -> Result<RunHooks<Self::Env>, TaskError> {
        self.inner.conditioned_hooks(&self.env, context)
    }

    fn object_columns(&self) -> Vec<String> {
        let mut columns = self.inner.object_columns();
        columns.push("reward_exponent".into());
        columns
    }

    fn object_fields(&self, state: &ConditionedState<TaskState<T>>, scored: &Scored) -> Vec<String> {
        let mut fields = self.inner.object_fields(&state.state, scored);
        let beta = state.exponent.map(|k| self.env.exponents()[k as usize]);
        fields.push(beta.map(|b| b.to_string()).unwrap_or_default());
        fields
    }
}
