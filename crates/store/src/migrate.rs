//! Schema migrations, compiled in from the repository's `migrations/` folder.
//!
//! They are embedded with `include_str!` and handed to sqlx's own [`Migrator`] (which records
//! them in `_sqlx_migrations`, checksums them and takes PostgreSQL's advisory lock) rather than
//! with `sqlx::migrate!`: the macro needs sqlx's proc-macro crate, which would compile both
//! database drivers (a bundled SQLite included) a second time for the host.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::AnyPool;

use crate::{Backend, StoreError};

type Embedded = &'static [(i64, &'static str, &'static str)];

const SQLITE: Embedded = &[
    (
        1,
        "resources",
        include_str!("../../../migrations/sqlite/0001_resources.sql"),
    ),
    (
        2,
        "revoked_tokens",
        include_str!("../../../migrations/sqlite/0002_revoked_tokens.sql"),
    ),
    (
        3,
        "partner_zones",
        include_str!("../../../migrations/sqlite/0003_partner_zones.sql"),
    ),
];

const POSTGRES: Embedded = &[
    (
        1,
        "resources",
        include_str!("../../../migrations/postgres/0001_resources.sql"),
    ),
    (
        2,
        "revoked_tokens",
        include_str!("../../../migrations/postgres/0002_revoked_tokens.sql"),
    ),
    (
        3,
        "partner_zones",
        include_str!("../../../migrations/postgres/0003_partner_zones.sql"),
    ),
];

fn embedded(backend: Backend) -> Embedded {
    match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    }
}

/// The newest schema version this binary knows.
pub fn latest_version(backend: Backend) -> i64 {
    embedded(backend).iter().map(|m| m.0).max().unwrap_or(0)
}

#[derive(Debug)]
struct Source(Embedded);

impl<'s> MigrationSource<'s> for Source {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Refuses a database migrated by a newer gatehouse, then applies what is missing.
pub async fn run(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    let known = latest_version(backend);
    if let Some(found) = applied_version(pool, backend).await? {
        if found > known {
            return Err(StoreError::SchemaTooNew { found, known });
        }
    }
    let migrator = Migrator::new(Source(embedded(backend))).await?;
    migrator.run(pool).await?;
    Ok(())
}

/// The newest version recorded in `_sqlx_migrations`, if the table exists.
pub async fn applied_version(pool: &AnyPool, backend: Backend) -> Result<Option<i64>, StoreError> {
    let exists = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
        }
    };
    let count: i64 = sqlx::query_scalar(exists).fetch_one(pool).await?;
    if count == 0 {
        return Ok(None);
    }
    Ok(
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(pool)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every file in `migrations/<backend>/` is compiled in, and both backends know the same
    /// versions.
    #[test]
    fn every_migration_file_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        for (dir, list) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let mut files: Vec<String> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".sql"))
                .collect();
            files.sort();
            let listed: Vec<String> = list
                .iter()
                .map(|(v, d, _)| format!("{v:04}_{d}.sql"))
                .collect();
            assert_eq!(files, listed, "migrations/{dir} and migrate.rs disagree");
            for (i, (v, _, sql)) in list.iter().enumerate() {
                assert_eq!(*v, i as i64 + 1, "versions are 1, 2, 3, ...");
                let on_disk = std::fs::read_to_string(root.join(dir).join(&listed[i])).unwrap();
                assert_eq!(*sql, on_disk);
            }
        }
        assert_eq!(
            latest_version(Backend::Sqlite),
            latest_version(Backend::Postgres)
        );
    }
}
