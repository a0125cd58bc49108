//! The HTTP admin API. For now: liveness, readiness and Prometheus metrics.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use gatehouse_routing::metrics::metrics;

/// Set once every route listener is bound.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }
    fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

pub fn router(ready: Readiness) -> Router {
    Router::new()
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready_handler))
        .route("/metrics", get(metrics_handler))
        .with_state(ready)
}

async fn ready_handler(State(ready): State<Readiness>) -> impl IntoResponse {
    if ready.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

async fn metrics_handler() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics().render(),
    )
}

/// Binds the admin listener now (so a port in use stops start-up) and serves it in the background.
pub async fn serve(
    listen: SocketAddr,
    ready: Readiness,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("admin API: cannot listen on {listen}: {e}"))?;
    tracing::info!(%listen, "admin API listening");
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(ready)).await {
            tracing::error!(error = %e, "admin API stopped");
        }
    }))
}
