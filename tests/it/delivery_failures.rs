//! Deliveries that cannot be processed for reasons other than their payload: a stored body that
//! is corrupt. The delivery is parked once no retry can help, never retried forever nor allowed
//! to crash ccm; on SQLite and on PostgreSQL.

use crate::helpers::rows::insert_pending_delivery;
use crate::helpers::*;
use serde_json::Value;

on_both_databases!(a_corrupt_stored_body_is_parked_at_start);

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
