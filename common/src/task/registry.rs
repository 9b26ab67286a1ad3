//! Registering tasks: a task type implements [`TaskPlugin`] (its name, its own `[env]`
//! configuration type and checks, its network, the files its reward reads, its metrics), and a
//! list of such types ([`Tasks`]) is what every program of gfn is generic over.
//!
//! The built-in tasks are one list, [`BuiltinTasks`]; a program with a task of its own adds it
//! with [`Tasks::with`]:
//!
//! ```ignore
//! let tasks = BuiltinTasks::default().with::<MyTask>();
//! ```
//!
//! The list is a type (`TaskList<MyTask, TaskList<HypergridTask, …>>`) so that callers receive
//! the configured task with its concrete types through a [`TaskVisitor`]: no task is named
//! outside its own module and this list. Conditioning on a reward exponent wraps every task
//! the same way.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{ConfigError, NetworkKind, RunConfig};
use crate::metrics::MetricDescription;
use crate::task::bit_sequences::BitSequenceTask;
use crate::task::conditioned::Conditioned;
use crate::task::fragments::FragmentTask;
use crate::task::hypergrid::HypergridTask;
use crate::task::preference::Preferences;
use crate::task::{Task, TaskError};
use crate::validation::{Problems, Scope};

/// The tasks every gfn program has, one line each.
pub type BuiltinTasks = crate::tasks![HypergridTask, FragmentTask, BitSequenceTask,];

/// A task that can be registered: built from its own section of the run configuration.
pub trait TaskPlugin: Task + Clone {
    /// The name `[env] type` gives it.
    const NAME: &'static str;
    /// Its configuration: the keys of `[env]` besides `type` (serde; deny unknown keys and take
    /// defaults for the rest, as gfn's own sections do).
    type Config: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;

    /// Builds the task (loading whatever data its environment needs).
    fn from_config(config: &Self::Config, run: &RunConfig) -> Result<Self, TaskError>;

    /// Checks the section's values (keys `env.*`, every problem at once), with the whole run
    /// configuration at hand for checks that span sections.
    fn check(config: &Self::Config, run: &RunConfig, env: &mut Scope<'_>);

    /// The policy network its states are read by (it decides which `[policy]` keys apply).
    fn network_kind(config: &Self::Config) -> NetworkKind;

    /// The files its reward depends on, by configuration key (`env.<key>`): the learner
    /// fingerprints them and every actor checks its copies (`crate::fingerprint`).
    fn reward_files(_config: &Self::Config, _run: &RunConfig) -> Vec<(String, PathBuf)> {
        Vec::new()
    }

    /// The Prometheus series its evaluation and results set (described by the learner).
    fn metrics() -> Vec<MetricDescription> {
        Vec::new()
    }
}

/// Receives the configured task with its concrete type.
pub trait TaskVisitor {
    /// What the visit returns.
    type Output;
    /// Runs with `task`.
    fn visit<T: Task + Clone>(self, task: T) -> Result<Self::Output, TaskError>;
}

/// What the programs ask of a registered task before it is built.
pub trait TaskEntry {
    /// The registered name.
    fn name(&self) -> &'static str;
    /// Reads and checks the `[env]` section of `run`; the task's network if it could be read.
    fn check(&self, run: &RunConfig, problems: &mut Problems) -> Option<NetworkKind>;
    /// The files the reward of `run` depends on (none if the section does not read).
    fn reward_files(&self, run: &RunConfig) -> Vec<(String, PathBuf)>;
    /// The task's Prometheus series.
    fn metrics(&self) -> Vec<MetricDescription>;
}

/// `env.type` names a task this program was not built with.
#[derive(Debug, thiserror::Error)]
#[error(
    "this program has no task {name:?} (env.type); it has: {}. A task of your own is registered \
     in your program's main (docs/EXTENDING.md)",
    known.join(", ")
)]
pub struct UnknownTask {
    /// The name asked for.
    pub name: String,
    /// The names this program has.
    pub known: Vec<&'static str>,
}

/// A list of registered tasks: what every gfn program is generic over.
pub trait Tasks: Copy + Default + Send + Sync + 'static {
    /// The entries, in registration order (the newest first).
    fn entries(&self) -> Vec<Box<dyn TaskEntry>>;

    /// Builds the task `config.env` names (conditioned when `[conditioning]` asks for it) and
    /// hands it to `visitor`; gives the visitor back if no task of the list has that name.
    fn try_visit<V: TaskVisitor>(
        &self,
        config: &RunConfig,
        visitor: V,
    ) -> Result<Result<V::Output, TaskError>, V>;

    /// The list with `T` added.
    fn with<T: TaskPlugin>(self) -> TaskList<T, Self> {
        TaskList::default()
    }

    /// The registered names.
    fn names(&self) -> Vec<&'static str> {
        self.entries().iter().map(|entry| entry.name()).collect()
    }

    /// The entry of task `name`.
    fn entry(&self, name: &str) -> Result<Box<dyn TaskEntry>, UnknownTask> {
        self.entries()
            .into_iter()
            .find(|entry| entry.name() == name)
            .ok_or_else(|| UnknownTask { name: name.to_string(), known: self.names() })
    }

    /// Builds the task `config.env` names and hands it to `visitor`.
    fn visit<V: TaskVisitor>(&self, config: &RunConfig, visitor: V) -> Result<V::Output, TaskError> {
        match self.try_visit(config, visitor) {
            Ok(result) => result,
            Err(_) => Err(self.entry(config.env.task()).err().expect("an unknown task").into()),
        }
    }

    /// Checks every value of `config`, the task's section by the task, reporting all problems
    /// at once with their keys.
    fn validate(&self, config: &RunConfig) -> Result<(), ConfigError> {
        let mut problems = Problems::default();
        let network = match self.entry(config.env.task()) {
            Ok(entry) => entry.check(config, &mut problems),
            Err(error) => {
                problems.push(format!("env.type: {error}"));
                None
            }
        };
        config.check_sections(network, &mut problems);
        let problems = problems.into_lines();
        if problems.is_empty() { Ok(()) } else { Err(ConfigError::Invalid { problems }) }
    }

    /// The files the reward of `config` depends on (none for an unknown task).
    fn reward_files(&self, config: &RunConfig) -> Vec<(String, PathBuf)> {
        self.entry(config.env.task()).map(|entry| entry.reward_files(config)).unwrap_or_default()
    }

    /// Parses TOML text, applies `overrides` (`section.key=value`, see
    /// [`crate::config::overrides`]) and validates the result; `origin` names the file in
    /// error messages.
    fn config_from_str(
        &self,
        text: &str,
        origin: Option<&Path>,
        overrides: &[String],
    ) -> Result<RunConfig, ConfigError> {
        let config = RunConfig::parse_with_overrides(text, origin, overrides)?;
        self.validate(&config)?;
        Ok(config)
    }

    /// Reads `path` (the embedded default configuration without one), applies `overrides` and
    /// validates the result.
    fn load_config(&self, path: Option<&Path>, overrides: &[String]) -> Result<RunConfig, ConfigError> {
        let config = RunConfig::read(path, overrides)?;
        self.validate(&config)?;
        Ok(config)
    }
}

/// A list of no tasks: where every list ends.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTasks;

impl Tasks for NoTasks {
    fn entries(&self) -> Vec<Box<dyn TaskEntry>> {
        Vec::new()
    }

    fn try_visit<V: TaskVisitor>(
        &self,
        _config: &RunConfig,
        visitor: V,
    ) -> Result<Result<V::Output, TaskError>, V> {
        Err(visitor)
    }
}

/// Task `T` in front of the list `Rest`.
pub struct TaskList<T, Rest> {
    rest: Rest,
    task: PhantomData<fn() -> T>,
}

impl<T, Rest: Default> Default for TaskList<T, Rest> {
    fn default() -> Self {
        Self { rest: Rest::default(), task: PhantomData }
    }
}

impl<T, Rest: Clone> Clone for TaskList<T, Rest> {
    fn clone(&self) -> Self {
        Self { rest: self.rest.clone(), task: PhantomData }
    }
}

impl<T, Rest: Copy> Copy for TaskList<T, Rest> {}

impl<T: TaskPlugin, Rest: Tasks> Tasks for TaskList<T, Rest> {
    fn entries(&self) -> Vec<Box<dyn TaskEntry>> {
        let mut entries: Vec<Box<dyn TaskEntry>> = vec![Box::new(Entry::<T>(PhantomData))];
        entries.extend(self.rest.entries());
        entries
    }

    fn try_visit<V: TaskVisitor>(
        &self,
        config: &RunConfig,
        visitor: V,
    ) -> Result<Result<V::Output, TaskError>, V> {
        if config.env.task() != T::NAME {
            return self.rest.try_visit(config, visitor);
        }
        Ok(build::<T>(config).and_then(|task| with_conditioning(config, task, visitor)))
    }
}

/// Builds task `T` from the `[env]` section of `config`.
fn build<T: TaskPlugin>(config: &RunConfig) -> Result<T, TaskError> {
    let settings: T::Config =
        config.env.parse().map_err(|error| format!("invalid [env] of task {}: {error}", T::NAME))?;
    T::from_config(&settings, config)
}

struct Entry<T>(PhantomData<fn() -> T>);

impl<T: TaskPlugin> TaskEntry for Entry<T> {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn check(&self, run: &RunConfig, problems: &mut Problems) -> Option<NetworkKind> {
        match run.env.parse::<T::Config>() {
            Ok(settings) => {
                T::check(&settings, run, &mut problems.section("env"));
                Some(T::network_kind(&settings))
            }
            Err(error) => {
                problems.push(format!("env (task {}): {}", T::NAME, error.message().trim_end()));
                None
            }
        }
    }

    fn reward_files(&self, run: &RunConfig) -> Vec<(String, PathBuf)> {
        run.env.parse::<T::Config>().map(|settings| T::reward_files(&settings, run)).unwrap_or_default()
    }

    fn metrics(&self) -> Vec<MetricDescription> {
        T::metrics()
    }
}

fn with_conditioning<T: Task + Clone, V: TaskVisitor>(
    config: &RunConfig,
    task: T,
    visitor: V,
) -> Result<V::Output, TaskError> {
    if config.conditioning.enabled() {
        visitor.visit(Conditioned::new(task, config.conditioning.reward_exponents.clone()))
    } else if let Some(conditioning) = config.conditioning.preference() {
        visitor.visit(Preferences::new(task, conditioning, config.conditioning.services.clone())?)
    } else {
        visitor.visit(task)
    }
}

/// The type of a list of task types: `tasks![A, B]` is `TaskList<A, TaskList<B, NoTasks>>`.
#[macro_export]
macro_rules! tasks {
    () => { $crate::task::registry::NoTasks };
    ($head:ty $(, $rest:ty)* $(,)?) => {
        $crate::task::registry::TaskList<$head, $crate::tasks![$($rest),*]>
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_list_names_each_task_once() {
        let names = BuiltinTasks::default().names();
        assert_eq!(names, ["hypergrid", "fragments", "bit_sequences"]);
    }

    #[test]
    fn an_unknown_task_is_named_with_the_ones_there_are() {
        let config = RunConfig::parse("[env]\ntype = \"motifs\"\n", None).unwrap();
        let error = BuiltinTasks::default().validate(&config).unwrap_err().to_string();
        assert!(
            error.contains("\"motifs\"") && error.contains("hypergrid, fragments, bit_sequences"),
            "{error}"
        );
        // and a program without any task knows none
        let error = NoTasks.validate(&config).unwrap_err().to_string();
        assert!(error.contains("no task \"motifs\""), "{error}");
    }

    #[test]
    fn a_tasks_own_keys_are_checked_by_the_task() {
        let tasks = BuiltinTasks::default();
        let typo = "[env]\ntype = \"hypergrid\"\nheigth = 4\n";
        let error = tasks.config_from_str(typo, None, &[]).unwrap_err().to_string();
        assert!(error.contains("heigth") && error.contains("task hypergrid"), "{error}");
        let bad = "[env]\ntype = \"hypergrid\"\nheight = 1\n[training]\nbatch_size = 0\n";
        let error = tasks.config_from_str(bad, None, &[]).unwrap_err().to_string();
        assert!(error.contains("env.height") && error.contains("training.batch_size"), "{error}");
    }
}
