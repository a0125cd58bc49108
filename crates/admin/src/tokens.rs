//! Gateway tokens through the admin API: issue one for a service account, revoke one (by the
//! token or its id), list the revoked ones.
//!
//! | method | path | body | answer |
//! | --- | --- | --- | --- |
//! | POST | `/gateway/v2/token` | `{"username", "vCluster", "lifeTimeSeconds"}` | `{"token", "id", "expiresAt"}` |
//! | POST | `/gateway/v2/token/revoke` | `{"token"}` or `{"id"}`, optional `"reason"` | `{"id", "revoked": true, "revokedAt"}` |
//! | GET | `/gateway/v2/token/revoked` | | `[{"id", "revokedAt", "expiresAt"?, "reason"?}]` |
//!
//! Tokens never appear in logs; ids do (they are what operators revoke).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use gatehouse_auth::tokens::{revocation_target, token_id_unverified};
use gatehouse_store::resource::name_problem;
use gatehouse_store::{Kind, RevokedToken};
use serde_json::{json, Value};

use crate::body::{invalid, lifetime_seconds, object, required, string};
use crate::v2::{changed, ApiError, ApiResult, V2};

/// Shortest token lifetime accepted.
pub const MIN_LIFETIME_SECS: u64 = 1;
/// Longest token lifetime accepted: one year (365 days).
pub const MAX_LIFETIME_SECS: u64 = 365 * 24 * 3600;

/// `POST /gateway/v2/token`.
pub(crate) async fn create(State(api): State<V2>, body: Bytes) -> ApiResult {
    let Some(key) = api.token_key.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Tokens disabled",
            "this gateway has no token key, so it cannot issue tokens: set auth.tokenSecret in its configuration (raw text, at least 32 bytes) or GATEHOUSE_TOKEN_SECRET (base64 of at least 32 bytes) and restart it",
            "NO_TOKEN_KEY",
        ));
    };
    let map = object(&body, &["username", "vCluster", "lifeTimeSeconds"])?;
    let username = required(&map, "username")?;
    // The rule service accounts follow: a token for a name no account can have is refused.
    if let Some(p) = name_problem(Kind::GatewayServiceAccount, username) {
        return Err(invalid(format!("username: {p}")));
    }
    let vcluster = string(&map, "vCluster")?.ok_or_else(|| {
        invalid("vCluster: required (\"passthrough\" for the upstream cluster as it is)")
    })?;
    if let Some(p) = name_problem(Kind::VirtualCluster, vcluster) {
        return Err(invalid(format!("vCluster: {p}")));
    }
    if api.store.snapshot().virtual_cluster(vcluster).is_none() {
        return Err(invalid(format!(
            "vCluster: no virtual cluster named '{vcluster}'"
        )));
    }
    let lifetime = lifetime_seconds(&map)?;
    let issued = key
        .issue(username, Some(vcluster), Duration::from_secs(lifetime))
        .map_err(|e| invalid(e.to_string()))?;
    let expires_at = rfc3339(issued.expires_at);
    tracing::info!(
        id = %issued.id,
        username,
        vcluster,
        expires_at = %expires_at,
        "gateway token issued"
    );
    let resource = format!("token {} for {username} (vCluster {vcluster})", issued.id);
    Ok(changed(
        Json(json!({"token": issued.token, "id": issued.id, "expiresAt": expires_at})),
        resource,
        "ISSUED",
    ))
}

/// `POST /gateway/v2/token/revoke`.
pub(crate) async fn revoke(State(api): State<V2>, body: Bytes) -> ApiResult {
    let map = object(&body, &["token", "id", "reason"])?;
    let reason = string(&map, "reason")?;
    let (id, expires_at) = match (string(&map, "token")?, string(&map, "id")?) {
        (Some(token), None) => {
            let id = token_id_unverified(token).map_err(|_| {
                invalid("token: not a gateway token (expected a JWT: header.payload.signature with a jti claim)")
            })?;
            // When this gateway's key signed it, the token's own expiry lets the revocation be
            // pruned once it no longer matters. A token signed otherwise (a rotated key) is
            // revoked all the same, and kept.
            let exp = api
                .token_key
                .as_ref()
                .and_then(|k| k.signed_claims(token).ok())
                .filter(|c| c.jti == id)
                .map(|c| UNIX_EPOCH + Duration::from_secs(c.exp));
            (id, exp)
        }
        (None, Some(id)) => {
            let normalized = token_id(id)
                .ok_or_else(|| invalid(format!("id: '{id}' is not a token id (a UUID)")))?;
            (normalized, None)
        }
        _ => return Err(invalid("(document): give either token or id")),
    };
    let out = api.store.revoke_token(&id, expires_at, reason).await?;
    tracing::info!(
        id = %id,
        newly_revoked = out.newly_revoked,
        "gateway token revoked"
    );
    let result = if out.newly_revoked {
        "REVOKED"
    } else {
        "ALREADY_REVOKED"
    };
    Ok(changed(
        Json(json!({
            "id": id,
            "revoked": true,
            "revokedAt": rfc3339(out.revocation.revoked_at),
        })),
        format!("token {id}"),
        result,
    ))
}

/// A token id (UUID, any case) in the lower-case hyphenated form tokens carry.
fn token_id(id: &str) -> Option<String> {
    let looks_like_uuid = id.trim().len() == 36 || id.trim().len() == 32;
    looks_like_uuid
        .then(|| revocation_target(id).ok())
        .flatten()
}

/// `GET /gateway/v2/token/revoked`.
pub(crate) async fn revoked(State(api): State<V2>) -> ApiResult {
    let list: Vec<Value> = api
        .store
        .snapshot()
        .revoked_tokens
        .values()
        .map(revocation_json)
        .collect();
    Ok(Json(list).into_response())
}

fn revocation_json(r: &RevokedToken) -> Value {
    let mut v = json!({"id": r.id, "revokedAt": rfc3339(r.revoked_at)});
    if let Some(e) = r.expires_at {
        v["expiresAt"] = json!(rfc3339(e));
    }
    if let Some(reason) = &r.reason {
        v["reason"] = json!(reason);
    }
    v
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        let at = |s: u64| rfc3339(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(at(253_402_300_799), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn ids() {
        let id = "5A3C1A5E-0F4B-4E0C-9C43-6E0D7B1C2D3E";
        assert_eq!(token_id(id).unwrap(), id.to_lowercase());
        assert_eq!(token_id("nope"), None);
        assert_eq!(token_id("a.b.c"), None);
    }
}
