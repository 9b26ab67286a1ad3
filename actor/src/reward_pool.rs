//! Reward workers: score finished rollouts off the rollout thread, so that expensive rewards
//! overlap with sampling. A reward that fails, or is not positive and finite, is reported and its
//! trajectory dropped, never sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use gfn_common::reward::Reward;
use gfn_common::trajectory::Trajectory;

use crate::metrics;
use crate::rollout::RewardJob;

/// Extra cost per reward call, to measure scaling with expensive rewards.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SyntheticCost {
    /// A busy loop of this long (a CPU-bound reward model).
    pub cpu: Duration,
    /// A sleep of this long (a remote oracle).
    pub sleep: Duration,
}

impl SyntheticCost {
    fn apply(&self) {
        if !self.cpu.is_zero() {
            let started = Instant::now();
            let mut x = 0u64;
            while started.elapsed() < self.cpu {
                for i in 0..1_000u64 {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
                }
            }
            std::hint::black_box(x);
        }
        if !self.sleep.is_zero() {
            std::thread::sleep(self.sleep);
        }
    }
}

/// Counters of the reward pool.
#[derive(Debug, Default)]
pub struct RewardStats {
    /// Rewards computed and forwarded.
    pub scored: AtomicU64,
    /// Rewards that failed or were not positive and finite.
    pub failed: AtomicU64,
}

/// How reward workers batch: up to `max` jobs per reward call, waiting at most `max_wait` after
/// the first for more to arrive (zero: whatever is queued).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Batching {
    /// Most jobs per call.
    pub max: usize,
    /// Longest wait for a batch to fill.
    pub max_wait: Duration,
}

/// Starts `threads` workers that read `jobs` until it is closed and empty, and send scored
/// trajectories to `results`. A worker scores up to `batching.max` jobs in one batched reward
/// call, so at most `threads` calls are in flight.
pub fn spawn<S, R>(
    threads: usize,
    batching: Batching,
    reward: Arc<R>,
    cost: SyntheticCost,
    jobs: crossbeam_channel::Receiver<RewardJob<S>>,
    results: mpsc::Sender<Trajectory>,
    stats: Arc<RewardStats>,
) -> std::io::Result<Vec<JoinHandle<()>>>
where
    S: Send + 'static,
    R: Reward<S> + 'static,
{
    (0..threads)
        .map(|i| {
            let (reward, jobs, results, stats) =
                (reward.clone(), jobs.clone(), results.clone(), stats.clone());
            std::thread::Builder::new().name(format!("gfn-reward-{i}")).spawn(move || {
                let mut pending: Vec<RewardJob<S>> = Vec::with_capacity(batching.max);
                let scored_counter = ::metrics::counter!(metrics::REWARDS_SCORED);
                let failed_counter = ::metrics::counter!(metrics::REWARD_FAILURES);
                let batch_duration = ::metrics::histogram!(metrics::REWARD_BATCH_DURATION);
                while let Ok(first) = jobs.recv() {
                    pending.clear();
                    pending.push(first);
                    pending.extend(jobs.try_iter().take(batching.max.saturating_sub(1)));
                    let deadline = Instant::now() + batching.max_wait;
                    while pending.len() < batching.max && !batching.max_wait.is_zero() {
                        match jobs.recv_deadline(deadline) {
                            Ok(job) => pending.push(job),
                            Err(_) => break,
                        }
                    }
                    let started = Instant::now();
                    for _ in &pending {
                        cost.apply();
                    }
                    let states: Vec<&S> = pending.iter().map(|job| &job.sampled.terminal).collect();
                    let scores = reward.score_batch(&states);
                    batch_duration.record(started.elapsed());
                    let attempted = pending.len();
                    let mut failures = 0usize;
                    let mut first_error = None;
                    for (job, scored) in pending.drain(..).zip(scores) {
                        match scored {
                            Ok(scored) => {
                                let trajectory =
                                    Trajectory::scored(job.sampled.actions, job.sampled.condition, job.policy_version, scored);
                                if results.blocking_send(trajectory).is_err() {
                                    return;
                                }
                                stats.scored.fetch_add(1, Ordering::Relaxed);
                                scored_counter.increment(1);
                            }
                            Err(error) => {
                                stats.failed.fetch_add(1, Ordering::Relaxed);
                                failed_counter.increment(1);
                                failures += 1;
                                first_error.get_or_insert(error);
                            }
                        }
                    }
                    if let Some(error) = first_error {
                        tracing::warn!(%error, failures, of = attempted, "rewards failed; trajectories dropped");
                    }
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gfn_common::reward::RewardError;
    use gfn_common::sampler::SampledTrajectory;

    /// A reward that fails on odd terminal values and is NaN on 4.
    struct Picky;
    impl Reward<u32> for Picky {
        fn log_reward(&self, state: &u32) -> Result<f64, RewardError> {
            match state {
                4 => gfn_common::reward::checked_log(f64::NAN),
                s if s % 2 == 1 => Err(RewardError::Failed { reason: "odd".into() }),
                s => Ok(*s as f64),
            }
        }
        fn is_mode(&self, _: &u32) -> bool {
            false
        }
    }

    const BATCH_OF_4: Batching = Batching { max: 4, max_wait: Duration::ZERO };

    #[test]
    fn failed_and_non_finite_rewards_are_dropped_and_counted() {
        let (job_sender, jobs) = crossbeam_channel::bounded(16);
        let (results, mut received) = mpsc::channel(16);
        let stats = Arc::new(RewardStats::default());
        let workers =
            spawn(2, BATCH_OF_4, Arc::new(Picky), SyntheticCost::default(), jobs, results, stats.clone())
                .unwrap();
        for terminal in 0..6u32 {
            job_sender
                .send(RewardJob {
                    sampled: SampledTrajectory { actions: vec![0], terminal, condition: Vec::new() },
                    policy_version: 7,
                })
                .unwrap();
        }
        drop(job_sender);
        workers.into_iter().for_each(|w| w.join().unwrap());
        let mut rewards = Vec::new();
        while let Ok(t) = received.try_recv() {
            assert_eq!(t.policy_version, 7);
            rewards.push(t.log_reward);
        }
        rewards.sort_by(f64::total_cmp);
        assert_eq!(rewards, vec![0.0, 2.0]);
        assert_eq!(stats.failed.load(Ordering::Relaxed), 4);
    }

    /// Counts the batch sizes it is called with.
    struct BatchSizes(std::sync::Mutex<Vec<usize>>);
    impl Reward<u32> for BatchSizes {
        fn log_reward(&self, _: &u32) -> Result<f64, RewardError> {
            Ok(0.0)
        }
        fn is_mode(&self, _: &u32) -> bool {
            false
        }
        fn score_batch(&self, states: &[&u32]) -> Vec<Result<gfn_common::reward::Scored, RewardError>> {
            self.0.lock().unwrap().push(states.len());
            states.iter().map(|_| Ok(gfn_common::reward::Scored::of(0.0))).collect()
        }
    }

    #[test]
    fn a_batch_waits_up_to_max_wait_for_more_jobs() {
        let (job_sender, jobs) = crossbeam_channel::bounded(16);
        let (results, mut received) = mpsc::channel(16);
        let reward = Arc::new(BatchSizes(Default::default()));
        let batching = Batching { max: 4, max_wait: Duration::from_millis(300) };
        let workers =
            spawn(1, batching, reward.clone(), SyntheticCost::default(), jobs, results, Default::default())
                .unwrap();
        // three jobs 20 ms apart, then a pause longer than max_wait, then five at once
        for terminal in 0..3u32 {
            job_sender
                .send(RewardJob {
                    sampled: SampledTrajectory { actions: vec![0], terminal, condition: Vec::new() },
                    policy_version: 0,
                })
                .unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(500));
        for terminal in 0..5u32 {
            job_sender
                .send(RewardJob {
                    sampled: SampledTrajectory { actions: vec![0], terminal, condition: Vec::new() },
                    policy_version: 0,
                })
                .unwrap();
        }
        drop(job_sender);
        workers.into_iter().for_each(|w| w.join().unwrap());
        let mut count = 0;
        while received.try_recv().is_ok() {
            count += 1;
        }
        assert_eq!(count, 8);
        // the first batch waited for the two late jobs but not past max_wait; the five queued
        // ones split into a full batch and the rest
        assert_eq!(*reward.0.lock().unwrap(), vec![3, 4, 1]);
    }

    #[test]
    fn synthetic_cpu_cost_takes_the_time_it_says() {
        let started = Instant::now();
        SyntheticCost { cpu: Duration::from_millis(20), sleep: Duration::from_millis(10) }.apply();
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
