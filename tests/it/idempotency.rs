//! `Idempotency-Key` on trigger and rollback: the same key within 24 hours answers the first
//! response (on any replica) instead of queueing the work again, another request under the key is
//! a 422; and a trigger's audit entry and job are written together or not at all; on SQLite and on
//! PostgreSQL, against the fake GitHub.

use super::github_app::{REPO, provisioned_pipeline};
use crate::helpers::github::*;
use crate::helpers::rows::{execute, set_time};
use crate::helpers::*;
use chrono::Utc;
use futures_util::future::join_all;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

on_both_databases!(a_repeated_key_answers_the_first_response, the_audit_entry_and_the_job_are_written_together);

async fn post(app: &TestApp, path: &str, body: Value, key: Option<&str>) -> Reply {
    let mut req = app.client.post(format!("{}{path}", app.base)).header("CCM-Token", TOKEN).json(&body);
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    reply(req.send().await.expect("request")).await
}

fn replayed(reply: &Reply) -> bool {
    reply.headers.get("idempotent-replayed").is_some_and(|v| v == "true")
}

async fn audit_count(app: &TestApp, pipeline: &str, action: &str) -> i64 {
    app.get(&format!("/api/audit?pipeline_id={pipeline}&action={action}")).await.body["count"].as_i64().unwrap()
}

async fn requests(gh: &FakeGithub, path: &str) -> usize {
    gh.requests_to("POST", path).await.len()
}

async fn a_repeated_key_answers_the_first_response(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    let id = provisioned_pipeline(&app, &gh).await;
    let dispatches = format!("/repos/{REPO}/actions/workflows/deploy.yml/dispatches");
    FakeGithub::repo_call("POST", &dispatches).respond_with(ResponseTemplate::new(204)).mount(&gh.server).await;
    let trigger = format!("/api/pipelines/{id}/trigger");

    let first = post(&app, &trigger, json!({"ref": "main"}), Some("deploy-1")).await;
    assert_eq!((first.status, replayed(&first)), (202, false), "{}", first.body);
    let again = post(&app, &trigger, json!({"ref": "main"}), Some("deploy-1")).await;
    assert_eq!((again.status, replayed(&again)), (202, true), "{}", again.body);
    assert_eq!(again.body, first.body);
    // The same key with another request, or for another action: refused.
    let other = post(&app, &trigger, json!({"ref": "release"}), Some("deploy-1")).await;
    assert_eq!((other.status, other.body["code"].as_str()), (422, Some("idempotency_key_reused")), "{}", other.body);
    let rollback = post(&app, &format!("/api/pipelines/{id}/rollback"), json!({}), Some("deploy-1")).await;
    assert_eq!(rollback.status, 422, "{}", rollback.body);
    let bad = post(&app, &trigger, json!({"ref": "main"}), Some("two words")).await;
    assert_eq!((bad.status, bad.body["code"].as_str()), (400, Some("bad_request")), "{}", bad.body);

    // Sent several times at once: queued once, every answer the same.
    let at_once = join_all((0..6).map(|_| post(&app, &trigger, json!({"ref": "main"}), Some("deploy-2")))).await;
    let job_ids: Vec<Value> = at_once.iter().map(|r| r.body["job_id"].clone()).collect();
    assert!(at_once.iter().all(|r| r.status == 202), "{job_ids:?}");
    assert!(job_ids.iter().all(|j| *j == job_ids[0] && *j != first.body["job_id"]), "{job_ids:?}");

    // Another replica (this one without a GitHub App) answers the same from the database.
    let replica = app.replica().await;
    let elsewhere = post(&replica, &trigger, json!({"ref": "main"}), Some("deploy-1")).await;
    assert_eq!((elsewhere.status, replayed(&elsewhere), &elsewhere.body), (202, true, &first.body));

    app.outbox_settled().await;
    assert_eq!(audit_count(&app, &id, "pipeline.triggered").await, 2);
    assert_eq!(requests(&gh, &dispatches).await, 2);

    // A day later the key is forgotten: the same request acts again.
    let day_ago = Utc::now() - chrono::Duration::hours(25);
    set_time(&app.db, backend, "UPDATE idempotency_keys SET created_at = $1 WHERE key = 'deploy-1'", day_ago).await;
    let later = post(&app, &trigger, json!({"ref": "main"}), Some("deploy-1")).await;
    assert_eq!((later.status, replayed(&later)), (202, false), "{}", later.body);
    assert_ne!(later.body["job_id"], first.body["job_id"]);
    // Without a key, each request acts.
    let (a, b) = (post(&app, &trigger, json!({}), None).await, post(&app, &trigger, json!({}), None).await);
    assert_ne!(a.body["job_id"], b.body["job_id"]);

    // A rollback with a key: queued, marked and audited once.
    let now = Utc::now();
    app.store()
        .upsert_execution(&run(700, REPO, "main", now, chrono::Duration::hours(2), Some("success"), 60))
        .await
        .unwrap();
    app.store()
        .upsert_execution(&run(701, REPO, "main", now, chrono::Duration::hours(1), Some("failure"), 60))
        .await
        .unwrap();
    let rerun = format!("/repos/{REPO}/actions/runs/700/rerun");
    FakeGithub::repo_call("POST", &rerun).respond_with(ResponseTemplate::new(201)).mount(&gh.server).await;
    let path = format!("/api/pipelines/{id}/rollback");
    let first = post(&app, &path, json!({"reason": "bad deploy"}), Some("rb-1")).await;
    let again = post(&app, &path, json!({"reason": "bad deploy"}), Some("rb-1")).await;
    assert_eq!((first.status, again.status, replayed(&again)), (202, 202, true), "{}", first.body);
    assert_eq!(again.body, first.body);
    assert_eq!(first.body["rolled_back_execution"]["run_id"], 701);
    app.outbox_settled().await;
    assert_eq!((audit_count(&app, &id, "pipeline.rollback").await, requests(&gh, &rerun).await), (1, 1));
}

/// The database refuses a trigger's audit entry (a trigger stands in for whatever refuses it):
/// no job is queued either, and the key is not spent.
async fn the_audit_entry_and_the_job_are_written_together(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    let id = provisioned_pipeline(&app, &gh).await;
    let before = app.outbox_settled().await;
    let refuse = match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log WHEN NEW.action = 'pipeline.triggered' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
               $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
             CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW \
               WHEN (NEW.action = 'pipeline.triggered') EXECUTE FUNCTION refuse_audit();"
        }
    };
    execute(&app.db, backend, refuse).await;
    let trigger = format!("/api/pipelines/{id}/trigger");
    let refused = post(&app, &trigger, json!({"ref": "main"}), Some("k-1")).await;
    assert_eq!(refused.status, 500, "{}", refused.body);
    assert_eq!(app.store().outbox_counts().await.unwrap(), before, "no job without its audit entry");

    let drop = match backend {
        Backend::Sqlite => "DROP TRIGGER refuse_audit",
        Backend::Postgres => "DROP TRIGGER refuse_audit ON audit_log",
    };
    execute(&app.db, backend, drop).await;
    let queued = post(&app, &trigger, json!({"ref": "main"}), Some("k-1")).await;
    assert_eq!((queued.status, replayed(&queued)), (202, false), "{}", queued.body);
    assert_eq!(audit_count(&app, &id, "pipeline.triggered").await, 1);
}
