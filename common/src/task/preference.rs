//! Any task that computes objectives, conditioned on a preference over them and a reward
//! exponent (multi-objective runs, [`crate::env::preference`]): the environment is wrapped, the
//! reward is the task's objectives scalarised under each trajectory's condition, and the run
//! is evaluated on its Pareto front ([`super::pareto_evaluation`]).

use crate::env::preference::{PreferenceConditioned, Preferred};
use crate::reward::Scored;
use crate::reward::preference::PreferenceReward;
use crate::reward::scalarization::PreferenceConditioning;
use crate::task::{HookContext, RunHooks, Task, TaskError, TaskState};

/// `T` conditioned on a preference over some of its objectives.
#[derive(Clone)]
pub struct Preferences<T: Task> {
    inner: T,
    env: PreferenceConditioned<T::Env>,
}

impl<T: Task> Preferences<T> {
    /// Conditions `inner` as `conditioning` says; fails when the task does not compute one of
    /// the objectives named.
    pub fn new(inner: T, conditioning: PreferenceConditioning) -> Result<Self, TaskError> {
        let known = inner.objective_names();
        if let Some(unknown) = conditioning.objectives.iter().find(|name| !known.contains(&name.as_str())) {
            return Err(format!(
                "conditioning.objectives: the {} task has no objective {unknown:?} (it computes {known:?})",
                inner.name()
            )
            .into());
        }
        let env = PreferenceConditioned::new(inner.environment().clone(), conditioning);
        Ok(Self { inner, env })
    }

    /// The unconditioned task.
    pub fn inner(&self) -> &T {
        &self.inner
    }
}

impl<T: Task + Clone> Task for Preferences<T> {
    type Env = PreferenceConditioned<T::Env>;
    type Reward = PreferenceReward<TaskState<T>>;

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn environment(&self) -> &Self::Env {
        &self.env
    }

    fn reward(&self, copies: usize) -> Result<Self::Reward, TaskError> {
        let conditioning = self.env.conditioning().clone();
        let model = self.inner.objective_model(&conditioning.objectives, copies)?;
        Ok(PreferenceReward::new(model, conditioning))
    }

    fn describe(&self) -> String {
        let conditioning = self.env.conditioning();
        let (min, max) = conditioning.reward_exponent;
        format!(
            "{}, conditioned on a preference over {} ({:?}) and β ∈ [{min}, {max}]",
            self.inner.describe(),
            conditioning.objectives.join(", "),
            conditioning.scalarization,
        )
    }

    fn hooks(&self, context: &HookContext) -> Result<RunHooks<Self::Env>, TaskError> {
        self.inner.preference_hooks(&self.env, context)
    }

    fn object_columns(&self) -> Vec<String> {
        let conditioning = self.env.conditioning();
        let mut columns = self.inner.object_columns();
        for name in &conditioning.objectives {
            columns.push(name.clone());
            columns.push(format!("{name}_norm"));
        }
        columns.extend(conditioning.objectives.iter().map(|name| format!("preference_{name}")));
        columns.push("reward_exponent".into());
        columns
    }

    fn object_fields(&self, state: &Preferred<TaskState<T>>, scored: &Scored) -> Vec<String> {
        let mut fields = self.inner.object_fields(&state.state, scored);
        for (raw, normalized) in scored.raw_objectives.iter().zip(&scored.objectives) {
            fields.push(raw.to_string());
            fields.push(normalized.to_string());
        }
        fields.extend(state.condition.preference().iter().map(f64::to_string));
        fields.push(state.condition.reward_exponent().to_string());
        fields
    }
}
