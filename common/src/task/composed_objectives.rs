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
