//! The real `ccm serve` binary on a loopback port, and an HTTP load driver for it.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::future::join_all;

pub const TOKEN: &str = "bench-token-0123456789";

/// A running `ccm serve`; killed on drop.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `bin serve` on `database_url` and returns it with the time from spawn until `/readyz`
/// answered 200. Its log goes to `data_dir/ccm.log`.
pub async fn start(
    bin: &Path,
    client: &reqwest::Client,
    database_url: &str,
    data_dir: &Path,
) -> anyhow::Result<(Server, Duration)> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(data_dir.join("ccm.log"))?;
    let started = Instant::now();
    let child = Command::new(bin)
        .arg("serve")
        .env("CCM_BIND", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", database_url)
        .env("CCM_DATA_DIR", data_dir)
        .env("CCM_API_TOKEN", TOKEN)
        // The load comes from one address at far more than the default API rate limit.
        .env("CCM_RATE_LIMIT", "off")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("spawning ccm serve")?;
    let mut server = Server { child, base: format!("http://127.0.0.1:{port}") };
    let ready = format!("{}/readyz", server.base);
    loop {
        if let Ok(res) = client.get(&ready).send().await
            && res.status() == reqwest::StatusCode::OK
        {
            return Ok((server, started.elapsed()));
        }
        if let Some(status) = server.child.try_wait()? {
            bail!("ccm serve exited with {status}; see {}", data_dir.join("ccm.log").display());
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("ccm serve was not ready after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Latencies of one endpoint's requests, sorted, and the wall time they took.
pub struct Summary {
    pub latencies: Vec<Duration>,
    pub wall: Duration,
}

impl Summary {
    pub fn percentile(&self, p: f64) -> Duration {
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    pub fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

/// GETs every path (with the API token) from `concurrency` workers sharing the list, each
/// waiting for its answer before sending the next; fails on any status but 200.
pub async fn drive(
    client: &reqwest::Client,
    base: &str,
    paths: &[String],
    concurrency: usize,
) -> anyhow::Result<Summary> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let worker = || async {
        let mut latencies = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(path) = paths.get(i) else { return anyhow::Ok(latencies) };
            let sent = Instant::now();
            let res = client.get(format!("{base}{path}")).header("CCM-Token", TOKEN).send().await?;
            let status = res.status();
            let body = res.bytes().await?;
            latencies.push(sent.elapsed());
            if status != reqwest::StatusCode::OK {
                bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body));
            }
        }
    };
    let started = Instant::now();
    let results = join_all((0..concurrency).map(|_| worker())).await;
    let wall = started.elapsed();
    let mut latencies = Vec::with_capacity(paths.len());
    for result in results {
        latencies.extend(result?);
    }
    latencies.sort();
    Ok(Summary { latencies, wall })
}

/// The `next` cursors of every page of 50 of `GET /api/pipelines?{filter}`, in order.
pub async fn cursors(client: &reqwest::Client, base: &str, filter: &str) -> anyhow::Result<Vec<String>> {
    let mut cursors = Vec::new();
    let mut path = format!("/api/pipelines?{filter}limit=50");
    loop {
        let res = client.get(format!("{base}{path}")).header("CCM-Token", TOKEN).send().await?;
        anyhow::ensure!(res.status() == reqwest::StatusCode::OK, "GET {path}: {}", res.status());
        let page: serde_json::Value = res.json().await?;
        let Some(next) = page["next"].as_str() else { break };
        cursors.push(next.to_string());
        path = format!("/api/pipelines?{filter}limit=50&after={next}");
    }
    anyhow::ensure!(!cursors.is_empty(), "GET /api/pipelines?{filter} has a single page");
    Ok(cursors)
}
