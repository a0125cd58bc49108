//! The HTTP admin API: liveness, readiness and Prometheus metrics (unauthenticated unless
//! `metrics_auth`), and the `gateway/v2` resource API (basic auth; see [`v2`]) with its
//! OpenAPI document. Served over plain HTTP or TLS ([`server`]), with deadlines for headers
//! and bodies, wrong logins slowed per client address ([`throttle`]) and every change logged
//! ([`audit`]).

pub mod audit;
mod auth;
mod body;
pub mod client_properties;
pub mod openapi;
mod openapi_zones;
pub mod readiness;
pub mod server;
pub mod throttle;
pub mod tokens;
pub mod v2;
pub mod zones;

pub use auth::{Auth, ClientAddr, User};
pub use client_properties::PartnerRoute;
pub use readiness::{Check, Readiness};
pub use server::{serve, serve_with, AdminOptions};
pub use v2::V2;
pub use zones::PartnerRoutes;

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_routing::metrics::metrics;

/// Health and metrics, plus the v2 API when given one, with default options.
pub fn router(ready: Readiness, api: Option<V2>) -> Router {
    router_with(ready, api, &AdminOptions::default())
}

/// Health and metrics, plus the v2 API when given one.
pub fn router_with(ready: Readiness, api: Option<V2>, options: &AdminOptions) -> Router {
    let auth = Auth {
        users: api
            .as_ref()
            .map_or_else(|| Arc::from(Vec::new()), |a| a.users.clone()),
        throttle: Arc::new(throttle::LoginThrottle::new(
            options.login_failure_max_delay,
        )),
    };
    let mut metrics_route = Router::new().route("/metrics", get(metrics_handler));
    if options.metrics_auth {
        metrics_route = metrics_route.route_layer(axum::middleware::from_fn_with_state(
            auth.clone(),
            auth::require_user,
        ));
    }
    let base = Router::new()
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready_handler))
        .with_state(ready.clone())
        .merge(metrics_route);
    match api {
        Some(api) => base.merge(v2::router(api, auth, ready, options.body_timeout)),
        None => base,
    }
}

/// 200 when ready, else 503; the body says what the gateway waits for (see [`readiness`]).
async fn ready_handler(State(ready): State<Readiness>) -> impl IntoResponse {
    let (code, body) = ready.report();
    (code, Json(body))
}

async fn metrics_handler() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics().render(),
    )
}
