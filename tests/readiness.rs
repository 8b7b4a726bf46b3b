//! Readiness follows the database: `/readyz` answers 503 (with the API's JSON error shape) once
//! the database cannot be reached, while `/healthz` (the process is up) still answers 200.

mod common;

use std::sync::Arc;

use common::*;
use serde_json::{Value, json};

use ccm::http::{ApiTokens, AppState};
use ccm::store::{PostgresStore, SqliteStore, Store};
use ccm::webhook::WebhookSecrets;

on_both_databases!(readyz_is_503_once_the_database_is_unreachable);

enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

async fn get(base: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(token) = token {
        req = req.header("CCM-Token", token);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let content_type = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    assert_eq!(content_type.as_deref(), Some("application/json"), "{path}");
    (status, res.json().await.expect("JSON body"))
}

async fn readyz_is_503_once_the_database_is_unreachable(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    // The concrete store, to close its pool later: the state of a database that went away.
    let (store, pool): (Arc<dyn Store>, Pool) = match backend {
        Backend::Sqlite => {
            let url = ccm::config::sqlite_url(&dir.path().join("ccm.db"));
            let store = SqliteStore::connect(&url, 2).await.expect("open SQLite");
            let pool = Pool::Sqlite(store.pool().clone());
            (Arc::new(store), pool)
        }
        Backend::Postgres => {
            let store = PostgresStore::connect(&fresh_postgres_database().await, 2).await.expect("open PostgreSQL");
            let pool = Pool::Postgres(store.pool().clone());
            (Arc::new(store), pool)
        }
    };
    let base = serve(AppState::start(store, ApiTokens::new(&[TOKEN]), WebhookSecrets::new(&[SECRET]), None));

    assert_eq!(get(&base, "/readyz", None).await, (200, json!({"success": true, "status": "ready"})));

    match pool {
        Pool::Sqlite(pool) => pool.close().await,
        Pool::Postgres(pool) => pool.close().await,
    }

    let unavailable = json!({"success": false, "error": "Database unreachable", "code": "unavailable"});
    assert_eq!(get(&base, "/readyz", None).await, (503, unavailable.clone()));
    // Still unready on the next probe: nothing was cached.
    assert_eq!(get(&base, "/readyz", None).await, (503, unavailable));
    // The process itself is up: liveness does not depend on the database.
    assert_eq!(get(&base, "/healthz", None).await, (200, json!({"success": true, "status": "ok"})));
    // The API answers 503 (retry later) with its JSON error shape and no detail of the failure.
    assert_eq!(
        get(&base, "/api/pipelines", Some(TOKEN)).await,
        (503, json!({"success": false, "error": "Database unavailable, retry later", "code": "unavailable"}))
    );
}
