//! Test harness: the real app on a loopback port, over either real database.

pub mod batches;
pub mod ccm_cli;
pub mod edge;
pub mod github;
pub mod rows;
pub mod serve;
pub mod wait;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sqlx::Connection;

use ccm::domain::status::{Conclusion, RunStatus};
use ccm::http::{ApiTokens, AppState};
use ccm::store::{self, ExecutionRecord, Store};
#[allow(unused_imports)]
pub use ccm::store::{GithubStore, OutboxStore, PipelineStore};
use ccm::webhook::WebhookSecrets;
pub use wait::{PATIENCE, wait_for, wait_until};

pub const TOKEN: &str = "test-token-0123456789";
pub const OTHER_TOKEN: &str = "rotated-token-9876543210";
pub const SECRET: &str = "webhook-secret-for-tests";
/// The workflow file of the tests' pipelines.
pub const WORKFLOW: &str = ".github/workflows/deploy.yml";

/// The path of a file in tests/fixtures, as text (for command lines).
pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).display().to_string()
}

/// The real GitHub payloads shared beside the work tree (`../shared/github-payloads`, one folder
/// per event). They are part of the test data: without them the test fails, it is not skipped.
pub fn shared_payloads() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/github-payloads");
    assert!(
        dir.is_dir(),
        "{} is absent: the real GitHub payloads are read from the shared folder beside the work tree \
         (../shared/github-payloads)",
        dir.display()
    );
    dir
}

/// What a process printed, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Backend)` once on SQLite and once on PostgreSQL, as
/// `sqlite::name` and `postgres::name`.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[actix_web::test] async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[actix_web::test] async fn $name() { super::$name($crate::helpers::Backend::Postgres).await } )*
        }
    };
}

/// A store on a fresh, empty database. For PostgreSQL, a new database in the cluster named by
/// CCM_TEST_DATABASE_URL (set by scripts/with-postgres); without it the test fails.
pub struct TestDb {
    pub store: Arc<dyn Store>,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        Self::with_options(backend, &store::DbOptions::new(5)).await
    }

    /// A fresh database, opened with these options.
    pub async fn with_options(backend: Backend, options: &store::DbOptions) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = match backend {
            Backend::Sqlite => ccm::config::sqlite_url(&dir.path().join("ccm.db")),
            Backend::Postgres => fresh_postgres_database().await,
        };
        let store = store::connect_with(&url, options).await.expect("open the test database");
        TestDb { store, url, _dir: dir }
    }
}

impl TestDb {
    /// The store over an existing database (ccm started again on it, as after `ccm copy`).
    pub async fn at(url: &str) -> Self {
        let store = store::connect(url, 5).await.expect("open the database");
        TestDb { store, url: url.to_string(), _dir: tempfile::tempdir().expect("temp dir") }
    }
}

pub fn postgres_admin_url() -> String {
    std::env::var("CCM_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "CCM_TEST_DATABASE_URL is not set: the PostgreSQL half of the suite needs a server. \
             Run the tests with scripts/test, which starts a throwaway PostgreSQL cluster."
        )
    })
}

pub async fn fresh_postgres_database() -> String {
    let admin = postgres_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to CCM_TEST_DATABASE_URL");
    let name = format!("ccm_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin);
    format!("{base}/{name}")
}

/// The real app served on a loopback port, and a client for it.
pub struct TestApp {
    pub base: String,
    pub db: TestDb,
    pub client: reqwest::Client,
    /// With GitHub: the client the app uses (its health).
    pub github: Option<ccm::github::Github>,
    /// With GitHub: its background workers, held for the test's length (dropping them stops them).
    _workers: Option<ccm::github::recovery::Workers>,
    /// With alert settings of its own: its alert workers (how many evaluations they did).
    pub alerts: Option<ccm::notify::Alerts>,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl TestApp {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, &[TOKEN, OTHER_TOKEN]).await
    }

    pub async fn start_with(backend: Backend, tokens: &[&str]) -> Self {
        Self::on(TestDb::new(backend).await, tokens, &[SECRET])
    }

    /// The app over an existing database (as after a restart), with these tokens and secrets.
    pub fn on(db: TestDb, tokens: &[&str], secrets: &[&str]) -> Self {
        let state = AppState::start(db.store.clone(), ApiTokens::new(tokens), WebhookSecrets::new(secrets), None);
        let base = serve(state);
        TestApp { base, db, client: reqwest::Client::new(), github: None, _workers: None, alerts: None }
    }

    /// A second replica over the same database, with these alert settings.
    pub async fn replica_with_alerts(&self, settings: ccm::notify::AlertSettings) -> TestApp {
        let store = store::connect(&self.db.url, 5).await.expect("open the database again");
        let db = TestDb { store, url: self.db.url.clone(), _dir: tempfile::tempdir().expect("temp dir") };
        TestApp::with_alerts_on(db, settings)
    }

    /// The app over `db` with these alert settings (issue 16: short sweeps and retries).
    pub fn with_alerts_on(db: TestDb, settings: ccm::notify::AlertSettings) -> Self {
        let state = AppState::start(
            db.store.clone(),
            ApiTokens::new(&[TOKEN, OTHER_TOKEN]),
            WebhookSecrets::new(&[SECRET]),
            None,
        )
        .with_alerts(settings);
        let alerts = Some(state.alerts.clone());
        let base = serve(state);
        TestApp { base, db, client: reqwest::Client::new(), github: None, _workers: None, alerts }
    }

    /// The app with the SQLite backups' folder `dir`, whose newest backup `GET /api/backups/latest`
    /// (and the dashboard) shows.
    pub async fn with_backups(backend: Backend, dir: PathBuf) -> Self {
        let db = TestDb::new(backend).await;
        let state = AppState::start(
            db.store.clone(),
            ApiTokens::new(&[TOKEN, OTHER_TOKEN]),
            WebhookSecrets::new(&[SECRET]),
            None,
        )
        .with_backups(dir);
        let base = serve(state);
        TestApp { base, db, client: reqwest::Client::new(), github: None, _workers: None, alerts: None }
    }

    /// The app with these access settings (rate limits, token cache, `/metrics` authentication).
    pub async fn with_access(backend: Backend, access: &ccm::http::access::AccessConfig) -> Self {
        let db = TestDb::new(backend).await;
        let state = AppState::start(
            db.store.clone(),
            ApiTokens::new(&[TOKEN, OTHER_TOKEN]),
            WebhookSecrets::new(&[SECRET]),
            None,
        )
        .with_access(access);
        let base = serve(state);
        TestApp { base, db, client: reqwest::Client::new(), github: None, _workers: None, alerts: None }
    }

    /// The app with a GitHub App configured against `api_url` (a wiremock server), signing
    /// with the test key, and its outbox worker running (not the periodic scans).
    pub async fn start_with_github(backend: Backend, api_url: &str) -> Self {
        Self::start_with_github_config(backend, github::test_config(api_url)).await
    }

    pub async fn start_with_github_config(backend: Backend, config: ccm::github::GithubConfig) -> Self {
        Self::with_github_on(TestDb::new(backend).await, config)
    }

    /// The app with a GitHub App configured, over an existing database.
    pub fn with_github_on(db: TestDb, config: ccm::github::GithubConfig) -> Self {
        let client = ccm::github::GithubClient::new(config).expect("GitHub client").expect("configured");
        let gh = ccm::github::Github { store: db.store.clone(), client: client.clone() };
        let state = AppState::start(
            db.store.clone(),
            ApiTokens::new(&[TOKEN, OTHER_TOKEN]),
            WebhookSecrets::new(&[SECRET]),
            Some(client),
        );
        let workers = ccm::github::recovery::Workers::spawn(gh.clone(), false)
            .with_log_sweep(gh.clone(), ccm::server::log_announcer(&state.live));
        let base = serve(state);
        TestApp { base, db, client: reqwest::Client::new(), github: Some(gh), _workers: Some(workers), alerts: None }
    }

    /// The app with a GitHub App configured and these alert settings (issue 16).
    pub async fn with_github_and_alerts(backend: Backend, api_url: &str, settings: ccm::notify::AlertSettings) -> Self {
        let db = TestDb::new(backend).await;
        let client =
            ccm::github::GithubClient::new(github::test_config(api_url)).expect("GitHub client").expect("configured");
        let gh = ccm::github::Github { store: db.store.clone(), client: client.clone() };
        let workers = ccm::github::recovery::Workers::spawn(gh.clone(), false);
        let state = AppState::start(
            db.store.clone(),
            ApiTokens::new(&[TOKEN, OTHER_TOKEN]),
            WebhookSecrets::new(&[SECRET]),
            Some(client),
        )
        .with_alerts(settings);
        let alerts = Some(state.alerts.clone());
        let base = serve(state);
        TestApp { base, db, client: reqwest::Client::new(), github: Some(gh), _workers: Some(workers), alerts }
    }

    pub fn gh(&self) -> &ccm::github::Github {
        self.github.as_ref().expect("started with GitHub")
    }

    /// Waits until an outbox job is done or failed, and returns it.
    pub async fn wait_job(&self, id: i64) -> ccm::store::OutboxJob {
        wait_for(&format!("outbox job {id} to finish"), PATIENCE, async || {
            let job = self.store().get_job(id).await.unwrap().expect("job exists");
            match job.status.as_str() {
                "done" | "failed" => Ok(job),
                _ => Err(format!("{} ({:?})", job.status, job.last_error)),
            }
        })
        .await
    }

    /// Waits until the outbox has nothing left to do (no job pending or running), and returns
    /// its counts: everything queued so far has been sent (or has failed).
    pub async fn outbox_settled(&self) -> ccm::store::OutboxCounts {
        wait_for("the outbox to settle", PATIENCE, async || {
            let counts = self.store().outbox_counts().await.unwrap();
            if counts.pending == 0 && counts.running == 0 { Ok(counts) } else { Err(format!("{counts:?}")) }
        })
        .await
    }

    /// A second replica: its own process state and connection pool over the same database.
    pub async fn replica(&self) -> TestApp {
        let store = store::connect(&self.db.url, 5).await.expect("open the database again");
        let db = TestDb { store, url: self.db.url.clone(), _dir: tempfile::tempdir().expect("temp dir") };
        TestApp::on(db, &[TOKEN, OTHER_TOKEN], &[SECRET])
    }

    /// Posts a delivery the way GitHub does, signed with `SECRET`.
    pub async fn deliver(&self, event: &str, guid: &str, body: &[u8]) -> Reply {
        let signature = ccm::webhook::signature::sign(SECRET.as_bytes(), body);
        self.deliver_signed(event, guid, body, &signature).await
    }

    pub async fn deliver_signed(&self, event: &str, guid: &str, body: &[u8], signature: &str) -> Reply {
        let url = format!("{}/webhooks/github", self.base);
        reply(post_delivery(&self.client, &url, event, guid, body, signature).await.expect("deliver")).await
    }

    pub fn store(&self) -> &dyn Store {
        self.db.store.as_ref()
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>, token: Option<&str>) -> Reply {
        let mut req = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(token) = token {
            req = req.header("CCM-Token", token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request");
        reply(res).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None, Some(TOKEN)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, Some(body), Some(TOKEN)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::PATCH, path, Some(body), Some(TOKEN)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(reqwest::Method::DELETE, path, None, Some(TOKEN)).await
    }

    /// A pipeline's stats (`GET /api/pipelines/{id}/stats`).
    pub async fn stats(&self, id: &str) -> Value {
        let reply = self.get(&format!("/api/pipelines/{id}/stats")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["stats"].clone()
    }

    /// The test App's installation (github::INSTALLATION_ID) covers `repo`, as its
    /// `installation` webhook would have said; its account is the repository's owner.
    pub async fn install(&self, repo: &str) {
        let owner = repo.split('/').next().unwrap();
        self.store()
            .apply_installation_change(&store::InstallationChange::Upsert {
                id: github::INSTALLATION_ID as i64,
                account: Some(owner.into()),
                repositories: Some(vec![repo.into()]),
            })
            .await
            .unwrap();
    }

    /// Provisions a pipeline and returns its id.
    pub async fn provision(&self, repo: &str, workflow_file: &str, config: Value) -> String {
        let reply = self
            .post("/api/pipelines/provision", json!({"repo": repo, "workflow_file": workflow_file, "config": config}))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body["pipeline_id"].as_str().unwrap().to_string()
    }
}

/// Posts a delivery to `url` with the headers GitHub sends and this signature.
pub async fn post_delivery(
    client: &reqwest::Client,
    url: &str,
    event: &str,
    guid: &str,
    body: &[u8],
    signature: &str,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(url)
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", guid)
        .header("X-GitHub-Hook-ID", "4242")
        .header("X-Hub-Signature-256", signature)
        .header("User-Agent", "GitHub-Hookshot/test")
        .header("Content-Type", "application/json")
        .body(body.to_vec())
        .send()
        .await
}

pub async fn reply(res: reqwest::Response) -> Reply {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body ({status}): {text:?}"));
    Reply { status, body, headers }
}

/// Serves the whole app (one listener, as `ccm serve`'s) on a free loopback port for the rest of the test.
pub fn serve(state: AppState) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().unwrap();
    let server =
        ccm::server::http_server(state, ccm::http::edge::Listener::All, ccm::server::Socket::Bound(listener), Some(1))
            .expect("listen");
    actix_web::rt::spawn(server);
    format!("http://{addr}")
}

/// Reads server-sent events (kind, id, data) from a response until `stop` says so (5 s at most).
pub async fn read_events(
    res: &mut reqwest::Response,
    mut stop: impl FnMut(&str, &Value) -> bool,
) -> Vec<(String, String, Value)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .expect("SSE event in time")
            .unwrap()
            .expect("stream open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let (mut kind, mut id, mut data) = (String::new(), String::new(), String::new());
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    kind = v.into();
                } else if let Some(v) = line.strip_prefix("id: ") {
                    id = v.into();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            if kind.is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
            let done = stop(&kind, &value);
            events.push((kind, id, value));
            if done {
                return events;
            }
        }
    }
}

/// A workflow run attempt for `repo` and `.github/workflows/deploy.yml`, started `ago` before
/// `now`; completed after `duration` seconds when `conclusion` is given.
pub fn run(
    run_id: i64,
    repo: &str,
    branch: &str,
    now: DateTime<Utc>,
    ago: Duration,
    conclusion: Option<&str>,
    duration: i64,
) -> ExecutionRecord {
    let started = now - ago;
    let completed = conclusion.map(|_| started + Duration::seconds(duration));
    ExecutionRecord {
        run_id,
        run_attempt: 1,
        repository: repo.to_string(),
        workflow_path: WORKFLOW.into(),
        workflow_name: Some("Deploy".into()),
        status: if conclusion.is_some() { RunStatus::Completed } else { RunStatus::InProgress },
        conclusion: conclusion.map(Conclusion::parse),
        branch: Some(branch.to_string()),
        head_sha: Some(format!("{run_id:040x}")),
        event: Some("push".into()),
        run_number: Some(run_id),
        actor: Some("octocat".into()),
        html_url: Some(format!("https://github.com/{repo}/actions/runs/{run_id}")),
        created_at: started,
        started_at: started,
        updated_at: completed.unwrap_or(started),
        completed_at: completed,
    }
}

/// A `workflow_run` body as GitHub sends it (the fields ccm reads, and a few it does not).
#[allow(clippy::too_many_arguments)]
pub fn workflow_run(
    run_id: i64,
    attempt: i64,
    repo: &str,
    branch: &str,
    status: &str,
    conclusion: Option<&str>,
    started: DateTime<Utc>,
    updated: DateTime<Utc>,
) -> Vec<u8> {
    let action = match status {
        "completed" => "completed",
        "in_progress" => "in_progress",
        _ => "requested",
    };
    json!({
        "action": action,
        "workflow_run": {
            "id": run_id, "run_attempt": attempt, "name": "Deploy", "path": ".github/workflows/deploy.yml",
            "head_branch": branch, "head_sha": format!("{run_id:040x}"), "event": "push", "status": status,
            "conclusion": conclusion, "run_number": run_id, "html_url": format!("https://github.com/{repo}/actions/runs/{run_id}"),
            "actor": {"login": "octocat"}, "created_at": ccm::domain::clock::format(&started),
            "updated_at": ccm::domain::clock::format(&updated), "run_started_at": ccm::domain::clock::format(&started),
            "display_title": "not read by ccm", "workflow_id": 1
        },
        "repository": {"full_name": repo, "id": 1},
        "installation": {"id": 77},
        "sender": {"login": "octocat"}
    })
    .to_string()
    .into_bytes()
}

/// A `workflow_job` body.
pub fn workflow_job(
    job_id: i64,
    run_id: i64,
    repo: &str,
    name: &str,
    status: &str,
    conclusion: Option<&str>,
    at: DateTime<Utc>,
) -> Vec<u8> {
    let started = (status != "queued").then(|| ccm::domain::clock::format(&at));
    let completed = (status == "completed").then(|| ccm::domain::clock::format(&(at + Duration::seconds(30))));
    json!({
        "action": status,
        "workflow_job": {
            "id": job_id, "run_id": run_id, "run_attempt": 1, "name": name, "status": status,
            "conclusion": conclusion, "runner_name": "runner-1", "html_url": "https://github.com/x",
            "created_at": ccm::domain::clock::format(&at), "started_at": started, "completed_at": completed,
            "steps": [{"name": "Set up job", "status": status, "number": 1}]
        },
        "repository": {"full_name": repo}
    })
    .to_string()
    .into_bytes()
}
