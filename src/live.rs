//! Live updates: changes are published here and streamed to server-sent-event subscribers. A
//! short history is kept so a client that reconnects with `Last-Event-ID` misses nothing recent.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::broadcast;

/// How many recent events are kept for clients that reconnect.
const HISTORY: usize = 1024;

/// Event streams open at once, unless set otherwise (`CCM_MAX_EVENT_STREAMS`).
pub const DEFAULT_MAX_STREAMS: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub struct LiveEvent {
    pub id: u64,
    /// `execution`, `job`, `stats`, `delivery` or `log` (a job's log arrived).
    pub kind: &'static str,
    /// The pipeline the event is about, if any.
    pub pipeline_id: Option<String>,
    /// The event's JSON, written once when it is published (however many subscribers read it).
    pub data: String,
}

pub struct Live {
    sender: broadcast::Sender<Arc<LiveEvent>>,
    state: Mutex<History>,
    /// Set when the server shuts down: open event streams end, so that a stop does not wait for
    /// them (clients reconnect, to another replica or to the restarted one, with Last-Event-ID).
    closing: tokio::sync::watch::Sender<bool>,
    /// Event streams open now, and the most allowed at once.
    streams: Arc<AtomicUsize>,
    max_streams: AtomicUsize,
}

/// One open event stream, counted until dropped.
pub struct StreamSlot(Arc<AtomicUsize>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

struct History {
    next_id: u64,
    recent: VecDeque<Arc<LiveEvent>>,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    pub fn new() -> Self {
        // Ids start from the clock (microseconds), so after a restart they are larger than any
        // id a client saw before and a resuming client gets the new events.
        let start = chrono::Utc::now().timestamp_micros().max(1) as u64;
        let (sender, _) = broadcast::channel(HISTORY);
        Live {
            sender,
            state: Mutex::new(History { next_id: start, recent: VecDeque::with_capacity(HISTORY) }),
            closing: tokio::sync::watch::Sender::new(false),
            streams: Arc::new(AtomicUsize::new(0)),
            max_streams: AtomicUsize::new(DEFAULT_MAX_STREAMS),
        }
    }

    pub fn set_max_streams(&self, max: usize) {
        self.max_streams.store(max, Ordering::Release);
    }

    pub fn max_streams(&self) -> usize {
        self.max_streams.load(Ordering::Acquire)
    }

    /// A slot for one more event stream, or `None` when the most allowed are open.
    pub fn open_stream(&self) -> Option<StreamSlot> {
        let max = self.max_streams();
        self.streams.fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| (open < max).then_some(open + 1)).ok()?;
        Some(StreamSlot(self.streams.clone()))
    }

    /// Ends every open event stream, now and from now on.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once `close` has been called.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closed| *closed).await;
        }
    }

    pub fn has_subscribers(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    pub fn publish(&self, kind: &'static str, pipeline_id: Option<String>, data: &impl serde::Serialize) {
        let data = serde_json::to_string(data).expect("live events serialize");
        self.publish_json(kind, pipeline_id, data);
    }

    /// Publishes JSON written already.
    pub fn publish_json(&self, kind: &'static str, pipeline_id: Option<String>, data: String) {
        let mut state = self.state.lock().expect("live history lock");
        let event = Arc::new(LiveEvent { id: state.next_id, kind, pipeline_id, data });
        state.next_id += 1;
        if state.recent.len() == HISTORY {
            state.recent.pop_front();
        }
        state.recent.push_back(event.clone());
        // No subscriber is not an error.
        let _ = self.sender.send(event);
    }

    /// A receiver for new events, and the kept events after `last_id` (all kept ones when the
    /// id is older than the history), with no gap and no overlap between the two.
    pub fn subscribe(&self, last_id: Option<u64>) -> (Vec<Arc<LiveEvent>>, broadcast::Receiver<Arc<LiveEvent>>) {
        let state = self.state.lock().expect("live history lock");
        let receiver = self.sender.subscribe();
        let backlog = match last_id {
            Some(last) => state.recent.iter().filter(|e| e.id > last).cloned().collect(),
            None => Vec::new(),
        };
        (backlog, receiver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn streams_are_counted_up_to_the_limit() {
        let live = Live::new();
        live.set_max_streams(2);
        let (a, b) = (live.open_stream().unwrap(), live.open_stream().unwrap());
        assert!(live.open_stream().is_none());
        drop(a);
        let c = live.open_stream().expect("a slot was freed");
        assert!(live.open_stream().is_none());
        drop((b, c));
        assert!(live.open_stream().is_some());
    }

    #[tokio::test]
    async fn resumes_after_the_last_seen_id() {
        let live = Live::new();
        live.publish("stats", Some("p".into()), &json!(1));
        let (_, mut first) = live.subscribe(None);
        live.publish("stats", Some("p".into()), &json!(2));
        let seen = first.recv().await.unwrap();
        assert_eq!(seen.data, "2");
        live.publish("stats", None, &json!(3));
        let (backlog, _) = live.subscribe(Some(seen.id));
        assert_eq!(backlog.iter().map(|e| e.data.clone()).collect::<Vec<_>>(), vec!["3"]);
        let (all, _) = live.subscribe(Some(0));
        assert_eq!(all.len(), 3);
        assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    }
}
