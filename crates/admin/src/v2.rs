//! The resource API, modelled on Conduktor's gateway Admin API v2:
//!
//! | method | path | what |
//! | --- | --- | --- |
//! | GET | `/gateway/v2/{kind}` | list (`?vCluster=` filters scoped kinds) |
//! | PUT | `/gateway/v2/{kind}` | upsert the resource in the body (`?dryMode=true` saves nothing) |
//! | GET | `/gateway/v2/{kind}/{name}` | one resource (`?vCluster=`, default passthrough, for scoped kinds) |
//! | DELETE | `/gateway/v2/{kind}/{name}` | delete it |
//! | POST | `/gateway/v2/apply` | upsert several resources in one transaction, all or nothing (what `gatehouse apply` uses) |
//! | POST | `/gateway/v2/token` | issue a gateway token (see [`crate::tokens`]) |
//! | POST | `/gateway/v2/token/revoke` | revoke a gateway token by token or id |
//! | GET | `/gateway/v2/token/revoked` | the revoked token ids |
//! | PUT, GET, DELETE | `/gateway/v2/partner-zone[/{name}]` | partner zones; DELETE offboards (see [`crate::zones`]) |
//! | POST | `/gateway/v2/partner-zone/{name}/credentials`, `.../revoke-credentials` | a zone's tokens |
//! | GET | `/gateway/v2/partner-zone-operations` | what was done to zones, by whom, when |
//! | POST | `/gateway/v2/drain` | stop taking traffic: readiness answers 503 "draining" from now on |
//! | GET | `/gateway/v2/openapi.json` | the OpenAPI 3 document of all of the above |
//!
//! `{kind}` is `virtual-cluster`, `service-account` or `alias-topic` (the kind names
//! `VirtualCluster`, `GatewayServiceAccount` and `AliasTopic` are accepted too). Every call
//! needs HTTP basic auth. Errors are `{"title", "msg", "cause"}` with 400 (invalid resource;
//! `msg` starts with the field path), 404 (unknown kind or name), 409 (conflict with other
//! resources; `msg` starts with the field at fault), 503 (no token key, for
//! `POST /gateway/v2/token`), 429 (too many wrong logins from the client's address) or 401.
//! Names in paths follow the same rule as names in documents
//! ([`gatehouse_store::resource::name_problem`]). Every call that may change something is
//! logged with its user, method, resource and result ([`crate::audit`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{Json, Router};
use gatehouse_auth::tokens::TokenKey;
use gatehouse_store::{Kind, Resource, ResourceKey, Store, StoreError, Upserted};
use serde_json::{json, Value};

use crate::audit::{Changed, Refused};
use crate::auth::{require_user, Auth, User};
use crate::readiness::Readiness;

/// What the v2 API needs: the store, who may call it, the key gateway tokens are issued
/// with (none: `POST /gateway/v2/token` answers 503), and the configured routes partner zones
/// may bootstrap on.
#[derive(Clone)]
pub struct V2 {
    pub store: Store,
    pub users: Arc<[User]>,
    pub token_key: Option<Arc<TokenKey>>,
    pub partner_routes: crate::zones::PartnerRoutes,
}

/// Routes outside the v2 API that the OpenAPI document describes too (no credentials, except
/// `/metrics` with `metrics_auth`).
pub const OPERATIONS_ROUTES: &[(&str, &str)] = &[
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/metrics"),
];

/// Every route of the v2 API as (method, path template), in the order they are registered.
/// The OpenAPI document must describe each (a test checks it), with `{kind}` expanded to every
/// kind's path form.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/gateway/v2/openapi.json"),
    ("post", "/gateway/v2/apply"),
    ("post", "/gateway/v2/token"),
    ("post", "/gateway/v2/token/revoke"),
    ("get", "/gateway/v2/token/revoked"),
    ("post", "/gateway/v2/drain"),
    ("get", "/gateway/v2/partner-zone"),
    ("put", "/gateway/v2/partner-zone"),
    ("get", "/gateway/v2/partner-zone/{name}"),
    ("delete", "/gateway/v2/partner-zone/{name}"),
    ("post", "/gateway/v2/partner-zone/{name}/credentials"),
    ("post", "/gateway/v2/partner-zone/{name}/revoke-credentials"),
    ("get", "/gateway/v2/partner-zone-operations"),
    ("get", "/gateway/v2/{kind}"),
    ("put", "/gateway/v2/{kind}"),
    ("get", "/gateway/v2/{kind}/{name}"),
    ("delete", "/gateway/v2/{kind}/{name}"),
];

fn handler(method: &str, path: &str) -> MethodRouter<V2> {
    use axum::routing::{delete, get, post, put};
    match (method, path) {
        ("get", "/gateway/v2/openapi.json") => get(openapi),
        ("post", "/gateway/v2/apply") => post(apply),
        ("post", "/gateway/v2/token") => post(crate::tokens::create),
        ("post", "/gateway/v2/token/revoke") => post(crate::tokens::revoke),
        ("get", "/gateway/v2/token/revoked") => get(crate::tokens::revoked),
        ("post", "/gateway/v2/drain") => post(drain),
        ("get", "/gateway/v2/partner-zone") => get(crate::zones::list),
        ("put", "/gateway/v2/partner-zone") => put(crate::zones::upsert),
        ("get", "/gateway/v2/partner-zone/{name}") => get(crate::zones::get_one),
        ("delete", "/gateway/v2/partner-zone/{name}") => delete(crate::zones::offboard),
        ("post", "/gateway/v2/partner-zone/{name}/credentials") => post(crate::zones::credentials),
        ("post", "/gateway/v2/partner-zone/{name}/revoke-credentials") => {
            post(crate::zones::revoke_credentials)
        }
        ("get", "/gateway/v2/partner-zone-operations") => get(crate::zones::operations),
        ("get", "/gateway/v2/{kind}") => get(list),
        ("put", "/gateway/v2/{kind}") => put(upsert),
        ("get", "/gateway/v2/{kind}/{name}") => get(get_one),
        ("delete", "/gateway/v2/{kind}/{name}") => delete(delete_one),
        _ => unreachable!("no handler for {method} {path}"),
    }
}

/// The v2 routes, all behind basic auth, their bodies read within `body_timeout`, changes
/// logged.
pub fn router(api: V2, auth: Auth, ready: Readiness, body_timeout: std::time::Duration) -> Router {
    let mut paths: Vec<(&str, MethodRouter<V2>)> = Vec::new();
    for (method, path) in ROUTES {
        match paths.iter_mut().find(|(p, _)| p == path) {
            Some((_, m)) => *m = std::mem::take(m).merge(handler(method, path)),
            None => paths.push((path, handler(method, path))),
        }
    }
    let mut router = Router::new();
    for (path, methods) in paths {
        router = router.route(path, methods);
    }
    // The last layer added runs first: authentication, then the change log (which needs the
    // user), then the body deadline.
    router
        .route_layer(axum::middleware::from_fn_with_state(
            body_timeout,
            crate::audit::read_body,
        ))
        .route_layer(axum::middleware::from_fn(crate::audit::log_changes))
        .route_layer(axum::middleware::from_fn_with_state(auth, require_user))
        .layer(Extension(ready))
        .with_state(api)
}

/// An error answer: `{"title", "msg", "cause"}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    title: &'static str,
    msg: String,
    cause: &'static str,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        title: &'static str,
        msg: impl Into<String>,
        cause: &'static str,
    ) -> Self {
        Self {
            status,
            title,
            msg: msg.into(),
            cause,
        }
    }

    fn invalid(msg: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Invalid resource",
            msg,
            "INVALID_RESOURCE",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(json!({"title": self.title, "msg": self.msg, "cause": self.cause})),
        )
            .into_response();
        r.extensions_mut().insert(Refused(self.msg));
        r
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::Invalid { .. } => ApiError::invalid(e.to_string()),
            StoreError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "Conflict", e.to_string(), "CONFLICT")
            }
            StoreError::NotFound(_) => ApiError::new(
                StatusCode::NOT_FOUND,
                "Not found",
                e.to_string(),
                "NOT_FOUND",
            ),
            StoreError::Unavailable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Store unavailable",
                e.to_string(),
                "STORE_UNAVAILABLE",
            ),
            _ => {
                tracing::error!(error = %e, "admin API: store failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Store unavailable",
                    e.to_string(),
                    "STORE_ERROR",
                )
            }
        }
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

fn kind_of(path: &str) -> Result<Kind, ApiError> {
    Kind::parse(path).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            format!(
                "unknown resource kind '{path}' (known: {})",
                Kind::ALL.map(Kind::path).join(", ")
            ),
            "NOT_FOUND",
        )
    })
}

/// A name from a request path, checked by the rule of its kind.
fn name_of(kind: Kind, name: String) -> Result<String, ApiError> {
    match gatehouse_store::resource::name_problem(kind, &name) {
        None => Ok(name),
        Some(p) => Err(ApiError::invalid(format!("(path) name: {p}"))),
    }
}

/// A response carrying what it changed, for the change log.
pub(crate) fn changed(
    response: impl IntoResponse,
    resource: impl Into<String>,
    result: impl Into<String>,
) -> Response {
    let mut r = response.into_response();
    r.extensions_mut().insert(Changed {
        resource: resource.into(),
        result: result.into(),
    });
    r
}

/// `CREATED`, `UPDATED` or `NOT_CHANGED`.
fn outcome(u: &Upserted) -> String {
    json!(u.result).as_str().unwrap_or("?").to_owned()
}

fn dry(dry_run: bool) -> &'static str {
    if dry_run {
        " (dry run)"
    } else {
        ""
    }
}

pub(crate) fn flag(query: &HashMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match query.get(name).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") | Some("") => Ok(true),
        Some(other) => Err(ApiError::invalid(format!(
            "{name}: '{other}' is not true or false"
        ))),
    }
}

fn vcluster(query: &HashMap<String, String>) -> Option<&str> {
    query
        .get("vCluster")
        .or_else(|| query.get("vcluster"))
        .map(String::as_str)
}

pub(crate) fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("(document): not valid JSON: {e}")))
}

fn upserted(u: &Upserted) -> Value {
    json!({"resource": u.resource.to_document(), "upsertResult": u.result})
}

async fn list(
    State(api): State<V2>,
    Path(kind): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let kind = kind_of(&kind)?;
    let only = vcluster(&query).filter(|_| kind.scoped());
    let docs: Vec<Value> = api
        .store
        .snapshot()
        .list(kind)
        .iter()
        .filter(|r| only.is_none_or(|v| r.key().vcluster == v))
        .map(Resource::to_document)
        .collect();
    Ok(Json(docs).into_response())
}

async fn upsert(
    State(api): State<V2>,
    Path(kind): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult {
    let kind = kind_of(&kind)?;
    let dry_run = flag(&query, "dryMode")?;
    let doc = parse_body(&body)?;
    let resource = Resource::from_document(&doc)?;
    if resource.kind() != kind {
        return Err(ApiError::invalid(format!(
            "kind: '{}' does not belong under /gateway/v2/{} (expected {})",
            resource.kind(),
            kind.path(),
            kind
        )));
    }
    let out = api.store.upsert(resource, dry_run).await?;
    let result = format!("{}{}", outcome(&out), dry(dry_run));
    Ok(changed(
        Json(upserted(&out)),
        out.resource.key().to_string(),
        result,
    ))
}

async fn apply(
    State(api): State<V2>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult {
    let dry_run = flag(&query, "dryMode")?;
    let doc = parse_body(&body)?;
    let Some(items) = doc.get("resources").and_then(Value::as_array) else {
        return Err(ApiError::invalid(
            "resources: expected {\"resources\": [resource, ...]}",
        ));
    };
    let mut resources = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        resources.push(Resource::from_document(item).map_err(|e| e.in_batch(i, None))?);
    }
    let out = api.store.apply(resources, dry_run).await?;
    let keys: Vec<String> = out.iter().map(|u| u.resource.key().to_string()).collect();
    let results: Vec<String> = out.iter().map(outcome).collect();
    Ok(changed(
        Json(json!({"results": out.iter().map(upserted).collect::<Vec<_>>()})),
        keys.join(", "),
        format!("{}{}", results.join(", "), dry(dry_run)),
    ))
}

async fn get_one(
    State(api): State<V2>,
    Path((kind, name)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let kind = kind_of(&kind)?;
    let key = ResourceKey::new(kind, vcluster(&query), name_of(kind, name)?);
    match api.store.snapshot().get(&key) {
        Some(r) => Ok(Json(r.to_document()).into_response()),
        None => Err(StoreError::NotFound(format!("no {key}")).into()),
    }
}

async fn delete_one(
    State(api): State<V2>,
    Path((kind, name)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let kind = kind_of(&kind)?;
    let key = ResourceKey::new(kind, vcluster(&query), name_of(kind, name)?);
    let old = api.store.delete(&key).await?;
    Ok(changed(
        Json(json!({"resource": old.to_document()})),
        key.to_string(),
        "DELETED",
    ))
}

/// `POST /gateway/v2/drain`: readiness answers 503 "draining" from now on, and whatever
/// waits on [`Readiness::drain_requested`] starts draining.
async fn drain(Extension(ready): Extension<Readiness>) -> Response {
    ready.request_drain();
    let (_, body) = ready.report();
    changed((StatusCode::ACCEPTED, Json(body)), "gateway", "DRAINING")
}

async fn openapi() -> Response {
    Json(crate::openapi::document()).into_response()
}
