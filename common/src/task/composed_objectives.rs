//! A multi-objective run's objectives when some come from reward services
//! (`[[conditioning.services]]`): the task's built-in model computes the others, each service
//! its own named values, and every value is normalised and recorded with where it came from.

use std::sync::Arc;

use crate::reward::RewardError;
use crate::reward::preference::{ObjectiveModel, ObjectiveValues};
use crate::reward::remote::{RemoteObjectives, RemoteValues};
use crate::task::{Normalization, RewardObject, Task, TaskState};

/// The source recorded for a value of the task's built-in model.
pub const BUILTIN_SOURCE: &str = "builtin";

/// Where one objective's value comes from.
#[derive(Clone)]
enum Slot {
    /// The built-in model's value at this index.
    Builtin(usize),
    /// Service `service`'s value at index `value`, normalised by `normalize`.
    Remote { service: usize, value: usize, normalize: Normalization },
}

/// The built-in model and the services, composed into the run's objectives in the order of
/// `conditioning.objectives`.
pub struct ComposedObjectives<T: Task> {
    task: T,
    builtin: Box<dyn ObjectiveModel<TaskState<T>>>,
    remote: Vec<Arc<dyn RemoteObjectives>>,
    slots: Vec<Slot>,
}

impl<T: Task> ComposedObjectives<T> {
    /// `objectives` (the run's, in order): those one of `remote` names come from it, normalised
    /// by `normalization(name)`; the rest from `builtin`, which computes them in order.
    pub fn new(
        task: T,
        objectives: &[String],
        builtin: Box<dyn ObjectiveModel<TaskState<T>>>,
        remote: Vec<Arc<dyn RemoteObjectives>>,
        normalization: impl Fn(&str) -> Option<Normalization>,
    ) -> Result<Self, String> {
        let mut slots = Vec::with_capacity(objectives.len());
        let mut builtin_index = 0;
        for name in objectives {
            let served = remote.iter().enumerate().find_map(|(service, r)| {
                r.names().iter().position(|n| n == name).map(|value| (service, value))
            });
            match served {
                Some((service, value)) => {
                    let normalize = normalization(name).ok_or_else(|| {
                        format!(
                            "conditioning.services: objective {name:?} of service {:?} needs \
                             scales = {{ {name} = [worst, best] }} (the task does not know how to \
                             normalise it)",
                            remote[service].service()
                        )
                    })?;
                    slots.push(Slot::Remote { service, value, normalize });
                }
                None => {
                    slots.push(Slot::Builtin(builtin_index));
                    builtin_index += 1;
                }
            }
        }
        Ok(Self { task, builtin, remote, slots })
    }

    /// The names of `objectives` that no service of `remote` computes (the built-in model's).
    pub fn builtin_names(objectives: &[String], remote: &[Arc<dyn RemoteObjectives>]) -> Vec<String> {
        objectives.iter().filter(|name| !remote.iter().any(|r| r.names().contains(name))).cloned().collect()
    }

    /// Each service's values for `objects` (`None`: the object could not be written); a
    /// service that answers with the wrong number of results fails every object.
    fn remote_values(
        &self,
        objects: &[Result<RewardObject, RewardError>],
    ) -> Vec<Vec<Result<RemoteValues, RewardError>>> {
        let written: Vec<RewardObject> = objects.iter().filter_map(|o| o.as_ref().ok()).cloned().collect();
        self.remote
            .iter()
            .map(|remote| {
                let mut values = if written.is_empty() { Vec::new() } else { remote.evaluate(&written) };
                if values.len() != written.len() {
                    let reason = format!(
                        "service {:?} gave {} results for {} objects",
                        remote.service(),
                        values.len(),
                        written.len()
                    );
                    values = vec![Err(RewardError::Failed { reason }); written.len()];
                }
                let mut values = values.into_iter();
                objects
                    .iter()
                    .map(|object| match object {
                        Ok(_) => values.next().expect("one result per written object"),
                        Err(error) => Err(error.clone()),
                    })
                    .collect()
            })
            .collect()
    }

    fn compose(
        &self,
        builtin: Result<ObjectiveValues, RewardError>,
        remote: Vec<&Result<RemoteValues, RewardError>>,
    ) -> Result<ObjectiveValues, RewardError> {
        let builtin = builtin?;
        for (values, service) in remote.iter().zip(&self.remote) {
            let values = values.as_ref().map_err(Clone::clone)?;
            if values.raw.len() != service.names().len() || values.raw.iter().any(|v| !v.is_finite()) {
                return Err(RewardError::Failed {
                    reason: format!(
                        "service {:?} gave {:?} for the objectives {:?}",
                        service.service(),
                        values.raw,
                        service.names()
                    ),
                });
            }
        }
        let mut composed = ObjectiveValues { score: builtin.score, ..ObjectiveValues::default() };
        for slot in &self.slots {
            let (raw, normalized, source) = match slot {
                Slot::Builtin(i) => (builtin.raw[*i], builtin.normalized[*i], BUILTIN_SOURCE.to_string()),
                Slot::Remote { service, value, normalize } => {
                    let values = remote[*service].as_ref().expect("checked above");
                    let raw = values.raw[*value];
                    (raw, normalize(raw).clamp(0.0, 1.0), values.source.clone())
                }
            };
            composed.raw.push(raw);
            composed.normalized.push(normalized);
            composed.sources.push(source);
        }
        Ok(composed)
    }
}

impl<T: Task> ObjectiveModel<TaskState<T>> for ComposedObjectives<T> {
    fn evaluate(&self, states: &[&TaskState<T>]) -> Vec<Result<ObjectiveValues, RewardError>> {
        let builtin = self.builtin.evaluate(states);
        let objects: Vec<Result<RewardObject, RewardError>> = states
            .iter()
            .map(|state| {
                self.task
                    .service_object(state)
                    .map_err(|e| RewardError::Failed { reason: format!("writing the object: {e}") })
            })
            .collect();
        let remote = self.remote_values(&objects);
        builtin
            .into_iter()
            .enumerate()
            .map(|(i, builtin)| self.compose(builtin, remote.iter().map(|r| &r[i]).collect()))
            .collect()
    }

    fn is_mode(&self, state: &TaskState<T>) -> bool {
        self.builtin.is_mode(state)
    }

    fn fingerprint(&self, state: &TaskState<T>) -> Option<Vec<u64>> {
        self.builtin.fingerprint(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ObjectiveServiceConfig, RewardServiceConfig};
    use crate::reward::Reward;
    use crate::reward::scalarization::{PreferenceConditioning, Scalarization};
    use crate::task::hypergrid::{HypergridConfig, HypergridTask};
    use crate::task::preference::Preferences;
    use gfn_proto::reward::v1::reward_object;

    /// `dock` = −(x + y) of a grid point, failing for the origin; counts the objects it saw.
    struct Docking {
        names: Vec<String>,
        seen: std::sync::Mutex<usize>,
    }

    impl RemoteObjectives for Docking {
        fn service(&self) -> &str {
            "dock-svc"
        }

        fn names(&self) -> &[String] {
            &self.names
        }

        fn evaluate(&self, objects: &[RewardObject]) -> Vec<Result<RemoteValues, RewardError>> {
            *self.seen.lock().unwrap() += objects.len();
            objects
                .iter()
                .map(|object| match &object.object {
                    Some(reward_object::Object::Grid(point)) if point.coordinates.iter().sum::<u32>() > 0 => {
                        let sum: u32 = point.coordinates.iter().sum();
                        Ok(RemoteValues { raw: vec![-f64::from(sum)], source: "dock-svc:vina@1".into() })
                    }
                    _ => Err(RewardError::Failed { reason: "no pose".into() }),
                })
                .collect()
        }
    }

    fn conditioning(objectives: &[&str]) -> PreferenceConditioning {
        PreferenceConditioning {
            objectives: objectives.iter().map(|s| s.to_string()).collect(),
            concentration: 1.0,
            reward_exponent: (1.0, 1.0),
            exponent_bins: 2,
            scalarization: Scalarization::WeightedSum,
        }
    }

    fn service(scales: &[(&str, [f64; 2])]) -> ObjectiveServiceConfig {
        ObjectiveServiceConfig {
            name: "dock-svc".into(),
            objectives: vec!["dock".into()],
            scales: scales.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            connection: RewardServiceConfig { endpoints: vec!["127.0.0.1:1".into()], ..Default::default() },
        }
    }

    fn grid() -> HypergridTask {
        HypergridTask::new(&HypergridConfig { ndim: 2, height: 8, ..HypergridConfig::default() })
    }

    #[test]
    fn built_in_and_service_objectives_compose_in_the_run_s_order_with_their_sources() {
        let task = Preferences::new(
            grid(),
            conditioning(&["dock", "branin"]),
            vec![service(&[("dock", [0.0, -14.0])])],
        )
        .unwrap();
        let docking = Arc::new(Docking { names: vec!["dock".into()], seen: Default::default() });
        let remote: Vec<Arc<dyn RemoteObjectives>> = vec![docking.clone()];
        let reward = task.reward_with_remote(1, &remote).unwrap();
        let builtin = grid().objective_model(&["branin".to_string()], 1).unwrap();
        let condition: crate::env::preference::Condition = vec![0.5, 0.5, 1.0].into();
        let states: Vec<_> = [vec![0u16, 0], vec![3, 4], vec![7, 7]]
            .into_iter()
            .map(|state| crate::env::preference::Preferred { state, condition: condition.clone() })
            .collect();
        let refs: Vec<_> = states.iter().collect();
        let scored = reward.score_batch(&refs);
        assert_eq!(*docking.seen.lock().unwrap(), 3, "one batch of every object");
        assert!(scored[0].as_ref().unwrap_err().to_string().contains("no pose"), "the origin fails alone");
        for (scored, state) in scored[1..].iter().zip(&states[1..]) {
            let scored = scored.as_ref().unwrap();
            let sum: u16 = state.state.iter().sum();
            let branin = &builtin.evaluate(&[&state.state])[0].as_ref().unwrap().clone();
            assert_eq!(scored.raw_objectives, [-f64::from(sum), branin.raw[0]]);
            assert_eq!(scored.objectives, [f64::from(sum) / 14.0, branin.normalized[0]]);
            assert_eq!(scored.objective_sources, ["dock-svc:vina@1", BUILTIN_SOURCE]);
            let expected = (0.5 * scored.objectives[0] + 0.5 * scored.objectives[1]).ln();
            assert!((scored.log_reward - expected).abs() < 1e-12);
        }
    }

    #[test]
    fn a_run_with_services_refuses_to_score_without_them_and_unknown_objectives_need_scales() {
        let with_scales = || vec![service(&[("dock", [0.0, -14.0])])];
        let task = Preferences::new(grid(), conditioning(&["dock", "branin"]), with_scales()).unwrap();
        let error = task.reward(1).err().unwrap().to_string();
        assert!(error.contains("dock-svc") && error.contains("gfn launch"), "{error}");
        let error = Preferences::new(grid(), conditioning(&["dock", "branin"]), vec![service(&[])])
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("scales") && error.contains("dock"), "{error}");
        let error = Preferences::new(grid(), conditioning(&["dock", "branin"]), Vec::new())
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("no objective \"dock\""), "{error}");
    }
}
