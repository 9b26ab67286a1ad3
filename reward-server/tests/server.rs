//! `gfn-reward-server` as a process: it listens, names its model, scores SMILES (an error for
//! one that does not parse, the rest of the batch still scored), refuses other object kinds and
//! calls without the run token.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use gfn_proto::reward::v1::reward_model_client::RewardModelClient;
use gfn_proto::reward::v1::{self as pb, object_result};

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn weights() -> PathBuf {
    std::env::var_os("GFN_SEH_PROXY_WEIGHTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/seh_proxy.safetensors"))
}

/// Starts the server (with `token` in its environment, if any); its address.
fn start(token: Option<&str>) -> (Server, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gfn-reward-server"));
    command.args(["--listen", "127.0.0.1:0", "--proxy-weights"]).arg(weights()).stdout(Stdio::piped());
    command.env_remove("GFN_RUN_TOKEN");
    if let Some(token) = token {
        command.env("GFN_RUN_TOKEN", token);
    }
    let mut child = command.spawn().expect("gfn-reward-server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert_eq!(event["event"], "listening");
    assert!(event["model"].as_str().unwrap().starts_with("seh-proxy-bengio2021@"), "{event}");
    (Server(child), format!("http://{}", event["address"].as_str().unwrap()))
}

fn molecule(smiles: &str) -> pb::RewardObject {
    pb::RewardObject {
        object: Some(pb::reward_object::Object::Molecule(pb::Molecule {
            smiles: smiles.into(),
            junction_tree_json: String::new(),
        })),
    }
}

#[tokio::test]
async fn scores_smiles_and_names_its_model() {
    let (_server, address) = start(None);
    let mut client = RewardModelClient::connect(address).await.unwrap();
    let info = client.describe(pb::DescribeRequest {}).await.unwrap().into_inner();
    assert_eq!(info.object_kinds, ["molecule"]);
    let objects = vec![molecule("c1ccccc1O"), molecule("C(("), molecule("CC(=O)Nc1ccc(O)cc1")];
    let reply = client.score(pb::ScoreRequest { objects, run_id: "t".into() }).await.unwrap().into_inner();
    assert_eq!(reply.value_kind, pb::ValueKind::Score as i32);
    assert_eq!(reply.model_version, info.model_version);
    assert_eq!(reply.results.len(), 3);
    let value = |i: usize| match &reply.results[i].result {
        Some(object_result::Result::Value(v)) => Some(*v),
        _ => None,
    };
    assert!(value(0).is_some_and(|v| v.is_finite() && v > 0.0), "{:?}", reply.results[0]);
    assert!(matches!(&reply.results[1].result, Some(object_result::Result::Error(e)) if e.contains("C((")));
    assert!(value(2).is_some_and(|v| v.is_finite() && v > 0.0));
    // other kinds are refused as a whole
    let bits = pb::RewardObject {
        object: Some(pb::reward_object::Object::Bits(pb::BitString { bits: "01".into() })),
    };
    let refused =
        client.score(pb::ScoreRequest { objects: vec![bits], run_id: String::new() }).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn with_a_run_token_calls_without_it_are_refused() {
    let (_server, address) = start(Some("s3cret-token-for-tests"));
    let mut client = RewardModelClient::connect(address.clone()).await.unwrap();
    let refused = client.describe(pb::DescribeRequest {}).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let token = gfn_proto::auth::RunToken::new("s3cret-token-for-tests").unwrap();
    let channel = tonic::transport::Endpoint::from_shared(address).unwrap().connect().await.unwrap();
    let mut client =
        RewardModelClient::with_interceptor(channel, gfn_proto::auth::AttachToken::new(Some(&token)));
    let objects = vec![molecule("c1ccccc1O")];
    assert_eq!(
        client
            .score(pb::ScoreRequest { objects, run_id: String::new() })
            .await
            .unwrap()
            .into_inner()
            .results
            .len(),
        1
    );
}
