//! Objectives computed outside gfn: a reward service of a multi-objective run's
//! `[[conditioning.services]]` returns several named raw values per object (`gfn.reward.v1`,
//! `value_kind = OBJECTIVES`). The core sees such a service as [`RemoteObjectives`]; the
//! transport (endpoints, deadlines, retries) is the daemons' (`gfn_actor::reward_service`).

use gfn_proto::reward::v1::RewardObject;

use super::RewardError;

/// What a service returned for one object: one raw value per [`RemoteObjectives::names`] entry,
/// and the model that produced them.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteValues {
    /// Raw values, finite, in the order of the names.
    pub raw: Vec<f64>,
    /// `"<service>:<model>@<version>"`, recorded with every value.
    pub source: String,
}

/// A source of named objective values for objects written as the task writes them for reward
/// services ([`crate::task::Task::service_object`]).
pub trait RemoteObjectives: Send + Sync {
    /// The service's name (`conditioning.services[].name`).
    fn service(&self) -> &str;

    /// The objectives it computes, in the order of [`RemoteValues::raw`].
    fn names(&self) -> &[String];

    /// The values of each of `objects`, one result per object in order; a failed call fails
    /// every object of the batch.
    fn evaluate(&self, objects: &[RewardObject]) -> Vec<Result<RemoteValues, RewardError>>;
}

/// `[worst, best]` as a normalisation to [0, 1]: linear, clipped (`best < worst` for objectives
/// where lower is better, e.g. a docking score).
pub fn linear_scale([worst, best]: [f64; 2]) -> impl Fn(f64) -> f64 + Send + Sync {
    move |raw| ((raw - worst) / (best - worst)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linear_scale_maps_worst_to_0_and_best_to_1_either_way_round() {
        let up = linear_scale([2.0, 4.0]);
        assert_eq!((up(2.0), up(3.0), up(4.0), up(9.0), up(-1.0)), (0.0, 0.5, 1.0, 1.0, 0.0));
        let docking = linear_scale([-4.0, -12.0]);
        assert_eq!((docking(-4.0), docking(-8.0), docking(-12.0), docking(0.0)), (0.0, 0.5, 1.0, 0.0));
    }
}
