//! Keeping the snapshot current with writes through other processes: the refresher polls the
//! store revision and reloads the snapshot when it moved (or after a failed write).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::load::load;
use crate::{Inner, Store, StoreError};

/// How often the refresher asks the database whether another process wrote.
///
/// Polling one single-row table (an indexed read of a few bytes) four to five times a second
/// costs next to nothing, works the same on SQLite (where there is no LISTEN/NOTIFY) and
/// PostgreSQL, and cannot miss a change across a dropped connection, which LISTEN/NOTIFY can
/// (it would need this poll as a fallback anyway).
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(200);

impl Store {
    /// Polls the store revision every [`REFRESH_INTERVAL`] and reloads the snapshot when
    /// another process moved it. The task ends when every clone of the store is dropped.
    pub fn spawn_refresher(&self) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(REFRESH_INTERVAL).await;
                let Some(inner) = weak.upgrade() else { return };
                // Failures are logged and reported by `availability`.
                let _ = Store { inner }.refresh().await;
            }
        })
    }

    /// Reloads the snapshot if the database revision differs from it (or, after a failed
    /// write, in any case). Returns whether a new snapshot was published. Success makes the
    /// store available again.
    pub async fn refresh(&self) -> Result<bool, StoreError> {
        match self.try_refresh().await {
            Ok(published) => {
                self.recovered();
                Ok(published)
            }
            Err(e) => Err(self.failed("refresh from the store", e)),
        }
    }

    async fn try_refresh(&self) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let stale = inner.stale.load(Ordering::Acquire);
        let mut conn = self.acquire().await?;
        let loaded = async {
            let revision: i64 =
                sqlx::query_scalar("SELECT revision FROM gatehouse_revision WHERE id = 1")
                    .fetch_one(&mut *conn)
                    .await?;
            if !stale && revision == inner.snapshot.borrow().revision {
                return Ok(None);
            }
            load(&mut conn, inner.backend).await.map(Some)
        }
        .await;
        match loaded {
            Ok(None) => Ok(false),
            Ok(Some(s)) => {
                inner.stale.store(false, Ordering::Release);
                Ok(self.publish(s, stale))
            }
            Err(e) => {
                conn.close_on_drop();
                Err(e)
            }
        }
    }
}
