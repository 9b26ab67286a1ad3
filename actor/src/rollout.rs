//! The rollout thread: owns a copy of the policy network, refreshes it whenever newer weights
//! have arrived, and rolls out batches of trajectories (inference only), handing each finished
//! one to the reward pool.

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use gfn_common::config::RunConfig;
use gfn_common::env::Environment;
use gfn_common::policy::PolicyCopy;
use gfn_common::sampler::SampledTrajectory;
use gfn_common::weights::from_safetensors_bytes;

use crate::error::ActorError;
use crate::metrics;
use crate::weights::PolicyWeights;

/// A finished rollout waiting for its reward: the sample as the sampler made it, and the
/// weights version that made it.
#[derive(Debug, Clone)]
pub struct RewardJob<S> {
    /// The actions (the final stop included) and the terminal object to score.
    pub sampled: SampledTrajectory<S>,
    /// The weights version that sampled it.
    pub policy_version: u64,
}

/// Rolls out until `shutdown`; returns the number of trajectories produced.
pub fn run_rollouts<E: Environment>(
    env: &E,
    config: &RunConfig,
    mut weights: watch::Receiver<Option<Arc<PolicyWeights>>>,
    jobs: crossbeam_channel::Sender<RewardJob<E::State>>,
    shutdown: CancellationToken,
    runtime: Handle,
    seed: u64,
) -> Result<u64, ActorError> {
    tch::set_num_threads(config.training.intra_op_threads as i32);
    let mut policy = PolicyCopy::new(env, config);
    let mut sampler = gfn_common::sampler::Sampler::for_training(env, &config.training);
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    let mut version: Option<u64> = None;
    let mut produced = 0u64;
    let rolled_out = ::metrics::counter!(metrics::TRAJECTORIES_ROLLED_OUT);
    let weights_version = ::metrics::gauge!(metrics::WEIGHTS_VERSION);
    while !shutdown.is_cancelled() {
        if version.is_none() || weights.has_changed().unwrap_or(false) {
            let newest = weights.borrow_and_update().clone();
            match newest {
                Some(newest) => {
                    policy
                        .load(from_safetensors_bytes(&newest.bytes)?)
                        .map_err(|source| ActorError::Weights { version: newest.version, source })?;
                    version = Some(newest.version);
                    weights_version.set(newest.version as f64);
                }
                None => {
                    // No weights yet: wait for the first version.
                    let cancelled = shutdown.clone();
                    runtime.block_on(async {
                        tokio::select! {
                            _ = weights.changed() => {}
                            _ = cancelled.cancelled() => {}
                        }
                    });
                    continue;
                }
            }
        }
        let policy_version = version.expect("weights loaded");
        for sampled in sampler.sample(policy.network(), config.actor.rollout_batch, &mut rng) {
            let mut job = RewardJob { sampled, policy_version };
            // Waits while the reward pool is saturated, but notices shutdown.
            loop {
                match jobs.send_timeout(job, Duration::from_millis(50)) {
                    Ok(()) => break,
                    Err(crossbeam_channel::SendTimeoutError::Timeout(back)) => {
                        if shutdown.is_cancelled() {
                            return Ok(produced);
                        }
                        job = back;
                    }
                    Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return Ok(produced),
                }
            }
            produced += 1;
            rolled_out.increment(1);
        }
    }
    Ok(produced)
}
