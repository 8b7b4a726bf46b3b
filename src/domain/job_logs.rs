//! Job logs (issue 17): what is kept of a completed job's log, and how its failure is explained.
//!
//! A log is kept as its tail: `Tail` holds at most the cap (plus the chunk arriving) however long
//! the log is, and starts the kept text at a line. A failed job is explained by the name of its
//! first failed step (from the steps GitHub sent with the job) and a message: the first failure
//! annotation's, else the lines around the log's first `##[error]`, else its last lines.

use std::collections::VecDeque;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::status::JobLogState;

/// The longest `error_message` kept, in bytes.
pub const MAX_MESSAGE: usize = 1000;

/// Lines of context kept before a log's first error line.
const CONTEXT_LINES: usize = 5;

/// What ccm knows of one job's log, without the log itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct JobLogSummary {
    pub job_id: i64,
    pub run_id: i64,
    pub run_attempt: i64,
    /// The repository, lowercase.
    pub repository: String,
    pub state: JobLogState,
    /// Why the log is not stored (expired, unavailable, evicted).
    pub reason: Option<String>,
    /// The whole log's size on GitHub, in bytes.
    pub log_bytes: i64,
    /// The size of the tail kept, in bytes (uncompressed).
    pub kept_bytes: i64,
    /// Its size on disk (compressed).
    pub stored_bytes: i64,
    /// True when only the log's tail is kept (it was longer than CCM_JOB_LOG_MAX_MB).
    pub truncated: bool,
    /// The first step that failed, for a failed job.
    pub failed_step: Option<String>,
    /// Why it failed: the first failure annotation, else the log's error lines.
    pub error_message: Option<String>,
    pub fetched_at: DateTime<Utc>,
}

/// A job's log record, with the kept text compressed (LZ4, size-prepended).
#[derive(Debug, Clone, PartialEq)]
pub struct JobLog {
    pub summary: JobLogSummary,
    pub compressed: Option<Vec<u8>>,
}

impl JobLog {
    /// The kept text, if stored.
    pub fn text(&self) -> Option<String> {
        let bytes = lz4_flex::decompress_size_prepended(self.compressed.as_deref()?).ok()?;
        // Valid UTF-8 (GitHub's logs are) is taken as it is; only invalid bytes cost a copy.
        Some(String::from_utf8(bytes).unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned()))
    }
}

/// The tail of a stream of bytes: at most `cap` bytes are held (plus one chunk while it is
/// added), and the total length is counted.
#[derive(Debug)]
pub struct Tail {
    cap: usize,
    chunks: VecDeque<Bytes>,
    held: usize,
    total: u64,
}

impl Tail {
    pub fn new(cap: usize) -> Self {
        Tail { cap, chunks: VecDeque::new(), held: 0, total: 0 }
    }

    pub fn push(&mut self, chunk: Bytes) {
        self.total += chunk.len() as u64;
        self.held += chunk.len();
        self.chunks.push_back(chunk);
        while self.chunks.front().is_some_and(|front| self.held - front.len() >= self.cap) {
            let dropped = self.chunks.pop_front().expect("a front chunk");
            self.held -= dropped.len();
        }
    }

    /// The whole stream's length so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The kept text (the last `cap` bytes, from the first line that starts within them), and
    /// whether anything before it was dropped.
    pub fn finish(self) -> (Vec<u8>, bool) {
        let mut bytes = Vec::with_capacity(self.held);
        for chunk in &self.chunks {
            bytes.extend_from_slice(chunk);
        }
        if bytes.len() <= self.cap && bytes.len() as u64 == self.total {
            return (bytes, false);
        }
        let mut start = bytes.len().saturating_sub(self.cap);
        // From the next whole line, unless the cut falls at one already.
        if start > 0 && bytes[start - 1] != b'\n' {
            start = bytes[start..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |at| start + at + 1);
        }
        (bytes.split_off(start), true)
    }
}

/// The name of the first step of a job that failed, from the steps GitHub sent with the job.
pub fn failed_step(steps: &Value) -> Option<String> {
    steps.as_array()?.iter().find_map(|step| {
        (step.get("conclusion").and_then(Value::as_str) == Some("failure"))
            .then(|| step.get("name").and_then(Value::as_str).map(str::to_string))
            .flatten()
    })
}

/// The first failed step of `job`, if it failed.
pub fn failed_step_of(job: &super::runs::Job) -> Option<String> {
    job.conclusion
        .as_ref()
        .is_some_and(super::status::Conclusion::is_failure)
        .then(|| failed_step(&job.steps.0))
        .flatten()
}

/// Why a run failed: its first failed job, that job's first failed step and its message.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FailureReason {
    pub job_id: i64,
    pub job_name: String,
    pub failed_step: Option<String>,
    /// The job's first failure annotation, else its log's error lines; null until its log is
    /// fetched.
    pub error_message: Option<String>,
}

/// The reason of a failed job, from its log record's step and message when it has them.
pub fn reason_of(job: &super::runs::Job, failed_step: Option<String>, error_message: Option<String>) -> FailureReason {
    FailureReason {
        job_id: job.job_id,
        job_name: job.name.clone(),
        failed_step: failed_step.or_else(|| failed_step_of(job)),
        error_message,
    }
}

/// The message of the first `failure` annotation of a check run's annotations.
pub fn failure_annotation(annotations: &Value) -> Option<String> {
    let first = annotations
        .as_array()?
        .iter()
        .find(|a| a.get("annotation_level").and_then(Value::as_str) == Some("failure"))?;
    let message = first.get("message").and_then(Value::as_str)?.trim();
    (!message.is_empty()).then(|| clip(message))
}

/// A log line without the timestamp GitHub puts before it (`2024-05-01T10:00:00.1234567Z `).
pub fn without_timestamp(line: &str) -> &str {
    let bytes = line.as_bytes();
    let stamped = bytes.len() > 20
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && line.find(' ').is_some_and(|space| space >= 20 && bytes[space - 1] == b'Z');
    if stamped { &line[line.find(' ').expect("checked") + 1..] } else { line }
}

/// Why a job failed, as its log tells: the lines before its first `##[error]` line (within
/// that step's section) and that line; else its last lines.
pub fn error_from_log(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().map(without_timestamp).collect();
    let picked: Vec<&str> = match lines.iter().position(|l| l.contains("##[error]")) {
        Some(at) => {
            let section_start = lines[..at]
                .iter()
                .rposition(|l| l.starts_with("##[group]") || l.starts_with("##[endgroup]"))
                .map_or(0, |i| i + 1);
            let from = at.saturating_sub(CONTEXT_LINES).max(section_start);
            lines[from..=at].to_vec()
        }
        None => {
            let mut last: Vec<&str> =
                lines.iter().rev().filter(|l| !l.trim().is_empty()).take(CONTEXT_LINES).copied().collect();
            last.reverse();
            last
        }
    };
    let message = picked
        .iter()
        .map(|l| l.replace("##[error]", "").trim_end().to_string())
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    (!message.is_empty()).then(|| clip(&message))
}

fn clip(text: &str) -> String {
    if text.len() <= MAX_MESSAGE {
        return text.to_string();
    }
    let mut end = MAX_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> &str {
    if n == 0 {
        return "";
    }
    let trimmed = text.strip_suffix('\n').unwrap_or(text);
    match trimmed.rmatch_indices('\n').nth(n - 1) {
        Some((at, _)) => &text[at + 1..],
        None => text,
    }
}

/// A `Range: bytes=...` header over a body of `len` bytes: the first and last byte, inclusive.
/// `Err` when the range cannot be satisfied (416); `None` for a header that is not one range of
/// bytes (ignored, the whole body is sent).
pub fn byte_range(header: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let range = match (first.is_empty(), last.is_empty()) {
        (true, true) => return None,
        // The last N bytes.
        (true, false) => {
            let n: u64 = last.parse().ok()?;
            if n == 0 || len == 0 {
                return Some(Err(()));
            }
            (len.saturating_sub(n), len - 1)
        }
        (false, _) => {
            let start: u64 = first.parse().ok()?;
            let end: u64 = if last.is_empty() { len.saturating_sub(1) } else { last.parse().ok()? };
            if start >= len || end < start {
                return Some(Err(()));
            }
            (start, end.min(len - 1))
        }
    };
    Some(Ok(range))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_tail_holds_the_cap_and_starts_at_a_line() {
        let mut tail = Tail::new(10);
        for chunk in ["line one\n", "line two\n", "line three\n", "end\n"] {
            tail.push(Bytes::from(chunk));
            assert!(tail.held < 10 + "line three\n".len(), "at most the cap and one chunk");
        }
        assert_eq!(tail.total(), 33);
        let (kept, cut) = tail.finish();
        assert_eq!((String::from_utf8(kept).unwrap(), cut), ("end\n".to_string(), true));

        let mut short = Tail::new(100);
        short.push(Bytes::from("a\nb\n"));
        assert_eq!(short.finish(), (b"a\nb\n".to_vec(), false));

        let mut at_boundary = Tail::new(4);
        at_boundary.push(Bytes::from("abc\ndef\n"));
        assert_eq!(at_boundary.finish(), (b"def\n".to_vec(), true));
    }

    #[test]
    fn the_failed_step_is_the_first_that_failed() {
        let steps = json!([
            {"name": "Set up job", "conclusion": "success"},
            {"name": "Run tests", "conclusion": "failure"},
            {"name": "Deploy", "conclusion": "failure"},
        ]);
        assert_eq!(failed_step(&steps).as_deref(), Some("Run tests"));
        assert_eq!(failed_step(&json!([{"name": "a", "conclusion": "success"}])), None);
        assert_eq!(failed_step(&json!(null)), None);
    }

    #[test]
    fn the_first_failure_annotation_explains_a_failure() {
        let annotations = json!([
            {"annotation_level": "warning", "message": "Node 16 is deprecated"},
            {"annotation_level": "failure", "message": "Process completed with exit code 101."},
        ]);
        assert_eq!(failure_annotation(&annotations).as_deref(), Some("Process completed with exit code 101."));
        assert_eq!(failure_annotation(&json!([])), None);
    }

    #[test]
    fn a_log_explains_a_failure_by_its_first_error() {
        let log = "2024-05-01T10:00:00.0000000Z ##[group]Run cargo test\n\
                   2024-05-01T10:00:00.1000000Z cargo test\n\
                   2024-05-01T10:00:00.2000000Z ##[endgroup]\n\
                   2024-05-01T10:00:01.0000000Z test a ... ok\n\
                   2024-05-01T10:00:02.0000000Z test b ... FAILED\n\
                   2024-05-01T10:00:03.0000000Z ##[error]Process completed with exit code 101.\n\
                   2024-05-01T10:00:04.0000000Z Post job cleanup.\n";
        assert_eq!(
            error_from_log(log).unwrap(),
            "test a ... ok\ntest b ... FAILED\nProcess completed with exit code 101."
        );
        assert_eq!(error_from_log("one\ntwo\n\nthree\n").unwrap(), "one\ntwo\nthree");
        assert_eq!(error_from_log(""), None);
        assert_eq!(without_timestamp("plain line"), "plain line");
        let long = format!("##[error]{}", "x".repeat(5000));
        assert!(error_from_log(&long).unwrap().len() <= MAX_MESSAGE + '…'.len_utf8());
    }

    #[test]
    fn last_lines_counts_from_the_end() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(last_lines("a\nb\nc", 2), "b\nc");
        assert_eq!(last_lines("a\nb\n", 5), "a\nb\n");
        assert_eq!(last_lines("a\nb\n", 0), "");
    }

    #[test]
    fn byte_ranges_follow_rfc_9110() {
        assert_eq!(byte_range("bytes=0-3", 10), Some(Ok((0, 3))));
        assert_eq!(byte_range("bytes=5-", 10), Some(Ok((5, 9))));
        assert_eq!(byte_range("bytes=-4", 10), Some(Ok((6, 9))));
        assert_eq!(byte_range("bytes=-40", 10), Some(Ok((0, 9))));
        assert_eq!(byte_range("bytes=8-100", 10), Some(Ok((8, 9))));
        assert_eq!(byte_range("bytes=10-", 10), Some(Err(())));
        assert_eq!(byte_range("bytes=4-2", 10), Some(Err(())));
        assert_eq!(byte_range("bytes=0-1,4-5", 10), None);
        assert_eq!(byte_range("lines=1-2", 10), None);
    }

    #[test]
    fn a_failed_job_is_explained_by_its_log_record_else_its_steps() {
        use crate::domain::runs::Job;
        use crate::domain::status::{Conclusion, RunStatus};
        let job = |id: i64, name: &str, conclusion: Conclusion| Job {
            job_id: id,
            run_id: 1,
            run_attempt: 1,
            name: name.into(),
            status: RunStatus::Completed,
            conclusion: Some(conclusion),
            runner_name: None,
            html_url: None,
            started_at: None,
            completed_at: None,
            steps: sqlx::types::Json(json!([{"name": "Run tests", "conclusion": "failure"}])),
        };
        // Without a log record, the failing step comes from the job's steps.
        let reason = reason_of(&job(2, "test", Conclusion::Failure), None, None);
        assert_eq!((reason.job_id, reason.job_name.as_str()), (2, "test"));
        assert_eq!((reason.failed_step.as_deref(), reason.error_message), (Some("Run tests"), None));
        // The log record's step and message win.
        let reason =
            reason_of(&job(3, "e2e", Conclusion::TimedOut), Some("Boot".into()), Some("assertion failed".into()));
        assert_eq!(
            (reason.failed_step.as_deref(), reason.error_message.as_deref()),
            (Some("Boot"), Some("assertion failed"))
        );
    }
}
