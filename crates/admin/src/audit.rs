//! The change log (one line per PUT, POST or DELETE of the v2 API: who, what, on which
//! resource, with what result) and the request body deadline.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::AuthenticatedUser;
use crate::v2::ApiError;

/// What a change did (a response extension the handlers add): the resource, e.g.
/// `VirtualCluster/team-a`, and the result, e.g. `CREATED`.
#[derive(Clone, Debug)]
pub struct Changed {
    pub resource: String,
    pub result: String,
}

/// Why a call was refused (a response extension every [`ApiError`] carries).
#[derive(Clone, Debug)]
pub struct Refused(pub String);

/// Logs every call that may change something, after it is answered.
pub async fn log_changes(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
        return next.run(request).await;
    }
    let user = request
        .extensions()
        .get::<AuthenticatedUser>()
        .map_or_else(|| "-".to_owned(), |u| u.0.clone());
    // The path as sent (percent-encoded, so it cannot break the line).
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    match (
        response.extensions().get::<Changed>(),
        response.extensions().get::<Refused>(),
    ) {
        // Resource names and results are quoted (Debug): a name may hold spaces.
        (Some(Changed { resource, result }), _) => tracing::info!(
            user = ?user,
            method = %method,
            path = %target,
            resource = ?resource,
            result = ?result,
            status,
            "admin change"
        ),
        (None, refused) => tracing::warn!(
            user = ?user,
            method = %method,
            path = %target,
            result = "REFUSED",
            status,
            error = ?refused.map_or("", |r| r.0.as_str()),
            "admin change refused"
        ),
    }
    response
}

/// Largest request body accepted (the largest `apply` of many resources fits easily).
pub const MAX_BODY_BYTES: usize = 2 << 20;

/// Reads the whole request body within `deadline` (the handlers then have it in memory), so
/// a client that sends headers and then trickles or stalls its body is answered 408 and cut.
pub async fn read_body(State(deadline): State<Duration>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return close(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request too large",
            format!(
                "the request body is over {MAX_BODY_BYTES} bytes: send fewer resources per request"
            ),
            "TOO_LARGE",
        ));
    }
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) => close(ApiError::new(
            StatusCode::BAD_REQUEST,
            "Request body unreadable",
            format!("the request body could not be read (at most {MAX_BODY_BYTES} bytes): {e}"),
            "BAD_REQUEST",
        )),
        Err(_) => close(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "Request body too slow",
            format!(
                "the request body did not arrive within {} ms (admin.bodyTimeoutMs)",
                deadline.as_millis()
            ),
            "TIMEOUT",
        )),
    }
}

/// An error answer after which the connection is closed (its body was not read to the end).
fn close(e: ApiError) -> Response {
    let mut r = e.into_response();
    r.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    r
}
