//! Readiness follows the database: `/readyz` answers 503 (with the API's JSON error shape) once
//! the database cannot be reached, while `/healthz` (the process is up) still answers 200.

use std::sync::Arc;

use crate::helpers::*;
use serde_json::{Value, json};

use ccm::http::{ApiTokens, AppState};
use ccm::store::{SqlStore, Store};
use ccm::webhook::WebhookSecrets;

on_both_databases!(readyz_is_503_once_the_database_is_unreachable);

/// An in-memory SQLite database exists only in the pool's connections: every read, the inline
/// ones of the hottest endpoints included, must still find what was written.
#[actix_web::test]
async fn an_in_memory_sqlite_database_serves_the_api() {
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect("sqlite::memory:", 2).await.expect("open"));
    let base = serve(AppState::start(store, ApiTokens::new(&[TOKEN]), WebhookSecrets::new(&[SECRET]), None));
    let res = reqwest::Client::new()
        .post(format!("{base}/api/pipelines/provision"))
        .header("CCM-Token", TOKEN)
        .json(&json!({"repo": "octo/app", "workflow_file": ".github/workflows/ci.yml"}))
        .send()
        .await
        .expect("provision");
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["pipeline_id"].as_str().unwrap().to_string();

    let (status, list) = get(&base, "/api/pipelines", Some(TOKEN)).await;
    assert_eq!(
        (status, list["count"].clone(), list["pipelines"][0]["pipeline_id"].clone()),
        (200, json!(1), json!(id))
    );
    let (status, stats) = get(&base, &format!("/api/pipelines/{id}/stats"), Some(TOKEN)).await;
    assert_eq!((status, stats["stats"]["metrics_24h"]["run_count"].clone()), (200, json!(0)), "{stats}");
    // The second read takes the one-statement path (the pipeline's scope is known by then).
    let (status, again) = get(&base, &format!("/api/pipelines/{id}/stats"), Some(TOKEN)).await;
    assert_eq!((status, &again), (200, &stats));
    assert_eq!(get(&base, &format!("/api/pipelines/{id}"), Some(TOKEN)).await.0, 200);
}

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
            let store = SqlStore::connect(&url, 2).await.expect("open SQLite");
            let pool = Pool::Sqlite(store.sqlite_pool().expect("a SQLite store").clone());
            (Arc::new(store), pool)
        }
        Backend::Postgres => {
            let store = SqlStore::connect(&fresh_postgres_database().await, 2).await.expect("open PostgreSQL");
            let pool = Pool::Postgres(store.postgres_pool().expect("a PostgreSQL store").clone());
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
