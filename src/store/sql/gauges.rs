//! Counts that `/metrics` reads at scrape time. Each query is answered from an index (partial
//! or on `status`), so a scrape stays cheap however long the history grows.

use async_trait::async_trait;

use super::db::query;
use crate::store::{SqlStore, StoreResult};

/// Rows by status, for the statuses each gauge reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GaugeCounts {
    pub pipelines: Vec<(String, i64)>,
    /// Deliveries pending, failed or parked.
    pub deliveries: Vec<(String, i64)>,
    /// Outbox jobs pending, running or failed.
    pub outbox: Vec<(String, i64)>,
    /// Runs not completed, by status.
    pub open_runs: Vec<(String, i64)>,
}

#[async_trait]
pub trait GaugeStore {
    async fn gauge_counts(&self) -> StoreResult<GaugeCounts>;
}

#[async_trait]
impl GaugeStore for SqlStore {
    async fn gauge_counts(&self) -> StoreResult<GaugeCounts> {
        let pipelines = query("SELECT status, COUNT(*) FROM pipelines GROUP BY status").fetch_all(&self.db).await?;
        let deliveries = query(
            "SELECT status, COUNT(*) FROM deliveries WHERE status IN ('pending', 'failed', 'parked') \
             GROUP BY status",
        )
        .fetch_all(&self.db)
        .await?;
        let outbox = query(
            "SELECT status, COUNT(*) FROM outbox_jobs WHERE status IN ('pending', 'running', 'failed') \
             GROUP BY status",
        )
        .fetch_all(&self.db)
        .await?;
        let open_runs = query("SELECT status, COUNT(*) FROM executions WHERE status <> 'completed' GROUP BY status")
            .fetch_all(&self.db)
            .await?;
        Ok(GaugeCounts { pipelines, deliveries, outbox, open_runs })
    }
}
