//! Drug-likeness objectives as a reward service: QED, the SA score and the molecular weight of
//! each molecule (RDKit-identical, `gfn_common::reward::objectives`), returned as three named
//! raw values (`value_kind = OBJECTIVES`, `value_names = ["qed", "sa", "mw"]`) for a
//! multi-objective run's `[[conditioning.services]]`. gfn normalises them as its built-in
//! objectives do.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};

use gfn_common::fingerprint::sha256_file;
use gfn_common::reward::objectives::{DrugLikenessScorer, SaScorer};
use gfn_proto::auth::RunToken;
use gfn_proto::reward::v1::reward_model_server::RewardModel;
use gfn_proto::reward::v1::{self as pb, object_result};

use crate::{LoadError, Scoring, authorize};

/// The model's name in replies.
pub const MODEL_NAME: &str = "molecule-properties";
/// The values of every reply, in order.
pub const VALUE_NAMES: [&str; 3] = ["qed", "sa", "mw"];

/// QED, SA and MW as a reward service.
pub struct PropertiesService {
    scorer: Arc<DrugLikenessScorer>,
    permits: Arc<Semaphore>,
    version: String,
    max_batch: usize,
    token: Option<RunToken>,
}

impl PropertiesService {
    /// Reads RDKit's SA fragment table at `sa_fragment_scores` (`fpscores.pkl.gz`); `threads`
    /// calls are scored at once; `max_batch` = 0 accepts any batch; with `token`, every call
    /// must carry it.
    pub fn load(
        sa_fragment_scores: &Path,
        threads: usize,
        max_batch: usize,
        token: Option<RunToken>,
    ) -> Result<Self, LoadError> {
        let path = sa_fragment_scores.to_path_buf();
        let digest = sha256_file(sa_fragment_scores)
            .map_err(|source| LoadError::Read { path: path.clone(), source })?;
        let table = SaScorer::load(sa_fragment_scores)
            .map_err(|error| LoadError::Table { path, reason: error.to_string() })?;
        Ok(Self {
            scorer: Arc::new(DrugLikenessScorer::new(table)),
            permits: Arc::new(Semaphore::new(threads.max(1))),
            version: digest.trim_start_matches("sha256:")[..12].to_string(),
            max_batch,
            token,
        })
    }

    /// The model version: the first 12 hex digits of the SA table's SHA-256.
    pub fn version(&self) -> &str {
        &self.version
    }
}

/// The values of each of `smiles`, or why it has none.
fn properties(scorer: &DrugLikenessScorer, smiles: &[String]) -> Vec<object_result::Result> {
    smiles
        .iter()
        .map(|smiles| match scorer.score(smiles) {
            Ok(p) => object_result::Result::Values(pb::Values { values: vec![p.qed, p.sa, p.mw] }),
            Err(error) => object_result::Result::Error(error.to_string()),
        })
        .collect()
}

#[tonic::async_trait]
impl RewardModel for PropertiesService {
    async fn score(&self, request: Request<pb::ScoreRequest>) -> Result<Response<pb::ScoreReply>, Status> {
        let scorer = Arc::clone(&self.scorer);
        let scoring =
            Scoring { token: self.token.as_ref(), max_batch: self.max_batch, permits: &self.permits };
        let results = scoring.run(request, move |smiles| properties(&scorer, &smiles)).await?;
        Ok(Response::new(pb::ScoreReply {
            results: results.into_iter().map(|r| pb::ObjectResult { result: Some(r) }).collect(),
            value_kind: pb::ValueKind::Objectives as i32,
            model_name: MODEL_NAME.into(),
            model_version: self.version.clone(),
            value_names: VALUE_NAMES.map(String::from).to_vec(),
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
            value_names: VALUE_NAMES.map(String::from).to_vec(),
        }))
    }
}
