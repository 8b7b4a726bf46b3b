//! Deployments: written by `deployment` and `deployment_status` deliveries (inside their batch),
//! read per repository and environment.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use super::chunks::values_placeholders;
use super::db::{On, query};
use crate::domain::deployments::{Deployment, DeploymentRecord, DeploymentStatus};
use crate::store::rows::{ReadRow, WrittenRow, column_names};
use crate::store::{Page, SqlStore, StoreResult};

/// Stores a deployment (its row moves forward, never back) and the status that came with it,
/// which becomes its state unless a later one is known. Returns whether anything changed.
pub(crate) async fn apply_deployment(
    on: &mut On<'_>,
    deployment: &DeploymentRecord,
    status: Option<&DeploymentStatus>,
) -> StoreResult<bool> {
    let now = crate::domain::clock::now();
    let columns = <DeploymentRecord as WrittenRow>::COLUMNS;
    let sql = format!(
        "INSERT INTO deployments ({}) VALUES {} ON CONFLICT (id) DO UPDATE SET \
         description = COALESCE(excluded.description, deployments.description), \
         run_id = COALESCE(excluded.run_id, deployments.run_id), \
         run_attempt = COALESCE(excluded.run_attempt, deployments.run_attempt), \
         updated_at = excluded.updated_at WHERE excluded.updated_at >= deployments.updated_at",
        column_names(columns),
        values_placeholders(1, columns.len())
    );
    let mut changed = query(AssertSqlSafe(sql)).bind_all(deployment.cells(now)).execute(&mut *on).await? > 0;
    if let Some(status) = status {
        let columns = <DeploymentStatus as WrittenRow>::COLUMNS;
        let sql = format!(
            "INSERT INTO deployment_statuses ({}) VALUES {} ON CONFLICT (id) DO NOTHING",
            column_names(columns),
            values_placeholders(1, columns.len())
        );
        changed |= query(AssertSqlSafe(sql)).bind_all(status.cells(now)).execute(&mut *on).await? > 0;
        query(
            "UPDATE deployments SET state = $2, state_at = $3 WHERE id = $1 AND (state_at IS NULL OR state_at <= $3)",
        )
        .bind(deployment.id)
        .bind(status.state.as_str())
        .bind(status.created_at)
        .execute(&mut *on)
        .await?;
    }
    Ok(changed)
}

#[async_trait]
pub trait DeploymentStore {
    /// The deployments of a repository's workflow (`of_workflow`), one environment's with
    /// `environment`, newest first.
    async fn list_deployments(
        &self,
        repository: &str,
        workflow: &str,
        environment: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Page<Deployment>>;

    /// The states these deployments went through, oldest first.
    async fn deployment_statuses(&self, ids: &[i64]) -> StoreResult<Vec<DeploymentStatus>>;

    /// Each environment's latest deployment of a repository's workflow (`of_workflow`).
    async fn latest_deployments(&self, repository: &str, workflow: &str) -> StoreResult<Vec<Deployment>>;
}

/// Whether deployment `{alias}` belongs to the workflow `${workflow}` (a workflow file's path) of
/// the repository `${repo}` (its key): GitHub links a deployment to the run that made it, so one
/// a known run of another workflow made is that workflow's; the rest (linked to none, or to a run
/// ccm never saw) belong to every workflow of the repository. The run is found by its id alone
/// (unique across GitHub): with the repository too, SQLite reads the repository's runs through
/// the scope index for each deployment.
pub(crate) fn of_workflow(alias: &str, repo: usize, workflow: usize) -> String {
    format!(
        "{alias}.repo_key = ${repo} AND NOT EXISTS (SELECT 1 FROM executions x WHERE x.run_id = {alias}.run_id \
         AND x.workflow_path <> ${workflow})"
    )
}

fn select(rest: &str) -> String {
    format!("SELECT {} FROM deployments {rest}", column_names(<Deployment as ReadRow>::COLUMNS))
}

#[async_trait]
impl DeploymentStore for SqlStore {
    async fn list_deployments(
        &self,
        repository: &str,
        workflow: &str,
        environment: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Page<Deployment>> {
        let repo_key = repository.to_lowercase();
        let filter = format!("d WHERE {} AND ($3 IS NULL OR d.environment = $3)", of_workflow("d", 1, 2));
        let items =
            query(AssertSqlSafe(select(&format!("{filter} ORDER BY d.created_at DESC, d.id DESC LIMIT $4 OFFSET $5"))))
                .bind(repo_key.as_str())
                .bind(workflow)
                .bind(environment)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.db)
                .await?;
        let (total,): (i64,) = query(AssertSqlSafe(format!("SELECT COUNT(*) FROM deployments {filter}")))
            .bind(repo_key.as_str())
            .bind(workflow)
            .bind(environment)
            .fetch_one(&self.db)
            .await?;
        Ok(Page { items, total })
    }

    async fn deployment_statuses(&self, ids: &[i64]) -> StoreResult<Vec<DeploymentStatus>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = (1..=ids.len()).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {} FROM deployment_statuses WHERE deployment_id IN ({list}) ORDER BY created_at, id",
            column_names(<DeploymentStatus as ReadRow>::COLUMNS)
        );
        Ok(query(AssertSqlSafe(sql)).bind_all(ids.iter().copied()).fetch_all(&self.db).await?)
    }

    async fn latest_deployments(&self, repository: &str, workflow: &str) -> StoreResult<Vec<Deployment>> {
        let sql = select(&format!(
            "d WHERE {} AND NOT EXISTS (SELECT 1 FROM deployments n WHERE {} \
             AND n.environment = d.environment AND (n.created_at > d.created_at \
             OR (n.created_at = d.created_at AND n.id > d.id))) ORDER BY d.environment",
            of_workflow("d", 1, 2),
            of_workflow("n", 1, 2)
        ));
        Ok(query(AssertSqlSafe(sql)).bind(repository.to_lowercase()).bind(workflow).fetch_all(&self.db).await?)
    }
}
