//! The HTTP admin API: liveness, readiness and Prometheus metrics (unauthenticated), and the
//! `gateway/v2` resource API (basic auth; see [`v2`]) with its OpenAPI document.

mod auth;
pub mod openapi;
pub mod tokens;
pub mod v2;

pub use auth::User;
pub use v2::V2;

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

/// Health and metrics, plus the v2 API when given one.
pub fn router(ready: Readiness, api: Option<V2>) -> Router {
    let base = Router::new()
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready_handler))
        .route("/metrics", get(metrics_handler))
        .with_state(ready);
    match api {
        Some(api) => base.merge(v2::router(api)),
        None => base,
    }
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
    api: Option<V2>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("admin API: cannot listen on {listen}: {e}"))?;
    tracing::info!(%listen, "admin API listening");
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(ready, api)).await {
            tracing::error!(error = %e, "admin API stopped");
        }
    }))
}
