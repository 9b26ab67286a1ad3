//! `gfn sample`: draws objects from a trained policy read from a checkpoint, in batches and
//! without a learner, and writes them with their rewards as CSV.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use rand::SeedableRng;

use gfn_common::checkpoint;
use gfn_common::config::{EnvConfig, RunConfig};
use gfn_common::env::Environment;
use gfn_common::policy::{Exploration, PolicyCopy};
use gfn_common::reward::Reward;
use gfn_common::sampler::Sampler;

/// Arguments of `gfn sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// A checkpoint written by `gfn train` or `gfn-learner` (it carries its run configuration).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Number of objects to draw.
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub count: usize,
    /// Output CSV file (columns: sample, object, reward, log_reward).
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
}

/// Runs `gfn sample`.
pub fn run(args: SampleArgs) -> anyhow::Result<ExitCode> {
    if args.batch == 0 || !(args.temperature.is_finite() && args.temperature > 0.0) {
        bail!("--batch must be at least 1 and --temperature positive");
    }
    let (tensors, metadata) = checkpoint::load(&args.checkpoint)?;
    let config_toml = metadata
        .get(checkpoint::CONFIG)
        .with_context(|| format!("{} carries no run configuration", args.checkpoint.display()))?;
    let config = RunConfig::from_toml_str(config_toml, Some(&args.checkpoint))?;
    tch::set_num_threads(config.training.intra_op_threads as i32);
    let EnvConfig::Hypergrid(grid) = &config.env else {
        bail!("gfn sample runs hypergrid configurations; train fragment molecules with `gfn launch`");
    };
    if config.conditioning.enabled() {
        bail!("gfn sample does not sample reward-conditioned policies yet");
    }
    let env = grid.environment();
    let reward = grid.reward();
    let mut policy = PolicyCopy::new(&env, &config);
    policy.load(tensors).map_err(|e| anyhow::anyhow!("{}: {e}", args.checkpoint.display()))?;

    let mut writer =
        csv::Writer::from_path(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    writer.write_record(["sample", "object", "reward", "log_reward"])?;
    let mut sampler = Sampler::new(&env, Exploration { temperature: args.temperature, epsilon: 0.0 });
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(args.seed);
    let started = Instant::now();
    let mut sampling_seconds = 0.0;
    let mut written = 0usize;
    while written < args.count {
        let size = args.batch.min(args.count - written);
        let batch_started = Instant::now();
        let samples = sampler.sample(policy.network(), size, &mut rng);
        sampling_seconds += batch_started.elapsed().as_secs_f64();
        for sample in samples {
            let log_reward = reward.log_reward(&sample.terminal)?;
            writer.write_record([
                written.to_string(),
                env.describe(&sample.terminal),
                format!("{}", log_reward.exp()),
                format!("{log_reward}"),
            ])?;
            written += 1;
        }
    }
    writer.flush()?;
    let total = started.elapsed().as_secs_f64();
    println!(
        "wrote {written} samples to {} in {total:.2}s: {:.0} samples/s ({:.0} samples/s sampling alone)",
        args.out.display(),
        written as f64 / total,
        written as f64 / sampling_seconds.max(1e-9),
    );
    Ok(ExitCode::SUCCESS)
}
