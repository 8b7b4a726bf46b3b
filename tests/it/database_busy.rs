//! A database under write load: transactions that read before they write take the write lock
//! first on SQLite (`BEGIN IMMEDIATE`), so they wait their turn instead of failing; and a
//! database too busy to answer in time is a 503 with `Retry-After` and the API's JSON error, not
//! a 500.

use std::time::Duration;

use crate::helpers::github::*;
use crate::helpers::*;
use futures_util::future::join_all;
use serde_json::json;
use sqlx::Connection;

on_both_databases!(replays_under_write_load_all_succeed, a_busy_database_answers_503_with_retry_after);

/// Replays read a delivery's state and then write its outcome; with an outbox worker writing
/// beside them (a GitHub App is configured), several at once on one delivery, and tasks created
/// meanwhile, every one of them answers 200.
async fn replays_under_write_load_all_succeed(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    let failed = app.deliver("workflow_run", "busy-1", br#"{"workflow_run": {}}"#).await;
    assert_eq!((failed.status, failed.body["status"].as_str()), (200, Some("failed")), "{}", failed.body);
    let replays = (0..24).map(|_| app.send(reqwest::Method::POST, "/api/deliveries/busy-1/replay", None, Some(TOKEN)));
    let creates = (0..8).map(|i| app.post("/api/tasks", json!({"title": format!("Task {i}")})));
    let (replays, creates) = futures_util::join!(join_all(replays), join_all(creates));
    for reply in &replays {
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    for reply in &creates {
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let stored = app.get("/api/deliveries/busy-1").await.body;
    assert_eq!(stored["delivery"]["attempts"], 25, "{stored}");
}

/// Another connection holds the lock a write needs past the time ccm waits for it (SQLite's busy
/// timeout; PostgreSQL's `statement_timeout`): the write answers 503 `database_busy` with
/// `Retry-After`, and succeeds once the lock is released.
async fn a_busy_database_answers_503_with_retry_after(backend: Backend) {
    let options = ccm::store::DbOptions {
        busy_timeout: Duration::from_millis(200),
        statement_timeout: Duration::from_millis(500),
        ..ccm::store::DbOptions::new(5)
    };
    let db = TestDb::with_options(backend, &options).await;
    let mut holder = Holder::open(backend, &db.url).await;
    let app = TestApp::on(db, &[TOKEN], &[SECRET]);
    holder.lock().await;
    let reply = app.post("/api/tasks", json!({"title": "Blocked"})).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    let error = json!({"success": false, "error": "The database is busy; retry in a moment", "code": "database_busy"});
    assert_eq!(reply.body, error);
    assert_eq!(reply.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    holder.release().await;
    let reply = app.post("/api/tasks", json!({"title": "Free"})).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

/// A connection of the test's own that holds the lock writes to `tasks` need.
enum Holder {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Holder {
    async fn open(backend: Backend, url: &str) -> Self {
        match backend {
            Backend::Sqlite => Holder::Sqlite(sqlx::SqliteConnection::connect(url).await.expect("open the file again")),
            Backend::Postgres => Holder::Postgres(sqlx::PgConnection::connect(url).await.expect("connect")),
        }
    }

    async fn lock(&mut self) {
        match self {
            Holder::Sqlite(conn) => {
                sqlx::query("BEGIN EXCLUSIVE").execute(conn).await.expect("take the write lock");
            }
            Holder::Postgres(conn) => {
                sqlx::query("BEGIN").execute(&mut *conn).await.expect("begin");
                sqlx::query("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE").execute(conn).await.expect("lock tasks");
            }
        }
    }

    async fn release(&mut self) {
        match self {
            Holder::Sqlite(conn) => sqlx::query("ROLLBACK").execute(conn).await.map(drop),
            Holder::Postgres(conn) => sqlx::query("ROLLBACK").execute(conn).await.map(drop),
        }
        .expect("release the lock");
    }
}
