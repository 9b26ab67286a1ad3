//! Exponential back-off between reconnection attempts.

use std::time::Duration;

/// Doubles the pause after every failure, from `initial` up to `max`; `reset` after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    /// Starts at 50 ms and never exceeds `max`.
    pub fn new(max: Duration) -> Self {
        let initial = Duration::from_millis(50).min(max);
        Self { initial, max, current: initial }
    }

    /// The pause to take now; the next one will be twice as long (capped).
    pub fn next_pause(&mut self) -> Duration {
        let pause = self.current;
        self.current = (self.current * 2).min(self.max);
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
    fn doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(300));
        let pauses: Vec<u128> = (0..5).map(|_| backoff.next_pause().as_millis()).collect();
        assert_eq!(pauses, vec![50, 100, 200, 300, 300]);
        backoff.reset();
        assert_eq!(backoff.next_pause().as_millis(), 50);
    }
}
