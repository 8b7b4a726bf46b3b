//! Live updates across replicas (PostgreSQL): after publishing its own changes, a replica
//! announces their keys with `NOTIFY`; every other replica `LISTEN`s, re-reads the rows and
//! publishes them to its own SSE subscribers.

use serde::{Deserialize, Serialize};

use super::publish::{Batch, Changes};
use crate::domain::status::DeliveryStatus;
use crate::store::{DeliveryOutcome, Effect, ReplicaChannel};

pub const CHANNEL: &str = "ccm_live";
/// NOTIFY payloads must stay under 8000 bytes.
const MAX_PAYLOAD: usize = 7000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Key {
    Delivery(String, DeliveryStatus, bool),
    Execution(i64, i64),
    Job(i64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Announcement {
    pub origin: String,
    pub changes: Vec<Key>,
}

/// The payloads announcing `outcomes`, each small enough for NOTIFY.
pub fn payloads(origin: &str, outcomes: &[DeliveryOutcome]) -> Vec<String> {
    let mut keys = Vec::new();
    for o in outcomes {
        keys.push(Key::Delivery(o.guid.clone(), o.status, o.duplicate));
        for effect in &o.changed {
            match effect {
                Effect::Execution(e) => keys.push(Key::Execution(e.run_id, e.run_attempt)),
                Effect::Job(j) => keys.push(Key::Job(j.job_id)),
                Effect::Installation(_)
                | Effect::Issue(_)
                | Effect::PullRequest(_)
                | Effect::Push(_)
                | Effect::Deployment(..) => {}
            }
        }
    }
    // Sizes add up key by key (the empty announcement, each key, a comma between two), so a
    // batch of thousands of keys is serialized once, not once per key.
    let empty = serde_json::to_string(&Announcement { origin: origin.to_string(), changes: Vec::new() })
        .map(|s| s.len())
        .unwrap_or(0);
    let mut payloads = Vec::new();
    let mut current = Announcement { origin: origin.to_string(), changes: Vec::new() };
    let mut size = empty;
    for key in keys {
        let key_size = serde_json::to_string(&key).map(|s| s.len()).unwrap_or(MAX_PAYLOAD);
        let added = key_size + usize::from(!current.changes.is_empty());
        if size + added > MAX_PAYLOAD && !current.changes.is_empty() {
            payloads.push(serde_json::to_string(&current).expect("serializable"));
            current.changes.clear();
            size = empty;
        }
        size += key_size + usize::from(!current.changes.is_empty());
        current.changes.push(key);
    }
    if !current.changes.is_empty() {
        payloads.push(serde_json::to_string(&current).expect("serializable"));
    }
    payloads
}

/// How every announcement from `origin` starts (`origin` is the first field serialized).
fn announcement_prefix(origin: &str) -> String {
    let empty =
        serde_json::to_string(&Announcement { origin: origin.to_string(), changes: Vec::new() }).expect("serializable");
    empty.trim_end_matches("[]}").to_string()
}

/// Announces this replica's changes (PostgreSQL only; nothing on SQLite).
pub async fn announce(channel: &ReplicaChannel, origin: &str, outcomes: &[DeliveryOutcome]) {
    for payload in payloads(origin, outcomes) {
        if let Err(err) = channel.announce(CHANNEL, &payload).await {
            tracing::warn!(error = %err, "could not announce live changes to other replicas");
        }
    }
}

/// Listens for other replicas' announcements for as long as the process runs, reconnecting
/// after errors.
pub async fn listen(channel: ReplicaChannel, origin: String, changes: Changes) {
    let own_prefix = announcement_prefix(&origin);
    loop {
        match channel.listen(CHANNEL).await {
            Ok(mut listener) => loop {
                match listener.next().await {
                    // This replica's own announcements come back too: skipped unread.
                    Ok(payload) if payload.starts_with(&own_prefix) => {}
                    Ok(payload) => match serde_json::from_str::<Announcement>(&payload) {
                        Ok(a) if a.origin != origin => changes.push(Batch::Remote(a)),
                        Ok(_) => {}
                        Err(err) => tracing::warn!(error = %err, "unreadable live announcement"),
                    },
                    Err(err) => {
                        tracing::warn!(error = %err, "live announcements interrupted; reconnecting");
                        break;
                    }
                }
            },
            Err(err) => tracing::warn!(error = %err, "cannot listen for other replicas' live changes"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_announcements_are_recognised_by_their_start() {
        let prefix = announcement_prefix("replica-1");
        assert_eq!(prefix, r#"{"origin":"replica-1","changes":"#);
        let outcome =
            DeliveryOutcome { guid: "g".into(), status: DeliveryStatus::Processed, duplicate: false, changed: vec![] };
        let own = payloads("replica-1", std::slice::from_ref(&outcome));
        assert!(own.iter().all(|p| p.starts_with(&prefix)));
        assert!(payloads("replica-12", &[outcome]).iter().all(|p| !p.starts_with(&prefix)));
    }

    #[test]
    fn splits_large_announcements() {
        let outcomes: Vec<DeliveryOutcome> = (0..500)
            .map(|i| DeliveryOutcome {
                guid: format!("0000000-{i:08}-aaaa-bbbb-cccccccccccc"),
                status: DeliveryStatus::Processed,
                duplicate: false,
                changed: vec![],
            })
            .collect();
        let payloads = payloads("me", &outcomes);
        assert!(payloads.len() > 1);
        let mut seen = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            assert!(p.len() <= MAX_PAYLOAD);
            // Every payload but the last is full: one more key would not have fitted.
            if i + 1 < payloads.len() {
                assert!(p.len() + 80 > MAX_PAYLOAD, "payload {i} holds only {} bytes", p.len());
            }
            seen.extend(serde_json::from_str::<Announcement>(p).unwrap().changes);
        }
        let guids: Vec<String> = seen
            .into_iter()
            .map(|k| match k {
                Key::Delivery(guid, ..) => guid,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(guids, outcomes.iter().map(|o| o.guid.clone()).collect::<Vec<_>>());
    }
}
