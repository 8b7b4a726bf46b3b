//! A reader of server-sent events (the `text/event-stream` format), fed bytes as they come.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The `event:` field (`message` when absent).
    pub kind: String,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseReader {
    pending: Vec<u8>,
    kind: Option<String>,
    data: Vec<String>,
    last_id: Option<String>,
    retry: Option<Duration>,
}

impl SseReader {
    /// The events completed by `bytes` (a chunk may end in the middle of a line).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(event) = self.line(line) {
                events.push(event);
            }
        }
        events
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let kind = self.kind.take();
            if self.data.is_empty() {
                return None;
            }
            let data = std::mem::take(&mut self.data).join("\n");
            return Some(SseEvent { kind: kind.unwrap_or_else(|| "message".into()), data });
        }
        if line.starts_with(':') {
            return None; // a comment: the server's keep-alive
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.kind = Some(value.to_string()),
            "data" => self.data.push(value.to_string()),
            "id" if !value.contains('\0') => self.last_id = Some(value.to_string()),
            "retry" => {
                if let Ok(ms) = value.parse::<u64>() {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => {}
        }
        None
    }

    /// The last `id:` seen, which a reconnecting client sends as `Last-Event-ID`.
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// The reconnection delay the server asked for, if it did.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// Forgets a half-received event (the connection dropped); keeps the last id and retry.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.kind = None;
        self.data.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_events_split_anywhere() {
        let stream =
            b"retry: 3000\n\n: keep-alive\n\nevent: stats\nid: 7\ndata: {\"a\":\r\ndata: 1}\n\ndata: plain\n\n";
        for split in 1..stream.len() {
            let mut reader = SseReader::default();
            let mut events = reader.feed(&stream[..split]);
            events.extend(reader.feed(&stream[split..]));
            assert_eq!(
                events,
                vec![
                    SseEvent { kind: "stats".into(), data: "{\"a\":\n1}".into() },
                    SseEvent { kind: "message".into(), data: "plain".into() },
                ],
                "split at {split}"
            );
            assert_eq!(reader.retry(), Some(Duration::from_secs(3)));
            assert_eq!(reader.last_id(), Some("7"));
        }
    }

    #[test]
    fn a_reset_drops_the_half_event_but_keeps_the_id() {
        let mut reader = SseReader::default();
        reader.feed(b"id: 4\nevent: x\ndata: 1\n\nevent: y\ndata: 2\n");
        reader.reset();
        assert_eq!(reader.feed(b"\n"), vec![]);
        assert_eq!(reader.last_id(), Some("4"));
    }
}
