//! The `ccm serve` under test, its database, and what /proc and PostgreSQL say about both.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sqlx::Connection;

pub const SECRET: &str = "bench-webhook-secret";
pub const TOKEN: &str = "bench-api-token-0123456789";

pub struct Server {
    pub child: Child,
    pub base: String,
    _dir: tempfile::TempDir,
    /// The database's URL, dropped at the end when it is a PostgreSQL database of its own.
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn database_url(backend: &str, dir: &std::path::Path) -> String {
    match backend {
        "sqlite" => format!("sqlite://{}", dir.join("ccm.db").display()),
        "postgres" => {
            let mut conn = sqlx::PgConnection::connect(&admin_url()).await.expect("connect");
            let name = format!("ccm_bench_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
            format!("{}/{name}", admin_url().rsplit_once('/').unwrap().0)
        }
        other => panic!("--backend sqlite|postgres, not {other}"),
    }
}

fn admin_url() -> String {
    std::env::var("CCM_TEST_DATABASE_URL")
        .expect("CCM_TEST_DATABASE_URL: run under scripts/with-postgres for --backend postgres")
}

pub async fn start(backend: &str, bin: Option<&str>, env: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(backend, dir.path()).await;
    let (child, base) = spawn(dir.path(), &url, bin, env).await;
    Server { child, base, _dir: dir, url }
}

/// `ccm serve` on `url`, with `env` besides the benchmark's settings, once it is ready.
async fn spawn(dir: &std::path::Path, url: &str, bin: Option<&str>, env: &[(&str, &str)]) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(bin.unwrap_or(env!("CARGO_BIN_EXE_ccm")))
        .arg("serve")
        .env("CCM_BIND", format!("127.0.0.1:{port}"))
        .env("CCM_DATA_DIR", dir)
        .env("DATABASE_URL", url)
        .env("CCM_API_TOKEN", TOKEN)
        // The load comes from one address at far more than the default API rate limit.
        .env("CCM_RATE_LIMIT", "off")
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("RUST_LOG", std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(match std::env::var("BENCH_CCM_LOG") {
            Ok(path) => Stdio::from(std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap()),
            Err(_) => Stdio::null(),
        })
        .spawn()
        .expect("spawn ccm serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..400 {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return (child, base);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("ccm serve did not become ready");
}

impl Server {
    /// `ccm backup --output FILE` of this server's database (SQLite), to run.
    pub fn backup(&self, bin: Option<&str>, output: &std::path::Path) -> Command {
        let mut command = Command::new(bin.unwrap_or(env!("CARGO_BIN_EXE_ccm")));
        command
            .args(["backup", "--output"])
            .arg(output)
            .env("CCM_DATA_DIR", self._dir.path())
            .env("DATABASE_URL", &self.url)
            .env("CCM_API_TOKEN", TOKEN)
            .env("GITHUB_WEBHOOK_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// A file beside the database.
    pub fn file(&self, name: &str) -> std::path::PathBuf {
        self._dir.path().join(name)
    }

    /// Stops ccm and serves the same database again, with `env`.
    pub async fn restart(&mut self, bin: Option<&str>, env: &[(&str, &str)]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, base) = spawn(self._dir.path(), &self.url, bin, env).await;
        (self.child, self.base) = (child, base);
    }

    /// Stops ccm and drops its PostgreSQL database, if it had one of its own.
    pub async fn stop(self) {
        let url = self.url.clone();
        drop(self);
        if let Some((_, name)) = url.rsplit_once('/').filter(|_| url.starts_with("postgres")) {
            let mut conn = sqlx::PgConnection::connect(&admin_url()).await.expect("connect");
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// The PostgreSQL server's postmaster, found from its data directory's `postmaster.pid`.
pub async fn postmaster(url: &str) -> u32 {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    let dir: String = sqlx::query_scalar("SELECT setting FROM pg_settings WHERE name = 'data_directory'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let pid_file = std::fs::read_to_string(format!("{dir}/postmaster.pid"))
        .unwrap_or_else(|e| panic!("PostgreSQL's CPU is read from its postmaster.pid ({dir}): {e}"));
    pid_file.lines().next().and_then(|l| l.trim().parse().ok()).expect("a pid")
}

/// The CPU seconds PostgreSQL has used: the postmaster's, its live children's, and those of the
/// children that ended (counted in the postmaster's once it has waited for them).
pub fn postgres_cpu(postmaster: u32) -> f64 {
    let fields = |pid: u32| -> Vec<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().map(|f| f.parse().unwrap_or(0.0)).collect())
            .unwrap_or_default()
    };
    // After the command's closing parenthesis: 1 is the parent, 11..15 utime, stime, cutime, cstime.
    let own = fields(postmaster);
    let mut ticks: f64 = own.get(11..15).map(|f| f.iter().sum()).unwrap_or(0.0);
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let f = fields(pid);
        if f.get(1).copied() == Some(postmaster as f64) {
            ticks += f.get(11..13).map(|f| f.iter().sum()).unwrap_or(0.0);
        }
    }
    ticks / 100.0
}

/// Checkpoints PostgreSQL has made so far (timed and requested).
pub async fn checkpoints(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar("SELECT (checkpoints_timed + checkpoints_req)::int8 FROM pg_stat_bgwriter")
        .fetch_one(conn)
        .await
        .unwrap_or(0)
}

/// The batches ccm has committed: how many, their deliveries and their seconds (from /metrics).
#[derive(Clone, Copy, Default)]
pub struct Batches {
    pub count: f64,
    pub deliveries: f64,
    pub seconds: f64,
    /// Rows the pruner has removed (every kind).
    pub pruned: f64,
}

pub async fn batches(client: &reqwest::Client, base: &str) -> Batches {
    let metrics = client.get(format!("{base}/metrics")).header("CCM-Token", TOKEN).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    let sample =
        |name: &str| metrics.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok()).unwrap_or(f64::NAN);
    Batches {
        count: sample("ccm_webhook_batch_deliveries_count"),
        deliveries: sample("ccm_webhook_batch_deliveries_sum"),
        seconds: sample("ccm_webhook_batch_seconds_sum"),
        pruned: metrics
            .lines()
            .filter(|l| l.starts_with("ccm_pruned_rows_total"))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum(),
    }
}
