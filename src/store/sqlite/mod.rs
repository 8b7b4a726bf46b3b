//! The embedded default: one SQLite file in WAL mode, fsync on commit. Its own parts: connecting,
//! the writer thread of delivery batches (`sqlite_writes.rs`) and the hottest reads inline through
//! the C API (`sqlite_reads.rs`).

use std::str::FromStr;

use sqlx::sqlite::{SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::fast_paths::FastPaths;
use super::sql::db::Db;
use super::{DbOptions, SqlStore, StoreResult};

pub mod backup;
pub(crate) mod sqlite_reads;
pub(crate) mod sqlite_writes;

/// The migrations of a SQLite database: the ones `ccm serve` applies, and `ccm copy` to its target.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// Opens (creating if missing) the database at a `sqlite:` URL and applies migrations.
pub(super) async fn connect(url: &str, db: &DbOptions) -> StoreResult<SqlStore> {
    let options = connect_options(url, db)?;
    let pool = SqlitePoolOptions::new()
        .max_connections(db.max_connections.max(1))
        // An embedded database has no connection to lose: a ping before each use only costs
        // a round trip to the connection's thread.
        .test_before_acquire(false)
        .connect_with(options.clone())
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(SqlStore { fast: FastPaths::sqlite(options.get_filename(), &pool), db: Db::Sqlite(pool) })
}

/// How ccm opens a SQLite database (creating it if missing), for the server and `ccm copy`.
pub(crate) fn connect_options(url: &str, db: &DbOptions) -> StoreResult<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        // Pages freed by retention go back to the file system (`PRAGMA incremental_vacuum` after
        // each sweep). Takes effect on a new database; one created before needs a VACUUM once,
        // which `ccm prune` does.
        .auto_vacuum(SqliteAutoVacuum::Incremental)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit is on disk before we answer; a delivery acknowledged is never lost.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(db.busy_timeout)
        .foreign_keys(true)
        // Rows cross from the connection's thread in a bounded channel; once it is full,
        // every row taken wakes the blocked thread. Room for the largest page (1000) avoids it.
        .row_buffer_size(1024)
        // Reads of the pool's statements (reports, listings) take pages from a memory map of the
        // file, as the fast paths' readers do, not through a read() and a copy each.
        .pragma("mmap_size", sqlite_reads::MMAP_SIZE.to_string()))
}
