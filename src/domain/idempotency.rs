//! `Idempotency-Key` on the actions that queue work on GitHub (trigger, rollback): the same key
//! within `WINDOW` answers the first request's response instead of acting again; the same key
//! with another request is refused. The key's record is stored with the work it queued, in one
//! transaction, so it holds across replicas and restarts.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How long a key is remembered.
pub const WINDOW: Duration = Duration::hours(24);

/// Longest key taken.
pub const MAX_KEY: usize = 255;

/// The header a client sends the key in.
pub const HEADER: &str = "Idempotency-Key";

/// A key as sent: 1 to `MAX_KEY` visible ASCII characters (a UUID is the usual choice).
pub fn parse_key(raw: &str) -> Result<String, String> {
    let key = raw.trim();
    if key.is_empty() || key.len() > MAX_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("{HEADER} must be 1 to {MAX_KEY} visible ASCII characters (a UUID, say)"));
    }
    Ok(key.to_string())
}

/// What identifies a request under a key: the operation, what it acts on and what it asks (as
/// JSON, whatever the order of its fields), hashed.
pub fn fingerprint(operation: &str, target: &str, request: &Value) -> String {
    let mut hash = Sha256::new();
    for part in [operation, target, &canonical(request)] {
        hash.update(part.len().to_le_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(hash.finalize())
}

/// JSON text with every object's keys in order.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> =
                keys.iter().map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&map[*k]))).collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// A key's record: the request it came with and the response it got.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAnswer {
    pub fingerprint: String,
    pub status: u16,
    pub body: Value,
    pub created_at: DateTime<Utc>,
}

/// What a request with a key gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Prior {
    /// The key is new (or its record expired): act.
    Fresh,
    /// The same request came with this key: the first response, again.
    Replay(StoredAnswer),
    /// Another request came with this key: refused.
    Mismatch,
}

/// Decides from the key's stored record, if any.
pub fn prior(stored: Option<StoredAnswer>, fingerprint: &str, now: DateTime<Utc>) -> Prior {
    match stored {
        Some(answer) if now - answer.created_at < WINDOW => {
            if answer.fingerprint == fingerprint {
                Prior::Replay(answer)
            } else {
                Prior::Mismatch
            }
        }
        _ => Prior::Fresh,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert_eq!(parse_key(" 4f1c-9a ").unwrap(), "4f1c-9a");
        for bad in ["", "   ", "has space", "tab\there", "é", &"k".repeat(MAX_KEY + 1)] {
            assert!(parse_key(bad).is_err(), "{bad:?}");
        }
        assert!(parse_key(&"k".repeat(MAX_KEY)).is_ok());
    }

    #[test]
    fn a_fingerprint_is_the_operation_target_and_request_whatever_the_field_order() {
        let a =
            fingerprint("trigger", "pipe_1", &json!({"ref": "main", "inputs": {"a": 1, "b": [1, {"y": 2, "x": 1}]}}));
        let b =
            fingerprint("trigger", "pipe_1", &json!({"inputs": {"b": [1, {"x": 1, "y": 2}], "a": 1}, "ref": "main"}));
        assert_eq!(a, b);
        assert_ne!(
            a,
            fingerprint("trigger", "pipe_1", &json!({"ref": "dev", "inputs": {"a": 1, "b": [1, {"x": 1, "y": 2}]}}))
        );
        assert_ne!(
            a,
            fingerprint("trigger", "pipe_2", &json!({"ref": "main", "inputs": {"a": 1, "b": [1, {"x": 1, "y": 2}]}}))
        );
        assert_ne!(fingerprint("trigger", "p", &json!({})), fingerprint("rollback", "p", &json!({})));
        // Parts are length-prefixed: moving text from one to the next changes the fingerprint.
        assert_ne!(fingerprint("ab", "c", &json!(null)), fingerprint("a", "bc", &json!(null)));
    }

    #[test]
    fn the_same_request_within_a_day_replays_another_is_refused_and_old_keys_expire() {
        let now = Utc::now();
        let stored = |fingerprint: &str, age: Duration| StoredAnswer {
            fingerprint: fingerprint.into(),
            status: 202,
            body: json!({"job_id": 1}),
            created_at: now - age,
        };
        assert_eq!(prior(None, "f", now), Prior::Fresh);
        assert!(matches!(prior(Some(stored("f", Duration::hours(23))), "f", now), Prior::Replay(a) if a.status == 202));
        assert_eq!(prior(Some(stored("g", Duration::hours(23))), "f", now), Prior::Mismatch);
        assert_eq!(prior(Some(stored("g", Duration::hours(25))), "f", now), Prior::Fresh, "expired");
        assert_eq!(prior(Some(stored("f", WINDOW)), "f", now), Prior::Fresh);
    }
}
