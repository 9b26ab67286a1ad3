//! Any task that computes objectives, conditioned on a preference over them and a reward
//! exponent (multi-objective runs, [`crate::env::preference`]): the environment is wrapped, the
//! reward is the task's objectives scalarised under each trajectory's condition, and the run
//! is evaluated on its Pareto front ([`super::pareto_evaluation`]).

use std::sync::Arc;

use crate::config::ObjectiveServiceConfig;
use crate::env::preference::{PreferenceConditioned, Preferred};
use crate::reward::Scored;
use crate::reward::preference::{ObjectiveModel, PreferenceReward};
use crate::reward::remote::{RemoteObjectives, linear_scale};
use crate::reward::scalarization::PreferenceConditioning;
use crate::task::composed_objectives::ComposedObjectives;
use crate::task::{HookContext, Normalization, RunHooks, Task, TaskError, TaskState};

/// `T` conditioned on a preference over some of its objectives.
#[derive(Clone)]
pub struct Preferences<T: Task> {
    inner: T,
    env: PreferenceConditioned<T::Env>,
    services: Vec<ObjectiveServiceConfig>,
}

impl<T: Task + Clone> Preferences<T> {
    /// Conditions `inner` as `conditioning` says, with the objectives `services` name computed
    /// by those reward services; fails when an objective is neither the task's nor a service's,
    /// or a service's objective has no normalisation.
    pub fn new(
        inner: T,
        conditioning: PreferenceConditioning,
        services: Vec<ObjectiveServiceConfig>,
    ) -> Result<Self, TaskError> {
        let known = inner.objective_names();
        let served = |name: &String| services.iter().any(|s| s.objectives.contains(name));
        if let Some(unknown) =
            conditioning.objectives.iter().find(|name| !known.contains(&name.as_str()) && !served(name))
        {
            return Err(format!(
                "conditioning.objectives: the {} task has no objective {unknown:?} (it computes \
                 {known:?}) and no conditioning.services entry computes it",
                inner.name()
            )
            .into());
        }
        let env = PreferenceConditioned::new(inner.environment().clone(), conditioning);
        let task = Self { inner, env, services };
        for service in &task.services {
            if let Some(name) = service.objectives.iter().find(|name| task.normalization(name).is_none()) {
                return Err(format!(
                    "conditioning.services ({}): objective {name:?} is not one the {} task knows; \
                     give its scales = {{ {name} = [worst, best] }}",
                    service.name,
                    task.inner.name()
                )
                .into());
            }
        }
        Ok(task)
    }

    /// The unconditioned task.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// How a service's value of objective `name` is normalised: the service's `scales`, else
    /// the task's own normalisation.
    fn normalization(&self, name: &str) -> Option<Normalization> {
        let scale = self.services.iter().find_map(|s| s.scales.get(name).copied());
        match scale {
            Some(scale) => Some(Arc::new(linear_scale(scale))),
            None => self.inner.objective_normalization(name),
        }
    }

    /// The run's objectives: the task's built-in model, composed with `remote` (one per
    /// `conditioning.services` entry) when the run takes objectives from services.
    fn objectives(
        &self,
        copies: usize,
        remote: &[Arc<dyn RemoteObjectives>],
    ) -> Result<Box<dyn ObjectiveModel<TaskState<T>>>, TaskError> {
        let objectives = &self.env.conditioning().objectives;
        if self.services.is_empty() && remote.is_empty() {
            return self.inner.objective_model(objectives, copies);
        }
        let matches = remote.len() == self.services.len()
            && remote
                .iter()
                .zip(&self.services)
                .all(|(r, s)| r.service() == s.name && r.names() == s.objectives);
        if !matches {
            let services: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
            return Err(format!(
                "this run takes objectives from the reward services {services:?} \
                 (conditioning.services), which only gfn-actor and gfn-learner connect to: run it \
                 with `gfn launch` or a learner and actors"
            )
            .into());
        }
        let builtin_names = ComposedObjectives::<T>::builtin_names(objectives, remote);
        let builtin = self.inner.objective_model(&builtin_names, copies)?;
        let composed =
            ComposedObjectives::new(self.inner.clone(), objectives, builtin, remote.to_vec(), |name| {
                self.normalization(name)
            })?;
        Ok(Box::new(composed))
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
        self.reward_with_remote(copies, &[])
    }

    fn reward_with_remote(
        &self,
        copies: usize,
        remote: &[Arc<dyn RemoteObjectives>],
    ) -> Result<Self::Reward, TaskError> {
        let model = self.objectives(copies, remote)?;
        Ok(PreferenceReward::new(model, self.env.conditioning().clone()))
    }

    fn describe(&self) -> String {
        let conditioning = self.env.conditioning();
        let (min, max) = conditioning.reward_exponent;
        let served: Vec<String> = self
            .services
            .iter()
            .map(|s| format!(", {} from the service {}", s.objectives.join(" and "), s.name))
            .collect();
        format!(
            "{}, conditioned on a preference over {} ({:?}) and β ∈ [{min}, {max}]{}",
            self.inner.describe(),
            conditioning.objectives.join(", "),
            conditioning.scalarization,
            served.concat(),
        )
    }

    fn hooks(&self, context: &HookContext) -> Result<RunHooks<Self::Env>, TaskError> {
        let model = self.objectives(1, context.remote)?;
        self.inner.preference_hooks(&self.env, model, context)
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
