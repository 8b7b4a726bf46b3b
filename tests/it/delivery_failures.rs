//! Deliveries that cannot be processed for reasons other than their payload: a stored body that
//! is corrupt, a database that refuses what a delivery changes or the record of its outcome. Each
//! failure counts as an attempt, the rest of its batch goes on, and the delivery is parked once
//! no retry can help, never retried forever nor allowed to crash ccm; on SQLite and on
//! PostgreSQL.

use crate::helpers::rows::{execute, insert_pending_delivery, make_due};
use crate::helpers::*;
use futures_util::future::join_all;
use serde_json::{Value, json};

on_both_databases!(
    a_corrupt_stored_body_is_parked_at_start,
    a_database_error_counts_as_an_attempt_and_the_batch_goes_on,
    an_outcome_the_database_refuses_still_counts_and_parks,
);

async fn delivery(app: &TestApp, guid: &str) -> Value {
    let reply = app.get(&format!("/api/deliveries/{guid}")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["delivery"].clone()
}

/// Waits until the delivery's attempts reach `attempts`, and returns it.
async fn after_attempts(app: &TestApp, guid: &str, attempts: i64) -> Value {
    wait_for(&format!("delivery {guid} at attempt {attempts}"), PATIENCE, async || {
        let d = delivery(app, guid).await;
        if d["attempts"] == attempts { Ok(d) } else { Err(d.to_string()) }
    })
    .await
}

/// A body whose LZ4 size prefix says 4 GiB, stored before a restart: ccm starts, refuses the
/// size before allocating anything, parks the delivery at its first attempt, and processes the
/// delivery stored beside it.
async fn a_corrupt_stored_body_is_parked_at_start(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut corrupt = ccm::webhook::body::compress(br#"{"zen": "corrupt"}"#);
    corrupt[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    insert_pending_delivery(&db, backend, "corrupt-1", "ping", &corrupt).await;
    insert_pending_delivery(&db, backend, "sound-1", "ping", &ccm::webhook::body::compress(br#"{"zen": "ok"}"#)).await;
    let app = TestApp::on(db, &[TOKEN], &[SECRET]);

    let parked = after_attempts(&app, "corrupt-1", 1).await;
    assert_eq!(parked["status"], "parked", "{parked}");
    let error = parked["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("stored body is corrupt") && error.contains("4294967295 bytes"), "{parked}");
    assert_eq!(parked["body"], Value::Null);
    assert!(parked["body_error"].as_str().is_some_and(|e| e.contains("stored body is corrupt")), "{parked}");
    assert_eq!(after_attempts(&app, "sound-1", 1).await["status"], "processed");
    // Parked, it stays so: a replay answers (without crashing) and leaves it parked.
    let replay = app.send(reqwest::Method::POST, "/api/deliveries/corrupt-1/replay", None, Some(TOKEN)).await;
    assert_eq!((replay.status, replay.body["status"].as_str()), (200, Some("parked")), "{}", replay.body);
    let parked = app.get("/api/deliveries?status=parked").await.body;
    assert_eq!(parked["count"], 1, "{parked}");
}

fn issues_event(action: &str, repo: &str, number: i64, extra: Value) -> Vec<u8> {
    let issue = |repo: &str, number: i64| {
        json!({
            "number": number, "node_id": format!("I_{number}"), "html_url": format!("https://github.com/{repo}/issues/{number}"),
            "title": format!("Issue {number}"), "body": "", "state": "open", "labels": [],
            "updated_at": "2026-01-05T10:00:00Z",
        })
    };
    let mut event = json!({
        "action": action, "issue": issue(repo, number),
        "repository": {"full_name": repo, "private": true}, "sender": {"login": "alice", "type": "User"},
    });
    if let Some(to) = extra.get("to") {
        let (to_repo, to_number) = (to[0].as_str().unwrap(), to[1].as_i64().unwrap());
        event["changes"] = json!({"new_issue": issue(to_repo, to_number), "new_repository": {"full_name": to_repo}});
    }
    event.to_string().into_bytes()
}

/// An issue moved onto an issue another task is linked to breaks a unique index: a database
/// error, not a bad payload. The delivery fails alone (the others delivered with it are
/// processed), each retry counts, and the fifth attempt parks it.
async fn a_database_error_counts_as_an_attempt_and_the_batch_goes_on(backend: Backend) {
    let app = TestApp::start(backend).await;
    for (guid, repo, number) in [("open-a", "octo/research", 1), ("open-b", "octo/other", 9)] {
        let reply = app.deliver("issues", guid, &issues_event("opened", repo, number, json!({}))).await;
        assert_eq!(reply.body["status"], "processed", "{}", reply.body);
    }
    let transfer = issues_event("transferred", "octo/research", 1, json!({"to": ["octo/other", 9]}));
    let others: Vec<Vec<u8>> = (2..6).map(|n| issues_event("opened", "octo/research", n, json!({}))).collect();
    let guids: Vec<String> = (0..others.len()).map(|i| format!("beside-{i}")).collect();
    let sent = guids.iter().zip(&others).map(|(guid, body)| app.deliver("issues", guid, body));
    let (failed, beside) = futures_util::join!(app.deliver("issues", "transfer-1", &transfer), join_all(sent));
    assert_eq!((failed.status, failed.body["status"].as_str()), (200, Some("failed")), "{}", failed.body);
    for reply in beside {
        assert_eq!(reply.body["status"], "processed", "{}", reply.body);
    }
    let stored = delivery(&app, "transfer-1").await;
    assert_eq!((stored["attempts"].as_i64(), stored["status"].as_str()), (Some(1), Some("failed")), "{stored}");
    assert!(stored["last_error"].as_str().is_some_and(|e| e.contains("database error")), "{stored}");
    let tasks = app.get("/api/tasks?repository=octo/research").await.body;
    assert_eq!(tasks["count"], 5, "the task of issue 1 stays where it was: {tasks}");

    // The retry worker counts its attempt...
    make_due(&app.db, backend, "transfer-1").await;
    assert_eq!(after_attempts(&app, "transfer-1", 2).await["status"], "failed");
    // ...and so do replays, up to the fifth attempt, which parks it.
    for (attempt, status) in [(3, "failed"), (4, "failed"), (5, "parked")] {
        let replay = app.send(reqwest::Method::POST, "/api/deliveries/transfer-1/replay", None, Some(TOKEN)).await;
        assert_eq!((replay.status, replay.body["status"].as_str()), (200, Some(status)), "{}", replay.body);
        assert_eq!(replay.body["delivery"]["attempts"], attempt, "{}", replay.body);
    }
}

/// The database refuses to record a retried delivery's outcome (a trigger stands in for whatever
/// refuses it): the attempt is counted anyway, apart from the refused transaction, and the
/// delivery is parked at the limit instead of being retried every two minutes forever.
async fn an_outcome_the_database_refuses_still_counts_and_parks(backend: Backend) {
    let db = TestDb::new(backend).await;
    insert_pending_delivery(&db, backend, "refused-1", "ping", &ccm::webhook::body::compress(b"{}")).await;
    let trigger = match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_processed BEFORE UPDATE OF status ON deliveries \
             WHEN NEW.status = 'processed' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION refuse_processed() RETURNS trigger LANGUAGE plpgsql AS \
               $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
             CREATE TRIGGER refuse_processed BEFORE UPDATE ON deliveries FOR EACH ROW \
               WHEN (NEW.status = 'processed') EXECUTE FUNCTION refuse_processed();"
        }
    };
    execute(&db, backend, trigger).await;
    let app = TestApp::on(db, &[TOKEN], &[SECRET]);
    let counted = after_attempts(&app, "refused-1", 1).await;
    assert_eq!(counted["status"], "failed", "{counted}");
    assert!(counted["last_error"].as_str().is_some_and(|e| e.contains("refused by the test")), "{counted}");
    // At its last attempt, the next refusal parks it.
    execute(&app.db, backend, "UPDATE deliveries SET attempts = 4 WHERE guid = 'refused-1'").await;
    make_due(&app.db, backend, "refused-1").await;
    assert_eq!(after_attempts(&app, "refused-1", 5).await["status"], "parked");
}
