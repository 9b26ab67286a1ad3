//! What gfn's side of a reward service (`gfn.reward.v1`, `proto/gfn/reward/v1/reward.proto`)
//! needs from the core: the reward transform applied to the raw scores a service returns
//! ([`ScoreTransform`]). How a task writes its objects for a service is the task's
//! ([`crate::task::Task::service_object`], the wire's `RewardObject`); the transport lives in
//! the actor.

/// How a reply states its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A positive raw score.
    Score,
    /// The natural logarithm of a positive raw score.
    LogScore,
    /// Several named raw values per object (objectives of a multi-objective run).
    Objectives,
}

/// Why a returned value is not a reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// NaN or infinite.
    #[error("the value is not finite")]
    NotFinite,
    /// Zero or negative where a positive score is asked for.
    #[error("the score is not positive")]
    NotPositive,
    /// Named objective values where one score was expected.
    #[error("the reply carries named objective values, not one score")]
    WrongKind,
}

impl ValueError {
    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotFinite => "not_finite",
            Self::NotPositive => "not_positive",
            Self::WrongKind => "wrong_value_kind",
        }
    }
}

/// gfn's reward transform of a service's raw score `s`:
/// `log R = β · (ln max(s, min) − ln norm)`, i.e. `R = (max(s, min) / norm)^β`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreTransform {
    /// `β`.
    pub exponent: f64,
    /// Scores below this are clipped to it (positive).
    pub min: f64,
    /// Scores are divided by this (positive).
    pub norm: f64,
}

impl ScoreTransform {
    /// The log-reward of `value` (of `kind`), and the raw score recorded with it.
    pub fn apply(&self, value: f64, kind: ValueKind) -> Result<(f64, f64), ValueError> {
        if !value.is_finite() {
            return Err(ValueError::NotFinite);
        }
        let (log_score, score) = match kind {
            ValueKind::Score if value <= 0.0 => return Err(ValueError::NotPositive),
            ValueKind::Score => (value.ln(), value),
            ValueKind::LogScore => (value, value.exp()),
            ValueKind::Objectives => return Err(ValueError::WrongKind),
        };
        let log_reward = self.exponent * (log_score.max(self.min.ln()) - self.norm.ln());
        if !log_reward.is_finite() {
            return Err(ValueError::NotFinite);
        }
        Ok((log_reward, score))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transform_clips_normalises_and_raises() {
        let t = ScoreTransform { exponent: 10.0, min: 0.1, norm: 8.0 };
        let (log_reward, score) = t.apply(7.2, ValueKind::Score).unwrap();
        assert!((log_reward - 10.0 * (7.2f64 / 8.0).ln()).abs() < 1e-12);
        assert_eq!(score, 7.2);
        // clipped at min
        let (clipped, _) = t.apply(0.01, ValueKind::Score).unwrap();
        assert!((clipped - 10.0 * (0.1f64 / 8.0).ln()).abs() < 1e-12);
        // a log score gives the same reward as its score
        let (from_log, score) = t.apply(7.2f64.ln(), ValueKind::LogScore).unwrap();
        assert!((from_log - log_reward).abs() < 1e-12 && (score - 7.2).abs() < 1e-12);
        // a negative log score is fine, a non-positive score is not
        assert!(t.apply(-3.0, ValueKind::LogScore).is_ok());
        assert_eq!(t.apply(0.0, ValueKind::Score), Err(ValueError::NotPositive));
        assert_eq!(t.apply(-1.0, ValueKind::Score), Err(ValueError::NotPositive));
        assert_eq!(t.apply(f64::NAN, ValueKind::LogScore), Err(ValueError::NotFinite));
        assert_eq!(t.apply(f64::INFINITY, ValueKind::Score), Err(ValueError::NotFinite));
    }
}
