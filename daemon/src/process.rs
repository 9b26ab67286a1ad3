//! What the long-running processes (`gfn-learner`, `gfn-actor`) share: cancellation on
//! SIGTERM/SIGINT, and the Prometheus `/metrics` endpoint over HTTP.

use std::net::SocketAddr;

use axum::{Router, routing::get};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Cancels `shutdown` on SIGTERM or SIGINT, logging the signal and `then` (what the process
/// does next, e.g. "flushing and exiting"). Returns early when `shutdown` is cancelled
/// otherwise.
pub async fn cancel_on_signal(shutdown: CancellationToken, then: &'static str) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut terminate), Ok(mut interrupt)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::warn!("cannot install signal handlers");
        return;
    };
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: {then}"),
        _ = interrupt.recv() => tracing::info!("SIGINT: {then}"),
        _ = shutdown.cancelled() => return,
    }
    shutdown.cancel();
}

/// Why the Prometheus recorder could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// A histogram's buckets were rejected (empty).
    #[error("histogram buckets: {0}")]
    Buckets(#[from] BuildError),
    /// The process already has a global metrics recorder.
    #[error("a metrics recorder is already installed in this process")]
    AlreadyInstalled,
}

/// Installs the process-wide Prometheus recorder, with explicit buckets for the histograms named
/// in `buckets` (the others get the exporter's summary), and returns the handle that renders it.
pub fn install_prometheus_recorder(buckets: &[(&str, &[f64])]) -> Result<PrometheusHandle, RecorderError> {
    let mut builder = PrometheusBuilder::new();
    for (name, bounds) in buckets {
        builder = builder.set_buckets_for_metric(Matcher::Full((*name).into()), bounds)?;
    }
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|_| RecorderError::AlreadyInstalled)?;
    Ok(handle)
}

/// Binds the metrics endpoint's listener (`127.0.0.1:0` picks a free port) and returns the
/// address it got.
pub async fn bind_metrics(address: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serves `GET /metrics` (the Prometheus text format of `handle`) on `listener` until
/// `shutdown` is cancelled.
pub async fn serve_metrics(listener: TcpListener, handle: PrometheusHandle, shutdown: CancellationToken) {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                handle.run_upkeep();
                handle.render()
            }
        }),
    );
    if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await {
        tracing::warn!(%error, "metrics endpoint stopped");
    }
}
