//! An optional replay buffer on the learner: every trained-on trajectory is stored (the oldest
//! overwritten once `capacity` is reached), and once `warmup` are stored each update adds
//! rebuilt trajectories, drawn uniformly, so that `fraction` of its batch is rebuilt.
//!
//! All objectives here are valid off-policy (their optimum does not depend on which policy
//! sampled the trajectories), so replay changes which states are trained on, not what the loss
//! converges to. Replayed trajectories were sampled by older policies: replay is a large,
//! deliberate policy lag (see `docs/OBJECTIVES.md`). The buffer is not checkpointed.

use rand::{RngExt, SeedableRng};

use crate::trajectory::RebuiltTrajectory;

/// Replay settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplayConfig {
    /// Trajectories kept; 0 disables replay.
    pub capacity: usize,
    /// Trajectories stored before any is rebuilt.
    pub warmup: usize,
    /// Fraction `f ∈ [0, 1)` of each update's batch drawn from the buffer: `batch_size` fresh
    /// trajectories plus `round(batch_size · f / (1 − f))` rebuilt ones.
    pub fraction: f64,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self { capacity: 0, warmup: 1_000, fraction: 0.5 }
    }
}

impl ReplayConfig {
    /// Replayed trajectories to add to a batch of `fresh` ones.
    pub fn replayed_per_batch(&self, fresh: usize) -> usize {
        if self.capacity == 0 || self.fraction <= 0.0 {
            return 0;
        }
        (fresh as f64 * self.fraction / (1.0 - self.fraction)).round() as usize
    }
}

/// A ring buffer of rebuilt trajectories.
#[derive(Debug)]
pub struct ReplayBuffer<S> {
    config: ReplayConfig,
    items: Vec<RebuiltTrajectory<S>>,
    next: usize,
    rng: rand_pcg::Pcg64Mcg,
}

impl<S: Clone> ReplayBuffer<S> {
    /// An empty buffer; `seed` drives the draws.
    pub fn new(config: ReplayConfig, seed: u64) -> Self {
        Self { config, items: Vec::new(), next: 0, rng: rand_pcg::Pcg64Mcg::seed_from_u64(seed) }
    }

    /// Trajectories stored.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The batch to train on: `fresh`, then rebuilt trajectories drawn before `fresh` is stored
    /// (so a trajectory is never rebuilt in the update that brought it).
    pub fn mix(&mut self, fresh: &[RebuiltTrajectory<S>]) -> Vec<RebuiltTrajectory<S>> {
        let mut batch = fresh.to_vec();
        if self.config.capacity == 0 {
            return batch;
        }
        if self.items.len() >= self.config.warmup.max(1) {
            for _ in 0..self.config.replayed_per_batch(fresh.len()) {
                let i = self.rng.random_range(0..self.items.len());
                batch.push(self.items[i].clone());
            }
        }
        for trajectory in fresh {
            if self.items.len() < self.config.capacity {
                self.items.push(trajectory.clone());
            } else {
                self.items[self.next] = trajectory.clone();
            }
            self.next = (self.next + 1) % self.config.capacity;
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trajectory::Trajectory;

    fn trajectory(id: u32) -> RebuiltTrajectory<u32> {
        let record = Trajectory { actions: vec![id, 0], log_reward: 0.0, ..Default::default() };
        RebuiltTrajectory { record, states: vec![0, id] }
    }

    #[test]
    fn warmup_fraction_and_capacity() {
        let config = ReplayConfig { capacity: 8, warmup: 4, fraction: 0.5 };
        assert_eq!(config.replayed_per_batch(16), 16);
        assert_eq!(ReplayConfig { fraction: 0.25, ..config }.replayed_per_batch(12), 4);
        let mut buffer = ReplayBuffer::new(config, 1);
        // not warmed up: the fresh batch alone
        assert_eq!(buffer.mix(&[trajectory(1), trajectory(2)]).len(), 2);
        assert_eq!(buffer.mix(&[trajectory(3), trajectory(4)]).len(), 2);
        // 4 stored: 2 fresh + 2 rebuilt from the earlier ones
        let batch = buffer.mix(&[trajectory(5), trajectory(6)]);
        assert_eq!(batch.len(), 4);
        assert!(batch[2..].iter().all(|t| t.states[1] <= 4), "rebuilt only what was stored before");
        for id in 7..20 {
            buffer.mix(&[trajectory(id)]);
        }
        assert_eq!(buffer.len(), 8, "capacity bounds the buffer");
        assert!(buffer.items.iter().all(|t| t.states[1] >= 12), "the oldest are overwritten");
        let disabled = ReplayConfig { capacity: 0, ..config };
        assert_eq!(ReplayBuffer::new(disabled, 1).mix(&[trajectory(1)]).len(), 1);
    }
}
