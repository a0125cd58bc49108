//! Reading the committed state of the database (the store revision, every resource, every
//! revoked token) into a [`Snapshot`].

use sqlx::Row;

use crate::{
    revocation, Backend, PartnerZone, Resource, RevokedToken, Snapshot, StoreError, ZoneToken,
};

/// A consistent snapshot: revision and rows read in one transaction (REPEATABLE READ on
/// PostgreSQL; a SQLite read transaction always is one).
pub(crate) async fn load(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
) -> Result<Snapshot, StoreError> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    if backend == Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *tx)
            .await?;
    }
    let revision: i64 = sqlx::query_scalar("SELECT revision FROM gatehouse_revision WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?;
    let s = load_rows(&mut tx, revision).await?;
    tx.commit().await?;
    Ok(s)
}

pub(crate) async fn load_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    revision: i64,
) -> Result<Snapshot, StoreError> {
    let rows = sqlx::query("SELECT kind, vcluster, name, body FROM gatehouse_resources")
        .fetch_all(&mut **tx)
        .await?;
    let mut s = Snapshot::empty(revision);
    for row in rows {
        let kind: String = row.try_get(0)?;
        let vcluster: String = row.try_get(1)?;
        let name: String = row.try_get(2)?;
        let body: String = row.try_get(3)?;
        let key = format!("{kind}/{vcluster}/{name}");
        let doc: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                key: key.clone(),
                reason: e.to_string(),
            })?;
        let r = Resource::from_document(&doc).map_err(|e| StoreError::Corrupt {
            key,
            reason: e.to_string(),
        })?;
        s.insert_loaded(r);
    }
    let rows =
        sqlx::query("SELECT id, revoked_at, expires_at, reason FROM gatehouse_revoked_tokens")
            .fetch_all(&mut **tx)
            .await?;
    for row in rows {
        let id: String = row.try_get(0)?;
        let revoked_at: i64 = row.try_get(1)?;
        let expires_at: Option<i64> = row.try_get(2)?;
        let reason: Option<String> = row.try_get(3)?;
        s.revoked_tokens.insert(
            id.clone(),
            RevokedToken {
                id,
                revoked_at: revocation::from_unix_secs(revoked_at),
                expires_at: expires_at.map(revocation::from_unix_secs),
                reason,
            },
        );
    }
    let rows = sqlx::query("SELECT name, body FROM gatehouse_partner_zones")
        .fetch_all(&mut **tx)
        .await?;
    for row in rows {
        let name: String = row.try_get(0)?;
        let body: String = row.try_get(1)?;
        let key = format!("PartnerZone/{name}");
        let doc: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                key: key.clone(),
                reason: e.to_string(),
            })?;
        let z = PartnerZone::from_document(&doc).map_err(|e| StoreError::Corrupt {
            key,
            reason: e.to_string(),
        })?;
        s.partner_zones.insert(z.name.clone(), z);
    }
    let rows = sqlx::query(
        "SELECT id, zone, account, issued_at, expires_at, revoked_at FROM gatehouse_partner_zone_tokens",
    )
    .fetch_all(&mut **tx)
    .await?;
    for row in rows {
        let revoked_at: Option<i64> = row.try_get(5)?;
        let t = ZoneToken {
            id: row.try_get(0)?,
            zone: row.try_get(1)?,
            account: row.try_get(2)?,
            issued_at: revocation::from_unix_secs(row.try_get(3)?),
            expires_at: revocation::from_unix_secs(row.try_get(4)?),
            revoked_at: revoked_at.map(revocation::from_unix_secs),
        };
        s.zone_tokens.insert(t.id.clone(), t);
    }
    Ok(s)
}
