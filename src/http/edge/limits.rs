//! Limits on request bodies read before anyone is authenticated (issue 20):
//!
//! - every body (both listeners) is read against a deadline and, after a grace period, a minimum
//!   transfer rate (`TimedPayload`); past either the request is answered 408;
//! - webhook bodies, read before their signature can be checked, hold a share of a process-wide
//!   budget: a number of concurrent unverified reads and a number of unverified bytes in memory
//!   (`UnverifiedRead`, released when dropped). When spent, a delivery is answered 503 with
//!   `Retry-After` without its body being read.
//!
//! Three rules keep attackers that spend the budget from starving GitHub's deliveries, which arrive
//! whole and fast: a read slot is taken only when a read waits for the network (more than
//! `SLOT_AFTER` for its next data; a body arriving promptly is read without one), one client
//! address may hold at most an eighth of the slots, and a read past `SMALL_READ` may not take the
//! last quarter of the byte budget, which stays for small bodies.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::error::PayloadError;
use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// How long a read may wait for data before it needs a read slot.
pub const SLOT_AFTER: Duration = Duration::from_millis(50);

/// A read holding more than this may not take the budget's last quarter.
pub const SMALL_READ: usize = 1024 * 1024;

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
    /// Bytes only reads under `SMALL_READ` may take.
    headroom: usize,
    /// Most slots one client address may hold.
    per_address: usize,
    /// Slots held, by client address.
    holders: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Limits {
    pub fn new(body_timeout: Duration, min_rate: u64, unverified_bytes: usize, unverified_reads: usize) -> Self {
        Limits {
            body_timeout,
            min_rate,
            bytes: Arc::new(Semaphore::new(unverified_bytes.min(Semaphore::MAX_PERMITS))),
            reads: Arc::new(Semaphore::new(unverified_reads.min(Semaphore::MAX_PERMITS))),
            headroom: unverified_bytes / 4,
            per_address: (unverified_reads / 8).max(1),
            holders: Arc::default(),
        }
    }

    /// One unverified read from `client`, or `None` when no byte of the budget is left (refused
    /// unread).
    pub fn start_unverified(&self, client: Option<IpAddr>) -> Option<UnverifiedRead> {
        if self.bytes.available_permits() == 0 {
            return None;
        }
        Some(UnverifiedRead {
            slot: None,
            held: None,
            held_bytes: 0,
            bytes: self.bytes.clone(),
            reads: self.reads.clone(),
            headroom: self.headroom,
            client,
            per_address: self.per_address,
            holders: self.holders.clone(),
        })
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
    slot: Option<OwnedSemaphorePermit>,
    held: Option<OwnedSemaphorePermit>,
    held_bytes: usize,
    bytes: Arc<Semaphore>,
    reads: Arc<Semaphore>,
    headroom: usize,
    client: Option<IpAddr>,
    per_address: usize,
    holders: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl UnverifiedRead {
    /// Takes a read slot before waiting for the network (kept until dropped); false when all
    /// are taken, or when the client's address holds its share.
    pub fn wait_slot(&mut self) -> bool {
        if self.slot.is_some() {
            return true;
        }
        let mut holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = self.client
            && holders.get(&client).is_some_and(|held| *held >= self.per_address)
        {
            return false;
        }
        self.slot = self.reads.clone().try_acquire_owned().ok();
        if let (Some(client), Some(_)) = (self.client, &self.slot) {
            *holders.entry(client).or_default() += 1;
        }
        self.slot.is_some()
    }
}

impl Drop for UnverifiedRead {
    fn drop(&mut self) {
        if let (Some(client), Some(_)) = (self.client, &self.slot) {
            let mut holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(held) = holders.get_mut(&client) {
                *held -= 1;
                if *held == 0 {
                    holders.remove(&client);
                }
            }
        }
    }
}

impl UnverifiedRead {
    /// Takes `n` more bytes of the budget; false when they are not there (for a read past
    /// `SMALL_READ`, when they would cut into the headroom kept for small ones).
    pub fn reserve(&mut self, n: usize) -> bool {
        let Ok(n32) = u32::try_from(n) else { return false };
        if self.held_bytes + n > SMALL_READ && self.bytes.available_permits() < n + self.headroom {
            return false;
        }
        match self.bytes.clone().try_acquire_many_owned(n32) {
            Ok(permit) => {
                self.held_bytes += n;
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
    /// Made the first time the body has to wait (a body already here needs none).
    timer: Option<Pin<Box<Sleep>>>,
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
        TimedPayload { inner, start, deadline, min_rate, grace, received: 0, timer: None, done: false }
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
            let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(next)));
            if timer.deadline() != next {
                timer.as_mut().reset(next);
            }
            match timer.as_mut().poll(cx) {
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
        let mut a = limits.start_unverified(None).unwrap();
        assert!(a.reserve(60) && a.wait_slot());
        assert!(a.reserve(30));
        let mut b = limits.start_unverified(None).unwrap();
        assert!(!b.reserve(20), "only 10 bytes are left");
        assert!(b.wait_slot() && b.wait_slot(), "a read keeps its slot");
        let mut c = limits.start_unverified(None).unwrap();
        assert!(!c.wait_slot(), "both slots are taken");
        assert!(c.reserve(5), "a read that does not wait needs no slot");
        drop(c);
        assert_eq!(limits.unverified_bytes_free(), 10);
        drop(a);
        assert!(b.reserve(20));
        drop(b);
        assert_eq!((limits.unverified_bytes_free(), limits.unverified_reads_free()), (100, 2));
        let mut d = limits.start_unverified(None).unwrap();
        assert!(d.reserve(100));
        assert!(limits.start_unverified(None).is_none(), "no byte left: refused before reading");
    }

    #[test]
    fn one_address_holds_at_most_an_eighth_of_the_slots() {
        let limits = Limits::new(Duration::from_secs(1), 0, 1000, 16);
        let (a, b) = (Some("192.0.2.1".parse().unwrap()), Some("192.0.2.2".parse().unwrap()));
        let mut held: Vec<_> = (0..2).map(|_| limits.start_unverified(a).unwrap()).collect();
        assert!(held.iter_mut().all(|r| r.wait_slot()));
        let mut third = limits.start_unverified(a).unwrap();
        assert!(!third.wait_slot(), "two of sixteen is this address's share");
        let mut other = limits.start_unverified(b).unwrap();
        assert!(other.wait_slot(), "another address still gets one");
        held.pop();
        assert!(third.wait_slot(), "a slot given back can be taken again");
        drop((held, third, other));
        assert_eq!(limits.unverified_reads_free(), 16);
        assert!(limits.holders.lock().unwrap().is_empty());
    }

    #[test]
    fn large_reads_leave_the_last_quarter_to_small_ones() {
        let limits = Limits::new(Duration::from_secs(1), 0, 4 * SMALL_READ, 8);
        let mut large = limits.start_unverified(None).unwrap();
        assert!(large.reserve(SMALL_READ));
        assert!(large.reserve(2 * SMALL_READ), "up to three quarters");
        assert!(!large.reserve(1), "not into the last quarter");
        let mut small = limits.start_unverified(None).unwrap();
        assert!(small.reserve(SMALL_READ), "a small read may take it");
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
