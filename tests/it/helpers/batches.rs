//! Deliveries as the receiver stores them (`IncomingDelivery`), for the tests that hand batches
//! straight to a store (sqlite_writer, postgres_batches): repository Org/App, fixed times.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use ccm::store::IncomingDelivery;
use ccm::webhook::{body, plan};

pub fn delivery(guid: &str, event: &str, payload: &[u8]) -> IncomingDelivery {
    let envelope: Value = serde_json::from_slice(payload).unwrap_or_default();
    IncomingDelivery {
        guid: guid.into(),
        event: event.into(),
        action: envelope["action"].as_str().map(String::from),
        installation_id: envelope["installation"]["id"].as_i64(),
        repository: envelope["repository"]["full_name"].as_str().map(String::from),
        hook_id: Some(9),
        received_at: "2026-11-20T10:00:00.123456Z".parse().unwrap(),
        headers: serde_json::value::to_raw_value(&json!({"x-github-event": event, "x-github-delivery": guid})).unwrap(),
        body: body::compress(payload),
        body_size: payload.len() as i64,
        processing: plan::processing(event, payload),
    }
}

/// `minute` minutes after 2026-11-20 09:00 UTC.
pub fn at(minute: i64) -> DateTime<Utc> {
    "2026-11-20T09:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minute)
}

/// A `workflow_run` delivery of Org/App on main, started at minute 0, updated at `minute`.
pub fn run(guid: &str, id: i64, attempt: i64, status: &str, conclusion: Option<&str>, minute: i64) -> IncomingDelivery {
    let body = super::workflow_run(id, attempt, "Org/App", "main", status, conclusion, at(0), at(minute));
    delivery(guid, "workflow_run", &body)
}

/// A `workflow_job` delivery (job `build`) of run `run_id`, at `minute`.
pub fn job(guid: &str, id: i64, run_id: i64, status: &str, conclusion: Option<&str>, minute: i64) -> IncomingDelivery {
    delivery(guid, "workflow_job", &super::workflow_job(id, run_id, "Org/App", "build", status, conclusion, at(minute)))
}
