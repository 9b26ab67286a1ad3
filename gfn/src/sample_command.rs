//! `gfn sample`: draws objects from a trained policy read from a checkpoint, in batches and
//! without a learner, scores them with the task's reward (batched: the sEH proxy scores a batch
//! at once) and writes them as CSV. Works for every task.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use rand::SeedableRng;

use gfn_common::checkpoint;
use gfn_common::config::RunConfig;
use gfn_common::env::Environment;
use gfn_common::policy::{Exploration, PolicyCopy};
use gfn_common::reward::Reward;
use gfn_common::sampler::Sampler;
use gfn_common::task::{Task, TaskError, TaskVisitor, Tasks};

/// Arguments of `gfn sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// A checkpoint written by `gfn train` or `gfn-learner` (it carries its run configuration).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Number of objects to draw.
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub count: usize,
    /// Output CSV file: `sample`, the task's columns (grids and bit sequences: `object`;
    /// molecules: `smiles`, `proxy`, `junction_tree`; conditioned runs add `reward_exponent`;
    /// preference-conditioned runs each objective's raw value and `<name>_norm`, then
    /// `preference_<name>` per objective and `reward_exponent`), `reward`, `log_reward`.
    #[arg(long)]
    pub out: PathBuf,
    /// Trajectories rolled out in lockstep per forward pass.
    #[arg(long, default_value_t = 1024)]
    pub batch: usize,
    /// Softmax temperature (1 samples the learned distribution).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Preference-conditioned runs: the trade-off to sample under, one weight per objective in
    /// the order of the run's `conditioning.objectives`, non-negative and summing to 1 (e.g.
    /// `0.7,0.1,0.1,0.1`). Without it, each sample's preference is drawn as in training.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub preference: Option<Vec<f64>>,
    /// With `--preference`: the reward exponent β, within the run's
    /// `conditioning.reward_exponent_range` (default: its upper end, the most peaked).
    #[arg(long, requires = "preference")]
    pub reward_exponent: Option<f64>,
}

/// The condition `--preference` and `--reward-exponent` ask for, if any.
fn chosen_condition(args: &SampleArgs, config: &RunConfig) -> anyhow::Result<Option<Vec<f64>>> {
    let Some(preference) = &args.preference else {
        return Ok(None);
    };
    let Some(conditioning) = config.conditioning.preference() else {
        bail!(
            "--preference: {} was not trained with a preference (its run has no conditioning.objectives)",
            args.checkpoint.display()
        );
    };
    let beta = args.reward_exponent.unwrap_or(conditioning.reward_exponent.1);
    let condition = conditioning.condition(preference, beta).with_context(|| {
        format!(
            "--preference {preference:?} --reward-exponent {beta}: the run's objectives are {:?}, β in [{}, {}]",
            conditioning.objectives, conditioning.reward_exponent.0, conditioning.reward_exponent.1
        )
    })?;
    Ok(Some(condition))
}

/// Runs `gfn sample` for the task the checkpoint's configuration names (one of `tasks`).
pub fn run(args: SampleArgs, tasks: impl Tasks) -> anyhow::Result<ExitCode> {
    if args.batch == 0 || !(args.temperature.is_finite() && args.temperature > 0.0) {
        bail!("--batch must be at least 1 and --temperature positive");
    }
    let (tensors, metadata) = checkpoint::load(&args.checkpoint)?;
    let config_toml = metadata
        .get(checkpoint::CONFIG)
        .with_context(|| format!("{} carries no run configuration", args.checkpoint.display()))?;
    let config = tasks.config_from_str(config_toml, Some(&args.checkpoint), &[])?;
    if config.reward.service().is_some() {
        bail!(
            "{} was trained on rewards from a reward service; gfn sample scores with the built-in \
             reward only and cannot score these samples",
            args.checkpoint.display()
        );
    }
    tch::set_num_threads(config.training.intra_op_threads as i32);
    let condition = chosen_condition(&args, &config)?;
    let visitor = SampleVisitor { args, config: config.clone(), tensors, condition };
    tasks.visit(&config, visitor).map_err(anyhow::Error::from_boxed)?
}

/// Samples from whichever task the checkpoint's configuration names.
struct SampleVisitor {
    args: SampleArgs,
    config: RunConfig,
    tensors: gfn_common::checkpoint::NamedTensors,
    condition: Option<Vec<f64>>,
}

impl TaskVisitor for SampleVisitor {
    type Output = anyhow::Result<ExitCode>;

    fn visit<T: Task + Clone>(self, task: T) -> Result<Self::Output, TaskError> {
        Ok(self.sample(task))
    }
}

impl SampleVisitor {
    /// Samples `task`'s objects into the CSV file.
    fn sample<T: Task + Clone>(self, task: T) -> anyhow::Result<ExitCode> {
        let SampleVisitor { args, config, tensors, condition } = self;
        let env = task.environment();
        let reward = task.reward(1).map_err(anyhow::Error::from_boxed)?;
        let mut policy = PolicyCopy::new(env, &config);
        policy.load(tensors).map_err(|e| anyhow::anyhow!("{}: {e}", args.checkpoint.display()))?;

        let mut writer =
            csv::Writer::from_path(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
        let mut header = vec!["sample".to_string()];
        header.extend(task.object_columns());
        header.extend(["reward".to_string(), "log_reward".to_string()]);
        writer.write_record(&header)?;
        let mut sampler = Sampler::new(env, Exploration { temperature: args.temperature, epsilon: 0.0 });
        if let Some(condition) = condition {
            sampler = sampler.with_condition(condition)?;
        }
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(args.seed);
        let started = Instant::now();
        let mut sampling_seconds = 0.0;
        let mut scoring_seconds = 0.0;
        let mut written = 0usize;
        while written < args.count {
            let size = args.batch.min(args.count - written);
            let batch_started = Instant::now();
            let samples = sampler.sample(policy.network(), size, &mut rng);
            sampling_seconds += batch_started.elapsed().as_secs_f64();
            let scoring_started = Instant::now();
            let terminals: Vec<_> = samples.iter().map(|s| &s.terminal).collect();
            let scores = reward.score_batch(&terminals);
            scoring_seconds += scoring_started.elapsed().as_secs_f64();
            for (sample, scored) in samples.iter().zip(scores) {
                let scored = scored.with_context(|| format!("scoring {}", env.describe(&sample.terminal)))?;
                let mut row = vec![written.to_string()];
                row.extend(task.object_fields(&sample.terminal, &scored));
                row.extend([format!("{}", scored.log_reward.exp()), format!("{}", scored.log_reward)]);
                writer.write_record(&row)?;
                written += 1;
            }
        }
        writer.flush()?;
        let total = started.elapsed().as_secs_f64();
        println!(
            "wrote {written} samples to {} in {total:.2}s: {:.0} samples/s ({:.0} samples/s sampling alone, \
             scoring {scoring_seconds:.2}s)",
            args.out.display(),
            written as f64 / total,
            written as f64 / sampling_seconds.max(1e-9),
        );
        Ok(ExitCode::SUCCESS)
    }
}
