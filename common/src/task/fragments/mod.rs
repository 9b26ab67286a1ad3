//! The fragment-molecule task (Bengio et al. 2021, §4.2): junction trees of the paper's 105
//! building blocks, scored by its sEH binding proxy. Every generated molecule is recorded
//! (SQLite, [`results`]) and the paper's statistics are kept ([`stats`]); evaluations report
//! them next to the learned `log Z`.

pub mod config;
pub mod metrics;
pub mod results;
pub mod stats;

use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::config::{NetworkKind, RunConfig};
use crate::env::conditioned::{ConditionedState, RewardConditioned};
use crate::env::junction_tree::BlockTree;
use crate::env::molecule::canonical_smiles;
use crate::env::preference::{PreferenceConditioned, Preferred};
use crate::env::{Environment, FragmentEnvironment};
use crate::eval::TrainingCounters;
use crate::model::Model;
use crate::reward::objectives::molecule::MoleculeObjectives;
use crate::reward::preference::ObjectiveModel;
use crate::reward::{Scored, SehReward};
use crate::task::evaluation::Combined;
use crate::task::evaluation::{BasicRecord, Evaluated, RunEvaluation};
use crate::task::pareto_evaluation::ParetoEvaluation;
use crate::task::results::{Generated, ResultsRecorder};
use crate::task::{HookContext, Normalization, RunHooks, Task, TaskError, TaskPlugin};
use crate::validation::Scope;
use gfn_proto::reward::v1::{Molecule, RewardObject, reward_object};

pub use config::FragmentConfig;

use results::Milestones;
use stats::MoleculeStats;

/// Fragment molecules scored by the sEH proxy.
#[derive(Clone)]
pub struct FragmentTask {
    config: FragmentConfig,
    env: FragmentEnvironment,
}

impl FragmentTask {
    /// Loads the block vocabulary of `config`.
    pub fn load(config: &FragmentConfig) -> Result<Self, TaskError> {
        let env = config.environment().map_err(|error| {
            format!("loading the block vocabulary {}: {error}", config.vocabulary.display())
        })?;
        Ok(Self { config: config.clone(), env })
    }

    /// Starts the molecule recorder and builds the evaluation of `trained` (this environment
    /// or a conditioned wrapper of it); `to_record` maps the trained environment's generated
    /// objects to junction trees (and their β).
    fn molecule_hooks<E: Environment + Clone + 'static>(
        &self,
        trained: E,
        context: &HookContext,
        to_record: impl Fn(Generated<E::State>) -> Generated<BlockTree> + Send + Sync + 'static,
    ) -> Result<RunHooks<E>, TaskError> {
        let milestones =
            Milestones { interval: context.config.evaluation.milestone_molecules, log: context.log.clone() };
        let objectives = context.config.conditioning.objectives.len();
        let recorder = results::start(
            self.env.clone(),
            &self.config,
            context.results_db(),
            context.run_id.into(),
            milestones,
            objectives,
        )?;
        if let Some(path) = context.results_db() {
            tracing::info!(path = %path.display(), "recording molecules");
        }
        let sender = recorder.sender;
        let sink =
            Box::new(move |generated: Generated<E::State>| sender.try_send(to_record(generated)).is_ok());
        Ok(RunHooks {
            evaluation: Box::new(MoleculeEvaluation::new(trained, recorder.stats)),
            results: Some(ResultsRecorder { sink, thread: recorder.thread }),
        })
    }
}

impl TaskPlugin for FragmentTask {
    const NAME: &'static str = "fragments";
    type Config = FragmentConfig;

    fn from_config(config: &FragmentConfig, _run: &RunConfig) -> Result<Self, TaskError> {
        Self::load(config)
    }

    fn check(config: &FragmentConfig, run: &RunConfig, env: &mut Scope<'_>) {
        config.check(run, env);
    }

    fn network_kind(_config: &FragmentConfig) -> NetworkKind {
        NetworkKind::BlockGraph
    }

    /// The vocabulary, the proxy weights when the actors compute the built-in reward, and the SA
    /// fragment table when they compute SA.
    fn reward_files(config: &FragmentConfig, run: &RunConfig) -> Vec<(String, std::path::PathBuf)> {
        let mut files = vec![("env.vocabulary".to_string(), config.vocabulary.clone())];
        if run.reward.service().is_none() {
            files.push(("env.proxy_weights".to_string(), config.proxy_weights.clone()));
        }
        let served = |name: &String| run.conditioning.services.iter().any(|s| s.objectives.contains(name));
        if run.conditioning.objectives.iter().any(|name| name == "sa" && !served(name)) {
            files.push(("env.sa_fragment_scores".to_string(), config.sa_fragment_scores.clone()));
        }
        files
    }

    fn metrics() -> Vec<crate::metrics::MetricDescription> {
        metrics::all()
    }
}

impl Task for FragmentTask {
    type Env = FragmentEnvironment;
    type Reward = SehReward;

    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn environment(&self) -> &FragmentEnvironment {
        &self.env
    }

    fn reward(&self, copies: usize) -> Result<SehReward, TaskError> {
        SehReward::load(self.env.clone(), &self.config.proxy_weights, copies, self.config.reward_settings())
            .map_err(|error| {
                format!(
                    "loading the sEH proxy {} (env.proxy_weights; scripts/convert_seh_proxy.py makes it): {error}",
                    self.config.proxy_weights.display()
                )
                .into()
            })
    }

    fn describe(&self) -> String {
        format!(
            "fragment molecules ({} to {} blocks, sEH proxy, β = {})",
            self.config.min_blocks, self.config.max_blocks, self.config.reward_exponent
        )
    }

    fn hooks(&self, context: &HookContext) -> Result<RunHooks<FragmentEnvironment>, TaskError> {
        self.molecule_hooks(self.env.clone(), context, |generated| generated)
    }

    fn conditioned_hooks(
        &self,
        env: &RewardConditioned<FragmentEnvironment>,
        context: &HookContext,
    ) -> Result<RunHooks<RewardConditioned<FragmentEnvironment>>, TaskError> {
        let exponents = env.exponents().to_vec();
        self.molecule_hooks(env.clone(), context, move |generated: Generated<ConditionedState<BlockTree>>| {
            let beta = generated.terminal.exponent.map(|k| exponents[k as usize]);
            let mut generated = generated.map_terminal(|state| state.state);
            generated.reward_exponent = beta;
            generated
        })
    }

    /// sEH, QED, SA and MW ([`crate::reward::objectives`]).
    fn objective_names(&self) -> Vec<&'static str> {
        crate::reward::objectives::NAMES.to_vec()
    }

    /// sEH / 8, QED as it is, (10 − SA) / 9 and the MW window, as the built-in objectives.
    fn objective_normalization(&self, name: &str) -> Option<Normalization> {
        use crate::reward::objectives::{normalize_mw, normalize_sa, normalize_seh};
        let normalize: fn(f64) -> f64 = match name {
            "seh" => normalize_seh,
            "qed" => |qed| qed.clamp(0.0, 1.0),
            "sa" => normalize_sa,
            "mw" => normalize_mw,
            _ => return None,
        };
        Some(Arc::new(normalize))
    }

    fn objective_model(
        &self,
        names: &[String],
        copies: usize,
    ) -> Result<Box<dyn ObjectiveModel<BlockTree>>, TaskError> {
        let seh = self.reward(copies)?;
        let model = MoleculeObjectives::new(self.env.clone(), names, seh, &self.config.sa_fragment_scores)?;
        Ok(Box::new(model))
    }

    /// The Pareto evaluation and the molecule statistics; every molecule recorded with its
    /// objectives and condition.
    fn preference_hooks(
        &self,
        env: &PreferenceConditioned<FragmentEnvironment>,
        model: Box<dyn ObjectiveModel<BlockTree>>,
        context: &HookContext,
    ) -> Result<RunHooks<PreferenceConditioned<FragmentEnvironment>>, TaskError> {
        let mut hooks =
            self.molecule_hooks(env.clone(), context, |generated: Generated<Preferred<BlockTree>>| {
                let beta = generated.record.condition.last().copied();
                let mut generated = generated.map_terminal(|state| state.state);
                generated.reward_exponent = beta;
                generated
            })?;
        let pareto = ParetoEvaluation::new(env.clone(), model, context.config);
        hooks.evaluation = Box::new(Combined::new(Box::new(pareto), hooks.evaluation));
        Ok(hooks)
    }

    fn service_object(&self, state: &BlockTree) -> Result<RewardObject, TaskError> {
        let molecule = self.env.molecule(state)?;
        let molecule = Molecule {
            smiles: canonical_smiles(&molecule),
            junction_tree_json: serde_json::to_string(state)?,
        };
        Ok(RewardObject { object: Some(reward_object::Object::Molecule(molecule)) })
    }

    fn object_columns(&self) -> Vec<String> {
        ["smiles", "proxy", "junction_tree"].map(String::from).to_vec()
    }

    fn object_fields(&self, state: &BlockTree, scored: &Scored) -> Vec<String> {
        vec![
            self.env.describe(state),
            scored.score.map(|s| s.to_string()).unwrap_or_default(),
            serde_json::to_string(state).expect("junction trees serialize"),
        ]
    }
}

/// One evaluation record of a fragment-molecule run.
#[derive(Debug, Clone, Serialize)]
pub struct MoleculeRecord {
    /// Updates, trajectories, training time, loss and the learned log Z.
    #[serde(flatten)]
    pub training: BasicRecord,
    /// Statistics of the molecules generated so far.
    #[serde(flatten)]
    pub molecules: MoleculeStats,
}

/// Fragment molecules (plain or reward-conditioned, `E`): the recorder's statistics and the
/// learned log Z.
pub struct MoleculeEvaluation<E> {
    env: E,
    stats: Arc<Mutex<MoleculeStats>>,
}

impl<E: Environment> MoleculeEvaluation<E> {
    /// Reads statistics from the recorder's shared snapshot.
    pub fn new(env: E, stats: Arc<Mutex<MoleculeStats>>) -> Self {
        Self { env, stats }
    }
}

impl<E: Environment> RunEvaluation<E> for MoleculeEvaluation<E> {
    fn evaluate(&mut self, model: &Model, counters: TrainingCounters) -> Result<Evaluated, TaskError> {
        let training = BasicRecord::new(&counters, model.learned_log_z(&self.env));
        let molecules = self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let record = MoleculeRecord { training, molecules };
        let (t, s) = (&record.training, &record.molecules);
        let line = format!(
            "update {:>6}  {:>8} molecules  loss {:.4}  log Z {:.2}  top-10/100/1000 reward {:.3}/{:.3}/{:.3} (proxy {:.2}/{:.2}/{:.2})  modes {}  unique {:.3}  best proxy {:.2}",
            t.update,
            s.molecules,
            t.loss,
            t.learned_log_z,
            s.top10_reward,
            s.top100_reward,
            s.top1000_reward,
            s.top10_proxy,
            s.top100_proxy,
            s.top1000_proxy,
            s.modes,
            s.unique_fraction,
            s.best_proxy
        );
        Ok(Evaluated::new(line, &record))
    }
}
