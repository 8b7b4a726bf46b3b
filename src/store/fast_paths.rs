//! What each backend adds to the SQL both share: its fast paths. The shared SQL (each area's
//! macro, implemented for both stores) reaches them only through this trait, and a backend
//! without one keeps the default, the pool's way. Chosen here:
//!
//! | fast path | backend | what it replaces |
//! |---|---|---|
//! | `inline_reader` (`sqlite_reads`) | SQLite on a file | the hottest reads through the pool's connection threads |
//! | `batch_writer` (`sqlite_writes`) | SQLite on a file | batches of runs and jobs written statement by statement through the pool |
//! | `store_at_once` (`postgres_batch`) | PostgreSQL | the same batches in BEGIN, two statements and COMMIT |
//! | `stats_in_bulk` | both, each its own way | one stats read per pipeline |

use chrono::{DateTime, Utc};

use super::deliveries::{Settled, StoredBatch};
use super::sqlite_reads::SqliteReader;
use super::sqlite_writes::SqliteWriter;
use super::{ExecutionScope, IncomingDelivery, StatsSnapshot, StoreResult};

pub(crate) trait FastPaths {
    /// Where the hottest reads go instead of the pool.
    fn inline_reader(&self) -> Option<&SqliteReader> {
        None
    }

    /// Where batches of deliveries go instead of the pool, when it `takes` them.
    fn batch_writer(&self) -> Option<&SqliteWriter> {
        None
    }

    /// Stores a batch in one statement, committed when it returns; `None` when this backend
    /// does not take the batch (the pool's transaction stores it).
    async fn store_at_once(
        &self,
        _batch: &[IncomingDelivery],
        _settled: &[Settled],
        _now: DateTime<Utc>,
    ) -> StoreResult<Option<StoredBatch>> {
        Ok(None)
    }

    /// The stats of many pipelines, in the order of `scopes`.
    async fn stats_in_bulk(&self, scopes: &[ExecutionScope], now: DateTime<Utc>) -> StoreResult<Vec<StatsSnapshot>>;
}
