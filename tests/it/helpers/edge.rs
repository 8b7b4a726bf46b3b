//! Issue 20: the app with edge settings (allow-lists, limits), on one listener or split in two,
//! and a raw TCP client for requests reqwest cannot send (a body trickled or never sent).

use std::net::TcpListener;
use std::time::Duration;

use ccm::http::edge::{EdgeConfig, Listener};
use ccm::http::{ApiTokens, AppState};
use ccm::webhook::WebhookSecrets;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{OTHER_TOKEN, SECRET, TOKEN, TestApp, TestDb};

/// `state` served as `listener` on a free loopback port.
pub fn serve_as(state: AppState, listener: Listener) -> String {
    let tcp = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = tcp.local_addr().unwrap();
    let server = ccm::server::http_server(state, listener, ccm::server::Socket::Bound(tcp), Some(1)).expect("listen");
    actix_web::rt::spawn(server);
    format!("http://{addr}")
}

/// The app with these edge settings; `webhooks` is the webhook listener's base when split.
pub struct EdgeApp {
    pub app: TestApp,
    pub state: AppState,
    pub webhooks: Option<String>,
}

impl EdgeApp {
    /// One listener serving everything.
    pub fn one(db: TestDb, edge: &EdgeConfig) -> Self {
        Self::start(db, edge, false)
    }

    /// Two listeners over one state: `app.base` the API, `webhooks` the webhook path.
    pub fn split(db: TestDb, edge: &EdgeConfig) -> Self {
        Self::start(db, edge, true)
    }

    /// A new process over the same database (one listener), with these settings.
    pub async fn restart(&self, edge: &EdgeConfig) -> Self {
        let store = ccm::store::connect(&self.app.db.url, 5).await.expect("open the database again");
        let db = TestDb { store, url: self.app.db.url.clone(), _dir: tempfile::tempdir().expect("temp dir") };
        Self::start(db, edge, false)
    }

    fn start(db: TestDb, edge: &EdgeConfig, split: bool) -> Self {
        let state = AppState::start(
            db.store.clone(),
            ApiTokens::new(&[TOKEN, OTHER_TOKEN]),
            WebhookSecrets::new(&[SECRET]),
            None,
        )
        .with_edge(edge);
        let (base, webhooks) = if split {
            (serve_as(state.clone(), Listener::Api), Some(serve_as(state.clone(), Listener::Webhooks)))
        } else {
            (serve_as(state.clone(), Listener::All), None)
        };
        let app = TestApp { base, db, client: reqwest::Client::new(), github: None, _workers: None, alerts: None };
        EdgeApp { app, state, webhooks }
    }
}

/// The `host:port` of a base URL.
pub fn host(base: &str) -> &str {
    base.trim_start_matches("http://")
}

/// A raw HTTP/1.1 connection.
pub struct RawClient {
    pub stream: TcpStream,
}

impl RawClient {
    pub async fn connect(base: &str) -> Self {
        RawClient { stream: TcpStream::connect(host(base)).await.expect("connect") }
    }

    /// Sends a request head (the body, if any, is sent separately).
    pub async fn head(&mut self, method: &str, path: &str, headers: &[(&str, String)]) {
        let mut text = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        self.stream.write_all(text.as_bytes()).await.expect("send the head");
    }

    /// Sends bytes; false when the server has closed the connection.
    pub async fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok() && self.stream.flush().await.is_ok()
    }

    /// Reads the answer (see `read_answer`).
    pub async fn answer(&mut self) -> Answer {
        read_answer(&mut self.stream).await
    }
}

/// A status, the headers (lower-case names) and the JSON body.
pub type Answer = (u16, Vec<(String, String)>, serde_json::Value);

/// Reads an answer: the head, then the body until its Content-Length is in; fails if the
/// connection closes first.
pub async fn read_answer(stream: &mut (impl AsyncRead + Unpin)) -> Answer {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let headers: Vec<(String, String)> = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            let length = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
                let body = serde_json::from_slice(&buf[end + 4..end + 4 + length])
                    .unwrap_or_else(|_| panic!("non-JSON answer: {}", String::from_utf8_lossy(&buf)));
                return (status, headers, body);
            }
        }
        let n = stream.read(&mut chunk).await.expect("read the answer");
        assert!(n > 0, "the connection closed before a full answer: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Sends a request head, then its body one byte every `every`, until the server answers (or
/// `bytes` are sent); returns the answer.
pub async fn trickle(base: &str, path: &str, headers: &[(&str, String)], bytes: usize, every: Duration) -> Answer {
    let mut raw = RawClient::connect(base).await;
    raw.head("POST", path, headers).await;
    let (mut reader, mut writer) = raw.stream.into_split();
    let sender = tokio::spawn(async move {
        let mut pace = tokio::time::interval(every);
        for _ in 0..bytes {
            pace.tick().await;
            if writer.write_all(b" ").await.is_err() {
                break;
            }
        }
        writer
    });
    let answer = read_answer(&mut reader).await;
    sender.abort();
    answer
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
