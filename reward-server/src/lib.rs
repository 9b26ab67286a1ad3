//! # gfn-reward-server
//!
//! gfn's built-in reward server: the sEH proxy of Bengio et al. 2021 served over the reward
//! protocol `gfn.reward.v1` (`proto/gfn/reward/v1/reward.proto`), so that the expensive proxy
//! can run on its own pods (and, later, GPUs) and scale apart from the actors. It scores
//! molecules by their SMILES; the junction tree is not needed. With `--model properties` it
//! serves QED, SA and MW as named objective values instead ([`properties`]).
//!
//! Values are the proxy's raw output as `SCORE`, floored at [`SCORE_FLOOR`] because a score
//! must be positive; the run's `[reward]` transform (`min = 0.1`, `norm = 8`, `exponent = 10`
//! gives the paper's reward) clips far above that floor, so the reward equals the built-in one.

pub mod properties;

use std::path::Path;
use std::sync::{Arc, Mutex, TryLockError};
use std::time::Instant;

use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};

use gfn_common::fingerprint::sha256_file;
use gfn_common::reward::molecule_features::featurize_smiles;
use gfn_common::reward::seh_proxy::{MoleculeGraph, ProxyError, SehProxy};
use gfn_proto::auth::{self, RunToken};
use gfn_proto::reward::v1::reward_model_server::RewardModel;
use gfn_proto::reward::v1::{self as pb, object_result};

/// The model's name in replies.
pub const MODEL_NAME: &str = "seh-proxy-bengio2021";
/// Proxy values below this are reported as this (a `SCORE` must be positive).
pub const SCORE_FLOOR: f64 = 1e-3;

/// Metric names.
pub mod metrics {
    /// Score calls answered, by outcome (`ok`, `invalid`, `unauthenticated`).
    pub const CALLS: &str = "gfn_reward_server_calls_total";
    /// Objects scored (a value returned).
    pub const OBJECTS_SCORED: &str = "gfn_reward_server_objects_scored_total";
    /// Objects answered with an error (e.g. a SMILES that does not parse).
    pub const OBJECT_ERRORS: &str = "gfn_reward_server_object_errors_total";
    /// Seconds per Score call (featurization and proxy).
    pub const CALL_DURATION: &str = "gfn_reward_server_call_duration_seconds";
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The weights file could not be read (for its version).
    #[error("reading {path:?}")]
    Read {
        /// The weights file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The SA fragment table could not be read.
    #[error("reading the SA fragment table {path:?}: {reason}")]
    Table {
        /// The table file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// The weights are not the converted sEH proxy.
    #[error("loading the sEH proxy from {path:?}")]
    Proxy {
        /// The weights file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: ProxyError,
    },
}

/// The sEH proxy as a reward service.
pub struct SehService {
    proxies: Arc<Vec<Mutex<SehProxy>>>,
    permits: Arc<Semaphore>,
    version: String,
    max_batch: usize,
    token: Option<RunToken>,
}

impl SehService {
    /// Loads `copies` copies of the converted proxy weights at `weights` (one per call scored
    /// at once); `max_batch` = 0 accepts any batch; with `token`, every call must carry it.
    pub fn load(
        weights: &Path,
        copies: usize,
        max_batch: usize,
        token: Option<RunToken>,
    ) -> Result<Self, LoadError> {
        let digest =
            sha256_file(weights).map_err(|source| LoadError::Read { path: weights.to_path_buf(), source })?;
        let version = digest.trim_start_matches("sha256:")[..12].to_string();
        let proxies = (0..copies.max(1))
            .map(|_| SehProxy::load(weights).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| LoadError::Proxy { path: weights.to_path_buf(), source })?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(proxies.len())),
            proxies: Arc::new(proxies),
            version,
            max_batch,
            token,
        })
    }

    /// The model version: the first 12 hex digits of the weights file's SHA-256.
    pub fn version(&self) -> &str {
        &self.version
    }
}

/// How a server scores a call: the run token it requires, its largest batch, and the permits of
/// the calls it scores at once.
struct Scoring<'a> {
    token: Option<&'a RunToken>,
    max_batch: usize,
    permits: &'a Arc<Semaphore>,
}

impl Scoring<'_> {
    /// Checks `request`, waits for a permit, scores its molecules' SMILES with `score` on a
    /// blocking thread and counts the call and its objects.
    async fn run(
        &self,
        request: Request<pb::ScoreRequest>,
        score: impl FnOnce(Vec<String>) -> Vec<object_result::Result> + Send + 'static,
    ) -> Result<Vec<object_result::Result>, Status> {
        authorize(self.token, &request)?;
        let smiles = molecule_smiles(request.into_inner().objects, self.max_batch)?;
        let started = Instant::now();
        let _permit =
            self.permits.clone().acquire_owned().await.map_err(|_| Status::unavailable("shutting down"))?;
        let results = tokio::task::spawn_blocking(move || score(smiles))
            .await
            .map_err(|_| Status::internal("scoring panicked"))?;
        let errors = results.iter().filter(|r| matches!(r, object_result::Result::Error(_))).count();
        ::metrics::counter!(metrics::CALLS, "outcome" => "ok").increment(1);
        ::metrics::counter!(metrics::OBJECTS_SCORED).increment((results.len() - errors) as u64);
        ::metrics::counter!(metrics::OBJECT_ERRORS).increment(errors as u64);
        ::metrics::histogram!(metrics::CALL_DURATION).record(started.elapsed().as_secs_f64());
        Ok(results)
    }
}

/// With `token`, refuses a call that does not carry it (counted).
fn authorize<T>(token: Option<&RunToken>, request: &Request<T>) -> Result<(), Status> {
    match token {
        None => Ok(()),
        Some(token) => auth::check(token, request).map_err(|(refusal, status)| {
            ::metrics::counter!(metrics::CALLS, "outcome" => "unauthenticated").increment(1);
            tracing::warn!(peer = ?request.remote_addr(), reason = refusal.reason(), "refused an unauthenticated call");
            status
        }),
    }
}

/// The SMILES of a request's molecules; refused (counted) when the batch is larger than
/// `max_batch` (0: any) or holds anything but molecules.
fn molecule_smiles(objects: Vec<pb::RewardObject>, max_batch: usize) -> Result<Vec<String>, Status> {
    if max_batch > 0 && objects.len() > max_batch {
        ::metrics::counter!(metrics::CALLS, "outcome" => "invalid").increment(1);
        return Err(Status::invalid_argument(format!(
            "{} objects, at most {max_batch} per call",
            objects.len()
        )));
    }
    let mut smiles = Vec::with_capacity(objects.len());
    for object in objects {
        match object.object {
            Some(pb::reward_object::Object::Molecule(molecule)) => smiles.push(molecule.smiles),
            _ => {
                ::metrics::counter!(metrics::CALLS, "outcome" => "invalid").increment(1);
                return Err(Status::invalid_argument("this model scores molecules only"));
            }
        }
    }
    Ok(smiles)
}

/// Scores `smiles` with one of `proxies`: an error per SMILES that does not featurize.
fn score(proxies: &[Mutex<SehProxy>], smiles: &[String]) -> Vec<object_result::Result> {
    let graphs: Vec<Result<MoleculeGraph, String>> =
        smiles.iter().map(|s| featurize_smiles(s).map_err(|e| e.to_string())).collect();
    let valid: Vec<MoleculeGraph> = graphs.iter().filter_map(|g| g.as_ref().ok().cloned()).collect();
    let values = if valid.is_empty() {
        Vec::new()
    } else {
        let proxy = proxies
            .iter()
            .find_map(|p| match p.try_lock() {
                Ok(guard) => Some(guard),
                Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            })
            .unwrap_or_else(|| proxies[0].lock().unwrap_or_else(|p| p.into_inner()));
        proxy.predict(&valid)
    };
    let mut values = values.into_iter();
    graphs
        .into_iter()
        .map(|graph| match graph {
            Err(error) => object_result::Result::Error(error),
            Ok(_) => {
                let value = values.next().expect("one value per valid graph") as f64;
                if value.is_finite() {
                    object_result::Result::Value(value.max(SCORE_FLOOR))
                } else {
                    object_result::Result::Error(format!("the proxy gave {value}"))
                }
            }
        })
        .collect()
}

#[tonic::async_trait]
impl RewardModel for SehService {
    async fn score(&self, request: Request<pb::ScoreRequest>) -> Result<Response<pb::ScoreReply>, Status> {
        let proxies = Arc::clone(&self.proxies);
        let scoring =
            Scoring { token: self.token.as_ref(), max_batch: self.max_batch, permits: &self.permits };
        let results = scoring.run(request, move |smiles| score(&proxies, &smiles)).await?;
        Ok(Response::new(pb::ScoreReply {
            results: results.into_iter().map(|r| pb::ObjectResult { result: Some(r) }).collect(),
            value_kind: pb::ValueKind::Score as i32,
            model_name: MODEL_NAME.into(),
            model_version: self.version.clone(),
            value_names: Vec::new(),
        }))
    }

    async fn describe(
        &self,
        request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::ModelInfo>, Status> {
        authorize(self.token.as_ref(), &request)?;
        Ok(Response::new(pb::ModelInfo {
            model_name: MODEL_NAME.into(),
            model_version: self.version.clone(),
            object_kinds: vec!["molecule".into()],
            max_batch: self.max_batch as u32,
            value_names: Vec::new(),
        }))
    }
}

/// Whichever model a server serves.
pub enum Served {
    /// The sEH proxy.
    Seh(SehService),
    /// QED, SA and MW.
    Properties(properties::PropertiesService),
}

#[tonic::async_trait]
impl RewardModel for Served {
    async fn score(&self, request: Request<pb::ScoreRequest>) -> Result<Response<pb::ScoreReply>, Status> {
        match self {
            Self::Seh(model) => model.score(request).await,
            Self::Properties(model) => model.score(request).await,
        }
    }

    async fn describe(
        &self,
        request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::ModelInfo>, Status> {
        match self {
            Self::Seh(model) => model.describe(request).await,
            Self::Properties(model) => model.describe(request).await,
        }
    }
}
