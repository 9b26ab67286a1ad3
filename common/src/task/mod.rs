//! The extension point: a [`Task`] is one problem a GFlowNet learns — an environment, its
//! reward, what a run evaluates and what it records per generated object — defined once and
//! registered by name in [`registry`]. The learner, the actor and every `gfn` command are
//! generic over it; conditioning on a reward exponent is a wrapper
//! ([`conditioned::Conditioned`]) that works for every task.
//!
//! Adding a problem is one module that implements [`Task`] and [`TaskPlugin`] (plus its
//! environment and reward) and either one line in [`registry::BuiltinTasks`] or, in a crate of
//! its own, `BuiltinTasks::default().with::<MyTask>()` in its program's `main`;
//! `docs/EXTENDING.md` walks through `examples/custom-task`.
//!
//! - [`evaluation`]: what the training loop calls every `evaluation.interval_updates`
//!   ([`evaluation::RunEvaluation`]), with the exact evaluation of enumerable environments
//!   and a basic one (loss, learned log Z) for the rest.
//! - [`results`]: generated objects on their way to a task's recorder.
//! - [`hypergrid`], [`fragments`], [`bit_sequences`]: the registered tasks.
//! - [`conditioned`]: any task conditioned on a reward exponent chosen at its root.
//! - [`registry`]: the [`TaskPlugin`] trait (a task built from its own `[env]` section), the
//!   list of registered tasks ([`Tasks`], [`BuiltinTasks`]) and the visitor through which
//!   callers receive a task.

pub mod bit_sequences;
pub mod composed_objectives;
pub mod conditioned;
pub mod evaluation;
pub mod fragments;
pub mod hypergrid;
pub mod pareto_evaluation;
pub mod preference;
pub mod registry;
pub mod results;

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::RunConfig;
use crate::env::Environment;
use crate::env::conditioned::RewardConditioned;
use crate::env::preference::PreferenceConditioned;
use crate::reward::preference::ObjectiveModel;
use crate::reward::remote::RemoteObjectives;
use crate::reward::{Reward, Scored};
pub use gfn_proto::reward::v1::RewardObject;
use gfn_proto::reward::v1::{EncodedObject, reward_object};

pub use evaluation::{Evaluated, RunEvaluation, SharedLog};
pub use registry::{BuiltinTasks, TaskPlugin, TaskVisitor, Tasks};
pub use results::{Generated, ResultsRecorder, ResultsSink};

/// A normalisation of an objective's raw value to [0, 1] (higher is better).
pub type Normalization = Arc<dyn Fn(f64) -> f64 + Send + Sync>;

/// A reward service's object of a task defined outside gfn: its text in the encoding `kind`
/// names (a reward service lists the kinds it scores; `docs/EXTENDING.md`).
pub fn encoded_object(kind: &str, text: String) -> RewardObject {
    let encoded = EncodedObject { kind: kind.to_string(), text };
    RewardObject { object: Some(reward_object::Object::Encoded(encoded)) }
}

/// An error of a task's own code — reading its data, building its reward, its evaluation or its
/// recorder: any error type, boxed, so that `?` takes a task's own errors (any
/// `std::error::Error`, a `String`, an `anyhow::Error`) and the programs show the message with
/// its causes.
pub type TaskError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The state type of a task's environment.
pub type TaskState<T> = <<T as Task>::Env as Environment>::State;

/// One problem: an environment, its reward, its evaluation and its results.
///
/// Implementations are cheap to clone handles (the environment and any loaded model data are
/// shared); [`Task::reward`] builds the possibly expensive reward model on demand, so a learner
/// that never scores objects never loads it.
pub trait Task: Send + Sync + 'static {
    /// The DAG sampled from. Its states travel in checkpoints (modes found), hence serde.
    type Env: Environment<State: Serialize + DeserializeOwned + 'static> + Clone + 'static;
    /// The reward actors (and the single-process trainer) compute.
    type Reward: Reward<TaskState<Self>> + 'static;

    /// The registered name (`env.type` in the run configuration).
    fn name(&self) -> &'static str;

    /// The environment.
    fn environment(&self) -> &Self::Env;

    /// Builds the reward model with `copies` independent replicas for parallel scoring (only
    /// models that hold per-call state need more than one).
    fn reward(&self, copies: usize) -> Result<Self::Reward, TaskError>;

    /// One line saying what is trained (for banners), e.g. `"4-D hypergrid H = 8"`.
    fn describe(&self) -> String;

    /// The run's evaluation and its results recorder (if the task records results).
    fn hooks(&self, context: &HookContext) -> Result<RunHooks<Self::Env>, TaskError>;

    /// The same for the task conditioned on a reward exponent (`env`: the conditioned
    /// environment). The default evaluates the loss and the learned `log Z` only; tasks with a
    /// richer evaluation (exact L1, recorded results) provide theirs.
    fn conditioned_hooks(
        &self,
        env: &RewardConditioned<Self::Env>,
        _context: &HookContext,
    ) -> Result<RunHooks<RewardConditioned<Self::Env>>, TaskError> {
        Ok(RunHooks::basic(env.clone()))
    }

    /// Column names describing one terminal object in `gfn sample`'s CSV output (after
    /// `sample`, before `reward` and `log_reward`). The default: `object`, the environment's
    /// rendering.
    fn object_columns(&self) -> Vec<String> {
        vec!["object".into()]
    }

    /// How a terminal object is written for a reward service (`[reward] type = "service"`): a
    /// message of the wire (`gfn.reward.v1.RewardObject`; a task of your own writes an
    /// `EncodedObject` with a kind and text of its choosing, [`encoded_object`]). The default:
    /// the task cannot be scored by a service.
    fn service_object(&self, _state: &TaskState<Self>) -> Result<RewardObject, TaskError> {
        Err(format!("the {} task does not write its objects for reward services", self.name()).into())
    }

    /// The names of the objectives this task computes, which a multi-objective run's
    /// `conditioning.objectives` chooses among (the default: none).
    fn objective_names(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// The model of the objectives `names` (among [`Task::objective_names`], in the order
    /// given), with `copies` independent replicas for parallel scoring.
    fn objective_model(
        &self,
        _names: &[String],
        _copies: usize,
    ) -> Result<Box<dyn ObjectiveModel<TaskState<Self>>>, TaskError> {
        Err(format!("the {} task computes no objectives for a multi-objective run", self.name()).into())
    }

    /// How the task normalises a raw value of its objective `name` to [0, 1] — used for values
    /// a reward service computes (`[[conditioning.services]]`); `None` (the default) for names
    /// it does not know, which then need the service's `scales`.
    fn objective_normalization(&self, _name: &str) -> Option<Normalization> {
        None
    }

    /// The reward when some objectives come from reward services (`remote`: one per
    /// `conditioning.services` entry, in order). The default, for tasks that are not
    /// preference-conditioned: the built-in reward, and an error when `remote` is not empty.
    fn reward_with_remote(
        &self,
        copies: usize,
        remote: &[Arc<dyn RemoteObjectives>],
    ) -> Result<Self::Reward, TaskError> {
        if remote.is_empty() {
            self.reward(copies)
        } else {
            Err(format!("the {} task takes no objectives from reward services", self.name()).into())
        }
    }

    /// The hooks of the task conditioned on a preference over objectives (`env`: the
    /// conditioned environment; `model`: the run's objectives, built in or from services). The
    /// default: the Pareto evaluation ([`pareto_evaluation::ParetoEvaluation`]), nothing
    /// recorded.
    fn preference_hooks(
        &self,
        env: &PreferenceConditioned<Self::Env>,
        model: Box<dyn ObjectiveModel<TaskState<Self>>>,
        context: &HookContext,
    ) -> Result<RunHooks<PreferenceConditioned<Self::Env>>, TaskError> {
        let evaluation = pareto_evaluation::ParetoEvaluation::new(env.clone(), model, context.config);
        Ok(RunHooks { evaluation: Box::new(evaluation), results: None })
    }

    /// The values of [`Task::object_columns`] for one sampled object and its score.
    fn object_fields(&self, state: &TaskState<Self>, _scored: &Scored) -> Vec<String> {
        vec![self.environment().describe(state)]
    }
}

/// What a task's hooks are built from.
pub struct HookContext<'a> {
    /// The run configuration.
    pub config: &'a RunConfig,
    /// The run's id (distributed runs) or `"local"` (single-process runs).
    pub run_id: &'a str,
    /// The run's JSON-lines log, shared by evaluations and recorders.
    pub log: Option<SharedLog>,
    /// The run's objective services (`conditioning.services`, in order), for evaluations of
    /// multi-objective runs; empty when it has none or the program does not connect to them.
    pub remote: &'a [Arc<dyn RemoteObjectives>],
}

impl HookContext<'_> {
    /// Where results are recorded (`evaluation.results_db`), if anywhere.
    pub fn results_db(&self) -> Option<&Path> {
        self.config.evaluation.results_db.as_deref()
    }
}

/// What differs between tasks in a run besides the environment: evaluation and the optional
/// results recorder.
pub struct RunHooks<E: Environment> {
    /// Called every `evaluation.interval_updates`.
    pub evaluation: Box<dyn RunEvaluation<E>>,
    /// Receives every trained-on terminal object, if the task records results.
    pub results: Option<ResultsRecorder<E::State>>,
}

impl<E: Environment + Clone + 'static> RunHooks<E> {
    /// The loss and the learned `log Z`, nothing recorded.
    pub fn basic(env: E) -> Self {
        Self { evaluation: Box::new(evaluation::BasicEvaluation::new(env)), results: None }
    }
}

impl<E: crate::env::Enumerable + Clone + 'static> RunHooks<E> {
    /// An enumerable environment's hooks: exact evaluation against `reward` (the target is
    /// computed once here), nothing recorded.
    pub fn exact<R: Reward<E::State> + 'static>(
        env: &E,
        reward: R,
        context: &HookContext,
    ) -> Result<Self, TaskError> {
        let config = context.config;
        let evaluation =
            evaluation::ExactEvaluation::new(env, reward, config.evaluation.empirical_samples, !config.seed)?;
        Ok(Self { evaluation: Box::new(evaluation), results: None })
    }
}
