//! The two ends of a copy: opening each database (the source as it is, the target migrated),
//! reading their catalogs, and checking the source's schema version.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection, SqliteConnection};

use super::values::ColType;
use crate::store::sqlite::backup::DatabaseLock;
use crate::store::{Backend, DbOptions, postgres, sqlite};

/// A database URL as `DATABASE_URL` takes it.
pub(super) enum Url {
    Sqlite { url: String, path: PathBuf },
    Postgres(String),
}

impl Url {
    pub(super) fn parse(url: &str) -> anyhow::Result<Url> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            PgConnectOptions::from_str(url).context("reading the PostgreSQL URL")?;
            return Ok(Url::Postgres(url.to_string()));
        }
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url).context("reading the SQLite URL")?;
            return Ok(Url::Sqlite { url: url.to_string(), path: options.get_filename().to_path_buf() });
        }
        bail!("not a database URL: expected sqlite:PATH, sqlite://PATH or postgres://...")
    }

    pub(super) fn backend(&self) -> Backend {
        match self {
            Url::Sqlite { .. } => Backend::Sqlite,
            Url::Postgres(_) => Backend::Postgres,
        }
    }

    /// How the database is named in messages (no password).
    pub(super) fn shown(&self) -> String {
        match self {
            Url::Sqlite { path, .. } => format!("sqlite:{}", path.display()),
            Url::Postgres(url) => redacted(url).unwrap_or_else(|| "the PostgreSQL database".to_string()),
        }
    }
}

/// `postgres://user@host/db`: the URL without its password and parameters.
fn redacted(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let rest = rest.split('?').next()?;
    let rest = match rest.rsplit_once('@') {
        Some((user, host)) => format!("{}@{host}", user.split(':').next()?),
        None => rest.to_string(),
    };
    Some(format!("{scheme}://{rest}"))
}

/// An open connection to one end.
pub(super) enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// No statement or idle timeout: a copy runs long statements and transactions on purpose.
fn copy_options() -> DbOptions {
    DbOptions {
        max_connections: 1,
        busy_timeout: Duration::from_secs(30),
        statement_timeout: Duration::ZERO,
        idle_in_transaction_timeout: Duration::ZERO,
    }
}

/// Opens the source as it is: never created, never migrated.
pub(super) async fn open_source(url: &Url) -> anyhow::Result<Conn> {
    Ok(match url {
        Url::Sqlite { url, path } => {
            if !path.is_file() {
                bail!("no database at {}", path.display());
            }
            let options =
                SqliteConnectOptions::from_str(url)?.create_if_missing(false).busy_timeout(copy_options().busy_timeout);
            Conn::Sqlite(SqliteConnection::connect_with(&options).await.context("opening the source")?)
        }
        Url::Postgres(url) => {
            let options = postgres::session(PgConnectOptions::from_str(url)?, &copy_options(), Duration::ZERO);
            Conn::Postgres(PgConnection::connect_with(&options).await.context("connecting to the source")?)
        }
    })
}

/// Opens the target as `ccm serve` would (a SQLite file is created, in WAL mode and
/// `auto_vacuum=incremental`); `Conn::migrate` then applies this ccm's migrations. On SQLite it
/// holds the lock a running `ccm serve` shares, so a server cannot start on the target while it
/// is filled.
pub(super) async fn open_target(url: &Url) -> anyhow::Result<(Conn, Option<DatabaseLock>)> {
    Ok(match url {
        Url::Sqlite { url, path } => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let lock = DatabaseLock::exclusive(path).map_err(|_| {
                anyhow::anyhow!("ccm is running on the target {}: stop it before copying into it", path.display())
            })?;
            let options = sqlite::connect_options(url, &copy_options())?;
            let conn = SqliteConnection::connect_with(&options).await.context("opening the target")?;
            (Conn::Sqlite(conn), Some(lock))
        }
        Url::Postgres(url) => {
            let options = postgres::session(PgConnectOptions::from_str(url)?, &copy_options(), Duration::ZERO);
            let conn = PgConnection::connect_with(&options).await.context("connecting to the target")?;
            (Conn::Postgres(conn), None)
        }
    })
}

impl Conn {
    /// Applies this ccm's migrations (the ones `ccm serve` applies).
    pub(super) async fn migrate(&mut self) -> anyhow::Result<()> {
        match self {
            Conn::Sqlite(conn) => sqlite::MIGRATOR.run(conn).await,
            Conn::Postgres(conn) => postgres::MIGRATOR.run(conn).await,
        }
        .context("migrating the target")
    }
}

/// The migration versions this ccm has for `backend`.
fn known_versions(backend: Backend) -> Vec<i64> {
    let migrator = match backend {
        Backend::Sqlite => &sqlite::MIGRATOR,
        Backend::Postgres => &postgres::MIGRATOR,
    };
    migrator.iter().map(|m| m.version).collect()
}

/// Refuses a source whose schema is not exactly this ccm's: an older one must be migrated by
/// this ccm first (`ccm migrate` on it), a newer one copied by the ccm that migrated it.
pub(super) fn check_versions(backend: Backend, applied: &[i64], shown: &str) -> anyhow::Result<()> {
    let known = known_versions(backend);
    let latest = known.last().copied().unwrap_or(0);
    if let Some(newer) = applied.iter().find(|v| !known.contains(v)) {
        bail!(
            "the source ({shown}) has migration {newer}, which this ccm does not know (it ends at {latest}): \
             copy it with the newer ccm that migrated it"
        );
    }
    if let Some(missing) = known.iter().find(|v| !applied.contains(v)) {
        let at = applied.last().copied().unwrap_or(0);
        bail!(
            "the source ({shown}) is at migration {at} and lacks {missing} (this ccm is at {latest}): \
             run `DATABASE_URL=<the source's URL> ccm migrate` with this ccm first (stop the ccm serving it), \
             then copy again"
        );
    }
    Ok(())
}

/// The types a column of either catalog is read and written as.
pub(super) fn column_type(backend: Backend, declared: &str) -> Option<ColType> {
    let declared = declared.to_ascii_lowercase();
    Some(match backend {
        // SQLite keeps timestamps and JSON as text: they are text here, converted to and from the
        // other end's types by `values`.
        Backend::Sqlite => match declared.as_str() {
            "integer" | "bigint" | "int" => ColType::Int,
            "boolean" => ColType::Bool,
            "text" => ColType::Text,
            "blob" => ColType::Bytes,
            _ => return None,
        },
        Backend::Postgres => match declared.as_str() {
            "bigint" | "integer" | "smallint" => ColType::Int,
            "boolean" => ColType::Bool,
            "text" | "character varying" => ColType::Text,
            "timestamp with time zone" => ColType::Time,
            "jsonb" | "json" => ColType::Json,
            "bytea" => ColType::Bytes,
            _ => return None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_as_database_url_takes_them() {
        assert!(matches!(Url::parse("sqlite:ccm.db").unwrap(), Url::Sqlite { .. }));
        assert!(matches!(Url::parse("sqlite:///srv/ccm/ccm.db").unwrap(), Url::Sqlite { .. }));
        assert!(matches!(Url::parse("postgres://ccm:pw@db/ccm").unwrap(), Url::Postgres(_)));
        assert!(Url::parse("mysql://db/ccm").is_err());
        let shown = Url::parse("postgres://ccm:secret@db:5432/ccm?sslmode=require").unwrap().shown();
        assert_eq!(shown, "postgres://ccm@db:5432/ccm");
    }

    #[test]
    fn a_source_at_another_version_is_refused_saying_how_to_fix_it() {
        let known = known_versions(Backend::Sqlite);
        assert!(check_versions(Backend::Sqlite, &known, "s").is_ok());
        let older = check_versions(Backend::Sqlite, &known[..known.len() - 1], "s").unwrap_err().to_string();
        assert!(older.contains("ccm migrate"), "{older}");
        let mut newer = known.clone();
        newer.push(known.last().unwrap() + 1);
        let newer = check_versions(Backend::Sqlite, &newer, "s").unwrap_err().to_string();
        assert!(newer.contains("newer ccm"), "{newer}");
    }
}
