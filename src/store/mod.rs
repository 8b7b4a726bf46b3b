//! Storage: one `Store` trait, implemented for SQLite (embedded default) and PostgreSQL.
//!
//! Both implementations share their SQL (see `sql_store!`): every statement is written once with
//! `$n` placeholders, which SQLite accepts as well as PostgreSQL.

mod models;
mod postgres;
mod sql;
mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use models::*;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

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

#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    /// Inserts a new pipeline and its audit entry in one transaction.
    /// Fails with `Conflict` when the repository and workflow file already have a pipeline.
    async fn create_pipeline(&self, pipeline: &Pipeline, audit: &NewAudit) -> StoreResult<()>;

    async fn get_pipeline(&self, id: &str) -> StoreResult<Option<Pipeline>>;

    /// The pipeline of a repository (case-insensitive) and workflow file, active or not.
    async fn find_pipeline(&self, repository: &str, workflow_file: &str) -> StoreResult<Option<Pipeline>>;

    async fn list_pipelines(&self, filter: &PipelineFilter) -> StoreResult<Page<Pipeline>>;

    /// Writes the mutable fields of `pipeline` (status, config, links, deactivated_at) and its
    /// audit entry in one transaction, if the stored row still has `pipeline.version`.
    /// Returns the saved pipeline (version incremented), or `None` when another writer got there
    /// first: re-read and decide again.
    async fn save_pipeline(&self, pipeline: &Pipeline, audit: &NewAudit) -> StoreResult<Option<Pipeline>>;

    /// Records a workflow run attempt. The stored row only moves forward: a record whose state
    /// rank is lower, or equal with an older or equal `updated_at`, changes nothing.
    /// Returns whether the row was inserted or changed.
    async fn upsert_execution(&self, execution: &ExecutionRecord) -> StoreResult<bool>;

    /// Executions of a pipeline's scope, newest first.
    async fn list_executions(&self, scope: &ExecutionScope, limit: i64, offset: i64) -> StoreResult<Page<Execution>>;

    /// The figures the stats endpoint and the health score are computed from.
    async fn stats_snapshot(&self, scope: &ExecutionScope, now: DateTime<Utc>) -> StoreResult<StatsSnapshot>;

    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Page<AuditRecord>>;
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
