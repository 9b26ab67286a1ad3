//! Starts a learner: resumes from the newest checkpoint, serves gRPC and `/metrics`, runs the
//! training thread, and shuts everything down on SIGTERM/SIGINT or when training is done.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rand::RngExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use gfn_actor::error::ActorError;
use gfn_actor::reward_service::objectives::ServiceObjectives;
use gfn_common::config::{RunConfig, SecurityConfig};
use gfn_common::env::Environment;
use gfn_common::events::{Event, Events};
use gfn_common::metrics::MetricDescription;
use gfn_common::model::Model;
use gfn_common::reward::remote::RemoteObjectives;
use gfn_common::task::evaluation::open_shared_log;
use gfn_common::task::{HookContext, RunHooks, SharedLog, Task, TaskError, TaskVisitor, Tasks};
use gfn_common::training::resume;
use gfn_daemon::process;
use gfn_proto::auth::{self, RunToken, TOKEN_ENV};
use gfn_proto::v1::learner_server::LearnerServer;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};
use tonic_health::ServingStatus;

use crate::error::LearnerError;
use crate::journal::{Journal, Journaled};
use crate::limits::Limits;
use crate::liveness::Liveness;
use crate::metrics;
use crate::service::LearnerService;
use crate::state::RunState;
use crate::training::{Progress, TrainingThread, snapshot};

/// Runs a learner for the task `config` names (one of `tasks`) to completion on its own tokio
/// runtime, writing its machine-readable events to `events`.
pub fn run(config: RunConfig, events: Events, tasks: impl Tasks) -> Result<(), LearnerError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("gfn-learner-io")
        .enable_all()
        .build()
        .map_err(|error| LearnerError::System("starting the tokio runtime", error))?;
    let handle = runtime.handle().clone();
    runtime.block_on(serve(config, handle, events, tasks))
}

fn new_run_id() -> String {
    let suffix: u64 = rand::rng().random();
    format!("run-{suffix:016x}")
}

async fn serve(
    mut config: RunConfig,
    runtime: tokio::runtime::Handle,
    events: Events,
    tasks: impl Tasks,
) -> Result<(), LearnerError> {
    let task_metrics = tasks.entry(config.env.task())?.metrics();
    // the reward's files: the run's pinned fingerprints must match here, and every file this
    // learner can read is fingerprinted for the actors to check
    let files = tasks.reward_files(&config);
    gfn_common::fingerprint::verify(&config, &files).map_err(LearnerError::RewardFiles)?;
    for key in gfn_common::fingerprint::fill(&mut config, &files) {
        tracing::warn!(%key, "a reward file is not readable here, so the actors cannot check it against the run's");
    }
    tch::set_num_threads(config.learner_threads() as i32);
    tch::manual_seed(config.seed as i64);
    let log =
        open_shared_log(config.evaluation.log_path.as_deref()).map_err(|source| LearnerError::File {
            what: "opening the evaluation log",
            path: config.evaluation.log_path.clone().unwrap_or_default(),
            source,
        })?;
    let reporting = Reporting { log, events, task_metrics };
    let visitor = Serve { config: config.clone(), runtime, reporting };
    tasks.visit(&config, visitor)?.await
}

/// Where a learner reports: the evaluation log, its events, and its task's metrics.
struct Reporting {
    log: Option<SharedLog>,
    events: Events,
    task_metrics: Vec<MetricDescription>,
}

/// Serves whichever task the configuration names.
struct Serve {
    config: RunConfig,
    runtime: tokio::runtime::Handle,
    reporting: Reporting,
}

impl TaskVisitor for Serve {
    type Output = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), LearnerError>>>>;

    fn visit<T: Task + Clone>(self, task: T) -> Result<Self::Output, TaskError> {
        let Serve { config, runtime, reporting } = self;
        Ok(Box::pin(async move {
            let env = task.environment().clone();
            let auditor = if config.learner.reward_audit_fraction > 0.0 {
                let reward: Box<dyn gfn_common::reward::Reward<_>> = Box::new(task.reward(1)?);
                Some(crate::audit::Auditor::new(
                    reward,
                    config.learner.reward_audit_fraction,
                    config.learner.reward_audit_quarantine_after,
                ))
            } else {
                None
            };
            let hook_config = config.clone();
            let hook_log = reporting.log.clone();
            let hook_runtime = runtime.clone();
            serve_env(config, runtime, env, auditor, reporting, move |run_id| {
                let remote = objective_services(&hook_config, run_id, &hook_runtime)?;
                task.hooks(&HookContext { config: &hook_config, run_id, log: hook_log, remote: &remote })
            })
            .await
        }))
    }
}

/// The run's objective services (`conditioning.services`), which the Pareto evaluation scores
/// its samples with, as the actors do: called with the run token, and over TLS for `https`
/// endpoints (or `tls = true`) with [`service_tls`].
pub fn objective_services(
    config: &RunConfig,
    run_id: &str,
    runtime: &tokio::runtime::Handle,
) -> Result<Vec<Arc<dyn RemoteObjectives>>, TaskError> {
    let services = &config.conditioning.services;
    if services.is_empty() {
        return Ok(Vec::new());
    }
    let token = RunToken::load(config.security.token_file.as_deref())?;
    let tls = service_tls(&config.security)?;
    ServiceObjectives::connect_all(services, token.as_ref(), tls.as_ref(), run_id, runtime).map_err(|error| {
        match error {
            ActorError::ObjectiveService { service, source } if matches!(*source, ActorError::NoCaForRewards(_)) => {
                format!(
                    "conditioning.services {service:?} is reached over TLS: the learner needs the CA that signed \
                     its certificate to call it in the evaluation (security.service_ca, or the run CA \
                     security.tls_client_ca)"
                )
                .into()
            }
            other => other.into(),
        }
    })
}

/// TLS towards reward services from the learner: `security.service_ca`, else the run CA of
/// `security.tls_client_ca` (which signs the actors' and usually the services' certificates),
/// as the root to verify them with (`gfn-reward-server` asks no client certificate; the
/// learner's own is a server certificate). `None` without either CA.
pub fn service_tls(security: &SecurityConfig) -> Result<Option<ClientTlsConfig>, LearnerError> {
    let Some(ca) = security.service_ca.as_ref().or(security.tls_client_ca.as_ref()) else {
        return Ok(None);
    };
    Ok(Some(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read_pem(ca)?))))
}

/// The contents of a PEM file of `security`.
fn read_pem(path: &std::path::Path) -> Result<Vec<u8>, LearnerError> {
    std::fs::read(path).map_err(|source| LearnerError::File { what: "reading", path: path.into(), source })
}

/// The learner's service name in the gRPC health checking protocol (`grpc.health.v1.Health`):
/// SERVING while it accepts trajectories. The empty service name (the server as a whole) is
/// SERVING as long as the process serves gRPC.
pub const LEARNER_SERVICE: &str = gfn_proto::v1::learner_server::SERVICE_NAME;

/// Feeds journaled trajectories back into the training queue, holding the journal's lock so that
/// new submissions come after them.
async fn feed_pending<E: Environment>(
    state: Arc<RunState<E>>,
    pending: Vec<Journaled>,
    _journal: tokio::sync::OwnedMutexGuard<Journal>,
) {
    for journaled in pending {
        match gfn_common::trajectory::rebuild(&state.env, &journaled.trajectory) {
            Ok(rebuilt) => {
                tokio::select! {
                    sent = state.queue.send(rebuilt) => if sent.is_err() { return },
                    _ = state.shutdown.cancelled() => return,
                }
            }
            // it was valid when accepted: a different environment in the configuration
            Err(error) => {
                tracing::error!(sequence = journaled.sequence, %error, "journaled trajectory no longer rebuilds")
            }
        }
    }
}

/// The TLS settings of `security`: the learner's identity, and the run CA whose certificates
/// clients must present when `tls_client_ca` is set (mutual TLS). `None` without a certificate.
fn server_tls(security: &SecurityConfig) -> Result<Option<ServerTlsConfig>, LearnerError> {
    let (Some(cert), Some(key)) = (&security.tls_cert, &security.tls_key) else {
        return Ok(None);
    };
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(read_pem(cert)?, read_pem(key)?));
    if let Some(ca) = &security.tls_client_ca {
        tls = tls.client_ca_root(Certificate::from_pem(read_pem(ca)?));
    }
    Ok(Some(tls))
}

/// The interceptor of the learner's service: with a token, every call must carry it; refusals
/// are counted by reason and logged with the peer's address, never with what it sent.
fn authentication(
    token: Option<RunToken>,
) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone {
    move |request: tonic::Request<()>| {
        let Some(token) = &token else {
            return Ok(request);
        };
        match auth::check(token, &request) {
            Ok(()) => Ok(request),
            Err((refusal, status)) => {
                ::metrics::counter!(metrics::UNAUTHENTICATED, "reason" => refusal.reason()).increment(1);
                tracing::warn!(peer = ?request.remote_addr(), reason = refusal.reason(), "refused an unauthenticated call");
                Err(status)
            }
        }
    }
}

async fn serve_env<E>(
    config: RunConfig,
    runtime: tokio::runtime::Handle,
    env: E,
    auditor: Option<crate::audit::Auditor<E::State>>,
    reporting: Reporting,
    hooks: impl FnOnce(&str) -> Result<RunHooks<E>, TaskError>,
) -> Result<(), LearnerError>
where
    E: Environment + Clone + 'static,
    E::State: Serialize + DeserializeOwned + 'static,
{
    let Reporting { log, events, task_metrics } = reporting;
    let mut model = Model::from_config(tch::Device::cuda_if_available(), &env, &config);
    let mut progress: Progress<E::State> = Progress::new();
    if let Some(dir) = &config.checkpoint.dir
        && let Some((path, restored)) = resume(dir, &mut model)?
    {
        events.emit(Event::Resumed { checkpoint: path.clone(), update: restored.update });
        progress = restored;
    }
    let token = RunToken::load(config.security.token_file.as_deref()).map_err(LearnerError::Token)?;
    if token.is_none() {
        tracing::warn!(
            "no run token (security.token_file or {TOKEN_ENV}): any client that reaches the gRPC port \
             may register and submit"
        );
    }
    let run_id = progress.host.run_id.clone().unwrap_or_else(new_run_id);
    progress.host.run_id = Some(run_id.clone());
    let RunHooks { evaluation, results } = hooks(&run_id)?;
    let (results_sender, results_thread) = results.map(|r| (r.sink, r.thread)).unzip();

    let metrics_handle = metrics::install_recorder(&task_metrics)?;
    let (weights_sender, weights) = watch::channel(snapshot(&model, progress.update)?);
    let (queue, queue_receiver) = mpsc::channel(config.ingest_queue_capacity());
    let mut delivered: crate::journal::Delivered = progress.host.delivered.iter().copied().collect();
    let (journal, pending) = match (&config.checkpoint.dir, config.checkpoint.journal) {
        (Some(dir), true) => {
            let dir = dir.join("journal");
            let (journal, pending, journaled) =
                Journal::open(&dir, progress.host.journal_consumed).map_err(|source| LearnerError::File {
                    what: "opening the ingest journal in",
                    path: dir.clone(),
                    source,
                })?;
            events.emit(Event::Journal { pending: pending.len() as u64, accepted: journal.next_sequence() });
            for (instance, highest) in journaled {
                let known = delivered.entry(instance).or_default();
                *known = (*known).max(highest);
            }
            (Some(Arc::new(tokio::sync::Mutex::new(journal))), pending)
        }
        _ => (None, Vec::new()),
    };
    let shutdown = CancellationToken::new();
    let state = Arc::new(RunState {
        run_id: run_id.clone(),
        config_toml: config.to_toml_string(),
        config: config.clone(),
        env: env.clone(),
        version: AtomicU64::new(progress.update),
        finished: AtomicBool::new(false),
        next_actor_id: AtomicU64::new(progress.host.actors_registered + 1),
        queue,
        weights,
        shutdown: shutdown.clone(),
        results: results_sender,
        limits: Limits::new(&config.learner),
        delivered: std::sync::Mutex::new(delivered),
        auditor,
        liveness: Arc::new(Liveness::new(Duration::from_secs_f64(config.learner.actor_timeout_seconds))),
        journal: journal.clone(),
    });
    if let Some(journal) = journal {
        // Before any new submission (they wait for the journal's lock): the journaled
        // trajectories the checkpoint does not contain, in their order.
        let guard = journal.lock_owned().await;
        tokio::spawn(feed_pending(state.clone(), pending, guard));
    }

    let listener = TcpListener::bind(&config.learner.listen).await.map_err(|source| LearnerError::Bind {
        what: "gRPC",
        address: config.learner.listen.clone(),
        source,
    })?;
    let address = listener
        .local_addr()
        .map_err(|error| LearnerError::System("reading the bound gRPC address", error))?;
    events.emit(Event::Listening { address: address.to_string(), run_id: run_id.clone() });
    let metrics_task = if config.learner.metrics_listen.is_empty() {
        None
    } else {
        let (metrics_listener, metrics_address) =
            process::bind_metrics(&config.learner.metrics_listen).await.map_err(|source| {
                LearnerError::Bind { what: "metrics", address: config.learner.metrics_listen.clone(), source }
            })?;
        events.emit(Event::Metrics { address: metrics_address.to_string() });
        Some(tokio::spawn(process::serve_metrics(metrics_listener, metrics_handle, shutdown.clone())))
    };
    tokio::spawn(process::cancel_on_signal(shutdown.clone(), "shutting down"));
    tokio::spawn(Arc::clone(&state.liveness).run(Duration::from_millis(500), shutdown.clone()));

    let service = LearnerServer::new(LearnerService::new(state.clone()))
        .max_decoding_message_size(config.learner.max_message_bytes)
        .max_encoding_message_size(config.learner.max_message_bytes);
    let service = InterceptedService::new(service, authentication(token));
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status(LEARNER_SERVICE, ServingStatus::Serving).await;
    let server_shutdown = shutdown.clone();
    let mut builder = tonic::transport::Server::builder();
    if config.learner.keepalive_seconds > 0.0 {
        builder = builder
            .http2_keepalive_interval(Some(Duration::from_secs_f64(config.learner.keepalive_seconds)))
            .http2_keepalive_timeout(Some(Duration::from_secs_f64(config.learner.keepalive_timeout_seconds)));
    }
    if let Some(tls) = server_tls(&config.security)? {
        builder =
            builder.tls_config(tls).map_err(|error| LearnerError::Transport("configuring TLS", error))?;
    }
    let server = tokio::spawn(
        builder
            .max_concurrent_streams(config.learner.max_streams_per_connection)
            .add_service(health_service)
            .add_service(service)
            .serve_with_incoming_shutdown(
                TcpListenerStream::new(listener),
                server_shutdown.cancelled_owned(),
            ),
    );

    let training = TrainingThread {
        state: state.clone(),
        evaluation,
        model,
        progress,
        queue: queue_receiver,
        weights: Arc::new(weights_sender),
        runtime: runtime.clone(),
        log,
        events: events.clone(),
    };
    let trainer = std::thread::Builder::new()
        .name("gfn-learner-train".into())
        .spawn(move || training.run())
        .map_err(|error| LearnerError::System("starting the training thread", error))?;
    let outcome = tokio::task::spawn_blocking(move || trainer.join())
        .await?
        .map_err(|_| LearnerError::Panicked("training"))?;
    let finished = outcome.as_ref().is_ok_and(|p| p.update >= config.training.updates);
    if finished {
        state.finished.store(true, Ordering::Release);
        let progress = outcome.as_ref().expect("checked");
        // Closed under its lock: a batch checked while the run finished and journaled after
        // this would be accepted but missing from the run's count (the service answers such a
        // batch "finished" and takes none of it).
        let accepted = match &state.journal {
            Some(journal) => Some(journal.lock().await.close()),
            None => None,
        };
        events.emit(Event::LearnerFinished {
            updates: progress.update,
            trajectories: progress.trajectories,
            accepted,
            journal_trained: accepted.map(|_| progress.host.journal_consumed),
        });
    }
    // No longer ready for trajectories (readiness probes fail); the process itself is still live.
    health.set_service_status(LEARNER_SERVICE, ServingStatus::NotServing).await;
    if finished {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs_f64(config.learner.linger_seconds)) => {}
            _ = shutdown.cancelled() => {}
        }
    }
    shutdown.cancel();
    server.await?.map_err(|error| LearnerError::Transport("the gRPC server", error))?;
    if let Some(task) = metrics_task {
        task.await?;
    }
    // The last sender goes with the state: the recorder drains its queue and stops.
    drop(state);
    if let Some(thread) = results_thread {
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| LearnerError::Panicked("results"))?
            .map_err(LearnerError::Task)?;
    }
    outcome.map(|_| ()).map_err(LearnerError::from)
}
