//! Where the single-process trainer's batches come from: sampled inline on the training thread,
//! or by a sampler thread that works one update ahead (pipelined), the two threads exchanging
//! plain trajectory records and weight copies through bounded channels.
//!
//! The pipelined source is deterministic: batch `b` is always sampled with the weights after
//! update `b − 1` (a policy lag of exactly one update), whatever the threads' timing.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use rand::SeedableRng;
use tch::Tensor;

use crate::config::RunConfig;
use crate::env::Environment;
use crate::model::Model;
use crate::policy::{PolicyCopy, PolicyNetwork};
use crate::reward::{Reward, RewardError};
use crate::sampler::Sampler;
use crate::trajectory::Trajectory;

/// A batch of scored trajectories and what producing it took.
#[derive(Debug)]
pub struct ScoredBatch<S> {
    /// The records, in sampling order.
    pub records: Vec<Trajectory>,
    /// The terminal object of each record.
    pub terminals: Vec<S>,
    /// Time spent sampling and scoring.
    pub sampling: Duration,
    /// Network rows evaluated while sampling.
    pub rows: u64,
}

/// Supplies batches to the training loop and hears about new weights.
pub trait BatchSource<S> {
    /// The next batch.
    fn next_batch(&mut self, model: &Model) -> Result<ScoredBatch<S>, RewardError>;
    /// Called after every update with the new version (the number of updates applied).
    fn weights_updated(&mut self, model: &Model, version: u64);
}

/// Samples `batch_size` trajectories with `network` and scores them.
fn sample_and_score<E: Environment, R: Reward<E::State>, G: rand::Rng>(
    sampler: &mut Sampler<'_, E>,
    reward: &R,
    network: &PolicyNetwork,
    batch_size: usize,
    rng: &mut G,
    policy_version: u64,
) -> Result<ScoredBatch<E::State>, RewardError> {
    let started = Instant::now();
    let sampled = sampler.sample(network, batch_size, rng);
    let mut records = Vec::with_capacity(sampled.len());
    let mut terminals = Vec::with_capacity(sampled.len());
    let mut rows = 0;
    let scored = {
        let terminals: Vec<&E::State> = sampled.iter().map(|t| &t.terminal).collect();
        reward.score_batch(&terminals)
    };
    for (trajectory, scored) in sampled.into_iter().zip(scored) {
        let scored = scored?;
        rows += trajectory.actions.len() as u64;
        records.push(Trajectory::scored(trajectory.actions, trajectory.condition, policy_version, scored));
        terminals.push(trajectory.terminal);
    }
    Ok(ScoredBatch { records, terminals, sampling: started.elapsed(), rows })
}

/// Samples on the training thread with the learner's own network (no policy lag).
pub struct InlineSource<'e, E: Environment, R> {
    sampler: Sampler<'e, E>,
    reward: &'e R,
    batch_size: usize,
    rng: rand_pcg::Pcg64Mcg,
    version: u64,
}

impl<'e, E: Environment, R: Reward<E::State>> InlineSource<'e, E, R> {
    /// A source starting at weights version `version`.
    pub fn new(env: &'e E, reward: &'e R, config: &RunConfig, seed: u64, version: u64) -> Self {
        Self {
            sampler: Sampler::for_training(env, &config.training),
            reward,
            batch_size: config.training.batch_size,
            rng: rand_pcg::Pcg64Mcg::seed_from_u64(seed),
            version,
        }
    }
}

impl<E: Environment, R: Reward<E::State>> BatchSource<E::State> for InlineSource<'_, E, R> {
    fn next_batch(&mut self, model: &Model) -> Result<ScoredBatch<E::State>, RewardError> {
        sample_and_score(
            &mut self.sampler,
            self.reward,
            model.network(),
            self.batch_size,
            &mut self.rng,
            self.version,
        )
    }

    fn weights_updated(&mut self, _model: &Model, version: u64) {
        self.version = version;
    }
}

/// A weights version sent to the sampler thread.
type WeightsCopy = (u64, Vec<(String, Tensor)>);

/// Receives batches from a sampler thread started with [`spawn_pipelined`].
pub struct PipelinedSource<S> {
    batches: Receiver<Result<ScoredBatch<S>, RewardError>>,
    weights: Sender<WeightsCopy>,
}

fn copy_weights(model: &Model, version: u64) -> WeightsCopy {
    (version, model.policy_copy())
}

impl<S> BatchSource<S> for PipelinedSource<S> {
    fn next_batch(&mut self, _model: &Model) -> Result<ScoredBatch<S>, RewardError> {
        self.batches
            .recv()
            .unwrap_or_else(|_| Err(RewardError::Failed { reason: "sampler thread stopped".into() }))
    }

    fn weights_updated(&mut self, model: &Model, version: u64) {
        // At most two versions are ever outstanding (see the module docs), so this never blocks
        // for long; a stopped sampler shows up at the next `next_batch`.
        let _ = self.weights.send(copy_weights(model, version));
    }
}

/// Starts the sampler thread inside `scope`; `learner` provides the starting weights, whose
/// version is `version`.
pub fn spawn_pipelined<'scope, 'env, E, R>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    env: &'env E,
    reward: &'env R,
    config: &RunConfig,
    seed: u64,
    model: &Model,
    version: u64,
) -> PipelinedSource<E::State>
where
    E: Environment,
    E::State: 'env,
    R: Reward<E::State>,
{
    let (batch_sender, batches) = bounded(1);
    let (weights, weights_receiver) = bounded::<WeightsCopy>(2);
    weights.send(copy_weights(model, version)).expect("receiver alive");
    let config = config.clone();
    scope.spawn(move || {
        let mut policy = PolicyCopy::new(env, &config);
        let mut sampler = Sampler::for_training(env, &config.training);
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
        let mut loaded: Option<u64> = None;
        for batch_index in 0u64.. {
            let needed = version + batch_index.saturating_sub(1);
            while loaded.is_none_or(|v| v < needed) {
                let Ok((received, tensors)) = weights_receiver.recv() else { return };
                policy.load(tensors).expect("the model's own architecture");
                loaded = Some(received);
            }
            let batch = sample_and_score(
                &mut sampler,
                reward,
                policy.network(),
                config.training.batch_size,
                &mut rng,
                loaded.expect("loaded"),
            );
            let failed = batch.is_err();
            if batch_sender.send(batch).is_err() || failed {
                return;
            }
        }
    });
    PipelinedSource { batches, weights }
}
