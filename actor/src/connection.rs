//! Connecting to the learner and registering.

use std::time::Duration;

use std::path::PathBuf;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use gfn_common::config::RunConfig;
use gfn_proto::auth::{AttachToken, RunToken};
use gfn_proto::v1::{self, learner_client::LearnerClient};

/// The actor's client of the learner: every call carries the run token, if there is one.
pub type LearnerRpc = LearnerClient<InterceptedService<Channel, AttachToken>>;

use crate::backoff::Backoff;
use crate::error::ActorError;

/// What registration gave this actor.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The run id to put on every request.
    pub run_id: String,
    /// This actor's id.
    pub actor_id: u64,
    /// The run configuration.
    pub config: RunConfig,
}

/// TLS towards the learner: the run CA that signed the learner's certificate, and this actor's
/// own certificate and key when the learner requires client certificates (mutual TLS).
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// The CA certificate (PEM) the learner's certificate must chain to.
    pub ca: PathBuf,
    /// This actor's certificate (PEM), signed by the run CA.
    pub cert: Option<PathBuf>,
    /// The private key of `cert` (PEM).
    pub key: Option<PathBuf>,
    /// The name to verify the learner's certificate against (default: the address's host).
    pub domain: Option<String>,
}

impl ClientTls {
    /// The same CA and client identity for reward endpoints (verified against their own names).
    pub fn reward_config(&self) -> Result<ClientTlsConfig, ActorError> {
        ClientTls { domain: None, ..self.clone() }.config()
    }

    fn config(&self) -> Result<ClientTlsConfig, ActorError> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| ActorError::File { path: path.clone(), source })
        };
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(&self.ca)?));
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => config = config.identity(Identity::from_pem(read(cert)?, read(key)?)),
            (None, None) => {}
            _ => return Err(ActorError::IncompleteIdentity),
        }
        if let Some(domain) = &self.domain {
            config = config.domain_name(domain.clone());
        }
        Ok(config)
    }
}

/// How the actor's connection to the learner notices a silent peer: an HTTP/2 PING every
/// `keepalive` (none if zero), the connection dropped and re-dialled when one is not answered
/// within `keepalive_timeout`.
#[derive(Debug, Clone, Copy)]
pub struct Keepalive {
    /// PING interval.
    pub interval: Duration,
    /// Longest wait for the PING's answer.
    pub timeout: Duration,
}

impl Keepalive {
    /// The settings of the `[actor]` section.
    pub fn of(actor: &gfn_common::config::ActorConfig) -> Self {
        Self {
            interval: Duration::from_secs_f64(actor.keepalive_seconds),
            timeout: Duration::from_secs_f64(actor.keepalive_timeout_seconds),
        }
    }
}

/// A lazily connecting client: calls made while the learner is away fail with `Unavailable`,
/// and succeed again once it is back; a connection that stops answering keepalive PINGs is
/// dropped and dialled again.
pub fn client(
    address: &str,
    max_message_bytes: usize,
    token: Option<&RunToken>,
    tls: Option<&ClientTls>,
    keepalive: Keepalive,
) -> Result<LearnerRpc, ActorError> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let address = if address.contains("://") { address.to_string() } else { format!("{scheme}://{address}") };
    let mut endpoint = Endpoint::from_shared(address.clone()).map_err(|source| ActorError::Transport {
        what: "invalid learner address",
        address: address.clone(),
        source,
    })?;
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls.config()?).map_err(|source| ActorError::Transport {
            what: "configuring TLS for",
            address: address.clone(),
            source,
        })?;
    }
    endpoint = endpoint.connect_timeout(Duration::from_secs(2)).tcp_nodelay(true);
    if !keepalive.interval.is_zero() {
        endpoint = endpoint
            .http2_keep_alive_interval(keepalive.interval)
            .keep_alive_timeout(keepalive.timeout)
            .keep_alive_while_idle(true);
    }
    let channel = endpoint.connect_lazy();
    Ok(LearnerClient::with_interceptor(channel, AttachToken::new(token))
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes))
}

/// Registers, retrying with back-off until the learner answers or `shutdown` is cancelled.
pub async fn register(
    client: &mut LearnerRpc,
    request: v1::RegisterRequest,
    backoff: &mut Backoff,
    deadline: Duration,
    shutdown: &CancellationToken,
) -> Result<Registration, ActorError> {
    loop {
        let mut call = tonic::Request::new(request.clone());
        call.set_timeout(deadline);
        match client.register(call).await {
            Ok(reply) => {
                backoff.reset();
                let reply = reply.into_inner();
                let config = RunConfig::parse(&reply.config_toml, None).map_err(|error| {
                    ActorError::Config("the learner sent an invalid run configuration", error)
                })?;
                return Ok(Registration { run_id: reply.run_id, actor_id: reply.actor_id, config });
            }
            Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                return Err(ActorError::Refused(status.message().to_string()));
            }
            Err(status) if status.code() == tonic::Code::Unauthenticated => {
                return Err(ActorError::TokenRefused(status.message().to_string()));
            }
            Err(status) => {
                let pause = backoff.next_pause();
                tracing::info!(code = ?status.code(), message = status.message(), ?pause, "learner not reachable, retrying");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.cancelled() => return Err(ActorError::ShutDown),
                }
            }
        }
    }
}
