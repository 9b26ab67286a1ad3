//! Collecting every problem of a configuration at once, each naming its key: each section of
//! [`crate::config`] (and each environment's own section) checks itself into a [`Scope`].

use std::borrow::Cow;
use std::fmt::Display;

/// The problems found so far, one line each (`training.batch_size must be at least 1 (got 0)`).
#[derive(Debug, Default)]
pub struct Problems {
    lines: Vec<String>,
}

impl Problems {
    /// The checks of one section: keys are written `section.key`.
    pub fn section(&mut self, name: &'static str) -> Scope<'_> {
        Scope { problems: self, section: Cow::Borrowed(name) }
    }

    /// Records a problem written out in full.
    pub fn push(&mut self, line: String) {
        self.lines.push(line);
    }

    /// The problems, in the order found.
    pub fn into_lines(self) -> Vec<String> {
        self.lines
    }
}

/// The checks of one section.
pub struct Scope<'p> {
    problems: &'p mut Problems,
    section: Cow<'static, str>,
}

impl Scope<'_> {
    /// The checks of a table within this section (`conditioning.services[0]`): keys are
    /// written `section.table.key`.
    pub fn nested(&mut self, table: &str) -> Scope<'_> {
        Scope { problems: self.problems, section: Cow::Owned(format!("{}.{table}", self.section)) }
    }

    /// Unless `ok`, records "`section.key` must be `requirement` (got `value`)".
    pub fn check(&mut self, ok: bool, key: &str, requirement: &str, value: impl Display) {
        if !ok {
            self.problems.push(format!("{}.{key} must be {requirement} (got {value})", self.section));
        }
    }

    /// `value` must be at least `min`.
    pub fn at_least<T: PartialOrd + Display>(&mut self, key: &str, value: T, min: T) {
        let requirement = format!("at least {min}");
        self.check(value >= min, key, &requirement, value);
    }

    /// `value` must be in `[low, high]`.
    pub fn between<T: PartialOrd + Display>(&mut self, key: &str, value: T, low: T, high: T) {
        let requirement = format!("between {low} and {high}");
        self.check(low <= value && value <= high, key, &requirement, value);
    }

    /// `value` must be positive and finite.
    pub fn positive_finite(&mut self, key: &str, value: f64) {
        self.check(value.is_finite() && value > 0.0, key, "positive and finite", value);
    }

    /// `value` must be non-negative and finite.
    pub fn non_negative_finite(&mut self, key: &str, value: f64) {
        self.check(value.is_finite() && value >= 0.0, key, "non-negative and finite", value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_their_section_and_key() {
        let mut problems = Problems::default();
        let mut training = problems.section("training");
        training.check(false, "batch_size", "at least 1", 0);
        training.check(true, "updates", "at least 1", 5);
        training.positive_finite("learning_rate", f64::NAN);
        problems.section("checkpoint").non_negative_finite("interval_seconds", -1.0);
        assert_eq!(
            problems.into_lines(),
            [
                "training.batch_size must be at least 1 (got 0)",
                "training.learning_rate must be positive and finite (got NaN)",
                "checkpoint.interval_seconds must be non-negative and finite (got -1)",
            ]
        );
    }
}
