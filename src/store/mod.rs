//! Storage: one `Store` trait, implemented for SQLite (embedded default) and PostgreSQL.
//!
//! Both implementations share their SQL: each area (pipelines, installations, ...) has a file with
//! its trait and a macro that implements it for a struct holding a `pool` of either driver. Every
//! statement is written once with `$n` placeholders, which SQLite accepts as well as PostgreSQL,
//! in the subset of SQL both databases speak.

mod chunks;
pub mod deliveries;
mod fast_paths;
mod filters;
pub mod gauges;
mod github;
mod installations;
mod models;
mod outbox;
mod pipelines;
mod postgres;
mod postgres_batch;
mod replicas;
mod rows;
mod sqlite;
mod sqlite_reads;
pub(crate) mod sqlite_writes;
pub mod tasks;

pub use deliveries::{
    DeliveryFilter, DeliveryOutcome, DeliveryStore, DeliverySummary, IncomingDelivery, Processing, StoredDelivery,
};
pub(crate) use fast_paths::FastPaths;
pub use gauges::{GaugeCounts, GaugeStore};
pub use github::GithubStore;
pub use installations::{InstallationChange, InstallationStore};
pub use models::*;
pub use outbox::{NewOutboxJob, OutboxCounts, OutboxJob, OutboxStore};
pub use pipelines::PipelineStore;
pub use postgres::PostgresStore;
pub use replicas::{ReplicaChannel, ReplicaListener};
pub use sqlite::SqliteStore;
pub use tasks::{
    IssueApplied, IssueChange, IssueLink, NewTask, PullRequest, PullRequestRecord, Push, PushRecord, SyncSettings,
    Task, TaskFilter, TaskStore,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (for example a second pipeline for the same
    /// repository and workflow file).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// From the SQLite reads that bypass sqlx (`sqlite_reads`).
    #[error(transparent)]
    Sqlite(rusqlite::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Maps a driver error to `Conflict` when it is a unique-constraint violation.
pub(crate) fn classify(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        return StoreError::Conflict(db.message().to_string());
    }
    StoreError::Database(err)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Everything ccm stores, one sub-trait per area, each implemented for both databases.
pub trait Store:
    PipelineStore
    + InstallationStore
    + DeliveryStore
    + OutboxStore
    + GithubStore
    + TaskStore
    + GaugeStore
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> Backend;

    /// Messages between replicas sharing this database; `None` on SQLite.
    fn replica_channel(&self) -> Option<ReplicaChannel> {
        None
    }
}

/// Opens the store named by `database_url` (a `postgres://` URL or a `sqlite:` URL) and applies
/// its migrations.
pub async fn connect(database_url: &str, max_connections: u32) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PostgresStore::connect(database_url, max_connections).await?))
    } else {
        Ok(std::sync::Arc::new(SqliteStore::connect(database_url, max_connections).await?))
    }
}
