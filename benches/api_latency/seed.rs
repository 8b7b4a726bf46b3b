//! Bulk seeding: synthetic pipelines and executions written straight into the tables with
//! multi-row INSERTs, in large transactions.

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

/// Deterministic synthetic data: 4 workflow files per repository, 85% of pipelines active, 30%
/// restricted to trigger branches; executions spread over 14 days and skewed towards some
/// pipelines (the busiest has about 1% of all runs), 8% of them for workflows without a pipeline.
pub struct Generator {
    rng: SmallRng,
    now: DateTime<Utc>,
    pipelines: usize,
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
    pub fn new(pipelines: usize) -> Self {
        Generator { rng: SmallRng::seed_from_u64(42), now: Utc::now().trunc_subsecs(6), pipelines }
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
        let age = Duration::seconds(rng.random_range(0..14 * 86_400));
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

/// Where seeding writes.
pub enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Db {
    /// Writes the rows in one transaction, `ROWS_PER_STATEMENT` rows per INSERT.
    async fn write(&self, pipelines: &[PipelineRow], executions: &[ExecutionRow]) -> sqlx::Result<()> {
        match self {
            Db::Sqlite(pool) => sqlite::write(pool, pipelines, executions).await,
            Db::Postgres(pool) => postgres::write(pool, pipelines, executions).await,
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
}

pub async fn seed(db: &Db, pipelines: usize, executions: usize) -> sqlx::Result<Seeded> {
    let mut generator = Generator::new(pipelines);
    let rows: Vec<PipelineRow> = (0..pipelines).map(|i| generator.pipeline(i)).collect();
    db.write(&rows, &[]).await?;
    let mut done = 0;
    while done < executions {
        let n = ROWS_PER_TRANSACTION.min(executions - done);
        let batch: Vec<ExecutionRow> = (done..done + n).map(|i| generator.execution(i)).collect();
        db.write(&[], &batch).await?;
        done += n;
        if done % (executions / 10).max(1) < n {
            eprintln!("  {done}/{executions} executions");
        }
    }
    db.settle().await?;
    Ok(Seeded {
        active_pipelines: rows.iter().filter(|p| p.status == "active").count(),
        pipeline_ids: rows.into_iter().map(|p| p.id).collect(),
    })
}

/// The INSERTs for one driver: its types differ, its SQL not.
macro_rules! inserts {
    ($module:ident, $db:ty) => {
        mod $module {
            use super::{ExecutionRow, PipelineRow, ROWS_PER_STATEMENT};

            type Tx<'c> = sqlx::Transaction<'c, $db>;

            pub async fn write(
                pool: &sqlx::Pool<$db>,
                pipelines: &[PipelineRow],
                executions: &[ExecutionRow],
            ) -> sqlx::Result<()> {
                let mut tx = pool.begin().await?;
                for chunk in pipelines.chunks(ROWS_PER_STATEMENT) {
                    insert_pipelines(&mut tx, chunk).await?;
                }
                for chunk in executions.chunks(ROWS_PER_STATEMENT) {
                    insert_executions(&mut tx, chunk).await?;
                }
                tx.commit().await
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
    })
}
