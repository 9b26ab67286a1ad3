//! `gfn train`: trains in one process and reports quality, speed and where the time went.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use gfn_common::config::{ObjectiveConfig, RunConfig};
use gfn_common::task::evaluation::open_shared_log;
use gfn_common::task::{Evaluated, HookContext, SharedLog, Task, TaskError, TaskVisitor, Tasks};
use gfn_common::training::{TrainOptions, TrainSummary, train_task};

use crate::cli::{ConfigArgs, config_failure};
use crate::progress::ProgressView;

/// Arguments of `gfn train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The run configuration.
    #[command(flatten)]
    pub run: ConfigArgs,
    /// Override `training.updates`.
    #[arg(long)]
    pub updates: Option<u64>,
    /// Override `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override `evaluation.interval_updates`.
    #[arg(long)]
    pub eval_every: Option<u64>,
    /// Override `evaluation.log_path`: append one JSON line per evaluation here.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Override `checkpoint.dir`: write checkpoints here and resume from the newest one.
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Stop at the first evaluation whose exact L1 is at most this (for benchmarks).
    #[arg(long)]
    pub stop_at_l1: Option<f64>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// No progress bar (evaluation lines are still printed).
    #[arg(long)]
    pub no_progress: bool,
}

/// Runs `gfn train` for the task the configuration names (one of `tasks`).
pub fn run(args: TrainArgs, tasks: impl Tasks) -> anyhow::Result<ExitCode> {
    let mut config = match args.run.load() {
        Ok(config) => config,
        Err(error) => return Ok(config_failure(&error)),
    };
    if let Some(updates) = args.updates {
        config.training.updates = updates;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(every) = args.eval_every {
        config.evaluation.interval_updates = every;
    }
    if args.log.is_some() {
        config.evaluation.log_path = args.log.clone();
    }
    if args.checkpoint_dir.is_some() {
        config.checkpoint.dir = args.checkpoint_dir.clone();
    }
    if let Err(error) = tasks.validate(&config) {
        return Ok(config_failure(&error));
    }
    if config.reward.service().is_some() {
        eprintln!(
            "error: this run's rewards come from a reward service ([reward] type = \"service\"), which \
             actors call: run it with `gfn launch` or gfn-learner + gfn-actor (gfn train computes \
             the built-in reward in process)"
        );
        return Ok(ExitCode::from(crate::cli::EXIT_USAGE));
    }
    if args.print_config {
        print!("{}", config.to_toml_string());
        return Ok(ExitCode::SUCCESS);
    }
    let log = open_shared_log(config.evaluation.log_path.as_deref())
        .with_context(|| format!("opening log {:?}", config.evaluation.log_path))?;
    let visitor = TrainVisitor {
        config,
        log,
        options: TrainOptions { stop_at_l1: args.stop_at_l1 },
        progress: !args.no_progress,
    };
    tasks.visit(&visitor.config.clone(), visitor).map_err(anyhow::Error::from_boxed)?
}

/// Trains whichever task the configuration names, in this process.
struct TrainVisitor {
    config: RunConfig,
    log: Option<SharedLog>,
    options: TrainOptions,
    progress: bool,
}

impl TaskVisitor for TrainVisitor {
    type Output = anyhow::Result<ExitCode>;

    fn visit<T: Task + Clone>(self, task: T) -> Result<Self::Output, TaskError> {
        Ok(self.train(task))
    }
}

impl TrainVisitor {
    /// Trains `task` with the progress view and prints the summary.
    fn train<T: Task + Clone>(self, task: T) -> anyhow::Result<ExitCode> {
        let TrainVisitor { config, log, options, progress } = self;
        let objective = match &config.objective {
            ObjectiveConfig::FlowMatching(_) => "flow matching",
            ObjectiveConfig::TrajectoryBalance(_) => "trajectory balance",
            ObjectiveConfig::DetailedBalance(_) => "detailed balance",
            ObjectiveConfig::SubTrajectoryBalance(_) => "sub-trajectory balance",
        };
        eprintln!(
            "gfn train: {}, {objective}, batch {}, {} updates, seed {}",
            task.describe(),
            config.training.batch_size,
            config.training.updates,
            config.seed,
        );
        let hooks = task
            .hooks(&HookContext { config: &config, run_id: "local", log: log.clone(), remote: &[] })
            .map_err(anyhow::Error::from_boxed)
            .context("starting the task's evaluation")?;
        let mut view = ProgressView::new(config.training.updates, 0, progress, log);
        let summary = train_task(&task, &config, &options, &mut view, hooks).context("training failed")?;
        if let Some(error) = view.finish() {
            return Err(error).context("writing the evaluation log");
        }
        print_summary(&summary);
        Ok(ExitCode::SUCCESS)
    }
}

fn print_summary(summary: &TrainSummary<Evaluated>) {
    if let Some(path) = &summary.resumed_from {
        println!("resumed from {}", path.display());
    }
    match &summary.last.exact {
        Some(last) => println!(
            "final: update {} trajectories {} exact L1 {:.4}{} modes {}/{} learned logZ {:.4} true logZ {:.4}",
            last.update,
            last.trajectories,
            last.exact_l1,
            last.empirical_l1.map(|l| format!(" empirical L1 {l:.4}")).unwrap_or_default(),
            last.modes_found,
            last.num_modes,
            last.learned_log_z.unwrap_or(f64::NAN),
            last.true_log_z.unwrap_or(f64::NAN),
        ),
        None => println!("final: {}", summary.last.line.trim_start()),
    }
    let time = &summary.time;
    let train_seconds = time.training().as_secs_f64();
    println!(
        "time: training {:.2}s (learning {:.2}s, waiting for batches {:.2}s; sampling took {:.2}s{}), \
         evaluation {:.2}s{}",
        train_seconds,
        time.learning.as_secs_f64(),
        time.waiting.as_secs_f64(),
        time.sampling.as_secs_f64(),
        if summary.pipelined { " on the sampler thread" } else { "" },
        time.evaluation.as_secs_f64(),
        summary
            .last
            .exact
            .as_ref()
            .map(|last| format!("; to this L1 in {:.2}s of training", last.training_seconds))
            .unwrap_or_default(),
    );
    let learner_gflop = 6.0 * summary.macs_per_row as f64 * time.learner_rows as f64 / 1e9;
    let sampler_gflop = 2.0 * summary.macs_per_row as f64 * time.sampler_rows as f64 / 1e9;
    println!(
        "speed: {:.0} trajectories/s; learner {:.2} GFLOP/s ({:.0} rows/update), sampler {:.2} GFLOP/s",
        time.trajectories as f64 / train_seconds.max(1e-9),
        learner_gflop / time.learning.as_secs_f64().max(1e-9),
        time.learner_rows as f64 / time.updates.max(1) as f64,
        sampler_gflop / time.sampling.as_secs_f64().max(1e-9),
    );
    if time.skipped_updates > 0 {
        println!(
            "warning: {} of {} updates skipped for a NaN or infinite loss or gradient (weights kept)",
            time.skipped_updates, time.updates
        );
    }
}
