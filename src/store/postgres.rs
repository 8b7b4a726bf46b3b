//! PostgreSQL, for production: several ccm replicas may share one database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub struct PostgresStore {
    pub(crate) pool: PgPool,
}

/// Most statements one bulk stats read runs at once besides its bulk statement.
const READS_AT_ONCE: usize = 3;

impl PostgresStore {
    /// Connects to a `postgres://` URL and applies migrations (sqlx takes an advisory lock, so
    /// replicas starting together migrate once).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, super::StoreError> {
        // Every statement is prepared once per connection and then runs its generic plan. Left to
        // choose, PostgreSQL kept planning the stats statement for each execution (custom plans
        // looked cheaper to it): 2.7 ms of planning for 0.5 ms of execution. Set in the start-up
        // packet, so it costs no round trip.
        let options = PgConnectOptions::from_str(url)?.options([("plan_cache_mode", "force_generic_plan")]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings a connection before every checkout by default: one more round trip per
            // statement, which doubled the latency of a stats read. A connection that died with
            // its server fails its next statement instead (a 503, retried) and is replaced.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl super::FastPaths for PostgresStore {
    /// Stores a batch of runs in one statement (see `postgres_batch`); None for any other batch.
    async fn store_at_once(
        &self,
        batch: &[super::IncomingDelivery],
        settled: &[super::deliveries::Settled],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<super::deliveries::StoredBatch>, super::StoreError> {
        if !super::postgres_batch::takes(batch) {
            return Ok(None);
        }
        super::postgres_batch::store(&self.pool, batch, settled, now).await.map(Some)
    }

    /// Stats of many pipelines: the ones without branch filters in one statement
    /// (`bulk_stats_sql`), beside the others, each in a statement of its own, a few at once.
    async fn stats_in_bulk(
        &self,
        scopes: &[super::ExecutionScope],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<super::StatsSnapshot>, super::StoreError> {
        use super::PipelineStore;
        use futures_util::{StreamExt, TryStreamExt};
        use sqlx::Row;
        let mut snapshots: Vec<Option<super::StatsSnapshot>> = vec![None; scopes.len()];
        let (plain, filtered): (Vec<usize>, Vec<usize>) =
            (0..scopes.len()).partition(|&i| scopes[i].branches.is_empty());
        // A few at a time: a long page must not take every connection from the batch writers.
        let reads: Vec<_> = filtered
            .iter()
            .map(|&i| async move { self.stats_snapshot(&scopes[i], now).await.map(|snapshot| (i, snapshot)) })
            .collect();
        let one_by_one = futures_util::stream::iter(reads).buffer_unordered(READS_AT_ONCE).try_collect::<Vec<_>>();
        let together = async {
            if plain.is_empty() {
                return Ok(Vec::new());
            }
            let repos: Vec<String> = plain.iter().map(|&i| scopes[i].repository.to_lowercase()).collect();
            let workflows: Vec<String> = plain.iter().map(|&i| scopes[i].workflow_path.clone()).collect();
            let query =
                sqlx::query(sqlx::AssertSqlSafe(super::pipelines::bulk_stats_sql())).bind(repos).bind(workflows);
            pipelines::bind_windows(query, now).fetch_all(&self.pool).await.map_err(super::StoreError::from)
        };
        let (read_alone, rows) = futures_util::try_join!(one_by_one, together)?;
        for (i, snapshot) in read_alone {
            snapshots[i] = Some(snapshot);
        }
        for row in rows {
            let index: i64 = row.try_get("scope_index")?;
            let slot = usize::try_from(index - 1).ok().and_then(|k| plain.get(k)).copied();
            if let Some(i) = slot {
                snapshots[i] = Some(pipelines::snapshot_from_row(&row)?);
            }
        }
        snapshots.into_iter().map(|s| s.ok_or_else(|| super::StoreError::Database(sqlx::Error::RowNotFound))).collect()
    }
}

impl super::Store for PostgresStore {
    fn backend(&self) -> super::Backend {
        super::Backend::Postgres
    }

    fn replica_channel(&self) -> Option<super::ReplicaChannel> {
        Some(super::ReplicaChannel::new(self.pool.clone()))
    }
}

mod pipelines {
    use super::PostgresStore;
    crate::store::pipelines::pipeline_sql!(PostgresStore, sqlx::Postgres);
}

mod installations {
    use super::PostgresStore;
    crate::store::installations::installation_sql!(PostgresStore, sqlx::Postgres);
}

mod deliveries {
    use super::PostgresStore;
    crate::store::deliveries::delivery_sql!(PostgresStore, sqlx::Postgres, "FOR UPDATE SKIP LOCKED");
}

mod outbox {
    use super::PostgresStore;
    crate::store::outbox::outbox_sql!(PostgresStore, sqlx::Postgres, "FOR UPDATE SKIP LOCKED");
}

mod github {
    use super::PostgresStore;
    crate::store::github::github_sql!(PostgresStore, sqlx::Postgres);
}

mod tasks {
    use super::PostgresStore;
    crate::store::tasks::task_sql!(PostgresStore, sqlx::Postgres);
}

mod gauges {
    use super::PostgresStore;
    crate::store::gauges::gauge_sql!(PostgresStore);
}
