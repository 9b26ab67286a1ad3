//! The log-reward warm-up every objective can train under: the loss of update `u` sees
//! `m(u) · log R` instead of `log R`, with `m` rising linearly from a start value to 1 over the
//! first updates. For `R = s^β` a multiplier `m` is the reward `s^(mβ)`: a flatter target early
//! on, sharpened to the configured exponent by the end of the warm-up. Stored rewards,
//! evaluation and the actors always see the configured reward; only the loss is scaled.

/// A linear warm-up of the multiplier on `log R`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogRewardWarmUp {
    /// The multiplier of the first update (`> 0`).
    pub scale_start: f64,
    /// Updates over which the multiplier rises to 1; 0: no warm-up (always 1).
    pub updates: u64,
}

impl LogRewardWarmUp {
    /// No warm-up: every update trains on `log R` as given.
    pub const NONE: Self = Self { scale_start: 1.0, updates: 0 };

    /// A warm-up from `scale_start` over `updates` updates; `None` as the start (the
    /// configuration leaves it out) means no warm-up.
    pub fn new(scale_start: Option<f64>, updates: u64) -> Self {
        match scale_start {
            Some(scale_start) if updates > 0 => Self { scale_start, updates },
            _ => Self::NONE,
        }
    }

    /// Whether the multiplier ever differs from 1.
    pub fn is_on(&self) -> bool {
        self.updates > 0
    }

    /// The multiplier of update `update` (0 = the first): `(1−g) · scale_start + g` with
    /// `g = update / updates` during the warm-up, 1 after it and without one.
    pub fn scale_at(&self, update: u64) -> f64 {
        if update >= self.updates {
            return 1.0;
        }
        let fraction = update as f64 / self.updates as f64;
        (1.0 - fraction) * self.scale_start + fraction
    }

    /// What is left of the warm-up after `update`: unchanged during it, [`LogRewardWarmUp::NONE`]
    /// once it is over (so an objective past its warm-up equals one configured without it).
    pub fn remaining_at(&self, update: u64) -> Self {
        if update >= self.updates { Self::NONE } else { *self }
    }

    /// An objective's `(log R multiplier, warm-up)` for update `update`, given its current
    /// multiplier `scale`: without a warm-up both unchanged; with one, [`LogRewardWarmUp::scale_at`]
    /// and [`LogRewardWarmUp::remaining_at`].
    pub fn apply_at(&self, update: u64, scale: f64) -> (f64, Self) {
        if self.is_on() { (self.scale_at(update), self.remaining_at(update)) } else { (scale, *self) }
    }
}

impl Default for LogRewardWarmUp {
    fn default() -> Self {
        Self::NONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_multiplier_rises_linearly_to_one_and_stays_there() {
        let warm = LogRewardWarmUp::new(Some(0.25), 100);
        assert!(warm.is_on());
        assert_eq!(warm.scale_at(0), 0.25);
        assert!((warm.scale_at(50) - 0.625).abs() < 1e-12);
        assert!(warm.scale_at(98) < warm.scale_at(99) && warm.scale_at(99) < 1.0);
        for update in [100, 101, 10_000] {
            assert_eq!(warm.scale_at(update), 1.0);
            assert_eq!(warm.remaining_at(update), LogRewardWarmUp::NONE);
        }
        assert_eq!(warm.remaining_at(99), warm);
    }

    #[test]
    fn without_a_start_or_updates_there_is_no_warm_up() {
        for warm in [LogRewardWarmUp::new(None, 100), LogRewardWarmUp::new(Some(0.5), 0)] {
            assert_eq!(warm, LogRewardWarmUp::NONE);
            assert!(!warm.is_on());
            assert_eq!(warm.scale_at(0), 1.0);
        }
    }
}
