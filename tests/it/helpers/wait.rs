//! Waiting for something to happen: the one way the tests poll. A test waits for the condition it
//! is about to assert (a row, a status, a request seen by the fake GitHub, a log line), never for
//! a fixed time; when the condition does not come, the test fails saying what it waited for and
//! what it saw last.

use std::time::{Duration, Instant};

/// How long a test waits for something before failing (a loaded 2-core machine is slow; a
/// condition that holds returns at once, so this only bounds a failure).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// How often a condition is checked again.
pub const POLL: Duration = Duration::from_millis(20);

/// A time limit for waiting for `what`.
pub struct Deadline {
    what: String,
    limit: Duration,
    end: Instant,
}

impl Deadline {
    pub fn new(what: &str, limit: Duration) -> Self {
        Deadline { what: what.to_string(), limit, end: Instant::now() + limit }
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.end
    }

    /// Fails the test once the limit is past, saying what was awaited and `last` (what was seen
    /// the last time, if anything is worth showing).
    pub fn check(&self, last: impl FnOnce() -> String) {
        if self.expired() {
            let last = last();
            let seen = if last.is_empty() { String::new() } else { format!("; last seen:\n{last}") };
            panic!("timed out after {:?} waiting for {}{seen}", self.limit, self.what);
        }
    }
}

/// Polls `check` until it holds, for at most `PATIENCE`.
pub async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    wait_for(what, PATIENCE, async || if check().await { Ok(()) } else { Err(String::new()) }).await
}

/// Polls `check` until it returns `Ok(value)`, for at most `limit`, and returns the value. Its
/// `Err` says what it saw instead, shown if the wait times out.
pub async fn wait_for<T>(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = Deadline::new(what, limit);
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(last) => last,
        };
        deadline.check(|| last);
        tokio::time::sleep(POLL).await;
    }
}
