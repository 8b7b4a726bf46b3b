//! The embedded default: one SQLite file in WAL mode, fsync on commit.

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    reader: Option<super::sqlite_reads::SqliteReader>,
    writer: Option<super::sqlite_writes::SqliteWriter>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at a `sqlite:` URL and applies migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, super::StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before we answer; a delivery acknowledged is never lost.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Rows cross from the connection's thread in a bounded channel; once it is full,
            // every row taken wakes the blocked thread. Room for the largest page (1000) avoids it.
            .row_buffer_size(1024);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            // An embedded database has no connection to lose: a ping before each use only costs
            // a round trip to the connection's thread.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        let reader = super::sqlite_reads::SqliteReader::open(options.get_filename().to_path_buf(), pool.clone());
        let writer = super::sqlite_writes::SqliteWriter::open(options.get_filename(), pool.clone());
        Ok(Self { pool, reader, writer })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl super::FastPaths for SqliteStore {
    fn inline_reader(&self) -> Option<&super::sqlite_reads::SqliteReader> {
        self.reader.as_ref()
    }

    fn batch_writer(&self) -> Option<&super::sqlite_writes::SqliteWriter> {
        self.writer.as_ref()
    }

    /// One after the other: inline reads cost no round trip.
    async fn stats_in_bulk(
        &self,
        scopes: &[super::ExecutionScope],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<super::StatsSnapshot>, super::StoreError> {
        use super::PipelineStore;
        let mut snapshots = Vec::with_capacity(scopes.len());
        for scope in scopes {
            snapshots.push(self.stats_snapshot(scope, now).await?);
        }
        Ok(snapshots)
    }
}

impl super::Store for SqliteStore {
    fn backend(&self) -> super::Backend {
        super::Backend::Sqlite
    }
}

mod pipelines {
    use super::SqliteStore;
    crate::store::pipelines::pipeline_sql!(SqliteStore, sqlx::Sqlite);
}

mod installations {
    use super::SqliteStore;
    crate::store::installations::installation_sql!(SqliteStore, sqlx::Sqlite);
}

mod deliveries {
    use super::SqliteStore;
    crate::store::deliveries::delivery_sql!(SqliteStore, sqlx::Sqlite, "");
}

mod outbox {
    use super::SqliteStore;
    crate::store::outbox::outbox_sql!(SqliteStore, sqlx::Sqlite, "");
}

mod github {
    use super::SqliteStore;
    crate::store::github::github_sql!(SqliteStore, sqlx::Sqlite);
}

mod tasks {
    use super::SqliteStore;
    crate::store::tasks::task_sql!(SqliteStore, sqlx::Sqlite);
}

mod gauges {
    use super::SqliteStore;
    crate::store::gauges::gauge_sql!(SqliteStore);
}
