//! The write path: every change (upsert, apply, delete, token revocation) is one transaction
//! that bumps the store revision, validates against the committed state, writes the rows it
//! changed and publishes the new snapshot once it committed.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use sqlx::pool::PoolConnection;
use sqlx::Any;

use crate::load::load_rows;
use crate::{
    revocation, Acl, Configured, PartnerZone, Resource, ResourceKey, Revoked, RevokedToken,
    Snapshot, Store, StoreError, UpsertResult, ZoneToken,
};

/// The result of one upsert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    /// The resource as stored (defaults filled in).
    pub resource: Resource,
    pub result: UpsertResult,
}

pub(crate) enum Change {
    Put(Resource),
    Delete(ResourceKey),
    Revoke(RevokedToken),
    /// Deletes revocations whose token expired before this Unix second.
    PruneRevocations(i64),
    PutZone(PartnerZone),
    DeleteZone(String),
    PutZoneToken(ZoneToken),
    /// Marks a zone's token revoked at this Unix second.
    ZoneTokenRevoked {
        id: String,
        at: i64,
    },
    /// Deletes every token record of this zone.
    DeleteZoneTokens(String),
    /// Deletes the token records (of every zone) whose token expired before this Unix second.
    PruneZoneTokens(i64),
    /// Records a zone operation (at the revision of this transaction).
    ZoneOperation {
        zone: String,
        operation: String,
        detail: String,
        actor: String,
        at: i64,
    },
}

/// The refusal of an ordinary change to a resource a partner zone manages.
fn managed(state: &Snapshot, key: &ResourceKey) -> Result<(), StoreError> {
    match state.managed_by_zone(key) {
        Some(zone) => Err(StoreError::Conflict(format!(
            "{key} is managed by partner zone '{zone}': change the zone (gatehouse partner onboard -f, PUT /gateway/v2/partner-zone) or offboard it (gatehouse partner offboard {zone}, DELETE /gateway/v2/partner-zone/{zone})"
        ))),
        None => Ok(()),
    }
}

impl Store {
    /// Creates or replaces one resource. With `dry_run`, validates against the current state
    /// and reports what would happen without saving.
    pub async fn upsert(&self, resource: Resource, dry_run: bool) -> Result<Upserted, StoreError> {
        let mut out = self.apply(vec![resource], dry_run).await?;
        Ok(out.pop().expect("one result per resource"))
    }

    /// Applies resources in one transaction: all of them or none. They are applied in
    /// dependency order (every VirtualCluster, then every GatewayServiceAccount, then every
    /// AliasTopic; within a kind in the order given), each against the state the previous ones left; results come back in
    /// that order. Errors name the resource by its index in `resources`.
    pub async fn apply(
        &self,
        resources: Vec<Resource>,
        dry_run: bool,
    ) -> Result<Vec<Upserted>, StoreError> {
        let batch = resources.len() > 1;
        let mut ordered: Vec<(usize, Resource)> = resources.into_iter().enumerate().collect();
        ordered.sort_by_key(|(i, r)| (r.kind(), *i));
        self.write(dry_run, move |state, configured| {
            let mut results = Vec::with_capacity(ordered.len());
            let mut changes = Vec::new();
            for (i, r) in ordered {
                let result = managed(state, &r.key())
                    .and_then(|()| configured.check(&r))
                    .and_then(|()| state.upsert(r.clone()))
                    .map_err(|e| {
                        if batch {
                            e.in_batch(i, Some(&r.key()))
                        } else {
                            e
                        }
                    })?;
                if result != UpsertResult::NotChanged {
                    changes.push(Change::Put(r.clone()));
                }
                results.push(Upserted {
                    resource: r,
                    result,
                });
            }
            Ok((results, changes))
        })
        .await
    }

    /// Deletes one resource if nothing refers to it. Returns what was deleted.
    pub async fn delete(&self, key: &ResourceKey) -> Result<Resource, StoreError> {
        let key = key.clone();
        self.write(false, move |state, configured| {
            managed(state, &key)?;
            let old = state.delete(&key, &configured.virtual_clusters)?;
            Ok((old, vec![Change::Delete(key)]))
        })
        .await
    }

    /// Changes the ACLs (`spec.acls`) of virtual cluster `name` with `edit`, in one
    /// transaction against the committed state: CreateAcls and DeleteAcls through the Kafka
    /// API. The result is checked as a document with those ACLs would be (names, count,
    /// duplicates); nothing is saved when it is refused or `edit` changed nothing.
    pub async fn edit_acls<T: Send + 'static>(
        &self,
        name: &str,
        edit: impl FnOnce(&mut Vec<Acl>) -> T + Send + 'static,
    ) -> Result<T, StoreError> {
        let name = name.to_string();
        self.write(false, move |state, configured| {
            let Some(vc) = state
                .virtual_clusters
                .get(&name)
                .filter(|v| !v.is_passthrough())
            else {
                return Err(StoreError::NotFound(format!(
                    "virtual cluster '{name}' does not exist"
                )));
            };
            // A partner zone's ACLs follow its permissions: changed through the zone only.
            managed(state, &ResourceKey::virtual_cluster(&name))?;
            let mut vc = vc.clone();
            let out = edit(&mut vc.acls);
            let checked = Resource::from_document(&Resource::VirtualCluster(vc).to_document())?;
            configured.check(&checked)?;
            let changes = match state.upsert(checked.clone())? {
                UpsertResult::NotChanged => Vec::new(),
                _ => vec![Change::Put(checked)],
            };
            Ok((out, changes))
        })
        .await
    }

    /// Revokes the gateway token with id `token_id` (its `jti`) for every gateway on this
    /// store: this process at once, the others at their next poll. Idempotent: revoking a
    /// revoked token changes nothing and answers the first revocation. `expires_at` is the
    /// token's own expiry if known; revocations of tokens expired for longer than
    /// [`revocation::PRUNE_GRACE`] are pruned in the same transaction.
    pub async fn revoke_token(
        &self,
        token_id: &str,
        expires_at: Option<SystemTime>,
        reason: Option<&str>,
    ) -> Result<Revoked, StoreError> {
        revocation::validate(token_id, reason)?;
        let now = SystemTime::now();
        let revocation = RevokedToken {
            id: token_id.to_string(),
            // Whole seconds, as stored, so the answer equals what a reload reads.
            revoked_at: revocation::from_unix_secs(revocation::unix_secs(now)),
            expires_at: expires_at.map(|t| revocation::from_unix_secs(revocation::unix_secs(t))),
            reason: reason.map(str::to_string),
        };
        let prune_before = revocation::unix_secs(
            now.checked_sub(revocation::PRUNE_GRACE)
                .unwrap_or(std::time::UNIX_EPOCH),
        );
        self.write(false, move |state, _| {
            let mut changes = Vec::new();
            let expired: Vec<String> = state
                .revoked_tokens
                .values()
                .filter(|r| {
                    r.expires_at
                        .is_some_and(|e| revocation::unix_secs(e) < prune_before)
                })
                .map(|r| r.id.clone())
                .collect();
            if !expired.is_empty() {
                for id in &expired {
                    state.revoked_tokens.remove(id);
                }
                changes.push(Change::PruneRevocations(prune_before));
            }
            let out = match state.revoked_tokens.get(&revocation.id) {
                Some(existing) => Revoked {
                    revocation: existing.clone(),
                    newly_revoked: false,
                },
                None => {
                    state
                        .revoked_tokens
                        .insert(revocation.id.clone(), revocation.clone());
                    changes.push(Change::Revoke(revocation.clone()));
                    Revoked {
                        revocation,
                        newly_revoked: true,
                    }
                }
            };
            Ok((out, changes))
        })
        .await
    }

    /// One write transaction: lock and bump the revision, load the committed state, let `f`
    /// validate and change it, write the rows it changed, commit, publish the new snapshot.
    /// Nothing is saved (and the revision does not move) on error, on dry run, or when `f`
    /// changed nothing.
    ///
    /// When the database fails (any statement, the COMMIT or the ROLLBACK), the answer is
    /// `Unavailable` and the connection is closed rather than returned to the pool: SQLite may
    /// have rolled the transaction back on its own (on a full disk, an I/O error) while sqlx
    /// still counts it open, and a connection reused in that state ran later writes as
    /// savepoints of a transaction that never committed — acknowledged, served, then lost.
    /// The snapshot published is the state this transaction read and wrote, and only once the
    /// COMMIT succeeded; after a failure the store reloads from the database before it
    /// publishes anything.
    pub(crate) async fn write<T>(
        &self,
        dry_run: bool,
        f: impl FnOnce(&mut Snapshot, &Configured) -> Result<(T, Vec<Change>), StoreError>,
    ) -> Result<T, StoreError> {
        if self.inner.stale.load(Ordering::Acquire) {
            self.refresh().await?;
        }
        let mut conn = self
            .acquire()
            .await
            .map_err(|e| self.failed("save the change", e))?;
        match self.write_on(&mut conn, dry_run, f).await {
            Ok((out, Some(state))) => {
                self.publish(state, false);
                Ok(out)
            }
            Ok((out, None)) => Ok(out),
            Err(
                e
                @ (StoreError::Invalid { .. } | StoreError::Conflict(_) | StoreError::NotFound(_)),
            ) => Err(e),
            Err(e) => {
                conn.close_on_drop();
                self.inner.stale.store(true, Ordering::Release);
                Err(self.failed("save the change", e))
            }
        }
    }

    /// The transaction of [`Store::write`] on `conn`; returns the state to publish if it
    /// committed a change. Refusals by `f` come back after an explicit, successful rollback.
    async fn write_on<T>(
        &self,
        conn: &mut PoolConnection<Any>,
        dry_run: bool,
        f: impl FnOnce(&mut Snapshot, &Configured) -> Result<(T, Vec<Change>), StoreError>,
    ) -> Result<(T, Option<Snapshot>), StoreError> {
        use sqlx::Connection;
        let inner = &self.inner;
        let mut tx = conn.begin().await?;
        // First statement: takes the row lock (PostgreSQL) or the write lock (SQLite) that
        // serialises every writer of this database, whichever process it is in.
        let revision: i64 = sqlx::query_scalar(
            "UPDATE gatehouse_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision",
        )
        .fetch_one(&mut *tx)
        .await?;
        let mut state = load_rows(&mut tx, revision - 1).await?;
        let (out, changes) = match f(&mut state, &inner.configured) {
            Ok(done) => done,
            Err(refused) => {
                tx.rollback().await?;
                return Err(refused);
            }
        };
        if dry_run || changes.is_empty() {
            tx.rollback().await?;
            return Ok((out, None));
        }
        for change in changes {
            match change {
                Change::Put(r) => {
                    let key = r.key();
                    sqlx::query(
                        "INSERT INTO gatehouse_resources (kind, vcluster, name, body, revision) \
                         VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (kind, vcluster, name) \
                         DO UPDATE SET body = excluded.body, revision = excluded.revision",
                    )
                    .bind(key.kind.name())
                    .bind(key.vcluster)
                    .bind(key.name)
                    .bind(r.to_document().to_string())
                    .bind(revision)
                    .execute(&mut *tx)
                    .await?;
                }
                Change::Delete(key) => {
                    sqlx::query(
                        "DELETE FROM gatehouse_resources WHERE kind = $1 AND vcluster = $2 AND name = $3",
                    )
                    .bind(key.kind.name())
                    .bind(key.vcluster)
                    .bind(key.name)
                    .execute(&mut *tx)
                    .await?;
                }
                Change::Revoke(r) => {
                    sqlx::query(
                        "INSERT INTO gatehouse_revoked_tokens (id, revoked_at, expires_at, reason) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(r.id)
                    .bind(revocation::unix_secs(r.revoked_at))
                    .bind(r.expires_at.map(revocation::unix_secs))
                    .bind(r.reason)
                    .execute(&mut *tx)
                    .await?;
                }
                Change::PutZone(z) => {
                    sqlx::query(
                        "INSERT INTO gatehouse_partner_zones (name, body, revision) VALUES ($1, $2, $3) \
                         ON CONFLICT (name) DO UPDATE SET body = excluded.body, revision = excluded.revision",
                    )
                    .bind(z.name.clone())
                    .bind(z.to_document().to_string())
                    .bind(revision)
                    .execute(&mut *tx)
                    .await?;
                }
                Change::DeleteZone(name) => {
                    sqlx::query("DELETE FROM gatehouse_partner_zones WHERE name = $1")
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                }
                Change::PutZoneToken(t) => {
                    sqlx::query(
                        "INSERT INTO gatehouse_partner_zone_tokens (id, zone, account, issued_at, expires_at, revoked_at) \
                         VALUES ($1, $2, $3, $4, $5, NULL)",
                    )
                    .bind(t.id)
                    .bind(t.zone)
                    .bind(t.account)
                    .bind(revocation::unix_secs(t.issued_at))
                    .bind(revocation::unix_secs(t.expires_at))
                    .execute(&mut *tx)
                    .await?;
                }
                Change::ZoneTokenRevoked { id, at } => {
                    sqlx::query(
                        "UPDATE gatehouse_partner_zone_tokens SET revoked_at = $1 WHERE id = $2",
                    )
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                Change::DeleteZoneTokens(zone) => {
                    sqlx::query("DELETE FROM gatehouse_partner_zone_tokens WHERE zone = $1")
                        .bind(zone)
                        .execute(&mut *tx)
                        .await?;
                }
                Change::PruneZoneTokens(before) => {
                    sqlx::query("DELETE FROM gatehouse_partner_zone_tokens WHERE expires_at < $1")
                        .bind(before)
                        .execute(&mut *tx)
                        .await?;
                }
                Change::ZoneOperation {
                    zone,
                    operation,
                    detail,
                    actor,
                    at,
                } => {
                    sqlx::query(
                        "INSERT INTO gatehouse_partner_zone_operations (zone, operation, detail, actor, at, revision) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(zone)
                    .bind(operation)
                    .bind(detail)
                    .bind(actor)
                    .bind(at)
                    .bind(revision)
                    .execute(&mut *tx)
                    .await?;
                }
                Change::PruneRevocations(before) => {
                    sqlx::query(
                        "DELETE FROM gatehouse_revoked_tokens \
                         WHERE expires_at IS NOT NULL AND expires_at < $1",
                    )
                    .bind(before)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        state.revision = revision;
        Ok((out, Some(state)))
    }
}
