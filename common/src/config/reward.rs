//! The `[reward]` section: gfn's built-in reward of the environment, or a reward service
//! (`gfn.reward.v1`) that the actors call, with its endpoints, batching, deadlines, retries,
//! ejection and the reward transform applied to its raw scores.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::reward::service::ScoreTransform;
use crate::validation::Scope;

/// Where rewards come from, tagged by `type`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RewardConfig {
    /// The environment's own reward (`[env]`'s constants).
    #[default]
    Builtin,
    /// A reward service the actors call.
    Service(RewardServiceConfig),
}

/// A reward service: one or more endpoints, each a server of `gfn.reward.v1.RewardModel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RewardServiceConfig {
    /// Endpoint addresses (`host:port`, `http://host:port`, `https://host:port`).
    pub endpoints: Vec<String>,
    /// A DNS name with port (`reward.gfn.svc.cluster.local:50061`, e.g. a Kubernetes headless
    /// Service) whose every address is an endpoint, resolved again every `resolve_seconds`.
    pub dns: Option<String>,
    /// Re-resolution interval of `dns`, in seconds.
    pub resolve_seconds: f64,
    /// `https` for `dns` endpoints and bare `host:port` ones (TLS with the actor's `--tls-ca`).
    pub tls: bool,
    /// `β` of the reward transform `R = (max(score, min) / norm)^β`.
    pub exponent: f64,
    /// Scores below this are clipped to it.
    pub min: f64,
    /// Scores are divided by this.
    pub norm: f64,
    /// Most objects per call.
    pub max_batch: usize,
    /// Longest wait, in milliseconds, for a call's batch to fill before it is sent anyway.
    pub max_wait_ms: f64,
    /// Calls in flight per actor; rollouts wait once this many are outstanding and their
    /// queue is full.
    pub max_in_flight: usize,
    /// Deadline of one call, in milliseconds.
    pub deadline_ms: f64,
    /// Attempts per batch (the first included); a retry goes to another endpoint when there is
    /// one, after a jittered exponential back-off.
    pub attempts: usize,
    /// First back-off between attempts, in milliseconds (doubled each time, jittered).
    pub backoff_initial_ms: f64,
    /// Longest back-off, in milliseconds.
    pub backoff_max_ms: f64,
    /// Consecutive failed calls after which an endpoint is ejected.
    pub eject_after_failures: u32,
    /// How long an ejected endpoint gets no calls, in seconds; then it is tried again.
    pub eject_seconds: f64,
    /// Largest reply accepted, in bytes.
    pub max_message_bytes: usize,
}

impl Default for RewardServiceConfig {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            dns: None,
            resolve_seconds: 10.0,
            tls: false,
            exponent: 1.0,
            min: 1e-12,
            norm: 1.0,
            max_batch: 16,
            max_wait_ms: 5.0,
            max_in_flight: 4,
            deadline_ms: 5_000.0,
            attempts: 3,
            backoff_initial_ms: 20.0,
            backoff_max_ms: 1_000.0,
            eject_after_failures: 3,
            eject_seconds: 5.0,
            max_message_bytes: 4 << 20,
        }
    }
}

impl RewardServiceConfig {
    /// The reward transform applied to the service's raw scores.
    pub fn transform(&self) -> ScoreTransform {
        ScoreTransform { exponent: self.exponent, min: self.min, norm: self.norm }
    }
}

impl RewardConfig {
    /// The service, if rewards come from one.
    pub fn service(&self) -> Option<&RewardServiceConfig> {
        match self {
            Self::Builtin => None,
            Self::Service(service) => Some(service),
        }
    }

    /// Checks the section's values (keys `reward.*`).
    pub fn check(&self, reward: &mut Scope<'_>) {
        if let Self::Service(s) = self {
            s.check(reward);
        }
    }
}

impl RewardServiceConfig {
    /// Checks the connection's values (keys of `scope`).
    pub fn check(&self, reward: &mut Scope<'_>) {
        let s = self;
        reward.check(
            !s.endpoints.is_empty() || s.dns.is_some(),
            "endpoints",
            "non-empty, or reward.dns given",
            format!("{:?}", s.endpoints),
        );
        for endpoint in &s.endpoints {
            reward.check(!endpoint.trim().is_empty(), "endpoints", "addresses", format!("{endpoint:?}"));
        }
        if let Some(dns) = &s.dns {
            let has_port = dns
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            reward.check(has_port, "dns", "a name with a port (name:port)", format!("{dns:?}"));
        }
        reward.positive_finite("resolve_seconds", s.resolve_seconds);
        reward.positive_finite("exponent", s.exponent);
        reward.positive_finite("min", s.min);
        reward.positive_finite("norm", s.norm);
        reward.between("max_batch", s.max_batch, 1, 4096);
        reward.non_negative_finite("max_wait_ms", s.max_wait_ms);
        reward.between("max_in_flight", s.max_in_flight, 1, 256);
        reward.positive_finite("deadline_ms", s.deadline_ms);
        reward.between("attempts", s.attempts, 1, 10);
        reward.non_negative_finite("backoff_initial_ms", s.backoff_initial_ms);
        reward.check(
            s.backoff_max_ms.is_finite() && s.backoff_max_ms >= s.backoff_initial_ms,
            "backoff_max_ms",
            "finite and at least reward.backoff_initial_ms",
            s.backoff_max_ms,
        );
        reward.at_least("eject_after_failures", s.eject_after_failures, 1);
        reward.non_negative_finite("eject_seconds", s.eject_seconds);
        reward.check(s.max_message_bytes >= 1024, "max_message_bytes", "at least 1024", s.max_message_bytes);
    }
}

/// A reward service that computes some objectives of a multi-objective run
/// (`[[conditioning.services]]`): it replies with several named raw values per object
/// (`gfn.reward.v1`, `value_kind = OBJECTIVES`); gfn normalises them and records, with every
/// value, this name and the model that produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "toml::Table")]
pub struct ObjectiveServiceConfig {
    /// The service's name in records and logs.
    pub name: String,
    /// The objectives it computes, among `conditioning.objectives`, by the names its replies
    /// give them (`value_names`).
    pub objectives: Vec<String>,
    /// `[worst, best]` raw values of objectives the task does not know (a docking score, an
    /// assay model): normalised linearly to [0, 1] and clipped. Objectives the task knows
    /// (`qed`, `sa`, `mw`, `seh` for molecules) use the task's normalisation unless given here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scales: BTreeMap<String, [f64; 2]>,
    /// Endpoints, DNS, TLS, batching, deadline, retries and ejection: the keys of a `[reward]`
    /// service (its `exponent`, `min` and `norm` do not apply).
    #[serde(flatten)]
    pub connection: RewardServiceConfig,
}

/// Read key by key, so that a misspelt connection key is refused as in `[reward]` (serde's
/// `flatten` would let it through).
impl TryFrom<toml::Table> for ObjectiveServiceConfig {
    type Error = String;

    fn try_from(mut table: toml::Table) -> Result<Self, String> {
        let mut take = |key: &str| table.remove(key);
        let name = match take("name") {
            Some(value) => value.try_into().map_err(|e| format!("name: {e}"))?,
            None => return Err("missing field `name`".into()),
        };
        let objectives = match take("objectives") {
            Some(value) => value.try_into().map_err(|e| format!("objectives: {e}"))?,
            None => return Err("missing field `objectives`".into()),
        };
        let scales = match take("scales") {
            Some(value) => value.try_into().map_err(|e| format!("scales: {e}"))?,
            None => BTreeMap::new(),
        };
        let connection = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| e.to_string())?;
        Ok(Self { name, objectives, scales, connection })
    }
}

impl ObjectiveServiceConfig {
    /// Checks the entry's own values (keys of `scope`); `conditioning` checks how the entries
    /// fit the run's objectives.
    pub fn check(&self, scope: &mut Scope<'_>) {
        scope.check(
            !self.name.is_empty() && !self.name.contains(':') && self.name.len() <= 64,
            "name",
            "a name of 1 to 64 characters without ':'",
            format!("{:?}", self.name),
        );
        scope.check(!self.objectives.is_empty(), "objectives", "at least one objective", "[]");
        for (name, [worst, best]) in &self.scales {
            scope.check(
                self.objectives.contains(name),
                "scales",
                "scales of this service's objectives only",
                format!("{name:?}"),
            );
            scope.check(
                worst.is_finite() && best.is_finite() && worst != best,
                "scales",
                "[worst, best], finite and different",
                format!("{name} = [{worst}, {best}]"),
            );
        }
        self.connection.check(scope);
    }
}
