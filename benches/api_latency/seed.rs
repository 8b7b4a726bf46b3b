//! Bulk seeding: synthetic pipelines and executions written straight into the tables with
//! multi-row INSERTs, in large transactions; with `--insights`, each run's jobs and the
//! deployments its `deploy.yml` runs made too (issue 19's reports read them).

use chrono::{DateTime, Duration, SubsecRound, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::types::Json;

/// Rows per INSERT statement: 1000 executions bind 21,000 values, under SQLite's 32,766 limit.
pub const ROWS_PER_STATEMENT: usize = 1000;
/// Rows per transaction.
pub const ROWS_PER_TRANSACTION: usize = 50_000;

const WORKFLOWS: [&str; 4] = ["deploy.yml", "ci.yml", "release.yml", "nightly.yml"];
const CONCLUSIONS: [(&str, f64); 4] = [("success", 0.80), ("failure", 0.12), ("cancelled", 0.05), ("skipped", 0.03)];
const BRANCHES: [(&str, f64); 3] = [("main", 0.60), ("production", 0.15), ("develop", 0.15)];

pub struct PipelineRow {
    pub id: String,
    pub repository: String,
    pub workflow_file: String,
    pub status: &'static str,
    pub config: Json<Value>,
    pub created_at: DateTime<Utc>,
    pub deactivated_at: Option<DateTime<Utc>>,
}

pub struct ExecutionRow {
    pub run_id: i64,
    pub run_attempt: i64,
    pub repository: String,
    pub workflow_path: String,
    pub status: &'static str,
    pub status_rank: i64,
    pub conclusion: Option<&'static str>,
    pub branch: String,
    pub head_sha: String,
    pub event: &'static str,
    pub actor: String,
    pub created_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i64>,
}

pub struct JobRow {
    pub job_id: i64,
    pub run_id: i64,
    pub run_attempt: i64,
    pub repo_key: String,
    pub name: &'static str,
    pub status: &'static str,
    pub conclusion: Option<&'static str>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub steps: Json<Value>,
}

pub struct DeploymentRow {
    pub id: i64,
    pub repository: String,
    pub environment: &'static str,
    pub sha: String,
    pub git_ref: String,
    /// The run (id, attempt) that made it, if a run did.
    pub run: Option<(i64, i64)>,
    pub created_at: DateTime<Utc>,
    pub state: &'static str,
    pub state_at: DateTime<Utc>,
}

pub struct DeploymentStatusRow {
    pub id: i64,
    pub deployment_id: i64,
    pub state: &'static str,
    pub created_at: DateTime<Utc>,
}

/// What one transaction writes.
#[derive(Default)]
pub struct Batch {
    pub pipelines: Vec<PipelineRow>,
    pub executions: Vec<ExecutionRow>,
    pub jobs: Vec<JobRow>,
    pub deployments: Vec<DeploymentRow>,
    pub deployment_statuses: Vec<DeploymentStatusRow>,
}

/// The jobs of a run: name, share of the run's time, when it starts (share of the run's time),
/// and the step that fails when it fails.
const JOBS: [(&str, f64, f64, &str); 4] = [
    ("build", 0.40, 0.0, "Compile"),
    ("lint", 0.10, 0.0, "Run linters"),
    ("test", 0.30, 0.40, "Run tests"),
    ("e2e", 0.30, 0.70, "Run e2e suite"),
];

/// Deterministic synthetic data: 4 workflow files per repository, 85% of pipelines active, 30%
/// restricted to trigger branches; executions spread over `days` (14 by default) and skewed towards some
/// pipelines (the busiest has about 1% of all runs), 8% of them for workflows without a pipeline.
pub struct Generator {
    rng: SmallRng,
    now: DateTime<Utc>,
    pipelines: usize,
    /// Executions are spread over this many days before now.
    days: i64,
}

fn pick<T: Copy>(rng: &mut SmallRng, weighted: &[(T, f64)], otherwise: T) -> T {
    let mut roll: f64 = rng.random();
    for &(value, weight) in weighted {
        if roll < weight {
            return value;
        }
        roll -= weight;
    }
    otherwise
}

fn repository(index: usize) -> String {
    format!("Org-{}/Service-{}", index % 97, index)
}

impl Generator {
    pub fn new(pipelines: usize, days: i64) -> Self {
        Generator { rng: SmallRng::seed_from_u64(42), now: Utc::now().trunc_subsecs(6), pipelines, days }
    }

    pub fn pipeline(&mut self, i: usize) -> PipelineRow {
        let rng = &mut self.rng;
        // Multiplying by an odd constant modulo 2^48 is a bijection: unique, random-looking ids.
        let id = format!("pipe_{:012x}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) & 0xFFFF_FFFF_FFFF);
        let created_at = self.now - Duration::seconds(rng.random_range(0..365 * 86_400));
        let active = rng.random_bool(0.85);
        let config = match rng.random_range(0..10) {
            0..=1 => json!({"trigger_branches": ["main"], "environment": "production"}),
            2 => json!({"trigger_branches": ["main", "production"], "environment": "production"}),
            _ => json!({"environment": "staging", "auto_deploy": true}),
        };
        PipelineRow {
            id,
            repository: repository(i / WORKFLOWS.len()),
            workflow_file: format!(".github/workflows/{}", WORKFLOWS[i % WORKFLOWS.len()]),
            status: if active { "active" } else { "inactive" },
            config: Json(config),
            created_at,
            deactivated_at: (!active).then(|| created_at + Duration::days(1)),
        }
    }

    pub fn execution(&mut self, i: usize) -> ExecutionRow {
        let rng = &mut self.rng;
        let (repository, workflow_path) = if rng.random_bool(0.92) {
            // Squaring a uniform number skews the pick towards the first pipelines.
            let p = ((rng.random::<f64>().powi(2)) * self.pipelines as f64) as usize;
            (repository(p / WORKFLOWS.len()), format!(".github/workflows/{}", WORKFLOWS[p % WORKFLOWS.len()]))
        } else {
            let r = rng.random_range(0..self.pipelines.div_ceil(WORKFLOWS.len()));
            (repository(r), ".github/workflows/lint.yml".to_string())
        };
        let age = Duration::seconds(rng.random_range(0..self.days * 86_400));
        let started_at = self.now - age;
        let status = if age < Duration::hours(1) {
            pick(rng, &[("in_progress", 0.3), ("queued", 0.1)], "completed")
        } else {
            pick(rng, &[("in_progress", 0.0005)], "completed")
        };
        let (conclusion, duration) = if status == "completed" {
            let conclusion = pick(rng, &CONCLUSIONS, "success");
            (Some(conclusion), Some(if conclusion == "skipped" { 0 } else { rng.random_range(30..900) }))
        } else {
            (None, None)
        };
        let completed_at = duration.map(|d| started_at + Duration::seconds(d));
        let branch = match pick(rng, &BRANCHES, "feature") {
            "feature" => format!("feature/topic-{}", rng.random_range(0..50)),
            branch => branch.to_string(),
        };
        let run_attempt = if rng.random_bool(0.03) { 2 } else { 1 };
        ExecutionRow {
            run_id: 10_000_000 + i as i64,
            run_attempt,
            repository,
            workflow_path,
            status,
            status_rank: ccm::domain::status::RunStatus::parse(status).rank(),
            conclusion,
            branch,
            head_sha: format!("{:016x}{:016x}{:08x}", rng.random::<u64>(), rng.random::<u64>(), rng.random::<u32>()),
            event: pick(rng, &[("push", 0.8), ("pull_request", 0.1)], "workflow_dispatch"),
            actor: format!("dev-{}", rng.random_range(0..200)),
            created_at: started_at - Duration::seconds(rng.random_range(0..30) + (run_attempt - 1) * 3600),
            started_at,
            updated_at: completed_at.unwrap_or(started_at),
            completed_at,
            duration_seconds: duration,
        }
    }
}

/// The jobs and deployments of the seeded runs (`--insights`), from a random generator of their
/// own: the runs are the same rows with or without them. Each run's second attempt gets a first
/// attempt that failed in `e2e` (the flaky pattern: failed, then passed on a re-run); a completed
/// `deploy.yml` run on `main` or `production` made a deployment (staging or production) with its
/// statuses, and now and then one is rolled back.
pub struct History {
    rng: SmallRng,
    next_job: i64,
    next_deployment: i64,
    next_status: i64,
}

impl Default for History {
    fn default() -> Self {
        History { rng: SmallRng::seed_from_u64(43), next_job: 1, next_deployment: 1, next_status: 1 }
    }
}

impl History {
    /// Adds the batch's jobs, deployments and the first attempts of its re-run runs.
    pub fn add(&mut self, batch: &mut Batch) {
        let Batch { executions, jobs, deployments, deployment_statuses, .. } = batch;
        let mut first_attempts = Vec::new();
        for retry in executions.iter().filter(|e| e.run_attempt == 2) {
            let first = self.first_attempt(retry);
            jobs.extend(self.jobs(&first, Some(JOBS.len() - 1)));
            first_attempts.push(first);
        }
        for run in executions.iter() {
            jobs.extend(self.jobs(run, None));
            for (deployment, statuses) in self.deployments(run) {
                deployments.push(deployment);
                deployment_statuses.extend(statuses);
            }
        }
        executions.extend(first_attempts);
    }

    /// The first attempt of a run whose second attempt is `retry`: created with it, failed.
    fn first_attempt(&mut self, retry: &ExecutionRow) -> ExecutionRow {
        let started_at = retry.created_at + Duration::seconds(self.rng.random_range(1..20));
        let duration = self.rng.random_range(60..900);
        let completed_at = started_at + Duration::seconds(duration);
        ExecutionRow {
            run_attempt: 1,
            repository: retry.repository.clone(),
            workflow_path: retry.workflow_path.clone(),
            status: "completed",
            status_rank: 3,
            conclusion: Some("failure"),
            branch: retry.branch.clone(),
            head_sha: retry.head_sha.clone(),
            actor: retry.actor.clone(),
            started_at,
            updated_at: completed_at,
            completed_at: Some(completed_at),
            duration_seconds: Some(duration),
            ..*retry
        }
    }

    /// A run's jobs: `failing` names the job that fails in a failed run (else one at random).
    fn jobs(&mut self, run: &ExecutionRow, failing: Option<usize>) -> Vec<JobRow> {
        let repo_key = run.repository.to_lowercase();
        let steps = |last: &str, conclusion: Option<&str>| {
            Json(json!([
                {"name": "Set up job", "status": "completed", "conclusion": "success", "number": 1},
                {"name": last, "status": "completed", "conclusion": conclusion, "number": 2},
            ]))
        };
        let (Some(duration), Some(conclusion)) = (run.duration_seconds, run.conclusion) else {
            // A run still going: its first job is running.
            let job_id = self.job_id();
            return vec![JobRow {
                job_id,
                run_id: run.run_id,
                run_attempt: run.run_attempt,
                repo_key,
                name: JOBS[0].0,
                status: "in_progress",
                conclusion: None,
                started_at: Some(run.started_at),
                completed_at: None,
                updated_at: run.started_at,
                steps: Json(json!([])),
            }];
        };
        if conclusion == "skipped" {
            return Vec::new();
        }
        let failed = matches!(conclusion, "failure" | "timed_out")
            .then(|| failing.unwrap_or_else(|| pick(&mut self.rng, &[(0, 0.2), (1, 0.1), (2, 0.4)], 3)));
        let seconds = duration as f64;
        let mut rows = Vec::with_capacity(JOBS.len());
        for (k, &(name, share, start, step)) in JOBS.iter().enumerate() {
            // Jobs that would start after the failed one ended are skipped, as `needs:` does.
            let after_failure = failed.is_some_and(|f| start >= JOBS[f].2 + JOBS[f].1);
            let job_conclusion = match (failed, conclusion) {
                _ if after_failure => "skipped",
                (Some(f), _) if f == k => "failure",
                (_, "cancelled") if k == JOBS.len() - 1 => "cancelled",
                _ => "success",
            };
            let jitter = self.rng.random_range(0.8..1.2);
            let started_at = run.started_at + Duration::milliseconds((seconds * start * 1000.0) as i64);
            let completed_at = started_at + Duration::milliseconds((seconds * share * jitter * 1000.0) as i64);
            let job_id = self.job_id();
            rows.push(JobRow {
                job_id,
                run_id: run.run_id,
                run_attempt: run.run_attempt,
                repo_key: repo_key.clone(),
                name,
                status: "completed",
                conclusion: Some(job_conclusion),
                started_at: (!after_failure).then_some(started_at),
                completed_at: Some(if after_failure { started_at } else { completed_at }),
                updated_at: completed_at,
                steps: if after_failure { Json(json!([])) } else { steps(step, Some(job_conclusion)) },
            });
        }
        rows
    }

    fn job_id(&mut self) -> i64 {
        self.next_job += 1;
        self.next_job
    }

    /// The deployment a completed `deploy.yml` run on `main` or `production` made; now and then
    /// (3 % of the successful ones) it is rolled back ten minutes after it succeeded: the sha
    /// deployed an hour before it is deployed again.
    fn deployments(&mut self, run: &ExecutionRow) -> Vec<(DeploymentRow, Vec<DeploymentStatusRow>)> {
        let (Some(duration), Some(conclusion)) = (run.duration_seconds, run.conclusion) else { return Vec::new() };
        let deploys =
            run.workflow_path.ends_with("/deploy.yml") && matches!(run.branch.as_str(), "main" | "production");
        if !deploys || !matches!(conclusion, "success" | "failure") {
            return Vec::new();
        }
        let state = match conclusion {
            "success" if self.rng.random_bool(0.05) => "error",
            "success" => "success",
            _ => "failure",
        };
        let created_at = run.started_at + Duration::seconds(duration * 7 / 10);
        let state_at = run.completed_at.unwrap_or(created_at);
        let made = self.deployment(run, run.head_sha.clone(), Some(run), created_at, state, state_at);
        if state != "success" || !self.rng.random_bool(0.03) {
            return vec![made];
        }
        let previous = format!("{:016x}{:016x}{:08x}", self.rng.random::<u64>(), self.rng.random::<u64>(), 0);
        let before = created_at - Duration::hours(1);
        let shipped_before =
            self.deployment(run, previous.clone(), None, before, "success", before + Duration::minutes(2));
        let back = state_at + Duration::minutes(10);
        let rollback = self.deployment(run, previous, None, back, "success", back + Duration::minutes(2));
        vec![shipped_before, made, rollback]
    }

    /// One deployment of `sha` to the environment `run`'s branch deploys to, and its statuses
    /// (queued, in progress, then `state`); `by` the run that made it, if one did.
    fn deployment(
        &mut self,
        run: &ExecutionRow,
        sha: String,
        by: Option<&ExecutionRow>,
        created_at: DateTime<Utc>,
        state: &'static str,
        state_at: DateTime<Utc>,
    ) -> (DeploymentRow, Vec<DeploymentStatusRow>) {
        let id = self.next_deployment;
        self.next_deployment += 1;
        let timeline = [("queued", created_at), ("in_progress", created_at + Duration::seconds(2)), (state, state_at)];
        let statuses = timeline
            .into_iter()
            .map(|(state, created_at)| {
                self.next_status += 1;
                DeploymentStatusRow { id: self.next_status, deployment_id: id, state, created_at }
            })
            .collect();
        let deployment = DeploymentRow {
            id,
            repository: run.repository.clone(),
            environment: if run.branch == "production" { "production" } else { "staging" },
            sha,
            git_ref: run.branch.clone(),
            run: by.map(|r| (r.run_id, r.run_attempt)),
            created_at,
            state,
            state_at,
        };
        (deployment, statuses)
    }
}

/// Where seeding writes.
pub enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Db {
    /// Writes the rows in one transaction, `ROWS_PER_STATEMENT` rows per INSERT.
    async fn write(&self, batch: &Batch) -> sqlx::Result<()> {
        match self {
            Db::Sqlite(pool) => sqlite::write(pool, batch).await,
            Db::Postgres(pool) => postgres::write(pool, batch).await,
        }
    }

    /// After seeding: SQLite folds its write-ahead log into the database file. PostgreSQL gathers
    /// planner statistics and marks the loaded pages all-visible, the state autovacuum keeps a
    /// long-lived database in (it vacuums tables after inserts too); right after a bulk load,
    /// index-only scans would still visit the table for every row.
    pub async fn settle(&self) -> sqlx::Result<()> {
        match self {
            Db::Sqlite(pool) => sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await.map(drop),
            Db::Postgres(pool) => sqlx::raw_sql("VACUUM ANALYZE").execute(pool).await.map(drop),
        }
    }
}

/// What the load phase needs to know about the seeded data.
pub struct Seeded {
    pub pipeline_ids: Vec<String>,
    pub active_pipelines: usize,
    /// Rows written (0 when reused): executions, jobs, deployments.
    pub executions: usize,
    pub jobs: usize,
    pub deployments: usize,
}

/// Seeds `pipelines` and `executions` spread over `days`; with `insights`, their jobs and
/// deployments too (`History`).
pub async fn seed(db: &Db, pipelines: usize, executions: usize, days: i64, insights: bool) -> sqlx::Result<Seeded> {
    let mut generator = Generator::new(pipelines, days);
    let rows: Vec<PipelineRow> = (0..pipelines).map(|i| generator.pipeline(i)).collect();
    let mut history = insights.then(History::default);
    let (mut written, mut jobs, mut deployments) = (0, 0, 0);
    let first = Batch { pipelines: rows, ..Default::default() };
    db.write(&first).await?;
    let rows = first.pipelines;
    let mut done = 0;
    while done < executions {
        let n = ROWS_PER_TRANSACTION.min(executions - done);
        let mut batch =
            Batch { executions: (done..done + n).map(|i| generator.execution(i)).collect(), ..Default::default() };
        if let Some(history) = &mut history {
            history.add(&mut batch);
        }
        db.write(&batch).await?;
        (written, jobs, deployments) =
            (written + batch.executions.len(), jobs + batch.jobs.len(), deployments + batch.deployments.len());
        done += n;
        if done % (executions / 10).max(1) < n {
            eprintln!(
                "  {done}/{executions} executions ({written} with first attempts, {jobs} jobs, {deployments} deployments)"
            );
        }
    }
    db.settle().await?;
    Ok(Seeded {
        active_pipelines: rows.iter().filter(|p| p.status == "active").count(),
        pipeline_ids: rows.into_iter().map(|p| p.id).collect(),
        executions: written,
        jobs,
        deployments,
    })
}

/// The INSERTs for one driver: its types differ, its SQL not.
macro_rules! inserts {
    ($module:ident, $db:ty) => {
        mod $module {
            use super::{Batch, DeploymentRow, DeploymentStatusRow, ExecutionRow, JobRow, PipelineRow, ROWS_PER_STATEMENT};

            type Tx<'c> = sqlx::Transaction<'c, $db>;

            pub async fn write(pool: &sqlx::Pool<$db>, batch: &Batch) -> sqlx::Result<()> {
                let mut tx = pool.begin().await?;
                for chunk in batch.pipelines.chunks(ROWS_PER_STATEMENT) {
                    insert_pipelines(&mut tx, chunk).await?;
                }
                for chunk in batch.executions.chunks(ROWS_PER_STATEMENT) {
                    insert_executions(&mut tx, chunk).await?;
                }
                for chunk in batch.jobs.chunks(ROWS_PER_STATEMENT) {
                    insert_jobs(&mut tx, chunk).await?;
                }
                for chunk in batch.deployments.chunks(ROWS_PER_STATEMENT) {
                    insert_deployments(&mut tx, chunk).await?;
                }
                for chunk in batch.deployment_statuses.chunks(ROWS_PER_STATEMENT) {
                    insert_deployment_statuses(&mut tx, chunk).await?;
                }
                tx.commit().await
            }

            async fn insert_jobs(tx: &mut Tx<'_>, rows: &[JobRow]) -> sqlx::Result<()> {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO jobs (job_id, run_id, run_attempt, repo_key, name, status, status_rank, conclusion, \
                     runner_name, html_url, started_at, completed_at, updated_at, steps) ",
                );
                q.push_values(rows, |mut b, j| {
                    b.push_bind(j.job_id)
                        .push_bind(j.run_id)
                        .push_bind(j.run_attempt)
                        .push_bind(j.repo_key.clone())
                        .push_bind(j.name)
                        .push_bind(j.status)
                        .push_bind(ccm::domain::status::RunStatus::parse(j.status).rank())
                        .push_bind(j.conclusion)
                        .push_bind(format!("runner-{}", j.job_id % 16))
                        .push_bind(format!("https://github.com/{}/actions/runs/{}/job/{}", j.repo_key, j.run_id, j.job_id))
                        .push_bind(j.started_at)
                        .push_bind(j.completed_at)
                        .push_bind(j.updated_at)
                        .push_bind(j.steps.clone());
                });
                q.build().execute(&mut **tx).await.map(drop)
            }

            async fn insert_deployments(tx: &mut Tx<'_>, rows: &[DeploymentRow]) -> sqlx::Result<()> {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO deployments (id, repo_key, repository, environment, sha, git_ref, task, creator, \
                     description, run_id, run_attempt, created_at, updated_at, state, state_at) ",
                );
                q.push_values(rows, |mut b, d| {
                    b.push_bind(d.id)
                        .push_bind(d.repository.to_lowercase())
                        .push_bind(d.repository.clone())
                        .push_bind(d.environment)
                        .push_bind(d.sha.clone())
                        .push_bind(d.git_ref.clone())
                        .push_bind("deploy")
                        .push_bind("github-actions[bot]")
                        .push_bind(None::<String>)
                        .push_bind(d.run.map(|(id, _)| id))
                        .push_bind(d.run.map(|(_, attempt)| attempt))
                        .push_bind(d.created_at)
                        .push_bind(d.state_at)
                        .push_bind(d.state)
                        .push_bind(d.state_at);
                });
                q.build().execute(&mut **tx).await.map(drop)
            }

            async fn insert_deployment_statuses(tx: &mut Tx<'_>, rows: &[DeploymentStatusRow]) -> sqlx::Result<()> {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO deployment_statuses (id, deployment_id, state, description, url, created_at) ",
                );
                q.push_values(rows, |mut b, st| {
                    b.push_bind(st.id)
                        .push_bind(st.deployment_id)
                        .push_bind(st.state)
                        .push_bind(None::<String>)
                        .push_bind(None::<String>)
                        .push_bind(st.created_at);
                });
                q.build().execute(&mut **tx).await.map(drop)
            }

            async fn insert_pipelines(tx: &mut Tx<'_>, rows: &[PipelineRow]) -> sqlx::Result<()> {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO pipelines (id, repository, repo_key, workflow_file, status, config, version, \
                     created_at, updated_at, deactivated_at) ",
                );
                q.push_values(rows, |mut b, p| {
                    b.push_bind(p.id.clone())
                        .push_bind(p.repository.clone())
                        .push_bind(p.repository.to_lowercase())
                        .push_bind(p.workflow_file.clone())
                        .push_bind(p.status)
                        .push_bind(p.config.clone())
                        .push_bind(0_i64)
                        .push_bind(p.created_at)
                        .push_bind(p.deactivated_at.unwrap_or(p.created_at))
                        .push_bind(p.deactivated_at);
                });
                q.build().execute(&mut **tx).await.map(drop)
            }

            async fn insert_executions(tx: &mut Tx<'_>, rows: &[ExecutionRow]) -> sqlx::Result<()> {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO executions (run_id, run_attempt, repository, repo_key, workflow_path, \
                     workflow_name, status, status_rank, conclusion, branch, head_sha, event, run_number, actor, \
                     html_url, created_at, started_at, updated_at, completed_at, duration_seconds, recorded_at) ",
                );
                q.push_values(rows, |mut b, e| {
                    b.push_bind(e.run_id)
                        .push_bind(e.run_attempt)
                        .push_bind(e.repository.clone())
                        .push_bind(e.repository.to_lowercase())
                        .push_bind(e.workflow_path.clone())
                        .push_bind("Deploy")
                        .push_bind(e.status)
                        .push_bind(e.status_rank)
                        .push_bind(e.conclusion)
                        .push_bind(e.branch.clone())
                        .push_bind(e.head_sha.clone())
                        .push_bind(e.event)
                        .push_bind(e.run_id - 10_000_000)
                        .push_bind(e.actor.clone())
                        .push_bind(format!("https://github.com/{}/actions/runs/{}", e.repository, e.run_id))
                        .push_bind(e.created_at)
                        .push_bind(e.started_at)
                        .push_bind(e.updated_at)
                        .push_bind(e.completed_at)
                        .push_bind(e.duration_seconds)
                        .push_bind(e.updated_at);
                });
                q.build().execute(&mut **tx).await.map(drop)
            }
        }
    };
}

inserts!(sqlite, sqlx::Sqlite);
inserts!(postgres, sqlx::Postgres);

/// The pipelines of a database seeded by an earlier run (`--keep`), for `--reuse`.
pub async fn existing(db: &Db) -> sqlx::Result<Seeded> {
    const SQL: &str = "SELECT id, status FROM pipelines ORDER BY created_at DESC, id";
    let rows: Vec<(String, String)> = match db {
        Db::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await?,
        Db::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await?,
    };
    Ok(Seeded {
        active_pipelines: rows.iter().filter(|(_, status)| status == "active").count(),
        pipeline_ids: rows.into_iter().map(|(id, _)| id).collect(),
        executions: 0,
        jobs: 0,
        deployments: 0,
    })
}
