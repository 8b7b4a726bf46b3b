//! Retention (issue 18): counting and deleting what is older than each kind's cut-off, in small
//! batches, each its own short transaction (on SQLite the single writer is held for one batch
//! only, so ingest waits at most that long). What is never pruned, however old: deliveries still to
//! process and each repository's newest delivery (the stats' `last_delivery_at`), open runs and the
//! ten newest completed runs of each pipeline scope and branch (the stats' last runs), unfinished
//! outbound jobs. Runs are deleted with a `retention_marker` row in the transaction, which makes
//! the roll-up trigger leave `execution_hours` as it was (migrations 0013 / 0015): pruning never
//! changes a stats answer.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::db::{Db, query};
use crate::domain::retention::{PRUNED_BODY_ENCODING, PruneKind};
use crate::domain::status::{JobLogState, NotificationStatus};
use crate::store::{SqlStore, StoreResult};

/// What one batch deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Rows of the kind pruned (bodies emptied, for `PruneKind::Bodies`).
    pub rows: u64,
    /// Jobs of the executions pruned (`PruneKind::Runs` only).
    pub jobs: u64,
}

#[async_trait]
pub trait RetentionStore {
    /// How many rows of `kind` are old enough to prune (older than `before`) and not kept.
    async fn prunable(&self, kind: PruneKind, before: DateTime<Utc>) -> StoreResult<u64>;

    /// Prunes at most `limit` of them, the oldest first, in one transaction.
    async fn prune_batch(&self, kind: PruneKind, before: DateTime<Utc>, limit: u32) -> StoreResult<Pruned>;

    /// Takes (or extends) the pruner's lease for `holder` until `until`, unless another holder's
    /// lease runs past `now`: one replica prunes at a time.
    async fn take_retention_lease(&self, holder: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> StoreResult<bool>;

    async fn release_retention_lease(&self, holder: &str) -> StoreResult<()>;

    /// SQLite: gives the pages freed by pruning back to the file system (`PRAGMA
    /// incremental_vacuum`). Nothing on PostgreSQL (autovacuum reuses the space).
    async fn reclaim_space(&self) -> StoreResult<()>;

    /// SQLite: switches a database created before auto_vacuum was set to `incremental` (a
    /// one-time `VACUUM`, which rewrites the file); true when it did. False on PostgreSQL and
    /// when already incremental.
    async fn enable_incremental_vacuum(&self) -> StoreResult<bool>;
}

/// Deliveries that are not pruned, whatever their age: still to process.
const DELIVERY_DONE: &str = "status NOT IN ('pending', 'failed')";

/// The `WHERE` of the rows of `kind` that are old enough (`$1`) and not kept (aliased `t`).
fn prunable_clause(kind: PruneKind) -> String {
    match kind {
        PruneKind::Bodies => {
            format!("t.body_encoding <> '{PRUNED_BODY_ENCODING}' AND t.received_at < $1 AND t.{DELIVERY_DONE}")
        }
        // Each repository's newest delivery stays: the stats show when it arrived.
        PruneKind::Deliveries => format!(
            "t.received_at < $1 AND t.{DELIVERY_DONE} AND (t.repo_key IS NULL OR EXISTS \
               (SELECT 1 FROM deliveries n WHERE n.repo_key = t.repo_key AND n.received_at > t.received_at))"
        ),
        // Ten newer counted runs in its pipeline scope and branch: the run is in none of the
        // stats' last runs, whatever branches a pipeline filters on.
        PruneKind::Runs => "t.status = 'completed' AND t.started_at < $1 AND \
             (SELECT COUNT(*) FROM (SELECT 1 AS one FROM executions n \
                WHERE n.repo_key = t.repo_key AND n.workflow_path = t.workflow_path \
                  AND COALESCE(n.branch, '') = COALESCE(t.branch, '') AND n.status = 'completed' \
                  AND COALESCE(n.conclusion, '') <> 'skipped' AND n.started_at > t.started_at LIMIT 10) r) >= 10"
            .to_string(),
        // Only the stored logs: a record without a log (expired, evicted, pruned) has none to take.
        PruneKind::JobLogs => format!("t.state = '{}' AND t.fetched_at < $1", JobLogState::Stored.as_str()),
        PruneKind::Outbox => "t.status IN ('done', 'failed') AND t.finished_at < $1".to_string(),
        // Given up or sent: a notification is finished within CCM_ALERT_RETRY_FOR of its creation.
        PruneKind::Notifications => format!(
            "t.status IN ('{}', '{}') AND t.created_at < $1",
            NotificationStatus::Sent.as_str(),
            NotificationStatus::Failed.as_str()
        ),
        PruneKind::Audit => "t.at < $1".to_string(),
    }
}

/// The table of `kind`, its key and the column its age is read from.
fn table(kind: PruneKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        PruneKind::Bodies | PruneKind::Deliveries => ("deliveries", "id", "received_at"),
        PruneKind::Runs => ("executions", "id", "started_at"),
        PruneKind::JobLogs => ("job_logs", "job_id", "fetched_at"),
        PruneKind::Notifications => ("alert_notifications", "id", "created_at"),
        PruneKind::Outbox => ("outbox_jobs", "id", "finished_at"),
        PruneKind::Audit => ("audit_log", "id", "at"),
    }
}

/// The keys of a batch: at most `$2` of the rows old enough (`$1`), the oldest first.
fn batch_sql(kind: PruneKind) -> String {
    let (table, key, age) = table(kind);
    format!("SELECT t.{key} FROM {table} t WHERE {} ORDER BY t.{age} LIMIT $2", prunable_clause(kind))
}

fn placeholders(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

#[async_trait]
impl RetentionStore for SqlStore {
    async fn prunable(&self, kind: PruneKind, before: DateTime<Utc>) -> StoreResult<u64> {
        let (table, _, _) = table(kind);
        let sql = format!("SELECT COUNT(*) FROM {table} t WHERE {}", prunable_clause(kind));
        let (count,): (i64,) = query(AssertSqlSafe(sql)).bind(before).fetch_one(&self.db).await?;
        Ok(count as u64)
    }

    async fn prune_batch(&self, kind: PruneKind, before: DateTime<Utc>, limit: u32) -> StoreResult<Pruned> {
        let mut tx = self.db.begin().await?;
        let ids: Vec<(i64,)> =
            query(AssertSqlSafe(batch_sql(kind))).bind(before).bind(i64::from(limit)).fetch_all(&mut tx).await?;
        let ids: Vec<i64> = ids.into_iter().map(|(id,)| id).collect();
        if ids.is_empty() {
            return Ok(Pruned::default());
        }
        let within = placeholders(ids.len());
        let (table, key, _) = table(kind);
        let mut pruned = Pruned::default();
        match kind {
            PruneKind::Bodies => {
                // An empty body of the column's own type on both databases.
                let sql = format!(
                    "UPDATE deliveries SET body = substr(body, 1, 0), body_encoding = '{PRUNED_BODY_ENCODING}' \
                     WHERE id IN ({within})"
                );
                pruned.rows = query(AssertSqlSafe(sql)).bind_all(ids.iter().copied()).execute(&mut tx).await?;
            }
            PruneKind::Runs => {
                query("INSERT INTO retention_marker (pruning) VALUES (1)").execute(&mut tx).await?;
                let runs = format!("SELECT run_id, run_attempt FROM executions WHERE id IN ({within})");
                for owned in ["jobs", "run_checks", "job_logs", "job_listings"] {
                    let sql = format!("DELETE FROM {owned} WHERE (run_id, run_attempt) IN ({runs})");
                    let deleted = query(AssertSqlSafe(sql)).bind_all(ids.iter().copied()).execute(&mut tx).await?;
                    if owned == "jobs" {
                        pruned.jobs = deleted;
                    }
                }
                let sql = format!("DELETE FROM executions WHERE id IN ({within})");
                pruned.rows = query(AssertSqlSafe(sql)).bind_all(ids.iter().copied()).execute(&mut tx).await?;
                query("DELETE FROM retention_marker").execute(&mut tx).await?;
            }
            PruneKind::JobLogs => {
                // The record stays, as an evicted log's does: the job's log state reads `pruned`
                // and its failure reason (failed step, error message) still explains the run.
                let sql = format!(
                    "UPDATE job_logs SET state = '{}', reason = 'older than CCM_RETAIN_JOB_LOGS (pruned by retention)', \
                     log = NULL, stored_bytes = 0 WHERE job_id IN ({within})",
                    JobLogState::Pruned.as_str()
                );
                pruned.rows = query(AssertSqlSafe(sql)).bind_all(ids.iter().copied()).execute(&mut tx).await?;
            }
            PruneKind::Deliveries | PruneKind::Outbox | PruneKind::Notifications | PruneKind::Audit => {
                let sql = format!("DELETE FROM {table} WHERE {key} IN ({within})");
                pruned.rows = query(AssertSqlSafe(sql)).bind_all(ids.iter().copied()).execute(&mut tx).await?;
            }
        }
        tx.commit().await?;
        Ok(pruned)
    }

    async fn take_retention_lease(&self, holder: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> StoreResult<bool> {
        let taken = query(
            "UPDATE retention_lease SET holder = $1, until = $2 \
             WHERE id = 1 AND (holder IS NULL OR holder = $1 OR until < $3)",
        )
        .bind(holder)
        .bind(until)
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(taken == 1)
    }

    async fn release_retention_lease(&self, holder: &str) -> StoreResult<()> {
        query("UPDATE retention_lease SET holder = NULL WHERE id = 1 AND holder = $1")
            .bind(holder)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    async fn reclaim_space(&self) -> StoreResult<()> {
        if let Db::Sqlite(pool) = &self.db {
            sqlx::query("PRAGMA incremental_vacuum").execute(pool).await?;
        }
        Ok(())
    }

    async fn enable_incremental_vacuum(&self) -> StoreResult<bool> {
        let Db::Sqlite(pool) = &self.db else { return Ok(false) };
        let mut conn = pool.acquire().await?;
        let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum").fetch_one(&mut *conn).await?;
        // 2: incremental.
        if mode == 2 {
            return Ok(false);
        }
        sqlx::query("PRAGMA auto_vacuum = INCREMENTAL").execute(&mut *conn).await?;
        sqlx::query("VACUUM").execute(&mut *conn).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_take_the_oldest_first_and_bind_the_cutoff_and_the_size() {
        for kind in PruneKind::ALL {
            let sql = batch_sql(kind);
            assert!(sql.contains("< $1"), "{sql}");
            assert!(sql.ends_with("LIMIT $2"), "{sql}");
        }
        assert_eq!(placeholders(3), "$1, $2, $3");
    }
}
