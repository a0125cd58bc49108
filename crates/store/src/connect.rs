//! Opening the database: the URL as given by the operator, the connection pool, and the
//! settings every SQLite connection gets.
//!
//! SQLite runs with a rollback journal (`journal_mode=DELETE`), `synchronous=FULL` and
//! `mmap_size=0`, so no store file is ever memory-mapped. WAL mode keeps its index in the
//! `-shm` file, which every connection maps into memory; when that file cannot be written
//! (permissions, a full tmpfs, a truncation) the next store write touches a page the kernel
//! cannot back and the whole gateway dies of SIGBUS, data plane included. With a rollback
//! journal every access is a plain read/write/fsync whose failure comes back as an error.
//! (WAL with `locking_mode=EXCLUSIVE` would keep the index in heap memory too, but holds the
//! file for one connection for good: a second pooled connection or a second gateway on the
//! same file could not open it.) The cost, readers and the writer excluding each other for
//! the few milliseconds of a commit, is invisible for a store written a few times a minute.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Connection};

use crate::{redact, Backend, StoreError};

/// How long a store operation waits for a pooled connection (and, on PostgreSQL, for the
/// server to accept one) before it fails as unavailable.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// `url` as sqlx needs it: a SQLite URL without `mode=` opens read-write and creates the file
/// (`mode=rwc`), as the default store URL does; sqlx's own default, `rw`, fails on a new file
/// with "unable to open database file".
pub(crate) fn effective_url(url: &str, backend: Backend) -> String {
    if backend != Backend::Sqlite || url.contains(":memory:") {
        return url.to_string();
    }
    match url.split_once('?') {
        None => format!("{url}?mode=rwc"),
        Some((_, query)) if query.split('&').any(|p| p.starts_with("mode=")) => url.to_string(),
        Some((_, "")) => format!("{url}mode=rwc"),
        Some(_) => format!("{url}&mode=rwc"),
    }
}

/// Opens one connection (to report why a connection fails, which the pool would hide behind
/// its acquire timeout), then the pool. `max_pages` is the test hook of
/// [`crate::Store::limit_sqlite_pages`].
pub(crate) async fn pool(
    url: &str,
    backend: Backend,
    max_pages: Arc<AtomicU32>,
) -> Result<AnyPool, StoreError> {
    let shown = redact(url);
    let url = effective_url(url, backend);
    let unreachable = |e: sqlx::Error| StoreError::Unreachable {
        url: shown.clone(),
        reason: explain(&e),
    };
    AnyConnection::connect(&url)
        .await
        .map_err(unreachable)?
        .close()
        .await
        .map_err(unreachable)?;
    let on_connect = max_pages.clone();
    let pool = AnyPoolOptions::new()
        .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(move |conn, _| {
            let pages = on_connect.load(Ordering::Relaxed);
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // Per connection: neither is stored in the database file.
                    sqlx::query("PRAGMA mmap_size = 0")
                        .fetch_optional(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous = FULL")
                        .execute(&mut *conn)
                        .await?;
                }
                limit_pages(conn, pages).await
            })
        })
        .before_acquire(move |conn, _| {
            let pages = max_pages.load(Ordering::Relaxed);
            Box::pin(async move { limit_pages(conn, pages).await.map(|()| true) })
        })
        .connect(&url)
        .await
        .map_err(unreachable)?;
    if backend == Backend::Sqlite {
        use_rollback_journal(&pool).await?;
    }
    Ok(pool)
}

/// Switches the file to a rollback journal (a WAL file made by an older gatehouse included;
/// the mode is stored in the file, so once is enough).
async fn use_rollback_journal(pool: &AnyPool) -> Result<(), StoreError> {
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode = DELETE")
        .fetch_one(pool)
        .await?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(StoreError::BadUrl(format!(
            "cannot switch the SQLite file from journal mode {mode} to DELETE (is another process \
             using it in WAL mode? stop it, then start gatehouse again)"
        )));
    }
    Ok(())
}

async fn limit_pages(conn: &mut AnyConnection, pages: u32) -> Result<(), sqlx::Error> {
    if pages != 0 {
        sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
            .fetch_optional(conn)
            .await?;
    }
    Ok(())
}

/// A connection error, with what to change when it is about TLS.
pub(crate) fn explain(e: &sqlx::Error) -> String {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") {
        format!(
            "{text} (the server's TLS certificate is not trusted: sslrootcert= in store.url must \
             name the CA file that signed it, and with sslmode=verify-full the host in the URL \
             must be one the certificate names)"
        )
    } else if lower.contains("sslrootcert") || (lower.contains("tls") && lower.contains("file")) {
        format!("{text} (check the sslrootcert= file in store.url)")
    } else if lower.contains("unable to open database file") || lower.contains("readonly database")
    {
        format!(
            "{text} (the SQLite file and its directory must be writable: every write creates a \
             journal file next to the database)"
        )
    } else if lower.contains("disk i/o error") {
        format!(
            "{text} (the filesystem refused a write: is it full, read-only or the file immutable?)"
        )
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_without_a_mode_create_the_file() {
        let s = |u| effective_url(u, Backend::Sqlite);
        assert_eq!(s("sqlite:///d/g.db"), "sqlite:///d/g.db?mode=rwc");
        assert_eq!(
            s("sqlite://g.db?cache=shared"),
            "sqlite://g.db?cache=shared&mode=rwc"
        );
        assert_eq!(s("sqlite://g.db?"), "sqlite://g.db?mode=rwc");
        assert_eq!(s("sqlite://g.db?mode=ro"), "sqlite://g.db?mode=ro");
        assert_eq!(s("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(
            effective_url("postgres://h/db", Backend::Postgres),
            "postgres://h/db"
        );
    }
}
