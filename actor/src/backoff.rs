//! Exponential back-off between reconnection attempts, jittered so that many actors that lost
//! the learner at the same moment do not all come back in the same instant.

use std::time::Duration;

use rand::RngExt;

/// Doubles the bound of the pause after every failure, from `initial` up to `max`, and draws each
/// pause uniformly from the upper half of its bound; `reset` after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    /// Starts at 50 ms and never exceeds `max`.
    pub fn new(max: Duration) -> Self {
        Self::starting_at(Duration::from_millis(50), max)
    }

    /// Starts at `initial` (capped at `max`) and never exceeds `max`.
    pub fn starting_at(initial: Duration, max: Duration) -> Self {
        let initial = initial.min(max);
        Self { initial, max, current: initial }
    }

    /// The pause to take now, in `[bound / 2, bound]`; the next bound is twice this one (capped).
    pub fn next_pause(&mut self) -> Duration {
        let bound = self.current;
        self.current = (self.current * 2).min(self.max);
        let pause = bound.mul_f64(rand::rng().random_range(0.5..=1.0));
        ::metrics::histogram!(crate::metrics::BACKOFF_PAUSE).record(pause.as_secs_f64());
        pause
    }

    /// Back to the initial pause.
    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_jittered_and_resets() {
        let bounds = [50u64, 100, 200, 300, 300];
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let mut backoff = Backoff::new(Duration::from_millis(300));
            for bound in bounds {
                let pause = backoff.next_pause();
                let bound = Duration::from_millis(bound);
                assert!(
                    pause >= bound / 2 && pause <= bound,
                    "{pause:?} outside [{:?}, {bound:?}]",
                    bound / 2
                );
                seen.insert(pause.as_micros());
            }
            backoff.reset();
            assert!(backoff.next_pause() <= Duration::from_millis(50));
        }
        assert!(seen.len() > 100, "pauses are jittered: {} distinct values in 250", seen.len());
    }
}
