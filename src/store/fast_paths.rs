//! What each backend adds to the SQL both share: its fast paths, chosen here when the store
//! connects. The shared SQL (`sql/`) reaches them only through these fields, and where one is
//! `None` it takes the pool's way.
//!
//! | fast path | backend | what it replaces |
//! |---|---|---|
//! | `inline_reader` (`sqlite/sqlite_reads.rs`) | SQLite on a file | the hottest reads and a report's reads through the pool's connection threads |
//! | `batch_writer` (`sqlite/sqlite_writes.rs`) | SQLite on a file | batches of runs and jobs written statement by statement through the pool |
//! | `one_statement_batch` (`postgres/postgres_batch.rs`) | PostgreSQL | the same batches in BEGIN, two statements and COMMIT |
//! | `bulk_stats` (`postgres/mod.rs`) | PostgreSQL | one stats read per pipeline, one after the other |

use std::path::Path;
use std::sync::Arc;

use super::postgres::{BulkStats, OneStatementBatch};
use super::sqlite::sqlite_reads::SqliteReader;
use super::sqlite::sqlite_writes::SqliteWriter;

#[derive(Default)]
pub(crate) struct FastPaths {
    /// Where the hottest reads go instead of the pool.
    pub inline_reader: Option<Arc<SqliteReader>>,
    /// Where batches of deliveries go instead of the pool, when it `takes` them.
    pub batch_writer: Option<SqliteWriter>,
    /// Stores a batch it `takes` in one statement, committed on its own.
    pub one_statement_batch: Option<OneStatementBatch>,
    /// The stats of many pipelines in few statements.
    pub bulk_stats: Option<BulkStats>,
}

impl FastPaths {
    /// SQLite's, on the database file at `path`: none on an in-memory database, which lives only
    /// in the pool's connections.
    pub(crate) fn sqlite(path: &Path, pool: &sqlx::SqlitePool) -> Self {
        FastPaths {
            inline_reader: SqliteReader::open(path.to_path_buf(), pool.clone()).map(Arc::new),
            batch_writer: SqliteWriter::open(path, pool.clone()),
            ..FastPaths::default()
        }
    }

    pub(crate) fn postgres(pool: &sqlx::PgPool) -> Self {
        FastPaths {
            one_statement_batch: Some(OneStatementBatch::new(pool.clone())),
            bulk_stats: Some(BulkStats::new(pool.clone())),
            ..FastPaths::default()
        }
    }
}
