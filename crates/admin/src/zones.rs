//! Partner zones through the admin API:
//!
//! | method | path | body | answer |
//! | --- | --- | --- | --- |
//! | GET | `/gateway/v2/partner-zone` | | every zone, each with its `status` |
//! | PUT | `/gateway/v2/partner-zone` | a `PartnerZone` (`?dryMode=true`) | `{"zone", "upsertResult", "changed", "removed", "clientProperties"?}` |
//! | GET | `/gateway/v2/partner-zone/{name}` | | the zone with its `status` |
//! | DELETE | `/gateway/v2/partner-zone/{name}` | | offboard: `{"zone", "revokedTokenIds", "removed"}` |
//! | POST | `/gateway/v2/partner-zone/{name}/credentials` | `{"lifeTimeSeconds", "caLocation"?}` | `{"token", "id", "expiresAt", "clientProperties"}` |
//! | POST | `/gateway/v2/partner-zone/{name}/revoke-credentials` | `{"id"?}` | `{"revokedTokenIds"}` |
//! | GET | `/gateway/v2/partner-zone-operations` | `?zone=` | `[{"seq", "zone", "operation", "detail", "actor", "at", "revision"}]` |
//!
//! Every change is recorded in the store with the admin user who made it (and logged like
//! every v2 change). Tokens appear only in the credentials answer, never in the store or logs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use gatehouse_store::resource::name_problem;
use gatehouse_store::{AuthenticationMode, Kind, PartnerZone, Snapshot, StoreError, ZoneToken};
use serde_json::{json, Value};

use crate::auth::AuthenticatedUser;
use crate::body::{invalid, lifetime_seconds, object, string};
use crate::client_properties::{render, Credential, PartnerRoute};
use crate::tokens::rfc3339;
use crate::v2::{changed, ApiError, ApiResult, V2};

/// The configured routes partners may bootstrap on, by name.
pub type PartnerRoutes = Arc<BTreeMap<String, PartnerRoute>>;

/// Where the CA certificate is said to be when the request names no `caLocation`.
pub const DEFAULT_CA_LOCATION: &str = "ca.pem";

/// What `status.trafficLimits` says about the limits.
pub const TRAFFIC_LIMITS_NOTE: &str =
    "stored, not enforced yet: the governance work will enforce them";

fn zone_name(name: String) -> Result<String, ApiError> {
    match name_problem(Kind::VirtualCluster, &name) {
        None => Ok(name),
        Some(p) => Err(invalid(format!("(path) name: {p}"))),
    }
}

fn actor(user: &AuthenticatedUser) -> &str {
    &user.0
}

/// Why the zone cannot work as configured now (`None`: it can).
fn failure(z: &PartnerZone, api: &V2, snapshot: &Snapshot) -> Option<String> {
    if let Some(route) = &z.route {
        match api.partner_routes.get(route) {
            None => {
                return Some(format!(
                    "spec.route: route '{route}' is no longer configured"
                ))
            }
            Some(r) => {
                if let Some(why) = r.unfit_for(route, z) {
                    return Some(format!("spec.route: {why}"));
                }
            }
        }
    }
    if let Some(known) = &api.store.configured().streaming_domains {
        let missing = |d: &str| !known.contains(d);
        if let Some(d) = z.home_domain.as_deref().filter(|d| missing(d)) {
            return Some(format!(
                "spec.homeDomain: streaming domain '{d}' is no longer configured"
            ));
        }
        for (i, t) in z.topics.iter().enumerate() {
            if let Some(d) = t.physical_cluster.as_deref().filter(|d| missing(d)) {
                return Some(format!(
                    "spec.topics[{i}].physicalCluster: streaming domain '{d}' is no longer configured"
                ));
            }
        }
    }
    if snapshot.virtual_cluster(&z.name).is_none() {
        return Some(format!("virtual cluster '{}' is missing", z.name));
    }
    None
}

/// The zone document with its `status`: READY or FAILED with the reason, its credentials
/// (ids, never tokens) and what becomes of the traffic limits.
fn with_status(z: &PartnerZone, api: &V2, snapshot: &Snapshot) -> Value {
    let mut doc = z.to_document();
    let mut status = match failure(z, api, snapshot) {
        None => json!({"state": "READY"}),
        Some(reason) => json!({"state": "FAILED", "reason": reason}),
    };
    status["trafficLimits"] = json!({"enforced": false, "note": TRAFFIC_LIMITS_NOTE});
    let credentials: Vec<Value> = snapshot
        .zone_tokens_of(&z.name)
        .map(|t| {
            let mut c = json!({
                "id": t.id,
                "account": t.account,
                "issuedAt": rfc3339(t.issued_at),
                "expiresAt": rfc3339(t.expires_at),
            });
            if let Some(at) = t.revoked_at {
                c["revokedAt"] = json!(rfc3339(at));
            }
            c
        })
        .collect();
    status["credentials"] = json!(credentials);
    doc["status"] = status;
    doc
}

/// `GET /gateway/v2/partner-zone`.
pub(crate) async fn list(State(api): State<V2>) -> ApiResult {
    let s = api.store.snapshot();
    let docs: Vec<Value> = s
        .partner_zones
        .values()
        .map(|z| with_status(z, &api, &s))
        .collect();
    Ok(Json(docs).into_response())
}

/// `GET /gateway/v2/partner-zone/{name}`.
pub(crate) async fn get_one(State(api): State<V2>, Path(name): Path<String>) -> ApiResult {
    let name = zone_name(name)?;
    let s = api.store.snapshot();
    match s.partner_zone(&name) {
        Some(z) => Ok(Json(with_status(z, &api, &s)).into_response()),
        None => Err(StoreError::NotFound(format!("no PartnerZone named '{name}'")).into()),
    }
}

/// `PUT /gateway/v2/partner-zone`.
pub(crate) async fn upsert(
    State(api): State<V2>,
    Extension(user): Extension<AuthenticatedUser>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult {
    let dry_run = crate::v2::flag(&query, "dryMode")?;
    let doc = crate::v2::parse_body(&body)?;
    let zone = PartnerZone::from_document(&doc)?;
    if let Some(route) = &zone.route {
        let Some(r) = api.partner_routes.get(route) else {
            let known: Vec<&str> = api.partner_routes.keys().map(String::as_str).collect();
            return Err(invalid(format!(
                "spec.route: no route named '{route}' in the gateway configuration (routes: {})",
                known.join(", ")
            )));
        };
        if let Some(why) = r.unfit_for(route, &zone) {
            return Err(invalid(format!("spec.route: {why}")));
        }
    }
    let out = api.store.apply_zone(zone, actor(&user), dry_run).await?;
    let s = api.store.snapshot();
    let mut answer = json!({
        "zone": if dry_run { out.zone.to_document() } else { with_status(&out.zone, &api, &s) },
        "upsertResult": out.result,
        "changed": out.changed.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "removed": out.removed.iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    if out.zone.authentication_mode != AuthenticationMode::Plain {
        let route = out
            .zone
            .route
            .as_ref()
            .and_then(|r| api.partner_routes.get(r));
        answer["clientProperties"] = json!(render(&out.zone, route, None, DEFAULT_CA_LOCATION));
    }
    let result = json!(out.result).as_str().unwrap_or("?").to_owned();
    let suffix = if dry_run { " (dry run)" } else { "" };
    Ok(changed(
        Json(answer),
        format!("PartnerZone/{}", out.zone.name),
        format!("{result}{suffix}"),
    ))
}

/// `DELETE /gateway/v2/partner-zone/{name}`: offboard.
pub(crate) async fn offboard(
    State(api): State<V2>,
    Extension(user): Extension<AuthenticatedUser>,
    Path(name): Path<String>,
) -> ApiResult {
    let name = zone_name(name)?;
    let out = api.store.offboard_zone(&name, actor(&user)).await?;
    tracing::info!(zone = %name, revoked = out.revoked.len(), "partner zone offboarded");
    Ok(changed(
        Json(json!({
            "zone": out.zone.to_document(),
            "revokedTokenIds": out.revoked,
            "removed": out.removed.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })),
        format!("PartnerZone/{name}"),
        "OFFBOARDED",
    ))
}

/// `POST /gateway/v2/partner-zone/{name}/credentials`: a token for the zone's account.
pub(crate) async fn credentials(
    State(api): State<V2>,
    Extension(user): Extension<AuthenticatedUser>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let name = zone_name(name)?;
    let map = object(&body, &["lifeTimeSeconds", "caLocation"])?;
    let lifetime = lifetime_seconds(&map)?;
    let ca_location = string(&map, "caLocation")?.unwrap_or(DEFAULT_CA_LOCATION);
    if ca_location.is_empty() || ca_location.chars().any(char::is_control) {
        return Err(invalid("caLocation: a path, without control characters"));
    }
    let Some(zone) = api.store.snapshot().partner_zone(&name).cloned() else {
        return Err(StoreError::NotFound(format!("no PartnerZone named '{name}'")).into());
    };
    if zone.authentication_mode != AuthenticationMode::Plain {
        return Err(invalid(format!(
            "(path) name: partner zone '{name}' authenticates with {} as '{}': the gateway issues no tokens for it (its clients use their own credentials)",
            zone.authentication_mode.name(),
            zone.principal()
        )));
    }
    let Some(key) = api.token_key.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Tokens disabled",
            "this gateway has no token key, so it cannot issue tokens: set auth.tokenSecret in its configuration (raw text, at least 32 bytes) or GATEHOUSE_TOKEN_SECRET (base64 of at least 32 bytes) and restart it",
            "NO_TOKEN_KEY",
        ));
    };
    let issued = key
        .issue(
            &zone.service_account,
            Some(&zone.name),
            Duration::from_secs(lifetime),
        )
        .map_err(|e| invalid(e.to_string()))?;
    // Recorded before it is handed out: a token the store does not know could not be
    // revoked with the zone's others. A zone offboarded meanwhile refuses the record.
    api.store
        .record_zone_token(
            ZoneToken {
                id: issued.id.clone(),
                zone: zone.name.clone(),
                account: zone.service_account.clone(),
                issued_at: SystemTime::now(),
                expires_at: issued.expires_at,
                revoked_at: None,
            },
            actor(&user),
        )
        .await?;
    let expires_at = rfc3339(issued.expires_at);
    let route = zone.route.as_ref().and_then(|r| api.partner_routes.get(r));
    let properties = render(
        &zone,
        route,
        Some(&Credential {
            token: &issued.token,
            id: &issued.id,
            expires_at: &expires_at,
        }),
        ca_location,
    );
    tracing::info!(zone = %name, id = %issued.id, expires_at = %expires_at, "partner zone credentials issued");
    Ok(changed(
        Json(json!({
            "token": issued.token,
            "id": issued.id,
            "expiresAt": expires_at,
            "clientProperties": properties,
        })),
        format!("PartnerZone/{name} token {}", issued.id),
        "ISSUED",
    ))
}

/// `POST /gateway/v2/partner-zone/{name}/revoke-credentials`: one token (`id`) or all.
pub(crate) async fn revoke_credentials(
    State(api): State<V2>,
    Extension(user): Extension<AuthenticatedUser>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let name = zone_name(name)?;
    let map = object(&body, &["id"])?;
    let id = string(&map, "id")?.map(|s| s.trim().to_ascii_lowercase());
    let revoked = api
        .store
        .revoke_zone_tokens(&name, id.as_deref(), actor(&user))
        .await?;
    let what = match &id {
        Some(id) => format!("PartnerZone/{name} token {id}"),
        None => format!("PartnerZone/{name} every token"),
    };
    Ok(changed(
        Json(json!({"revokedTokenIds": revoked})),
        what,
        format!("REVOKED {}", revoked.len()),
    ))
}

/// `GET /gateway/v2/partner-zone-operations?zone=NAME`.
pub(crate) async fn operations(
    State(api): State<V2>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let zone = match query.get("zone") {
        Some(z) => Some(zone_name(z.clone()).map_err(|_| {
            invalid(format!(
                "zone: '{}' is not a partner zone name",
                z.escape_debug()
            ))
        })?),
        None => None,
    };
    let ops = api.store.zone_operations(zone.as_deref()).await?;
    let list: Vec<Value> = ops
        .iter()
        .map(|o| {
            json!({
                "seq": o.seq,
                "zone": o.zone,
                "operation": o.operation,
                "detail": o.detail,
                "actor": o.actor,
                "at": rfc3339(o.at),
                "revision": o.revision,
            })
        })
        .collect();
    Ok(Json(list).into_response())
}
