//! The senders: each one keep-alive connection with one request in flight, writing requests
//! whose bodies and signatures were made before the clock started and reading just the status
//! line and the length of each answer, as `wrk` does. The load generator shares the two cores
//! with ccm; the less it takes of them, the more the figures are ccm's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A body ready to send (its signature does not depend on the delivery's GUID).
pub struct Signed {
    pub event: &'static str,
    pub body: Vec<u8>,
    pub signature: String,
}

/// What the senders share: the bodies, the next delivery's number, when to stop.
pub struct Load {
    pub host: String,
    pub bodies: Vec<Signed>,
    pub next: AtomicUsize,
    /// Send the bodies over and over (each time with a new GUID) until this moment; without it,
    /// each body once.
    pub until: Option<Instant>,
    pub start: Instant,
}

/// One answer: when it came (seconds since `start`), how long it took (ms), and whether 2xx.
#[derive(Clone, Copy)]
pub struct Answer {
    pub at: f64,
    pub ms: f64,
    pub ok: bool,
}

impl Load {
    /// The next request as GitHub would send it, with a GUID of its own; `None` when done.
    fn request(&self, buffer: &mut Vec<u8>) -> Option<()> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let signed = match self.until {
            Some(until) if Instant::now() < until => &self.bodies[i % self.bodies.len()],
            Some(_) => return None,
            None => self.bodies.get(i)?,
        };
        buffer.clear();
        buffer.extend_from_slice(
            format!(
                "POST /webhooks/github HTTP/1.1\r\nHost: {}\r\nUser-Agent: GitHub-Hookshot/bench\r\n\
                 Content-Type: application/json\r\nX-GitHub-Event: {}\r\nX-GitHub-Delivery: bench-{i:012}\r\n\
                 X-Hub-Signature-256: {}\r\nContent-Length: {}\r\n\r\n",
                self.host,
                signed.event,
                signed.signature,
                signed.body.len()
            )
            .as_bytes(),
        );
        buffer.extend_from_slice(&signed.body);
        Some(())
    }
}

/// One sender: posts requests over one keep-alive connection until the load is done.
pub async fn send_all(load: Arc<Load>) -> Vec<Answer> {
    let mut stream = tokio::net::TcpStream::connect(&load.host).await.expect("connect to ccm");
    stream.set_nodelay(true).unwrap();
    let mut answers = Vec::new();
    let (mut request, mut buffer) = (Vec::with_capacity(32 * 1024), Vec::with_capacity(4096));
    while load.request(&mut request).is_some() {
        let t = Instant::now();
        stream.write_all(&request).await.expect("send");
        // Read the head, then as much body as Content-Length says.
        buffer.clear();
        let head_end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            read_more(&mut stream, &mut buffer).await;
        };
        let head = std::str::from_utf8(&buffer[..head_end]).expect("an HTTP head");
        let length: usize = head
            .lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
            .map(|(_, v)| v.trim().parse().expect("a length"))
            .expect("answers carry Content-Length");
        let ok = head.starts_with("HTTP/1.1 2");
        while buffer.len() < head_end + length {
            read_more(&mut stream, &mut buffer).await;
        }
        let done = Instant::now();
        answers.push(Answer {
            at: done.duration_since(load.start).as_secs_f64(),
            ms: done.duration_since(t).as_secs_f64() * 1000.0,
            ok,
        });
    }
    answers
}

async fn read_more(stream: &mut tokio::net::TcpStream, buffer: &mut Vec<u8>) {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await.expect("read");
    assert!(n > 0, "ccm closed the connection");
    buffer.extend_from_slice(&chunk[..n]);
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One second of the measured window: answers, their p50/p99/max, and the batches committed.
pub struct Second {
    pub second: usize,
    pub answers: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// The answers of `[from, to)` seconds, second by second.
pub fn timeline(answers: &[Answer], from: f64, to: f64) -> Vec<Second> {
    let seconds = (to - from).ceil() as usize;
    let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); seconds];
    for a in answers.iter().filter(|a| a.ok && a.at >= from && a.at < to) {
        buckets[((a.at - from) as usize).min(seconds - 1)].push(a.ms);
    }
    buckets
        .into_iter()
        .enumerate()
        .map(|(second, mut ms)| {
            ms.sort_by(f64::total_cmp);
            Second {
                second,
                answers: ms.len(),
                p50: percentile(&ms, 0.5),
                p99: percentile(&ms, 0.99),
                max: ms.last().copied().unwrap_or(f64::NAN),
            }
        })
        .collect()
}
