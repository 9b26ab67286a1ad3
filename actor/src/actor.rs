//! Wires an actor together and runs it until SIGTERM/SIGINT or the end of the run.
//!
//! Shutdown order: the rollout thread stops producing; the reward workers finish the jobs
//! already queued; the submitter delivers what they produce (retrying within a grace period);
//! then the process exits 0.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use gfn_common::config::RunConfig;
use gfn_common::env::Environment;
use gfn_common::events::{Event, Events};
use gfn_common::reward::Reward;
use gfn_common::task::{Task, TaskError, TaskVisitor, Tasks};
use gfn_daemon::process;
use gfn_proto::auth::RunToken;
use gfn_proto::v1;

use crate::backoff::Backoff;
use crate::connection::{ClientTls, Keepalive, LearnerRpc, Registration, client, register};
use crate::error::ActorError;
use crate::metrics;
use crate::reward_pool::{self, Batching, RewardStats, SyntheticCost};
use crate::reward_service::objectives::ServiceObjectives;
use crate::reward_service::{self, ServiceReward};
use crate::rollout::run_rollouts;
use crate::submitter::{SubmitStats, SubmitterSettings, run_submitter};
use crate::weights::follow_weights;

/// How to start an actor.
#[derive(Debug, Clone)]
pub struct ActorOptions {
    /// The learner's gRPC address, e.g. `127.0.0.1:50051` or `http://learner:50051`.
    pub learner: String,
    /// Name reported to the learner.
    pub name: String,
    /// Override of `actor.reward_threads` for this actor.
    pub reward_threads: Option<usize>,
    /// Override of `actor.rollout_batch` for this actor.
    pub rollout_batch: Option<usize>,
    /// The run token sent with every call (`GFN_RUN_TOKEN` or a token file).
    pub token: Option<RunToken>,
    /// TLS towards the learner (`https`), with a client certificate for mutual TLS.
    pub tls: Option<ClientTls>,
    /// Address of the Prometheus `/metrics` endpoint (`0.0.0.0:9100`, `127.0.0.1:0`); none if absent.
    pub metrics_listen: Option<String>,
    /// Machine-readable events (metrics address, registration, finish).
    pub events: Events,
}

/// Largest message the actor accepts (weights chunks are at most the learner's chunk size).
const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Runs an actor to completion; returns what was submitted. It can join runs of the tasks of
/// `tasks` (sent to the learner at registration) and refuses any other.
pub fn run(options: ActorOptions, tasks: impl Tasks) -> Result<SubmitStats, ActorError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("gfn-actor-io")
        .enable_all()
        .build()
        .map_err(|error| ActorError::System("starting the tokio runtime", error))?;
    let handle = runtime.handle().clone();
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(process::cancel_on_signal(shutdown.clone(), "flushing and exiting"));
        if let Some(address) = &options.metrics_listen {
            let handle = metrics::install_recorder()?;
            let (listener, local) = process::bind_metrics(address)
                .await
                .map_err(|source| ActorError::Bind { address: address.clone(), source })?;
            options.events.emit(Event::Metrics { address: local.to_string() });
            tokio::spawn(process::serve_metrics(listener, handle, shutdown.clone()));
        }
        let defaults = gfn_common::config::ActorConfig::default();
        let mut learner = client(
            &options.learner,
            MAX_MESSAGE_BYTES,
            options.token.as_ref(),
            options.tls.as_ref(),
            Keepalive::of(&defaults),
        )?;
        let register_request = v1::RegisterRequest {
            actor_name: options.name.clone(),
            protocol_version: gfn_proto::PROTOCOL_VERSION,
            capabilities: Some(v1::ActorCapabilities {
                reward_threads: options.reward_threads.unwrap_or(0) as u32,
                rollout_batch: options.rollout_batch.unwrap_or(0) as u32,
                environments: tasks.names().iter().map(|name| name.to_string()).collect(),
            }),
        };
        let mut backoff = Backoff::new(Duration::from_secs(2));
        let registration = match register(
            &mut learner,
            register_request.clone(),
            &mut backoff,
            Duration::from_secs_f64(defaults.rpc_deadline_seconds),
            &shutdown,
        )
        .await
        {
            Ok(registration) => registration,
            Err(_) if shutdown.is_cancelled() => return Ok(SubmitStats::default()),
            Err(error) => return Err(error),
        };
        let mut config = registration.config.clone();
        if let Some(threads) = options.reward_threads {
            config.actor.reward_threads = threads;
        }
        if let Some(batch) = options.rollout_batch {
            config.actor.rollout_batch = batch;
        }
        tasks.entry(config.env.task()).map_err(ActorError::UnknownTask)?;
        tasks.validate(&config).map_err(|error| ActorError::Config("the run's configuration", error))?;
        gfn_common::fingerprint::verify(&config, &tasks.reward_files(&config))
            .map_err(ActorError::RewardFiles)?;
        // the run's own keepalive settings from here on
        let learner = client(
            &options.learner,
            MAX_MESSAGE_BYTES,
            options.token.as_ref(),
            options.tls.as_ref(),
            Keepalive::of(&config.actor),
        )?;
        options
            .events
            .emit(Event::Registered { actor_id: registration.actor_id, run_id: registration.run_id.clone() });
        let seed = config.seed ^ registration.actor_id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let registration = Arc::new(RwLock::new(registration));
        let max_backoff = Duration::from_secs_f64(config.actor.reconnect_max_seconds);

        let context = ActorContext {
            config,
            registration,
            max_backoff,
            shutdown,
            seed,
            handle,
            learner,
            register_request,
            events: options.events.clone(),
        };
        let visitor = RunActor { context, token: options.token.clone(), tls: options.tls.clone() };
        tasks.visit(&visitor.context.config.clone(), visitor)?.await
    })
}

/// Runs the actor for whichever task the run's configuration names; the run token and TLS
/// settings reach a reward service if the run has one.
struct RunActor {
    context: ActorContext,
    token: Option<RunToken>,
    tls: Option<ClientTls>,
}

impl TaskVisitor for RunActor {
    type Output = std::pin::Pin<Box<dyn std::future::Future<Output = Result<SubmitStats, ActorError>>>>;

    fn visit<T: Task + Clone>(self, task: T) -> Result<Self::Output, TaskError> {
        let RunActor { context, token, tls } = self;
        let env = task.environment().clone();
        match context.config.reward.service() {
            None => {
                let workers = RewardWorkers {
                    threads: context.config.actor.reward_threads,
                    batching: Batching { max: context.config.actor.rollout_batch, max_wait: Duration::ZERO },
                };
                let services = &context.config.conditioning.services;
                let remote = if services.is_empty() {
                    Vec::new()
                } else {
                    let run_id = context.registration.read().expect("registration lock").run_id.clone();
                    let tls = reward_service::client_tls(tls.as_ref())?;
                    ServiceObjectives::connect_all(
                        services,
                        token.as_ref(),
                        tls.as_ref(),
                        &run_id,
                        &context.handle,
                    )?
                };
                let reward = Arc::new(task.reward_with_remote(workers.threads, &remote)?);
                Ok(Box::pin(run_env(env, reward, workers, context)))
            }
            Some(service) => {
                let run_id = context.registration.read().expect("registration lock").run_id.clone();
                let client = reward_service::connect(
                    service,
                    token,
                    reward_service::client_tls(tls.as_ref())?,
                    &run_id,
                    &context.handle,
                )?;
                let names: Vec<String> = client.endpoints.all().iter().map(|e| e.name.clone()).collect();
                tracing::info!(
                    endpoints = names.join(", "),
                    dns = service.dns.as_deref().unwrap_or(""),
                    "rewards from the reward service"
                );
                let workers = RewardWorkers {
                    threads: service.max_in_flight,
                    batching: Batching {
                        max: service.max_batch,
                        max_wait: Duration::from_secs_f64(service.max_wait_ms / 1e3),
                    },
                };
                let reward =
                    Arc::new(ServiceReward::new(task, client, service.transform(), context.handle.clone()));
                Ok(Box::pin(run_env(env, reward, workers, context)))
            }
        }
    }
}

/// What an actor knows once registered: the run, its learner, and where it reports.
struct ActorContext {
    config: RunConfig,
    registration: Arc<RwLock<Registration>>,
    max_backoff: Duration,
    shutdown: CancellationToken,
    seed: u64,
    handle: tokio::runtime::Handle,
    learner: LearnerRpc,
    /// Sent again to register anew after the learner restarts.
    register_request: v1::RegisterRequest,
    events: Events,
}

/// How many reward workers, and how they batch.
struct RewardWorkers {
    threads: usize,
    batching: Batching,
}

/// Rolls out, scores and submits in `env` until the run ends or a signal arrives.
async fn run_env<E, R>(
    env: E,
    reward: Arc<R>,
    workers: RewardWorkers,
    context: ActorContext,
) -> Result<SubmitStats, ActorError>
where
    E: Environment + 'static,
    R: Reward<E::State> + 'static,
{
    let ActorContext {
        config,
        registration,
        max_backoff,
        shutdown,
        seed,
        handle,
        learner,
        register_request,
        events,
    } = context;

    let (weights_sender, weights) = watch::channel(None);
    let follower = tokio::spawn(follow_weights(
        learner.clone(),
        registration.clone(),
        weights_sender,
        max_backoff,
        shutdown.clone(),
    ));
    let (job_sender, jobs) = crossbeam_channel::bounded(workers.threads * workers.batching.max);
    let (result_sender, results) = mpsc::channel(config.actor.submit_batch);
    let reward_stats = Arc::new(RewardStats::default());
    let cost = SyntheticCost {
        cpu: Duration::from_secs_f64(config.actor.reward_cpu_cost_ms / 1e3),
        sleep: Duration::from_secs_f64(config.actor.reward_sleep_cost_ms / 1e3),
    };
    let workers = reward_pool::spawn(
        workers.threads,
        workers.batching,
        reward,
        cost,
        jobs,
        result_sender,
        reward_stats.clone(),
    )
    .map_err(|error| ActorError::System("starting the reward workers", error))?;
    let rollout_shutdown = shutdown.clone();
    let rollout_config = config.clone();
    let rollout = std::thread::Builder::new()
        .name("gfn-actor-rollout".into())
        .spawn(move || {
            run_rollouts(&env, &rollout_config, weights, job_sender, rollout_shutdown, handle, seed)
        })
        .map_err(|error| ActorError::System("starting the rollout thread", error))?;
    let settings = SubmitterSettings {
        batch: config.actor.submit_batch,
        linger: Duration::from_millis(20),
        max_backoff,
        shutdown_grace: Duration::from_secs(5),
        register_request,
        rpc_deadline: Duration::from_secs_f64(config.actor.rpc_deadline_seconds),
        instance: rand::random::<u64>().max(1),
    };
    let stats = run_submitter(learner, registration, results, settings, shutdown.clone()).await;
    shutdown.cancel();
    let produced = tokio::task::spawn_blocking(move || rollout.join())
        .await?
        .map_err(|_| ActorError::Panicked("rollout"))??;
    for worker in workers {
        let _ = tokio::task::spawn_blocking(move || worker.join()).await?;
    }
    follower.await?;
    events.emit(Event::ActorFinished {
        rolled_out: produced,
        accepted: stats.accepted,
        stale: stats.stale,
        rejected: stats.rejected,
        lost: stats.lost,
        reward_failures: reward_stats.failed.load(Ordering::Relaxed),
    });
    if let Some(reason) = &stats.quarantined {
        return Err(ActorError::Quarantined(reason.clone()));
    }
    Ok(stats)
}
