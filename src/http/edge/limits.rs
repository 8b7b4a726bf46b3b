//! Limits on request bodies read before anyone is authenticated (issue 20):
//!
//! - every body (both listeners) is read against a deadline and, after a grace period, a minimum
//!   transfer rate (`TimedPayload`); past either the request is answered 408;
//! - webhook bodies, read before their signature can be checked, hold a share of a process-wide
//!   budget: a number of concurrent unverified reads and a number of unverified bytes in memory
//!   (`UnverifiedRead`, released when dropped). When spent, a delivery is answered 503 with
//!   `Retry-After` without its body being read.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::error::PayloadError;
use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Before this, a body may arrive as slowly as it likes (within the deadline): a TLS proxy or a
/// busy sender may need a moment to start.
pub const MIN_RATE_GRACE: Duration = Duration::from_secs(5);

/// The process-wide limits, shared by both listeners.
#[derive(Debug)]
pub struct Limits {
    /// The longest a request body may take to arrive.
    pub body_timeout: Duration,
    /// Bytes a second a body must average once `MIN_RATE_GRACE` is past (0: no minimum).
    pub min_rate: u64,
    bytes: Arc<Semaphore>,
    reads: Arc<Semaphore>,
}

impl Limits {
    pub fn new(body_timeout: Duration, min_rate: u64, unverified_bytes: usize, unverified_reads: usize) -> Self {
        Limits {
            body_timeout,
            min_rate,
            bytes: Arc::new(Semaphore::new(unverified_bytes.min(Semaphore::MAX_PERMITS))),
            reads: Arc::new(Semaphore::new(unverified_reads.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// A slot for one unverified read, or `None` when all are taken or no byte is left.
    pub fn start_unverified(&self) -> Option<UnverifiedRead> {
        if self.bytes.available_permits() == 0 {
            return None;
        }
        let slot = self.reads.clone().try_acquire_owned().ok()?;
        Some(UnverifiedRead { _slot: slot, held: None, bytes: self.bytes.clone() })
    }

    /// Unverified bytes not held by any read (for tests and metrics).
    pub fn unverified_bytes_free(&self) -> usize {
        self.bytes.available_permits()
    }

    /// Unverified reads that may start now.
    pub fn unverified_reads_free(&self) -> usize {
        self.reads.available_permits()
    }

    /// `payload` read against this deadline and minimum rate.
    pub fn timed<S>(&self, payload: S) -> TimedPayload<S> {
        TimedPayload::new(payload, self.body_timeout, self.min_rate)
    }
}

/// One unverified body being read: its slot and the bytes it holds, given back when dropped.
pub struct UnverifiedRead {
    _slot: OwnedSemaphorePermit,
    held: Option<OwnedSemaphorePermit>,
    bytes: Arc<Semaphore>,
}

impl UnverifiedRead {
    /// Takes `n` more bytes of the budget; false when they are not there.
    pub fn reserve(&mut self, n: usize) -> bool {
        let Ok(n) = u32::try_from(n) else { return false };
        match self.bytes.clone().try_acquire_many_owned(n) {
            Ok(permit) => {
                match &mut self.held {
                    Some(held) => held.merge(permit),
                    None => self.held = Some(permit),
                }
                true
            }
            Err(_) => false,
        }
    }
}

/// Whether a body that has sent `received` bytes in `elapsed` is too slow.
pub fn too_slow(received: u64, elapsed: Duration, min_rate: u64, grace: Duration) -> bool {
    min_rate > 0 && elapsed >= grace && (received as f64) < min_rate as f64 * elapsed.as_secs_f64()
}

/// How a timed-out body read says so: an I/O error of kind `TimedOut` (see `is_timeout`).
fn timeout(message: String) -> PayloadError {
    PayloadError::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, message))
}

/// The message of a body read that ran out of time, if `err` is one.
pub fn timed_out(err: &PayloadError) -> Option<String> {
    match err {
        PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => Some(io.to_string()),
        _ => None,
    }
}

/// A body stream that fails with a timeout (`timed_out`) once its deadline is past, or once it
/// averages less than its minimum rate after the grace period. The check runs while the stream
/// waits for data, so a sender that stops sending is cut off too.
pub struct TimedPayload<S> {
    inner: S,
    start: Instant,
    deadline: Instant,
    min_rate: u64,
    grace: Duration,
    received: u64,
    timer: Pin<Box<Sleep>>,
    done: bool,
}

impl<S> TimedPayload<S> {
    pub fn new(inner: S, limit: Duration, min_rate: u64) -> Self {
        Self::with_grace(inner, limit, min_rate, MIN_RATE_GRACE)
    }

    /// With another grace period than `MIN_RATE_GRACE` (tests).
    pub fn with_grace(inner: S, limit: Duration, min_rate: u64, grace: Duration) -> Self {
        let start = Instant::now();
        let deadline = start + limit;
        TimedPayload {
            inner,
            start,
            deadline,
            min_rate,
            grace,
            received: 0,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
            done: false,
        }
    }
}

impl<S> Stream for TimedPayload<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.received += chunk.len() as u64;
                return Poll::Ready(Some(Ok(chunk)));
            }
            Poll::Ready(other) => {
                this.done = other.is_none();
                return Poll::Ready(other);
            }
            Poll::Pending => {}
        }
        loop {
            let now = Instant::now();
            let elapsed = now - this.start;
            if now >= this.deadline {
                this.done = true;
                let limit = this.deadline - this.start;
                return Poll::Ready(Some(Err(timeout(format!(
                    "Request body not received within {} s",
                    limit.as_secs_f64()
                )))));
            }
            if too_slow(this.received, elapsed, this.min_rate, this.grace) {
                this.done = true;
                return Poll::Ready(Some(Err(timeout(format!(
                    "Request body arriving slower than {} bytes/s",
                    this.min_rate
                )))));
            }
            // Wake at the deadline, or in a second to check the rate again.
            let next = if this.min_rate > 0 {
                this.deadline.min((this.start + this.grace).max(now + Duration::from_secs(1).min(this.grace)))
            } else {
                this.deadline
            };
            if this.timer.deadline() != next {
                this.timer.as_mut().reset(next);
            }
            match this.timer.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn the_rate_counts_only_after_the_grace() {
        let (s, g) = (Duration::from_secs, MIN_RATE_GRACE);
        assert!(!too_slow(0, s(4), 100, g));
        assert!(too_slow(0, s(5), 100, g));
        assert!(too_slow(499, s(5), 100, g));
        assert!(!too_slow(500, s(5), 100, g));
        assert!(!too_slow(0, s(100), 0, g));
    }

    #[test]
    fn the_budget_is_held_while_reading_and_given_back() {
        let limits = Limits::new(Duration::from_secs(1), 0, 100, 2);
        let mut a = limits.start_unverified().unwrap();
        assert!(a.reserve(60));
        assert!(a.reserve(30));
        let mut b = limits.start_unverified().unwrap();
        assert!(!b.reserve(20), "only 10 bytes are left");
        assert!(limits.start_unverified().is_none(), "both reads are taken");
        assert_eq!(limits.unverified_bytes_free(), 10);
        drop(a);
        assert!(b.reserve(20));
        drop(b);
        assert_eq!((limits.unverified_bytes_free(), limits.unverified_reads_free()), (100, 2));
        let mut c = limits.start_unverified().unwrap();
        assert!(c.reserve(100));
        assert!(limits.start_unverified().is_none(), "no byte left: refused before reading");
    }

    #[tokio::test]
    async fn a_stalled_body_times_out() {
        let stalled = || futures_util::stream::pending::<Result<Bytes, PayloadError>>();
        let mut timed = TimedPayload::new(stalled(), Duration::from_millis(300), 0);
        let err = timed.next().await.unwrap().unwrap_err();
        assert_eq!(timed_out(&err).unwrap(), "Request body not received within 0.3 s");
        assert!(timed.next().await.is_none());

        let started = Instant::now();
        let grace = Duration::from_millis(200);
        let mut timed = TimedPayload::with_grace(stalled(), Duration::from_secs(15), 10, grace);
        let err = timed.next().await.unwrap().unwrap_err();
        assert_eq!(timed_out(&err).unwrap(), "Request body arriving slower than 10 bytes/s");
        assert!(started.elapsed() >= grace && started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }
}
