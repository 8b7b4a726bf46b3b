//! Pipelines, their executions and the audit log.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::*;

mod listing;
mod runs;
mod stats;

pub(crate) use listing::{
    from_oldest, pipeline_count_sql, pipeline_listing_sql, pipeline_page_from_oldest_sql, pipeline_page_sql,
};
pub(crate) use runs::{
    EXECUTION_CONFLICT, JOB_CONFLICT, UPSERT_JOB_SQL, applied_jobs, applied_records, job_address, latest_attempts,
    latest_jobs, record_address, upsert_executions_sql,
};
pub(crate) use stats::{
    StatsBounds, bulk_stats_sql, pipeline_for_stats_sql, pipeline_with_stats_sql, scope_clause, stats_sql,
};

#[async_trait]
pub trait PipelineStore {
    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    /// Inserts a new pipeline and its audit entry in one transaction.
    /// Fails with `Conflict` when the repository and workflow file already have a pipeline.
    async fn create_pipeline(&self, pipeline: &Pipeline, audit: &NewAudit) -> StoreResult<()>;

    async fn get_pipeline(&self, id: &str) -> StoreResult<Option<Pipeline>>;

    /// A pipeline and whether a history backfill of it is running, in one statement (what a
    /// stats request needs besides the stats).
    async fn get_pipeline_for_stats(&self, id: &str) -> StoreResult<Option<(Pipeline, bool)>>;

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
    ) -> StoreResult<Option<(Pipeline, bool, StatsSnapshot)>>;

    /// `stats_snapshot` of each scope, in order; cheaper than one call each (the live publisher
    /// reads dozens of pipelines' stats at once).
    async fn stats_snapshots(&self, scopes: &[ExecutionScope], now: DateTime<Utc>) -> StoreResult<Vec<StatsSnapshot>>;

    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Page<AuditRecord>>;
}

macro_rules! pipeline_sql {
    ($store:ident, $db:ty) => {
        use chrono::{DateTime, Utc};
        use sqlx::{AssertSqlSafe, Row};
        use $crate::store::pipelines::{
            StatsBounds, UPSERT_JOB_SQL, latest_attempts, pipeline_for_stats_sql, pipeline_listing_sql,
            pipeline_with_stats_sql, scope_clause, stats_sql, upsert_executions_sql,
        };
        use $crate::store::rows::{ReadRow, WrittenRow, column_names, read_sqlx};
        use $crate::store::*;

        async fn insert_audit(tx: &mut sqlx::Transaction<'_, $db>, audit: &NewAudit) -> StoreResult<()> {
            sqlx::query("INSERT INTO audit_log (at, actor, action, pipeline_id, details) VALUES ($1, $2, $3, $4, $5)")
                .bind($crate::domain::clock::now())
                .bind(&audit.actor)
                .bind(&audit.action)
                .bind(&audit.pipeline_id)
                .bind(sqlx::types::Json(&audit.details))
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// See `PipelineStore::upsert_execution`; on an open connection or transaction.
        pub(in crate::store) async fn upsert_execution(
            conn: &mut <$db as sqlx::Database>::Connection,
            e: &ExecutionRecord,
        ) -> StoreResult<bool> {
            Ok(!upsert_executions(conn, &[e]).await?.is_empty())
        }

        /// Many run attempts in a few multi-row statements (see `chunks`).
        /// Records of the same attempt are merged first, keeping the most advanced one. Returns
        /// the attempts that were inserted or moved forward.
        pub(in crate::store) async fn upsert_executions(
            conn: &mut <$db as sqlx::Database>::Connection,
            records: &[&ExecutionRecord],
        ) -> StoreResult<Vec<(i64, i64)>> {
            let latest = latest_attempts(records);
            let mut moved = Vec::new();
            for chunk in $crate::store::chunks::statement_chunks::<$db, _>(&latest) {
                moved.extend(upsert_execution_chunk(conn, chunk).await?);
            }
            Ok(moved)
        }

        /// One multi-row upsert of distinct run attempts (see `chunks` for its sizes).
        async fn upsert_execution_chunk(
            conn: &mut <$db as sqlx::Database>::Connection,
            latest: &[&ExecutionRecord],
        ) -> StoreResult<Vec<(i64, i64)>> {
            let sql = upsert_executions_sql(latest.len());
            let now = $crate::domain::clock::now();
            let args = $crate::store::rows::arguments::<$db>(latest.iter().map(|e| e.cells(now)))?;
            Ok(sqlx::query_as_with::<_, (i64, i64), _>(AssertSqlSafe(sql), args).fetch_all(&mut *conn).await?)
        }

        /// See `PipelineStore::upsert_job`; on an open connection or transaction.
        pub(in crate::store) async fn upsert_job(
            conn: &mut <$db as sqlx::Database>::Connection,
            j: &JobRecord,
        ) -> StoreResult<bool> {
            let args = $crate::store::rows::arguments::<$db>([j.cells($crate::domain::clock::now())])?;
            let result = sqlx::query_with(UPSERT_JOB_SQL.as_str(), args).execute(&mut *conn).await?;
            Ok(result.rows_affected() > 0)
        }

        /// `query` with the stats windows at `now` bound as `$3`..`$7` (see `StatsBounds`).
        pub(in crate::store) fn bind_windows<'q>(
            query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
            now: DateTime<Utc>,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
            let bounds = StatsBounds::at(now);
            query
                .bind(bounds.day_ago)
                .bind(bounds.baseline_from)
                .bind(bounds.day_hours_from)
                .bind(bounds.day_hour)
                .bind(bounds.baseline_hours_from)
        }

        /// `sql` (`stats_sql` or a statement binding as it does) with the scope and the windows
        /// at `now` bound; the caller binds what follows the branches.
        fn stats_query<'q>(
            sql: String,
            scope: &'q ExecutionScope,
            now: DateTime<Utc>,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
            let query =
                sqlx::query(AssertSqlSafe(sql)).bind(scope.repository.to_lowercase()).bind(&scope.workflow_path);
            let mut query = bind_windows(query, now);
            for branch in &scope.branches {
                query = query.bind(branch);
            }
            query
        }

        /// The pipeline of a `pipeline_with_stats_sql` row: its columns before `backfill_running`,
        /// the last.
        fn pipeline_beside_stats(row: &<$db as sqlx::Database>::Row) -> StoreResult<Pipeline> {
            Ok(read_sqlx(row, row.len() - Pipeline::COLUMNS.len() - 1)?)
        }

        /// A row of `stats_sql` (or one starting with its columns) as the figures it holds.
        pub(in crate::store) fn snapshot_from_row(row: &<$db as sqlx::Database>::Row) -> StoreResult<StatsSnapshot> {
            let has_run = row.try_get::<Option<i64>, _>("run_id")?.is_some();
            let last_run = if has_run { Some(read_sqlx(row, 0)?) } else { None };
            let (jobs_total, jobs_completed, current_job) = if has_run {
                (row.try_get("jobs_total")?, row.try_get("jobs_completed")?, row.try_get("current_job")?)
            } else {
                (0, 0, None)
            };
            Ok(StatsSnapshot {
                runs_24h: row.try_get("runs")?,
                successes_24h: row.try_get("successes")?,
                avg_duration_24h: row.try_get("avg_duration")?,
                avg_duration_baseline: row.try_get("baseline")?,
                recent_runs: row.try_get("recent_runs")?,
                recent_successes: row.try_get("recent_successes")?,
                last_conclusion: row.try_get("last_conclusion")?,
                active_runs: row.try_get("active")?,
                queued_runs: row.try_get("queued")?,
                last_run,
                jobs_total,
                jobs_completed,
                current_job,
                last_delivery_at: row.try_get("last_delivery")?,
            })
        }

        #[async_trait::async_trait]
        impl PipelineStore for $store {
            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn create_pipeline(&self, p: &Pipeline, audit: &NewAudit) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO pipelines (id, repository, repo_key, workflow_file, status, config, \
                       linked_domain, linked_app, version, created_at, updated_at, deactivated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(&p.id)
                .bind(&p.repository)
                .bind(p.repository.to_lowercase())
                .bind(&p.workflow_file)
                .bind(&p.status)
                .bind(&p.config)
                .bind(&p.linked_domain)
                .bind(&p.linked_app)
                .bind(p.version)
                .bind(p.created_at)
                .bind(p.updated_at)
                .bind(p.deactivated_at)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_pipeline(&self, id: &str) -> StoreResult<Option<Pipeline>> {
                if let Some(reader) = self.inline_reader() {
                    return reader.get_pipeline(id);
                }
                let sql = format!("SELECT {} FROM pipelines WHERE id = $1", column_names(Pipeline::COLUMNS));
                Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?)
            }

            async fn get_pipeline_for_stats(&self, id: &str) -> StoreResult<Option<(Pipeline, bool)>> {
                if let Some(reader) = self.inline_reader() {
                    return reader.get_pipeline_for_stats(id);
                }
                let row =
                    sqlx::query(AssertSqlSafe(pipeline_for_stats_sql())).bind(id).fetch_optional(&self.pool).await?;
                row.map(|row| Ok((read_sqlx(&row, 0)?, row.try_get::<bool, _>("backfill_running")?))).transpose()
            }

            async fn find_pipeline(&self, repository: &str, workflow_file: &str) -> StoreResult<Option<Pipeline>> {
                let sql = format!(
                    "SELECT {} FROM pipelines WHERE repo_key = $1 AND workflow_file = $2",
                    column_names(Pipeline::COLUMNS)
                );
                Ok(sqlx::query_as(AssertSqlSafe(sql))
                    .bind(repository.to_lowercase())
                    .bind(workflow_file)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_pipelines(&self, f: &PipelineFilter) -> StoreResult<Page<Pipeline>> {
                if let Some(reader) = self.inline_reader() {
                    return reader.list_pipelines(f);
                }
                let repo_key = f.repository.as_ref().map(|r| r.to_lowercase());
                let mut query = sqlx::query(AssertSqlSafe(pipeline_listing_sql(f)));
                for value in [f.status.map(|s| s.as_str()), repo_key.as_deref()].into_iter().flatten() {
                    query = query.bind(value);
                }
                let rows = match &f.after {
                    None => query.bind(f.offset),
                    Some((created_at, id)) => query.bind(*created_at).bind(id),
                }
                .fetch_all(&self.pool)
                .await?;
                let total: i64 = rows.first().map(|row| row.try_get("total")).transpose()?.unwrap_or(0);
                let mut items = Vec::with_capacity(rows.len());
                for row in &rows {
                    // An empty page is one row of NULLs beside the count.
                    if row.try_get::<Option<String>, _>("id")?.is_some() {
                        items.push(read_sqlx(row, 1)?);
                    }
                }
                Ok(Page { items, total })
            }

            async fn save_pipeline(&self, p: &Pipeline, audit: &NewAudit) -> StoreResult<Option<Pipeline>> {
                let mut tx = self.pool.begin().await?;
                let sql = format!(
                    "UPDATE pipelines SET status = $2, config = $3, linked_domain = $4, linked_app = $5, \
                       updated_at = $6, deactivated_at = $7, version = version + 1 \
                     WHERE id = $1 AND version = $8 RETURNING {}",
                    column_names(Pipeline::COLUMNS)
                );
                let saved: Option<Pipeline> = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(&p.id)
                    .bind(&p.status)
                    .bind(&p.config)
                    .bind(&p.linked_domain)
                    .bind(&p.linked_app)
                    .bind(p.updated_at)
                    .bind(p.deactivated_at)
                    .bind(p.version)
                    .fetch_optional(&mut *tx)
                    .await?;
                if saved.is_some() {
                    insert_audit(&mut tx, audit).await?;
                    tx.commit().await?;
                }
                Ok(saved)
            }

            async fn upsert_execution(&self, e: &ExecutionRecord) -> StoreResult<bool> {
                let mut conn = self.pool.acquire().await?;
                upsert_execution(&mut conn, e).await
            }

            async fn upsert_job(&self, job: &JobRecord) -> StoreResult<bool> {
                let mut conn = self.pool.acquire().await?;
                upsert_job(&mut conn, job).await
            }

            async fn get_execution(&self, run_id: i64, run_attempt: i64) -> StoreResult<Option<Execution>> {
                let sql = format!(
                    "SELECT {} FROM executions WHERE run_id = $1 AND run_attempt = $2",
                    column_names(Execution::COLUMNS)
                );
                Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(run_id).bind(run_attempt).fetch_optional(&self.pool).await?)
            }

            async fn get_workflow_job(&self, job_id: i64) -> StoreResult<Option<Job>> {
                let sql = format!("SELECT {} FROM jobs WHERE job_id = $1", column_names(Job::COLUMNS));
                Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(job_id).fetch_optional(&self.pool).await?)
            }

            async fn list_jobs(&self, run_id: i64, run_attempt: i64) -> StoreResult<Vec<Job>> {
                let sql = format!(
                    "SELECT {} FROM jobs WHERE run_id = $1 AND run_attempt = $2 ORDER BY started_at, job_id",
                    column_names(Job::COLUMNS)
                );
                Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(run_id).bind(run_attempt).fetch_all(&self.pool).await?)
            }

            async fn list_executions(
                &self,
                scope: &ExecutionScope,
                limit: i64,
                offset: i64,
            ) -> StoreResult<Page<Execution>> {
                let clause = scope_clause(scope, 3);
                let count_sql = format!("SELECT COUNT(*) FROM executions WHERE {clause}");
                let mut count = sqlx::query_scalar(AssertSqlSafe(count_sql))
                    .bind(scope.repository.to_lowercase())
                    .bind(&scope.workflow_path);
                for branch in &scope.branches {
                    count = count.bind(branch);
                }
                let total: i64 = count.fetch_one(&self.pool).await?;
                let n = 3 + scope.branches.len();
                let sql = format!(
                    "SELECT {} FROM executions WHERE {clause} \
                     ORDER BY started_at DESC, run_id DESC, run_attempt DESC LIMIT ${n} OFFSET ${}",
                    column_names(Execution::COLUMNS),
                    n + 1
                );
                let mut query =
                    sqlx::query_as(AssertSqlSafe(sql)).bind(scope.repository.to_lowercase()).bind(&scope.workflow_path);
                for branch in &scope.branches {
                    query = query.bind(branch);
                }
                let items = query.bind(limit).bind(offset).fetch_all(&self.pool).await?;
                Ok(Page { items, total })
            }

            async fn stats_snapshot(&self, scope: &ExecutionScope, now: DateTime<Utc>) -> StoreResult<StatsSnapshot> {
                if let Some(reader) = self.inline_reader() {
                    return reader.stats_snapshot(scope, now);
                }
                snapshot_from_row(&stats_query(stats_sql(scope), scope, now).fetch_one(&self.pool).await?)
            }

            async fn pipeline_with_stats(
                &self,
                id: &str,
                scope: &ExecutionScope,
                now: DateTime<Utc>,
            ) -> StoreResult<Option<(Pipeline, bool, StatsSnapshot)>> {
                if let Some(reader) = self.inline_reader() {
                    let Some((pipeline, backfill)) = reader.get_pipeline_for_stats(id)? else { return Ok(None) };
                    return Ok(Some((pipeline, backfill, reader.stats_snapshot(scope, now)?)));
                }
                let query = stats_query(pipeline_with_stats_sql(scope), scope, now).bind(id);
                let Some(row) = query.fetch_optional(&self.pool).await? else { return Ok(None) };
                Ok(Some((pipeline_beside_stats(&row)?, row.try_get("backfill_running")?, snapshot_from_row(&row)?)))
            }

            async fn stats_snapshots(
                &self,
                scopes: &[ExecutionScope],
                now: DateTime<Utc>,
            ) -> StoreResult<Vec<StatsSnapshot>> {
                self.stats_in_bulk(scopes, now).await
            }

            async fn list_audit(&self, f: &AuditFilter) -> StoreResult<Page<AuditRecord>> {
                let filters = $crate::store::filters::Filters::new(&[
                    ("pipeline_id", f.pipeline_id.as_deref()),
                    ("action", f.action.as_deref()),
                ]);
                Ok($crate::store::filters::filtered_page!(
                    &self.pool,
                    "audit_log",
                    "id, at, actor, action, pipeline_id, details",
                    "id DESC",
                    filters,
                    f.limit,
                    f.offset,
                ))
            }
        }
    };
}

pub(crate) use pipeline_sql;
