//! PostgreSQL, for production: several ccm replicas may share one database.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

pub struct PostgresStore {
    pub(crate) pool: PgPool,
}

impl PostgresStore {
    /// PostgreSQL reads all go through the pool (see `SqliteStore::inline_reader`).
    pub(crate) fn inline_reader(&self) -> Option<&super::sqlite_reads::SqliteReader> {
        None
    }

    /// Connects to a `postgres://` URL and applies migrations (sqlx takes an advisory lock, so
    /// replicas starting together migrate once).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, super::StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings a connection before every checkout by default: one more round trip per
            // statement, which doubled the latency of a stats read. A connection that died with
            // its server fails its next statement instead (a 503, retried) and is replaced.
            .test_before_acquire(false)
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl super::Store for PostgresStore {
    fn backend(&self) -> super::Backend {
        super::Backend::Postgres
    }

    fn postgres_pool(&self) -> Option<sqlx::PgPool> {
        Some(self.pool.clone())
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
