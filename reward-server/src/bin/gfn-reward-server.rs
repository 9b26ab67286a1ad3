//! `gfn-reward-server`: the sEH proxy (or QED, SA and MW) served over `gfn.reward.v1`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Identity, ServerTlsConfig};
use tonic_health::ServingStatus;

use gfn_daemon::process;
use gfn_proto::reward::v1::reward_model_server::{RewardModelServer, SERVICE_NAME};
use gfn_reward_server::properties::{self, PropertiesService};
use gfn_reward_server::{SehService, Served, metrics};

/// Serves the sEH proxy (Bengio et al. 2021) to gfn actors over the reward protocol
/// gfn.reward.v1 (proto/gfn/reward/v1/reward.proto). Point a run at it with
/// `[reward] type = "service"`, `endpoints = ["host:50061"]`, `min = 0.1`, `norm = 8.0`,
/// `exponent = 10.0` (the paper's reward). With `--model properties` it serves QED, SA and MW
/// as named objective values, for a multi-objective run's `[[conditioning.services]]`. Prints
/// one JSON line when listening.
#[derive(Debug, Parser)]
#[command(name = "gfn-reward-server", version)]
struct Args {
    /// What to serve: `seh` (the sEH proxy, one score per molecule) or `properties` (QED, SA
    /// and MW per molecule, named values).
    #[arg(long, value_enum, default_value_t = ModelKind::Seh)]
    model: ModelKind,
    /// RDKit's SA fragment table (`--model properties`); scripts/molecule-data.sh installs it.
    #[arg(long, default_value = ".pytools/rdkit/Contrib/SA_Score/fpscores.pkl.gz")]
    sa_fragment_scores: PathBuf,
    /// Proxy weights converted to safetensors (scripts/convert_seh_proxy.py; scripts/test and
    /// scripts/run write .cache/seh_proxy.safetensors).
    #[arg(long, default_value = ".cache/seh_proxy.safetensors")]
    proxy_weights: PathBuf,
    /// gRPC listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:50061")]
    listen: String,
    /// Prometheus /metrics address; none if absent.
    #[arg(long)]
    metrics_listen: Option<String>,
    /// Calls scored at once (one proxy copy and one libtorch thread each).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Largest batch accepted (0: any).
    #[arg(long, default_value_t = 0)]
    max_batch: usize,
    /// File holding the run token calls must carry (GFN_RUN_TOKEN takes precedence).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// TLS certificate chain (PEM); with --tls-key, gRPC is served over TLS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// The models this server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ModelKind {
    /// The sEH proxy.
    Seh,
    /// QED, SA and MW.
    Properties,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gfn-reward-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    tch::set_num_threads(1);
    let token = gfn_proto::auth::RunToken::load(args.token_file.as_deref())?;
    let (service, model) = match args.model {
        ModelKind::Seh => {
            let service = SehService::load(&args.proxy_weights, args.threads, args.max_batch, token)?;
            let model = format!("{}@{}", gfn_reward_server::MODEL_NAME, service.version());
            (RewardModelServer::new(Served::Seh(service)), model)
        }
        ModelKind::Properties => {
            let service =
                PropertiesService::load(&args.sa_fragment_scores, args.threads, args.max_batch, token)?;
            let model = format!("{}@{}", properties::MODEL_NAME, service.version());
            (RewardModelServer::new(Served::Properties(service)), model)
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(args.threads.max(1) + 1)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(process::cancel_on_signal(shutdown.clone(), "shutting down"));
        if let Some(address) = &args.metrics_listen {
            let handle = process::install_prometheus_recorder(&[(
                metrics::CALL_DURATION,
                &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0],
            )])?;
            let (listener, local) = process::bind_metrics(address).await?;
            eprintln!("gfn-reward-server metrics on http://{local}/metrics");
            tokio::spawn(process::serve_metrics(listener, handle, shutdown.clone()));
        }
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let address = listener.local_addr()?;
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_service_status(SERVICE_NAME, ServingStatus::Serving).await;
        let mut builder = tonic::transport::Server::builder();
        if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
            let identity = Identity::from_pem(std::fs::read(cert)?, std::fs::read(key)?);
            builder = builder.tls_config(ServerTlsConfig::new().identity(identity))?;
        }
        println!("{{\"event\": \"listening\", \"address\": \"{address}\", \"model\": \"{model}\"}}");
        builder
            .add_service(health_service)
            .add_service(service)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled_owned())
            .await
            .context("serving")?;
        Ok(())
    })
}
