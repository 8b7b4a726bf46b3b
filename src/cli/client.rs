//! The HTTP side of the client commands: where the server is, the token, requests and their errors.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use reqwest::Method;
use reqwest::header::HeaderValue;
use serde_json::Value;

use super::error::CliError;
use crate::data_dir;
use crate::http::auth::TOKEN_HEADER;

/// Options every client command takes.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The ccm server.
    #[arg(long, env = "CCM_URL", default_value = "http://127.0.0.1:5000", global = true)]
    pub url: String,

    /// Print the server's JSON answer instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

pub struct Client {
    base: String,
    token: HeaderValue,
    http: reqwest::Client,
    /// No overall timeout: for the event stream, which stays open.
    streaming: reqwest::Client,
}

impl Client {
    pub fn new(args: &ClientArgs) -> Result<Self, CliError> {
        let base = args.url.trim().trim_end_matches('/').to_string();
        let parsed =
            reqwest::Url::parse(&base).map_err(|e| CliError::Usage(format!("CCM_URL '{base}' is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(CliError::Usage(format!("CCM_URL '{base}' must be an http:// or https:// URL")));
        }
        let mut token = HeaderValue::from_str(&api_token()?)
            .map_err(|_| CliError::Usage("the API token holds characters a header cannot carry".into()))?;
        token.set_sensitive(true);
        let user_agent = concat!("ccm-cli/", env!("CARGO_PKG_VERSION"));
        let build = |timeout: Option<Duration>| {
            let mut builder = reqwest::Client::builder()
                .user_agent(user_agent)
                .connect_timeout(Duration::from_secs(10))
                .redirect(same_origin_redirects(&parsed));
            if let Some(timeout) = timeout {
                builder = builder.timeout(timeout);
            }
            builder.build().map_err(|e| CliError::Other(anyhow::anyhow!("cannot set up the HTTP client: {e}")))
        };
        Ok(Client { base, token, http: build(Some(Duration::from_secs(60)))?, streaming: build(None)? })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.send(Method::POST, path, Some(body)).await
    }

    /// Sends a request and returns the JSON answer of a 2xx; anything else is an error.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, CliError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).header(TOKEN_HEADER, &self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.failed(e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.failed(e))?;
        let parsed = serde_json::from_str::<Value>(&text);
        if status.is_success() {
            return parsed.map_err(|_| {
                CliError::Other(anyhow::anyhow!("{} answered {status} with a body that is not JSON", self.base))
            });
        }
        Err(server_error(status.as_u16(), parsed.ok(), &text))
    }

    /// Opens an event stream (`text/event-stream`), resuming after `last_event_id`.
    pub async fn stream(&self, path: &str, last_event_id: Option<&str>) -> Result<reqwest::Response, CliError> {
        let mut request = self
            .streaming
            .get(format!("{}{path}", self.base))
            .header(TOKEN_HEADER, &self.token)
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.map_err(|e| self.failed(e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        Err(server_error(status.as_u16(), serde_json::from_str(&text).ok(), &text))
    }

    /// A request that got no answer: the server is unreachable, or the connection broke.
    pub fn failed(&self, err: reqwest::Error) -> CliError {
        let detail = innermost(&err);
        if err.is_redirect() {
            return CliError::Other(anyhow::anyhow!("{} answered with a redirect: {detail}", self.base));
        }
        if err.is_connect() || err.is_timeout() || err.is_request() {
            CliError::Unreachable { url: self.base.clone(), detail }
        } else {
            CliError::Other(anyhow::anyhow!("the connection to {} broke: {detail}", self.base))
        }
    }
}

/// Redirects are followed only within the server's origin (scheme, host and port): reqwest drops
/// its own credential headers on a redirect elsewhere, but not `CCM-Token`, so a redirect to
/// another origin is refused rather than followed with the token.
fn same_origin_redirects(base: &reqwest::Url) -> reqwest::redirect::Policy {
    let origin = base.origin();
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 10 {
            attempt.error("more than 10 redirects")
        } else if attempt.url().origin() != origin {
            let target = attempt.url().origin().ascii_serialization();
            attempt
                .error(format!("the server redirected to {target}: not followed, the API token goes only to CCM_URL"))
        } else {
            attempt.follow()
        }
    })
}

fn server_error(status: u16, body: Option<Value>, text: &str) -> CliError {
    let message =
        body.as_ref().and_then(|b| b.get("error")).and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| {
            format!("the server answered without a JSON error: {}", text.chars().take(200).collect::<String>())
        });
    CliError::Server { status, message, body: body.unwrap_or(Value::Null) }
}

/// The most specific message of an error chain ("Connection refused (os error 111)").
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// `CCM_API_TOKEN` (the first token when several are listed), else the token `ccm serve` keeps in
/// `CCM_DATA_DIR/api-token`.
fn api_token() -> Result<String, CliError> {
    if let Some(raw) = std::env::var_os("CCM_API_TOKEN") {
        let raw = raw.into_string().map_err(|_| CliError::Usage("CCM_API_TOKEN is not valid UTF-8".into()))?;
        return raw
            .split(',')
            .map(str::trim)
            .find(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| CliError::Usage("CCM_API_TOKEN is set but holds no token".into()));
    }
    let dir = match std::env::var_os("CCM_DATA_DIR") {
        Some(dir) if dir.is_empty() => return Err(CliError::Usage("CCM_DATA_DIR is empty".into())),
        Some(dir) => PathBuf::from(dir),
        None => data_dir::default_dir().ok_or_else(|| {
            CliError::Usage("CCM_API_TOKEN is unset and the home folder is unknown: set CCM_API_TOKEN".into())
        })?,
    };
    let path = dir.join(data_dir::API_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(token) if token.trim().is_empty() => Err(CliError::Usage(format!("{} is empty", path.display()))),
        Ok(token) => Ok(token.trim().to_string()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(CliError::Usage(format!(
            "no API token: set CCM_API_TOKEN, or run `ccm serve` on this machine once so that it writes {}",
            path.display()
        ))),
        Err(err) => Err(CliError::Usage(format!("cannot read {}: {err}", path.display()))),
    }
}

/// `path?name=value&...` with the parameters that are set, URL-encoded.
pub fn with_query(path: &str, params: &[(&str, Option<String>)]) -> String {
    let set: Vec<(&str, &str)> = params.iter().filter_map(|(k, v)| v.as_deref().map(|v| (*k, v))).collect();
    if set.is_empty() {
        return path.to_string();
    }
    format!("{path}?{}", serde_urlencoded::to_string(set).expect("strings always encode"))
}

/// A path segment (an id typed by the operator), percent-encoded.
pub fn segment(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_queries_and_segments() {
        assert_eq!(with_query("/api/x", &[("a", None)]), "/api/x");
        assert_eq!(
            with_query("/api/x", &[("status", Some("active".into())), ("repository", Some("o/r x".into()))]),
            "/api/x?status=active&repository=o%2Fr+x"
        );
        assert_eq!(segment("pipe_abc/../x"), "pipe_abc%2F..%2Fx");
    }
}
