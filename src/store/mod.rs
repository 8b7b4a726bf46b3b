//! Storage: one `Store` trait (a sub-trait per area), implemented once by `SqlStore` over
//! SQLite (embedded default) or PostgreSQL. The seam, in folders:
//!
//! - `sql/`: the SQL both databases share, each area written once (its trait and its `impl` for
//!   `SqlStore`) over `sql::db` (either pool or transaction, and a statement builder). Every
//!   statement uses `$n` placeholders, which SQLite accepts as well as PostgreSQL, in the subset of
//!   SQL both speak; an area matches on the backend only where the SQL differs.
//! - `rows/`: one definition of each stored row's columns, from which every path binds and maps.
//! - `sqlite/`, `postgres/`: what is each backend's own: connecting and migrating, and the fast
//!   paths (`fast_paths.rs` lists them and chooses them, at connect time).
//! - `copy/`: `ccm copy`, every table of one database into another (either backend at either
//!   end), outside the `Store` trait: it works on two databases at once.

pub mod copy;
mod fast_paths;
mod models;
mod postgres;
mod rows;
mod sql;
mod sqlite;

pub use models::*;
pub use postgres::{ReplicaChannel, ReplicaListener};
pub use sql::actions::{ActionQueued, ActionStore, NewAction, Respond, RollbackMark};
pub use sql::alerts::{AlertFilter, AlertStore, NewAlert, Notification, Notify};
pub use sql::deliveries::{
    self, DeliveryFilter, DeliveryOutcome, DeliveryStore, DeliverySummary, IncomingDelivery, Processing, StoredDelivery,
};
pub use sql::deployments::DeploymentStore;
pub use sql::gauges::{self, GaugeCounts, GaugeStore};
pub use sql::github::{GithubStore, Redelivery};
pub use sql::insights::{ConclusionCount, DeploymentCount, DeploymentHistory, InsightStore};
pub use sql::installations::{InstallationChange, InstallationStore};
pub use sql::job_logs::{ArrivedLog, FailedJob, JobLogStore, JobWithoutLog, RunWithoutJobs};
pub use sql::outbox::{NewOutboxJob, OutboxCounts, OutboxJob, OutboxStore};
pub use sql::pipelines::{PipelineFlags, PipelineStore};
pub use sql::retention::{Pruned, RetentionStore};
pub use sql::tasks::{
    self, IssueApplied, IssueChange, IssueLink, NewTask, PullRequest, PullRequestRecord, Push, PushRecord,
    RepositorySync, SyncSettings, Task, TaskFilter, TaskStore,
};
pub use sql::tokens::TokenStore;
pub use sqlite::backup as sqlite_backup;

use fast_paths::FastPaths;
use sql::db::Db;

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
    /// From the SQLite paths that bypass sqlx (`sqlite/`).
    #[error(transparent)]
    Sqlite(rusqlite::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// The database is busy rather than broken: SQLite's lock was held past the busy timeout
    /// (`SQLITE_BUSY`, `SQLITE_LOCKED`), or PostgreSQL cancelled the statement (its
    /// `statement_timeout`, a lock it could not get, a deadlock or a serialization failure). The
    /// same request is likely to succeed a moment later.
    pub fn is_busy(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => {
                let code = db.code();
                let code = code.as_deref().unwrap_or_default();
                if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                    // The extended result code; its low byte is the primary one.
                    code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, SQLITE_BUSY | SQLITE_LOCKED))
                } else {
                    matches!(code, "40001" | "40P01" | "55P03" | "57014")
                }
            }
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(err, _)) => {
                matches!(err.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            }
            _ => false,
        }
    }
}

const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;

/// How ccm's connections are opened: the pool's size, and the waits each database allows.
#[derive(Debug, Clone, PartialEq)]
pub struct DbOptions {
    pub max_connections: u32,
    /// SQLite: how long a statement waits for another connection's write lock before it fails
    /// with `SQLITE_BUSY` (answered 503).
    pub busy_timeout: std::time::Duration,
    /// PostgreSQL's `statement_timeout` on ccm's connections (zero: none): a statement running
    /// longer is cancelled (answered 503). Migrations run without it.
    pub statement_timeout: std::time::Duration,
    /// PostgreSQL's `idle_in_transaction_session_timeout` (zero: none): a connection left idle
    /// inside a transaction this long is closed by the server, releasing its locks.
    pub idle_in_transaction_timeout: std::time::Duration,
}

impl DbOptions {
    /// The defaults, with a pool of `max_connections`.
    pub fn new(max_connections: u32) -> Self {
        DbOptions {
            max_connections,
            busy_timeout: std::time::Duration::from_secs(10),
            statement_timeout: std::time::Duration::from_secs(30),
            idle_in_transaction_timeout: std::time::Duration::from_secs(60),
        }
    }
}

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

/// Everything ccm stores, one sub-trait per area.
pub trait Store:
    PipelineStore
    + ActionStore
    + InstallationStore
    + DeliveryStore
    + OutboxStore
    + GithubStore
    + TaskStore
    + GaugeStore
    + TokenStore
    + AlertStore
    + JobLogStore
    + DeploymentStore
    + InsightStore
    + RetentionStore
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> Backend;

    /// Messages between replicas sharing this database; `None` on SQLite.
    fn replica_channel(&self) -> Option<ReplicaChannel>;
}

/// The store on either database: its pool and its backend's fast paths.
pub struct SqlStore {
    db: Db,
    fast: FastPaths,
}

impl SqlStore {
    /// Opens the database named by `url` (a `postgres://` URL or a `sqlite:` URL) and applies its
    /// migrations.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        Self::connect_with(url, &DbOptions::new(max_connections)).await
    }

    /// `connect`, with these options.
    pub async fn connect_with(url: &str, options: &DbOptions) -> StoreResult<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            postgres::connect(url, options).await
        } else {
            sqlite::connect(url, options).await
        }
    }

    /// The same database read and written through the pool alone, the SQL both databases share:
    /// for the tests that hold a fast path (`FastPaths`) to the way it replaces.
    pub fn without_fast_paths(&self) -> SqlStore {
        SqlStore { db: self.db.clone(), fast: FastPaths::default() }
    }

    /// The pool, on SQLite (for tests and tools that read the tables directly).
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        match &self.db {
            Db::Sqlite(pool) => Some(pool),
            Db::Postgres(_) => None,
        }
    }

    /// The pool, on PostgreSQL (for tests and tools that read the tables directly).
    pub fn postgres_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.db {
            Db::Postgres(pool) => Some(pool),
            Db::Sqlite(_) => None,
        }
    }
}

impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.db.backend()
    }

    fn replica_channel(&self) -> Option<ReplicaChannel> {
        match &self.db {
            Db::Postgres(pool) => Some(ReplicaChannel::new(pool.clone())),
            Db::Sqlite(_) => None,
        }
    }
}

/// Opens the store named by `database_url` and applies its migrations (see `SqlStore::connect`).
pub async fn connect(database_url: &str, max_connections: u32) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    connect_with(database_url, &DbOptions::new(max_connections)).await
}

/// `connect`, with these options.
pub async fn connect_with(database_url: &str, options: &DbOptions) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    Ok(std::sync::Arc::new(SqlStore::connect_with(database_url, options).await?))
}
