//! The one way ccm talks to GitHub's REST API.
//!
//! Authentication as GitHub documents it, through octocrab: as the App with an RS256 JWT
//! (jsonwebtoken; `iat` 60 s in the past, `exp` 9 minutes ahead, `iss` the App id), and as an
//! installation with a token from `POST /app/installations/{id}/access_tokens`, cached per
//! installation (one octocrab client each) and renewed 30 s before it expires. With only a
//! personal access token (GHT), every call uses it.
//!
//! Every call goes through `call`, which caps concurrency, refuses to send while calls are paused
//! or the rate limit is exhausted, and records the outcome and rate-limit headers in `health`.
//! Tokens, keys and JWTs never reach an error message or a log: messages are built here from the
//! method, the path and GitHub's own error message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId};
use octocrab::service::middleware::retry::RetryConfig;
use serde_json::Value;
use tokio::sync::{Notify, Semaphore};

use super::config::{Credentials, GithubConfig};
use super::health::{Gate, Health, RateHeaders};
use crate::domain::clock;
use crate::store::Store;

/// Whom a call is made as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum As {
    /// The App itself (JWT): `/app/...`, `/repos/{o}/{r}/installation`.
    App,
    /// An installation (its token): repository calls.
    Installation(u64),
    /// The personal access token (GHT mode).
    Token,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum GhError {
    #[error("the GitHub App is not configured")]
    NotConfigured,
    #[error("GitHub calls are paused until {} after repeated failures", clock::format(.0))]
    Paused(DateTime<Utc>),
    #[error("GitHub rate limit: waiting until {}", clock::format(.0))]
    RateLimited(DateTime<Utc>),
    /// A network failure or a 5xx: worth retrying.
    #[error("{0}")]
    Unavailable(String),
    /// GitHub refused (401, 403 without a rate limit, or another 4xx the caller did not expect):
    /// retrying will not help.
    #[error("{message}")]
    Refused { status: u16, message: String },
    /// The App's credentials cannot be used (a key that cannot sign the JWT, a client that cannot
    /// act as an installation): nothing was sent, and retrying will not help.
    #[error("{0}")]
    Credentials(String),
    /// An outbox job that cannot be run as stored (an unknown kind, or a payload that does not
    /// fit its kind): retrying will not help.
    #[error("{0}")]
    InvalidJob(String),
}

impl GhError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, GhError::Paused(_) | GhError::RateLimited(_) | GhError::Unavailable(_))
    }

    /// When a retry makes sense at the earliest.
    pub fn not_before(&self) -> Option<DateTime<Utc>> {
        match self {
            GhError::Paused(t) | GhError::RateLimited(t) => Some(*t),
            _ => None,
        }
    }
}

/// A response GitHub gave (2xx, or a 4xx that answers the question, such as 404).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// The `rel="next"` link, as a path and query.
    pub next: Option<String>,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// This reply if 2xx, else a `Refused` error describing it.
    pub fn success(self, what: &str) -> Result<Reply, GhError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(GhError::Refused {
                status: self.status,
                message: format!("{what}: {}", describe(self.status, &self.body)),
            })
        }
    }
}

fn describe(status: u16, body: &Value) -> String {
    match body.get("message").and_then(Value::as_str) {
        Some(message) => format!("GitHub answered {status}: {}", truncate(message, 300)),
        None => format!("GitHub answered {status}"),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// What `download_tail` got.
#[derive(Debug, Clone, PartialEq)]
pub enum Download {
    /// The file's last bytes (from a line), whether anything before them was dropped, and the
    /// whole file's size.
    Body { kept: Vec<u8>, truncated: bool, total: u64 },
    /// GitHub no longer has it (404 or 410).
    Gone(u16),
}

pub struct GithubClient {
    pub config: GithubConfig,
    root: Arc<Octocrab>,
    app: bool,
    /// One client per installation, shared (not cloned: a clone would copy, not share, the
    /// token cache).
    installations: Mutex<HashMap<u64, Arc<Octocrab>>>,
    pub health: Health,
    permits: Semaphore,
    /// Wakes the outbox worker when a job is queued.
    pub wake: Notify,
}

impl GithubClient {
    /// A client for the configured credentials, or `None` when there are none. Must run inside
    /// the tokio runtime (octocrab spawns a task).
    pub fn new(config: GithubConfig) -> anyhow::Result<Option<Arc<Self>>> {
        let Some(credentials) = config.credentials.clone() else {
            return Ok(None);
        };
        let builder = Octocrab::builder()
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(config.request_timeout));
        let (builder, app) = match &credentials {
            Credentials::App { app_id, private_key } => {
                let key = octocrab::jsonwebtoken::EncodingKey::from_rsa_pem(private_key.expose().as_bytes())
                    .map_err(|_| anyhow::anyhow!("the GitHub App's private key is not an RSA key in PEM form"))?;
                (builder.app(AppId(*app_id), key), true)
            }
            Credentials::Token(token) => (builder.personal_token(token.expose().to_string()), false),
        };
        let root = builder
            .base_uri(config.api_url.as_str())
            .map_err(|_| anyhow::anyhow!("GITHUB_API_URL is not a usable URL"))?
            .build()
            .map_err(|e| anyhow::anyhow!("building the GitHub client: {e}"))?;
        let health = Health::new(config.pause_after_failures, config.pause_base, config.retry_max);
        let permits = Semaphore::new(config.concurrency.max(1));
        Ok(Some(Arc::new(GithubClient {
            config,
            root: Arc::new(root),
            app,
            installations: Mutex::new(HashMap::new()),
            health,
            permits,
            wake: Notify::new(),
        })))
    }

    pub fn is_app(&self) -> bool {
        self.app
    }

    /// The client for an installation, created once so its token cache is reused.
    fn installation(&self, id: u64) -> Result<Arc<Octocrab>, GhError> {
        let mut map = self.installations.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = map.get(&id) {
            return Ok(client.clone());
        }
        let client = Arc::new(
            self.root
                .installation(InstallationId(id))
                .map_err(|_| GhError::Credentials(format!("cannot act as installation {id}")))?,
        );
        map.insert(id, client.clone());
        Ok(client)
    }

    /// Whom to call a repository's endpoints as: its installation (known from installation
    /// events, else asked of GitHub), or the personal access token.
    /// `Ok(None)`: the App is not installed on the repository (or it does not exist).
    pub async fn repo_auth(&self, store: &dyn Store, repo: &str) -> Result<Option<As>, GhError> {
        if !self.app {
            return Ok(Some(As::Token));
        }
        match store.installation_for_repository(repo).await {
            Ok(Some(id)) if id > 0 => return Ok(Some(As::Installation(id as u64))),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "reading installations failed; asking GitHub"),
        }
        let reply = self.call(As::App, Method::Get, &format!("/repos/{repo}/installation"), None).await?;
        if reply.status == 404 {
            return Ok(None);
        }
        let reply = reply.success(&format!("looking up the installation of {repo}"))?;
        let id = reply.body.get("id").and_then(Value::as_u64).ok_or_else(|| GhError::Refused {
            status: reply.status,
            message: "GitHub's installation answer has no id".into(),
        })?;
        // Remember it, as an installation_repositories event would have told us.
        let change = crate::store::InstallationChange::RepositoriesAdded {
            id: id as i64,
            account: reply.body.pointer("/account/login").and_then(Value::as_str).map(str::to_string),
            repositories: vec![repo.to_string()],
        };
        if let Err(err) = store.apply_installation_change(&change).await {
            tracing::warn!(error = %err, "could not record the installation of {repo}");
        }
        Ok(Some(As::Installation(id)))
    }

    /// One REST call. `path` is a path and query (`/repos/o/r/...`).
    ///
    /// A 401 to the App's JWT (a call as the App, or an installation token request) is met once by
    /// signing a new JWT and asking again: a clock that was off a moment, a key just rotated. A
    /// 401 to an installation's token is met by octocrab, which fetches a new token and asks
    /// again once. A second 401 is GitHub's answer.
    pub async fn call(&self, who: As, method: Method, path: &str, body: Option<&Value>) -> Result<Reply, GhError> {
        let (result, jwt_refused) = self.call_once(who, method, path, body).await;
        if !jwt_refused {
            return result;
        }
        if let As::Installation(id) = who {
            self.installations.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        }
        tracing::info!(call = %format!("{} {}", method.as_str(), path_only(path)),
            "GitHub refused the App's JWT (401): signing a new one and asking once more");
        self.call_once(who, method, path, body).await.0
    }

    /// One try of `call`; and whether it met a 401 to the App's JWT.
    async fn call_once(
        &self,
        who: As,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (Result<Reply, GhError>, bool) {
        let mut token_refused = false;
        let result = self.send(who, method, path, body, &mut token_refused).await;
        let answered_401 = matches!(result, Err(GhError::Refused { status: 401, .. }));
        (result, token_refused || (answered_401 && who == As::App))
    }

    /// Whether a call may be sent now (not paused, not rate-limited), a concurrency permit held
    /// while it runs, and the client to send it with for `who`.
    async fn admit(&self, who: As) -> Result<(tokio::sync::SemaphorePermit<'_>, Arc<Octocrab>), GhError> {
        match self.health.gate(clock::now()) {
            Gate::Open => {}
            Gate::Paused(until) => return Err(GhError::Paused(until)),
            Gate::RateLimited(until) => return Err(GhError::RateLimited(until)),
        }
        let permit = self.permits.acquire().await.map_err(|_| GhError::Unavailable("client shut down".into()))?;
        let client = match who {
            As::Installation(id) if self.app => self.installation(id)?,
            As::App if !self.app => return Err(GhError::NotConfigured),
            _ => self.root.clone(),
        };
        Ok((permit, client))
    }

    /// `token_refused` is set when an installation token request was answered 401 (the call
    /// itself was not sent).
    async fn send(
        &self,
        who: As,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token_refused: &mut bool,
    ) -> Result<Reply, GhError> {
        let (_permit, client) = self.admit(who).await?;
        let what = format!("{} {}", method.as_str(), path_only(path));
        let sent = match method {
            Method::Get => client._get(path).await,
            Method::Post => client._post(path, body).await,
            Method::Patch => client._patch(path, body).await,
        };
        let response = match sent {
            Ok(response) => response,
            Err(err) => {
                let error = classify_octocrab_error(&what, &err);
                match &err {
                    // Signing failed: nothing was sent.
                    octocrab::Error::JWT { .. } => {}
                    // Calls return their status as it is: an error with a status is the installation
                    // token request's.
                    octocrab::Error::GitHub { source, .. } => {
                        *token_refused = source.status_code.as_u16() == 401;
                        self.health.record_call(Some(source.status_code.as_u16()))
                    }
                    _ => self.health.record_call(None),
                }
                self.record_error(&error, clock::now());
                tracing::warn!(call = %what, error = %error, "GitHub call failed");
                return Err(error);
            }
        };
        let status = response.status().as_u16();
        self.health.record_call(Some(status));
        let headers = rate_headers(response.headers(), clock::now());
        let next = response
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(next_link)
            .map(|url| strip_base(&url, &self.config.api_url));
        let text = match client.body_to_string(response).await {
            Ok(text) => text,
            Err(_) => {
                let error = GhError::Unavailable(format!("{what}: the response body could not be read"));
                self.health.record_failure(&error.to_string(), clock::now());
                return Err(error);
            }
        };
        let body: Value =
            if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
        let now = clock::now();
        self.health.observe_rate(&headers, now);

        if let Some(until) = rate_limited_until(status, &headers, &body, now) {
            let error = GhError::RateLimited(until);
            self.health.record_rate_limited(&format!("{what}: {}", describe(status, &body)), until, now);
            tracing::warn!(call = %what, status, until = %clock::format(&until), "GitHub rate limit");
            return Err(error);
        }
        match status {
            200..=399 | 400 | 404 | 409 | 410 | 422 => {
                self.health.record_success(now);
                Ok(Reply { status, body, next })
            }
            500.. => {
                let error = GhError::Unavailable(format!("{what}: {}", describe(status, &body)));
                self.health.record_failure(&error.to_string(), now);
                tracing::warn!(call = %what, status, "GitHub server error");
                Err(error)
            }
            _ => {
                let error = GhError::Refused { status, message: format!("{what}: {}", describe(status, &body)) };
                self.record_error(&error, now);
                tracing::warn!(call = %what, status, "GitHub refused the call");
                Err(error)
            }
        }
    }

    /// `GET path` for a file GitHub answers with a redirect to its download host (a job's log):
    /// the redirect is followed, without the credentials when it leaves GitHub's host (octocrab's
    /// redirect policy drops them across origins), and the body is read as it arrives, keeping
    /// only its last `cap` bytes: memory stays bounded however large the file.
    pub async fn download_tail(&self, who: As, path: &str, cap: usize) -> Result<Download, GhError> {
        use http_body_util::BodyExt;

        let (_permit, client) = self.admit(who).await?;
        let what = format!("GET {}", path_only(path));
        let response = match client._get(path).await {
            Ok(response) => response,
            Err(err) => {
                let error = classify_octocrab_error(&what, &err);
                self.record_error(&error, clock::now());
                tracing::warn!(call = %what, error = %error, "GitHub download failed");
                return Err(error);
            }
        };
        let status = response.status().as_u16();
        self.health.record_call(Some(status));
        let headers = rate_headers(response.headers(), clock::now());
        self.health.observe_rate(&headers, clock::now());
        if !(200..300).contains(&status) {
            let body = client.body_to_string(response).await.unwrap_or_default();
            let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let now = clock::now();
            if let Some(until) = rate_limited_until(status, &headers, &body, now) {
                self.health.record_rate_limited(&format!("{what}: {}", describe(status, &body)), until, now);
                return Err(GhError::RateLimited(until));
            }
            return match status {
                404 | 410 => {
                    self.health.record_success(now);
                    Ok(Download::Gone(status))
                }
                500.. => {
                    let error = GhError::Unavailable(format!("{what}: {}", describe(status, &body)));
                    self.health.record_failure(&error.to_string(), now);
                    Err(error)
                }
                _ => {
                    let error = GhError::Refused { status, message: format!("{what}: {}", describe(status, &body)) };
                    self.record_error(&error, now);
                    Err(error)
                }
            };
        }
        let mut tail = crate::domain::job_logs::Tail::new(cap);
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| GhError::Unavailable(format!("{what}: the download was cut off")))?;
            if let Ok(data) = frame.into_data() {
                tail.push(data);
            }
        }
        self.health.record_success(clock::now());
        let total = tail.total();
        let (kept, truncated) = tail.finish();
        Ok(Download::Body { kept, truncated, total })
    }

    /// A failed call in the health counts. Only GitHub's own failures (no answer, a 5xx, a 429)
    /// count towards the pause of every call: a refusal (401, 403, another 4xx) is about one
    /// call's credentials or repository, and pausing the others would not help.
    fn record_error(&self, error: &GhError, now: DateTime<Utc>) {
        if error.is_retryable() {
            self.health.record_failure(&error.to_string(), now);
        } else {
            self.health.record_refusal(&error.to_string(), now);
        }
    }
}

fn path_only(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

fn classify_octocrab_error(what: &str, err: &octocrab::Error) -> GhError {
    match err {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code.as_u16();
            let message = format!("{what}: GitHub answered {status}: {}", truncate(&source.message, 300));
            if status >= 500 || status == 429 {
                GhError::Unavailable(message)
            } else {
                GhError::Refused { status, message }
            }
        }
        // Transport errors: never include the error's own text, which could carry a URL with
        // credentials in other setups; the kind is enough.
        octocrab::Error::Hyper { .. } | octocrab::Error::Service { .. } | octocrab::Error::Http { .. } => {
            GhError::Unavailable(format!("{what}: GitHub is unreachable"))
        }
        octocrab::Error::JWT { .. } => GhError::Credentials(format!("{what}: cannot sign the app JWT")),
        // serde errors name a position and an expected type, never the input.
        octocrab::Error::Serde { source, .. } => {
            GhError::Unavailable(format!("{what}: GitHub's answer (to the token request) is malformed: {source}"))
        }
        octocrab::Error::Json { source, .. } => {
            GhError::Unavailable(format!("{what}: GitHub's answer (to the token request) is malformed: {source}"))
        }
        _ => GhError::Unavailable(format!("{what}: the call failed")),
    }
}

fn header_str(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn header_i64(headers: &http::HeaderMap, name: &str) -> Option<i64> {
    header_str(headers, name).and_then(|v| v.trim().parse().ok())
}

pub fn rate_headers(headers: &http::HeaderMap, now: DateTime<Utc>) -> RateHeaders {
    RateHeaders {
        limit: header_i64(headers, "x-ratelimit-limit"),
        remaining: header_i64(headers, "x-ratelimit-remaining"),
        reset: header_i64(headers, "x-ratelimit-reset").and_then(|s| DateTime::from_timestamp(s, 0)),
        retry_after: header_str(headers, "retry-after").and_then(|v| parse_retry_after(&v, now)),
    }
}

/// `retry-after` in seconds, or as an HTTP date.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value.trim()).ok()?.with_timezone(&Utc);
    (at - now).to_std().ok()
}

/// When a 403 or 429 is a rate limit, until when to wait: `retry-after` first, then an
/// exhausted `x-ratelimit-remaining` until `x-ratelimit-reset`, then GitHub's secondary limits
/// (at least a minute, as GitHub asks).
pub fn rate_limited_until(
    status: u16,
    headers: &RateHeaders,
    body: &Value,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if status != 403 && status != 429 {
        return None;
    }
    if let Some(after) = headers.retry_after {
        return Some(now + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::seconds(60)));
    }
    if headers.remaining == Some(0) {
        return Some(headers.reset.filter(|r| *r > now).unwrap_or(now + chrono::Duration::seconds(60)));
    }
    let message = body.get("message").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
    if status == 429 || message.contains("secondary rate limit") || message.contains("rate limit") {
        return Some(now + chrono::Duration::seconds(60));
    }
    None
}

/// The `rel="next"` URL of a `link` header.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_string())
    })
}

/// A full API URL as a path and query relative to the configured API root.
fn strip_base(url: &str, api_url: &str) -> String {
    if let Some(rest) = url.strip_prefix(api_url) {
        return rest.to_string();
    }
    match reqwest::Url::parse(url) {
        Ok(parsed) => {
            let base_path =
                reqwest::Url::parse(api_url).map(|u| u.path().trim_end_matches('/').to_string()).unwrap_or_default();
            let path = parsed.path().strip_prefix(base_path.as_str()).unwrap_or(parsed.path()).to_string();
            match parsed.query() {
                Some(q) => format!("{path}?{q}"),
                None => path,
            }
        }
        Err(_) => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_next_links() {
        let link = r#"<https://api.github.com/app/hook/deliveries?per_page=2&cursor=abc>; rel="next", <https://x/y>; rel="prev""#;
        let next = next_link(link).unwrap();
        assert_eq!(strip_base(&next, "https://api.github.com"), "/app/hook/deliveries?per_page=2&cursor=abc");
        assert_eq!(next_link(r#"<https://x/y>; rel="prev""#), None);
        assert_eq!(
            strip_base("https://ghe.local/api/v3/repos/a/b?page=2", "https://ghe.local/api/v3"),
            "/repos/a/b?page=2"
        );
    }

    #[test]
    fn failures_without_an_http_status_are_permanent() {
        for err in [GhError::Credentials("cannot act as installation 1".into()), GhError::InvalidJob("bad".into())] {
            assert!(!err.is_retryable() && err.not_before().is_none(), "{err:?}");
        }
        let message = "outbox job of kind 'x' cannot be run: unknown variant `x`";
        assert_eq!(GhError::InvalidJob(message.into()).to_string(), message);
    }

    #[test]
    fn recognises_rate_limits() {
        let now = clock::now();
        let with_retry = RateHeaders { retry_after: Some(Duration::from_secs(3)), ..Default::default() };
        assert_eq!(rate_limited_until(403, &with_retry, &json!({}), now), Some(now + chrono::Duration::seconds(3)));
        let reset = now + chrono::Duration::seconds(100);
        let exhausted = RateHeaders { remaining: Some(0), reset: Some(reset), ..Default::default() };
        assert_eq!(rate_limited_until(403, &exhausted, &json!({}), now), Some(reset));
        let secondary = json!({"message": "You have exceeded a secondary rate limit"});
        assert_eq!(
            rate_limited_until(403, &RateHeaders::default(), &secondary, now),
            Some(now + chrono::Duration::seconds(60))
        );
        assert_eq!(
            rate_limited_until(403, &RateHeaders::default(), &json!({"message": "Resource not accessible"}), now),
            None
        );
        assert_eq!(rate_limited_until(500, &with_retry, &json!({}), now), None);
    }
}
