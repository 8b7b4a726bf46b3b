//! Pipelines, their executions and the audit log.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::db::{On, Query, Row, query};
use super::filters::Filters;
use crate::store::rows::{ReadRow, column_names};
use crate::store::*;

mod listing;
mod runs;
mod stats;

pub(crate) use listing::{
    from_oldest, pipeline_count_sql, pipeline_listing_sql, pipeline_page_from_oldest_sql, pipeline_page_sql,
};
pub(crate) use runs::{
    EXECUTION_CONFLICT, JOB_CONFLICT, UPSERT_JOB_SQL, applied_jobs, applied_records, job_address, latest_attempts,
    latest_jobs, record_address, upsert_execution, upsert_executions, upsert_executions_sql, upsert_job,
};
pub use stats::PipelineFlags;
pub(crate) use stats::{
    PIPELINE_FLAG_COLUMNS, StatsBounds, bulk_stats_sql, pipeline_for_stats_sql, pipeline_with_stats_sql, scope_clause,
    scope_query, snapshot_from_row, stats_sql,
};

#[async_trait]
pub trait PipelineStore {
    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    /// Inserts a new pipeline and its audit entry in one transaction.
    /// Fails with `Conflict` when the repository and workflow file already have a pipeline.
    async fn create_pipeline(&self, pipeline: &Pipeline, audit: &NewAudit) -> StoreResult<()>;

    async fn get_pipeline(&self, id: &str) -> StoreResult<Option<Pipeline>>;

    /// A pipeline and its flags (a backfill running, open alerts), in one statement (what a
    /// stats request needs besides the stats).
    async fn get_pipeline_for_stats(&self, id: &str) -> StoreResult<Option<(Pipeline, PipelineFlags)>>;

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

    /// Records a job of a run attempt; like executions, a job never moves backwards.
    async fn upsert_job(&self, job: &JobRecord) -> StoreResult<bool>;

    async fn get_execution(&self, run_id: i64, run_attempt: i64) -> StoreResult<Option<Execution>>;

    async fn get_workflow_job(&self, job_id: i64) -> StoreResult<Option<Job>>;

    /// The jobs of a run attempt, in the order they started.
    async fn list_jobs(&self, run_id: i64, run_attempt: i64) -> StoreResult<Vec<Job>>;

    /// Executions of a pipeline's scope, newest first.
    async fn list_executions(&self, scope: &ExecutionScope, limit: i64, offset: i64) -> StoreResult<Page<Execution>>;

    /// The figures the stats endpoint and the health score are computed from.
    async fn stats_snapshot(&self, scope: &ExecutionScope, now: DateTime<Utc>) -> StoreResult<StatsSnapshot>;

    /// A pipeline, whether a history backfill of it runs, and the stats of `scope` (the scope the
    /// caller expects it to have: compare with its `execution_scope()`), in one statement.
    async fn pipeline_with_stats(
        &self,
        id: &str,
        scope: &ExecutionScope,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(Pipeline, PipelineFlags, StatsSnapshot)>>;

    /// `stats_snapshot` of each scope, in order; cheaper than one call each (the live publisher
    /// reads dozens of pipelines' stats at once).
    async fn stats_snapshots(&self, scopes: &[ExecutionScope], now: DateTime<Utc>) -> StoreResult<Vec<StatsSnapshot>>;

    /// The run of `scope` queued or in progress the longest (the one `run_stuck` rules watch).
    async fn oldest_open_run(&self, scope: &ExecutionScope) -> StoreResult<Option<Execution>>;

    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Page<AuditRecord>>;
}

pub(crate) async fn insert_audit(on: impl Into<On<'_>>, audit: &NewAudit) -> StoreResult<()> {
    query("INSERT INTO audit_log (at, actor, action, pipeline_id, details) VALUES ($1, $2, $3, $4, $5)")
        .bind(crate::domain::clock::now())
        .bind(&audit.actor)
        .bind(&audit.action)
        .bind(&audit.pipeline_id)
        .bind(&audit.details)
        .execute(on)
        .await?;
    Ok(())
}

/// `SELECT` of a row's columns from `rest` (`FROM ...`).
fn select<R: ReadRow>(rest: &str) -> Query<'static> {
    query(AssertSqlSafe(format!("SELECT {} {rest}", column_names(R::COLUMNS))))
}

#[async_trait]
impl PipelineStore for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        query("SELECT 1").execute(&self.db).await?;
        Ok(())
    }

    async fn create_pipeline(&self, p: &Pipeline, audit: &NewAudit) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        query(
            "INSERT INTO pipelines (id, repository, repo_key, workflow_file, status, config, \
               linked_domain, linked_app, version, created_at, updated_at, deactivated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&p.id)
        .bind(&p.repository)
        .bind(p.repository.to_lowercase())
        .bind(&p.workflow_file)
        .bind(p.status.as_str())
        .bind(&p.config.0)
        .bind(&p.linked_domain)
        .bind(&p.linked_app)
        .bind(p.version)
        .bind(p.created_at)
        .bind(p.updated_at)
        .bind(p.deactivated_at)
        .execute(&mut tx)
        .await
        .map_err(classify)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_pipeline(&self, id: &str) -> StoreResult<Option<Pipeline>> {
        if let Some(reader) = &self.fast.inline_reader {
            return reader.get_pipeline(id);
        }
        Ok(select::<Pipeline>("FROM pipelines WHERE id = $1").bind(id).fetch_optional(&self.db).await?)
    }

    async fn get_pipeline_for_stats(&self, id: &str) -> StoreResult<Option<(Pipeline, PipelineFlags)>> {
        if let Some(reader) = &self.fast.inline_reader {
            return reader.get_pipeline_for_stats(id);
        }
        let row = query(AssertSqlSafe(pipeline_for_stats_sql())).bind(id).row(&self.db).await?;
        row.map(|row| Ok((row.read(0)?, PipelineFlags::from_row(&row)?))).transpose()
    }

    async fn find_pipeline(&self, repository: &str, workflow_file: &str) -> StoreResult<Option<Pipeline>> {
        Ok(select::<Pipeline>("FROM pipelines WHERE repo_key = $1 AND workflow_file = $2")
            .bind(repository.to_lowercase())
            .bind(workflow_file)
            .fetch_optional(&self.db)
            .await?)
    }

    async fn list_pipelines(&self, f: &PipelineFilter) -> StoreResult<Page<Pipeline>> {
        if let Some(reader) = &self.fast.inline_reader {
            return reader.list_pipelines(f);
        }
        let repo_key = f.repository.as_ref().map(|r| r.to_lowercase());
        let query = query(AssertSqlSafe(pipeline_listing_sql(f)))
            .bind_all([f.status.map(|s| s.as_str()), repo_key.as_deref()].into_iter().flatten());
        let rows = match &f.after {
            None => query.bind(f.offset),
            Some((created_at, id)) => query.bind(*created_at).bind(id),
        }
        .rows(&self.db)
        .await?;
        let total: i64 = rows.first().map(|row| row.get("total")).transpose()?.unwrap_or(0);
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            // An empty page is one row of NULLs beside the count.
            if row.get::<Option<String>>("id")?.is_some() {
                items.push(row.read(1)?);
            }
        }
        Ok(Page { items, total })
    }

    async fn save_pipeline(&self, p: &Pipeline, audit: &NewAudit) -> StoreResult<Option<Pipeline>> {
        let mut tx = self.db.begin().await?;
        let sql = format!(
            "UPDATE pipelines SET status = $2, config = $3, linked_domain = $4, linked_app = $5, \
               updated_at = $6, deactivated_at = $7, version = version + 1 \
             WHERE id = $1 AND version = $8 RETURNING {}",
            column_names(Pipeline::COLUMNS)
        );
        let saved: Option<Pipeline> = query(AssertSqlSafe(sql))
            .bind(&p.id)
            .bind(p.status.as_str())
            .bind(&p.config.0)
            .bind(&p.linked_domain)
            .bind(&p.linked_app)
            .bind(p.updated_at)
            .bind(p.deactivated_at)
            .bind(p.version)
            .fetch_optional(&mut tx)
            .await?;
        if saved.is_some() {
            insert_audit(&mut tx, audit).await?;
            tx.commit().await?;
        }
        Ok(saved)
    }

    async fn upsert_execution(&self, e: &ExecutionRecord) -> StoreResult<bool> {
        upsert_execution(&self.db, e).await
    }

    async fn upsert_job(&self, job: &JobRecord) -> StoreResult<bool> {
        upsert_job(&self.db, job).await
    }

    async fn get_execution(&self, run_id: i64, run_attempt: i64) -> StoreResult<Option<Execution>> {
        Ok(select::<Execution>("FROM executions WHERE run_id = $1 AND run_attempt = $2")
            .bind(run_id)
            .bind(run_attempt)
            .fetch_optional(&self.db)
            .await?)
    }

    async fn get_workflow_job(&self, job_id: i64) -> StoreResult<Option<Job>> {
        Ok(select::<Job>("FROM jobs WHERE job_id = $1").bind(job_id).fetch_optional(&self.db).await?)
    }

    async fn list_jobs(&self, run_id: i64, run_attempt: i64) -> StoreResult<Vec<Job>> {
        Ok(select::<Job>("FROM jobs WHERE run_id = $1 AND run_attempt = $2 ORDER BY started_at, job_id")
            .bind(run_id)
            .bind(run_attempt)
            .fetch_all(&self.db)
            .await?)
    }

    async fn list_executions(&self, scope: &ExecutionScope, limit: i64, offset: i64) -> StoreResult<Page<Execution>> {
        let clause = scope_clause(scope, 3);
        let count_sql = format!("SELECT COUNT(*) FROM executions WHERE {clause}");
        let (total,): (i64,) = scope_query(count_sql, scope).fetch_one(&self.db).await?;
        let n = 3 + scope.branches.len();
        let sql = format!(
            "SELECT {} FROM executions WHERE {clause} \
             ORDER BY started_at DESC, run_id DESC, run_attempt DESC LIMIT ${n} OFFSET ${}",
            column_names(Execution::COLUMNS),
            n + 1
        );
        let items = scope_query(sql, scope).bind(limit).bind(offset).fetch_all(&self.db).await?;
        Ok(Page { items, total })
    }

    async fn stats_snapshot(&self, scope: &ExecutionScope, now: DateTime<Utc>) -> StoreResult<StatsSnapshot> {
        if let Some(reader) = &self.fast.inline_reader {
            return reader.stats_snapshot(scope, now);
        }
        let row = stats::stats_query(stats_sql(scope), scope, now).row(&self.db).await?;
        snapshot_from_row(&row.ok_or(sqlx::Error::RowNotFound)?)
    }

    async fn pipeline_with_stats(
        &self,
        id: &str,
        scope: &ExecutionScope,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(Pipeline, PipelineFlags, StatsSnapshot)>> {
        if let Some(reader) = &self.fast.inline_reader {
            let Some((pipeline, backfill)) = reader.get_pipeline_for_stats(id)? else { return Ok(None) };
            return Ok(Some((pipeline, backfill, reader.stats_snapshot(scope, now)?)));
        }
        let query = stats::stats_query(pipeline_with_stats_sql(scope), scope, now).bind(id);
        let Some(row) = query.row(&self.db).await? else { return Ok(None) };
        Ok(Some((pipeline_beside_stats(&row)?, PipelineFlags::from_row(&row)?, snapshot_from_row(&row)?)))
    }

    async fn stats_snapshots(&self, scopes: &[ExecutionScope], now: DateTime<Utc>) -> StoreResult<Vec<StatsSnapshot>> {
        if let Some(bulk) = &self.fast.bulk_stats {
            return bulk.read(self, scopes, now).await;
        }
        // One after the other: on SQLite inline reads cost no round trip.
        let mut snapshots = Vec::with_capacity(scopes.len());
        for scope in scopes {
            snapshots.push(self.stats_snapshot(scope, now).await?);
        }
        Ok(snapshots)
    }

    async fn oldest_open_run(&self, scope: &ExecutionScope) -> StoreResult<Option<Execution>> {
        let sql = format!(
            "SELECT {} FROM executions WHERE {} AND status <> 'completed' \
             ORDER BY started_at, run_id, run_attempt LIMIT 1",
            column_names(Execution::COLUMNS),
            scope_clause(scope, 3)
        );
        Ok(scope_query(sql, scope).fetch_optional(&self.db).await?)
    }

    async fn list_audit(&self, f: &AuditFilter) -> StoreResult<Page<AuditRecord>> {
        let filters = Filters::new(&[("pipeline_id", f.pipeline_id.as_deref()), ("action", f.action.as_deref())]);
        filters.page(&self.db, "audit_log", "id DESC", f.limit, f.offset).await
    }
}

/// The pipeline of a `pipeline_with_stats_sql` row: its columns before its flags, the last.
fn pipeline_beside_stats(row: &Row) -> StoreResult<Pipeline> {
    Ok(row.read(row.len() - Pipeline::COLUMNS.len() - PIPELINE_FLAG_COLUMNS)?)
}
