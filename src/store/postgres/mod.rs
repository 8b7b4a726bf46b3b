//! PostgreSQL, for production: several ccm replicas may share one database. Its own parts:
//! connecting, the one-statement batch (`postgres_batch.rs`), stats of many pipelines in one
//! statement (`BulkStats`), and the channel between replicas (`replicas.rs`).

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

use super::fast_paths::FastPaths;
use super::sql::db::{Db, Row};
use super::sql::pipelines::{StatsBounds, bulk_stats_sql, snapshot_from_row};
use super::{DbOptions, ExecutionScope, PipelineStore, SqlStore, StatsSnapshot, StoreError, StoreResult};

mod postgres_batch;
mod replicas;

pub(crate) use postgres_batch::OneStatementBatch;
pub use replicas::{ReplicaChannel, ReplicaListener};

/// The migrations of a PostgreSQL database: the ones `ccm serve` applies, and `ccm copy` to its
/// target.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Connects to a `postgres://` URL and applies migrations (sqlx takes an advisory lock, so
/// replicas starting together migrate once).
pub(super) async fn connect(url: &str, db: &DbOptions) -> StoreResult<SqlStore> {
    let url_options = PgConnectOptions::from_str(url)?;
    // Migrations run on a connection of their own, with no statement timeout: one that rewrites
    // a large table may take longer than any request should.
    let mut migrating = sqlx::PgConnection::connect_with(&session(url_options.clone(), db, Duration::ZERO)).await?;
    MIGRATOR.run(&mut migrating).await?;
    migrating.close().await?;
    // Every statement is prepared once per connection and then runs its generic plan. Left to
    // choose, PostgreSQL kept planning the stats statement for each execution (custom plans
    // looked cheaper to it): 2.7 ms of planning for 0.5 ms of execution. Set in the start-up
    // packet, so it costs no round trip.
    let options = session(url_options, db, db.statement_timeout).options([("plan_cache_mode", "force_generic_plan")]);
    let pool = PgPoolOptions::new()
        .max_connections(db.max_connections.max(1))
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings a connection before every checkout by default: one more round trip per
        // statement, which doubled the latency of a stats read. A connection that died with
        // its server fails its next statement instead (a 503, retried) and is replaced.
        .test_before_acquire(false)
        .connect_with(options)
        .await?;
    Ok(SqlStore { fast: FastPaths::postgres(&pool), db: Db::Postgres(pool) })
}

/// The settings every connection of ccm's starts with (in the start-up packet, after any the URL
/// gives, so these win): a commit answers only once it is durable (`synchronous_commit = on`,
/// whatever the server's or the database's default), a statement is cancelled after
/// `statement_timeout` (zero: never), and a connection idle in a transaction is closed after
/// `idle_in_transaction_timeout`.
pub(crate) fn session(options: PgConnectOptions, db: &DbOptions, statement_timeout: Duration) -> PgConnectOptions {
    let ms = |d: Duration| d.as_millis().to_string();
    options.options([
        ("synchronous_commit", "on".to_string()),
        ("statement_timeout", ms(statement_timeout)),
        ("idle_in_transaction_session_timeout", ms(db.idle_in_transaction_timeout)),
    ])
}

/// Most statements one bulk stats read runs at once besides its bulk statement.
const READS_AT_ONCE: usize = 3;

/// Stats of many pipelines: the ones without branch filters in one statement (`bulk_stats_sql`),
/// beside the others, each in a statement of its own, a few at once.
pub(crate) struct BulkStats {
    pool: PgPool,
}

impl BulkStats {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// `PipelineStore::stats_snapshots` of `store`, whose database this is.
    pub(crate) async fn read(
        &self,
        store: &SqlStore,
        scopes: &[ExecutionScope],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<StatsSnapshot>> {
        let mut snapshots: Vec<Option<StatsSnapshot>> = vec![None; scopes.len()];
        let (plain, filtered): (Vec<usize>, Vec<usize>) =
            (0..scopes.len()).partition(|&i| scopes[i].branches.is_empty());
        // A few at a time: a long page must not take every connection from the batch writers.
        let reads: Vec<_> = filtered
            .iter()
            .map(|&i| async move { store.stats_snapshot(&scopes[i], now).await.map(|snapshot| (i, snapshot)) })
            .collect();
        let one_by_one = futures_util::stream::iter(reads).buffer_unordered(READS_AT_ONCE).try_collect::<Vec<_>>();
        let together = async {
            if plain.is_empty() {
                return Ok(Vec::new());
            }
            let repos: Vec<String> = plain.iter().map(|&i| scopes[i].repository.to_lowercase()).collect();
            let workflows: Vec<String> = plain.iter().map(|&i| scopes[i].workflow_path.clone()).collect();
            let mut query = sqlx::query(sqlx::AssertSqlSafe(bulk_stats_sql())).bind(repos).bind(workflows);
            for at in StatsBounds::at(now).in_order() {
                query = query.bind(at);
            }
            query.fetch_all(&self.pool).await.map_err(StoreError::from)
        };
        let (read_alone, rows) = futures_util::try_join!(one_by_one, together)?;
        for (i, snapshot) in read_alone {
            snapshots[i] = Some(snapshot);
        }
        for row in rows.into_iter().map(Row::Postgres) {
            let index: i64 = row.get("scope_index")?;
            let slot = usize::try_from(index - 1).ok().and_then(|k| plain.get(k)).copied();
            if let Some(i) = slot {
                snapshots[i] = Some(snapshot_from_row(&row)?);
            }
        }
        snapshots.into_iter().map(|s| s.ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))).collect()
    }
}
