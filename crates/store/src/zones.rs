//! Partner zone operations on the store: apply (create or update the zone and what it implies),
//! record a token issued for it, revoke its tokens, offboard it. Each is one transaction that
//! also records the operation (who, what, when) in `gatehouse_partner_zone_operations`.

use std::time::SystemTime;

use serde_json::{json, Value};
use sqlx::Row;

use crate::revocation::{self, from_unix_secs, unix_secs};
use crate::write::Change;
use crate::{PartnerZone, ResourceKey, RevokedToken, Snapshot, Store, StoreError, UpsertResult};

/// Most operations one listing answers (the newest ones).
pub const MAX_OPERATIONS_LISTED: i64 = 10_000;

/// A gateway token issued for a zone (never the token itself). Times are whole seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneToken {
    /// The token's `jti`.
    pub id: String,
    pub zone: String,
    /// The service account (SASL username) it was issued for.
    pub account: String,
    pub issued_at: SystemTime,
    pub expires_at: SystemTime,
    pub revoked_at: Option<SystemTime>,
}

/// One recorded zone operation.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneOperation {
    /// Increases with every operation recorded.
    pub seq: i64,
    pub zone: String,
    /// `CREATED`, `UPDATED`, `CREDENTIALS_ISSUED`, `CREDENTIALS_REVOKED` or `OFFBOARDED`.
    pub operation: String,
    /// What it did, as JSON (resources, token ids; never a token).
    pub detail: Value,
    /// The admin API user who did it.
    pub actor: String,
    pub at: SystemTime,
    /// The store revision the operation committed as.
    pub revision: i64,
}

/// The result of [`Store::apply_zone`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneApplied {
    pub zone: PartnerZone,
    pub result: UpsertResult,
    /// Resources created or changed, then removed.
    pub changed: Vec<ResourceKey>,
    pub removed: Vec<ResourceKey>,
}

/// The result of [`Store::offboard_zone`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offboarded {
    pub zone: PartnerZone,
    /// Token ids revoked by this offboarding (tokens revoked before are not listed).
    pub revoked: Vec<String>,
    pub removed: Vec<ResourceKey>,
}

fn now_secs() -> SystemTime {
    from_unix_secs(unix_secs(SystemTime::now()))
}

fn operation(zone: &str, operation: &str, detail: Value, actor: &str, at: SystemTime) -> Change {
    Change::ZoneOperation {
        zone: zone.to_string(),
        operation: operation.to_string(),
        detail: detail.to_string(),
        actor: actor.to_string(),
        at: unix_secs(at),
    }
}

/// Revokes `ids` in `state` (those not revoked yet), as `reason`; returns the changes and the
/// ids newly revoked.
fn revoke(
    state: &mut Snapshot,
    ids: &[String],
    reason: &str,
    at: SystemTime,
) -> (Vec<Change>, Vec<String>) {
    let mut changes = Vec::new();
    let mut newly = Vec::new();
    for id in ids {
        let Some(token) = state.zone_tokens.get_mut(id) else {
            continue;
        };
        if token.revoked_at.is_none() {
            token.revoked_at = Some(at);
            changes.push(Change::ZoneTokenRevoked {
                id: id.clone(),
                at: unix_secs(at),
            });
        }
        // Revoked through the token API already: the zone's record is updated, nothing else.
        if !state.revoked_tokens.contains_key(id) {
            let r = RevokedToken {
                id: id.clone(),
                revoked_at: at,
                expires_at: Some(token.expires_at),
                reason: Some(reason.to_string()),
            };
            state.revoked_tokens.insert(id.clone(), r.clone());
            changes.push(Change::Revoke(r));
            newly.push(id.clone());
        }
    }
    (changes, newly)
}

fn no_zone(name: &str) -> StoreError {
    StoreError::NotFound(format!("no PartnerZone named '{name}'"))
}

impl Store {
    /// Creates or updates a partner zone and, in the same transaction, its Partner virtual
    /// cluster, service account, alias topics and ACLs; resources it no longer implies are
    /// removed; tokens issued for an account the zone no longer authenticates as (a renamed
    /// service account, a zone that left PLAIN) are revoked. With `dry_run`, validates and
    /// answers without saving. Records `CREATED` or `UPDATED` (and `CREDENTIALS_REVOKED`) by
    /// `actor`.
    pub async fn apply_zone(
        &self,
        zone: PartnerZone,
        actor: &str,
        dry_run: bool,
    ) -> Result<ZoneApplied, StoreError> {
        let actor = actor.to_string();
        self.write(dry_run, move |state, configured| {
            let plan = state.put_zone(&zone, configured)?;
            let mut changes = Vec::new();
            let changed: Vec<ResourceKey> = plan.puts.iter().map(|r| r.key()).collect();
            if plan.result != UpsertResult::NotChanged {
                changes.push(Change::PutZone(zone.clone()));
                changes.extend(plan.deletes.iter().cloned().map(Change::Delete));
                changes.extend(plan.puts.into_iter().map(Change::Put));
                let name = if plan.result == UpsertResult::Created {
                    "CREATED"
                } else {
                    "UPDATED"
                };
                let detail = json!({
                    "changed": changed.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "removed": plan.deletes.iter().map(ToString::to_string).collect::<Vec<_>>(),
                });
                let at = now_secs();
                changes.push(operation(&zone.name, name, detail, &actor, at));
                // Tokens issued for an account the zone no longer authenticates as (renamed, or
                // the zone left PLAIN) would still name its virtual cluster: revoked with it.
                let stale: Vec<String> = state
                    .zone_tokens_of(&zone.name)
                    .filter(|t| {
                        t.account != zone.service_account
                            || zone.authentication_mode != crate::AuthenticationMode::Plain
                    })
                    .map(|t| t.id.clone())
                    .collect();
                let reason = format!(
                    "partner zone '{}' no longer authenticates its partners with them (changed by {actor})",
                    zone.name
                );
                let (revocations, revoked) = revoke(state, &stale, &reason, at);
                changes.extend(revocations);
                if !revoked.is_empty() {
                    changes.push(operation(
                        &zone.name,
                        "CREDENTIALS_REVOKED",
                        json!({"tokenIds": revoked}),
                        &actor,
                        at,
                    ));
                }
            }
            Ok((
                ZoneApplied {
                    zone,
                    result: plan.result,
                    changed,
                    removed: plan.deletes,
                },
                changes,
            ))
        })
        .await
    }

    /// Records a token issued for `zone`'s service account (refused when the zone is gone or
    /// names another account), with the operation `CREDENTIALS_ISSUED`.
    pub async fn record_zone_token(
        &self,
        token: ZoneToken,
        actor: &str,
    ) -> Result<ZoneToken, StoreError> {
        revocation::validate(&token.id, None)?;
        let actor = actor.to_string();
        let token = ZoneToken {
            issued_at: from_unix_secs(unix_secs(token.issued_at)),
            expires_at: from_unix_secs(unix_secs(token.expires_at)),
            revoked_at: None,
            ..token
        };
        self.write(false, move |state, _| {
            let z = state
                .partner_zone(&token.zone)
                .ok_or_else(|| no_zone(&token.zone))?;
            if z.service_account != token.account {
                return Err(StoreError::Conflict(format!(
                    "account: partner zone '{}' authenticates as '{}', not '{}'",
                    z.name, z.service_account, token.account
                )));
            }
            if state.zone_tokens.contains_key(&token.id) {
                return Err(StoreError::Conflict(format!(
                    "id: token {} is recorded already",
                    token.id
                )));
            }
            // Records of tokens long expired are of no use to revocation: dropped here, so
            // the records do not grow with every token ever issued.
            let before = unix_secs(
                token
                    .issued_at
                    .checked_sub(revocation::PRUNE_GRACE)
                    .unwrap_or(std::time::UNIX_EPOCH),
            );
            let mut changes = Vec::new();
            let expired = state
                .zone_tokens
                .values()
                .any(|t| unix_secs(t.expires_at) < before);
            if expired {
                state
                    .zone_tokens
                    .retain(|_, t| unix_secs(t.expires_at) >= before);
                changes.push(Change::PruneZoneTokens(before));
            }
            state.zone_tokens.insert(token.id.clone(), token.clone());
            let detail = json!({
                "tokenId": token.id,
                "account": token.account,
                "expiresAt": unix_secs(token.expires_at),
            });
            changes.push(Change::PutZoneToken(token.clone()));
            changes.push(operation(
                &token.zone,
                "CREDENTIALS_ISSUED",
                detail,
                &actor,
                token.issued_at,
            ));
            Ok((token, changes))
        })
        .await
    }

    /// Revokes the zone's token `only`, or every token of the zone, on every gateway on the
    /// store. Returns the ids newly revoked (none when they all were already). Records
    /// `CREDENTIALS_REVOKED` when it revoked something.
    pub async fn revoke_zone_tokens(
        &self,
        zone: &str,
        only: Option<&str>,
        actor: &str,
    ) -> Result<Vec<String>, StoreError> {
        let (zone, only, actor) = (
            zone.to_string(),
            only.map(str::to_string),
            actor.to_string(),
        );
        self.write(false, move |state, _| {
            if state.partner_zone(&zone).is_none() {
                return Err(no_zone(&zone));
            }
            let ids: Vec<String> = match &only {
                Some(id) => match state.zone_tokens.get(id) {
                    Some(t) if t.zone == zone => vec![id.clone()],
                    _ => {
                        return Err(StoreError::NotFound(format!(
                            "partner zone '{zone}' has no token with id {id}"
                        )))
                    }
                },
                None => state.zone_tokens_of(&zone).map(|t| t.id.clone()).collect(),
            };
            let at = now_secs();
            let reason = format!("partner zone '{zone}': credentials revoked by {actor}");
            let (mut changes, newly) = revoke(state, &ids, &reason, at);
            if !newly.is_empty() {
                changes.push(operation(
                    &zone,
                    "CREDENTIALS_REVOKED",
                    json!({"tokenIds": newly}),
                    &actor,
                    at,
                ));
            }
            Ok((newly, changes))
        })
        .await
    }

    /// Offboards a zone in one transaction: revokes every token issued for it, removes the
    /// zone, its virtual cluster, alias topics and service account (physical topics are left
    /// alone) and records `OFFBOARDED`. Deleting the virtual cluster ends its clients'
    /// connections on every gateway on the store at its next refresh.
    pub async fn offboard_zone(&self, zone: &str, actor: &str) -> Result<Offboarded, StoreError> {
        let (zone, actor) = (zone.to_string(), actor.to_string());
        self.write(false, move |state, configured| {
            let (z, removed) = state.remove_zone(&zone, &configured.virtual_clusters)?;
            let ids: Vec<String> = state.zone_tokens_of(&zone).map(|t| t.id.clone()).collect();
            let at = now_secs();
            let reason = format!("partner zone '{zone}' offboarded by {actor}");
            let (revocations, revoked) = revoke(state, &ids, &reason, at);
            let mut changes: Vec<Change> = revocations
                .into_iter()
                .filter(|c| matches!(c, Change::Revoke(_)))
                .collect();
            state.zone_tokens.retain(|_, t| t.zone != zone);
            changes.push(Change::DeleteZoneTokens(zone.clone()));
            changes.extend(removed.iter().cloned().map(Change::Delete));
            changes.push(Change::DeleteZone(zone.clone()));
            let detail = json!({
                "revokedTokenIds": revoked,
                "removed": removed.iter().map(ToString::to_string).collect::<Vec<_>>(),
            });
            changes.push(operation(&zone, "OFFBOARDED", detail, &actor, at));
            Ok((
                Offboarded {
                    zone: z,
                    revoked,
                    removed,
                },
                changes,
            ))
        })
        .await
    }

    /// The recorded operations, oldest first: of one zone, or of every zone (at most the
    /// newest [`MAX_OPERATIONS_LISTED`]). Read from the database, not the snapshot.
    pub async fn zone_operations(
        &self,
        zone: Option<&str>,
    ) -> Result<Vec<ZoneOperation>, StoreError> {
        let mut conn = self
            .acquire()
            .await
            .map_err(|e| self.failed("list partner zone operations", e))?;
        let sql = "SELECT seq, zone, operation, detail, actor, at, revision \
                   FROM gatehouse_partner_zone_operations \
                   WHERE ($1 = '' OR zone = $1) ORDER BY seq DESC LIMIT $2";
        let rows = sqlx::query(sql)
            .bind(zone.unwrap_or("").to_string())
            .bind(MAX_OPERATIONS_LISTED)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| self.failed("list partner zone operations", e.into()))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows.iter().rev() {
            let detail: String = row.try_get(3)?;
            out.push(ZoneOperation {
                seq: row.try_get(0)?,
                zone: row.try_get(1)?,
                operation: row.try_get(2)?,
                detail: serde_json::from_str(&detail).unwrap_or(Value::String(detail)),
                actor: row.try_get(4)?,
                at: from_unix_secs(row.try_get(5)?),
                revision: row.try_get(6)?,
            });
        }
        Ok(out)
    }
}
