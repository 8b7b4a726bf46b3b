//! A fake GitHub on loopback (wiremock) that checks what the real one would: app JWTs signed
//! with the App's key (RS256, checked against the test key's public half, `iss` the App id,
//! `iat`/`exp` as GitHub requires), and the installation token on repository calls.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ccm::github::GithubConfig;
use ccm::github::config::{Credentials, Secret};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

/// TEST-ONLY key pair (tests/fixtures/README.md).
pub const TEST_KEY: &str = include_str!("../../fixtures/test-app-key.pem");
pub const TEST_PUBLIC_KEY: &str = include_str!("../../fixtures/test-app-key.pub.pem");
/// Another TEST-ONLY key, which GitHub would not accept for the test App.
pub const OTHER_KEY: &str = include_str!("../../fixtures/other-test-key.pem");
pub const APP_ID: u64 = 4242;
pub const INSTALLATION_ID: u64 = 77;
pub const INSTALLATION_TOKEN: &str = "ghs_fake_installation_token";

/// A config for tests: the test App, fast timings.
pub fn test_config(api_url: &str) -> GithubConfig {
    GithubConfig {
        api_url: api_url.trim_end_matches('/').to_string(),
        credentials: Some(Credentials::App { app_id: APP_ID, private_key: Secret(TEST_KEY.to_string()) }),
        retry_base: Duration::from_millis(200),
        retry_max: Duration::from_secs(5),
        pause_base: Duration::from_secs(1),
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_secs(60),
        job_logs: ccm::github::config::JobLogSettings {
            sweep_interval: Duration::from_millis(100),
            ..Default::default()
        },
        ..GithubConfig::unconfigured()
    }
}

#[derive(serde::Deserialize)]
struct Claims {
    /// GitHub accepts the App id as a number or a string.
    iss: Value,
    iat: i64,
    exp: i64,
}

/// Matches requests bearing a valid app JWT for the test App.
pub struct AppJwt;

impl Match for AppJwt {
    fn matches(&self, request: &Request) -> bool {
        let Some(token) =
            request.headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_PUBLIC_KEY.as_bytes()).expect("test public key");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        // `iss` is checked below (GitHub takes it as a number or a string).
        validation.set_required_spec_claims(&["exp"]);
        let data = match jsonwebtoken::decode::<Claims>(token, &key, &validation) {
            Ok(data) => data,
            Err(err) => {
                eprintln!("fake GitHub: app JWT refused: {err}");
                return false;
            }
        };
        let now = chrono::Utc::now().timestamp();
        let c = data.claims;
        (c.iss == json!(APP_ID) || c.iss == json!(APP_ID.to_string()))
            && c.iat <= now - 30
            && c.iat >= now - 120
            && c.exp > now
            && c.exp - c.iat <= 660
            && c.exp <= now + 600
    }
}

/// Matches requests bearing the installation token.
pub struct InstallationToken;

impl Match for InstallationToken {
    fn matches(&self, request: &Request) -> bool {
        request.headers.get("authorization").and_then(|v| v.to_str().ok())
            == Some(&format!("Bearer {INSTALLATION_TOKEN}"))
    }
}

pub struct FakeGithub {
    pub server: MockServer,
}

impl FakeGithub {
    /// A fake GitHub where installation INSTALLATION_ID mints INSTALLATION_TOKEN (valid an hour)
    /// for a valid app JWT.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        Self::mount_token(&server, 3600).await;
        FakeGithub { server }
    }

    pub async fn mount_token(server: &MockServer, valid_for_secs: i64) {
        let expires = chrono::Utc::now() + chrono::Duration::seconds(valid_for_secs);
        Mock::given(method("POST"))
            .and(path(format!("/app/installations/{INSTALLATION_ID}/access_tokens")))
            .and(AppJwt)
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "token": INSTALLATION_TOKEN,
                "permissions": {"actions": "write", "contents": "read", "metadata": "read"},
                "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            })))
            .named("access_tokens")
            .mount(server)
            .await;
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// The App is installed on `repo` (asked of GitHub with the app JWT).
    pub async fn installed_on(&self, repo: &str) {
        Mock::given(method("GET"))
            .and(path(format!("/repos/{repo}/installation")))
            .and(AppJwt)
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"id": INSTALLATION_ID, "account": {"login": "octo"}})),
            )
            .mount(&self.server)
            .await;
    }

    /// A repository call that needs the installation token.
    pub fn repo_call(verb: &str, p: impl Into<String>) -> wiremock::MockBuilder {
        Mock::given(method(verb)).and(path(p.into())).and(InstallationToken)
    }

    /// Requests received for `p` (method and path).
    pub async fn requests_to(&self, verb: &str, p: &str) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.method.as_str() == verb && r.url.path() == p)
            .collect()
    }
}

/// A response sequence that records when each request came.
#[derive(Clone)]
pub struct Recorded {
    pub times: Arc<Mutex<Vec<Instant>>>,
    responses: Arc<Mutex<Vec<ResponseTemplate>>>,
    last: ResponseTemplate,
}

impl Recorded {
    /// Answers `first` in order, then `last` forever.
    pub fn new(first: Vec<ResponseTemplate>, last: ResponseTemplate) -> Self {
        let mut first = first;
        first.reverse();
        Recorded { times: Arc::default(), responses: Arc::new(Mutex::new(first)), last }
    }

    pub fn times(&self) -> Vec<Instant> {
        self.times.lock().unwrap().clone()
    }
}

impl Respond for Recorded {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.times.lock().unwrap().push(Instant::now());
        self.responses.lock().unwrap().pop().unwrap_or_else(|| self.last.clone())
    }
}

/// A workflow run as the REST API returns it.
pub fn rest_run(
    id: i64,
    repo: &str,
    status: &str,
    conclusion: Option<&str>,
    created: chrono::DateTime<chrono::Utc>,
) -> Value {
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "id": id, "run_attempt": 1, "run_number": id, "name": "Deploy",
        "path": ".github/workflows/deploy.yml", "status": status, "conclusion": conclusion,
        "head_branch": "main", "head_sha": format!("{id:040x}"), "event": "push",
        "actor": {"login": "octocat"}, "html_url": format!("https://github.com/{repo}/actions/runs/{id}"),
        "created_at": fmt(created), "run_started_at": fmt(created),
        "updated_at": fmt(created + chrono::Duration::seconds(120)),
        "repository": {"full_name": repo}
    })
}

/// GitHub's log of the App's webhook deliveries (`GET /app/hook/deliveries`), newest first, in
/// pages of `per_page` linked by a keyset cursor (the last id of the previous page), as GitHub's
/// are: a page's cursor still names the same place after newer deliveries arrive. A redelivery
/// (`POST /app/hook/deliveries/{id}/attempts`) adds an attempt of the same GUID with
/// `redelivery_status` (as ccm refusing it again would).
#[derive(Clone)]
pub struct DeliveryLog {
    entries: Arc<Mutex<Vec<Value>>>,
    per_page: usize,
    redelivery_status: i64,
    base: String,
}

impl DeliveryLog {
    /// Mounts the log on `gh`, holding `entries` (any order).
    pub async fn mount(gh: &FakeGithub, entries: Vec<Value>, per_page: usize, redelivery_status: i64) -> Self {
        let log = DeliveryLog { entries: Arc::default(), per_page, redelivery_status, base: gh.url() };
        log.add(entries);
        Mock::given(method("GET"))
            .and(path("/app/hook/deliveries"))
            .and(AppJwt)
            .respond_with(log.clone())
            .mount(&gh.server)
            .await;
        Mock::given(method("POST"))
            .and(wiremock::matchers::path_regex(r"^/app/hook/deliveries/\d+/attempts$"))
            .and(AppJwt)
            .respond_with(log.clone())
            .mount(&gh.server)
            .await;
        log
    }

    /// Adds deliveries to the log.
    pub fn add(&self, entries: Vec<Value>) {
        let mut log = self.entries.lock().unwrap();
        log.extend(entries);
        log.sort_by_key(|d| std::cmp::Reverse(d["id"].as_i64().unwrap_or_default()));
    }

    fn page(&self, request: &Request) -> ResponseTemplate {
        let before = request.url.query_pairs().find(|(k, _)| k == "cursor").and_then(|(_, v)| v.parse::<i64>().ok());
        let log = self.entries.lock().unwrap();
        let page: Vec<Value> = log
            .iter()
            .filter(|d| before.is_none_or(|b| d["id"].as_i64().unwrap_or_default() < b))
            .take(self.per_page)
            .cloned()
            .collect();
        let last = page.last().and_then(|d| d["id"].as_i64());
        let more = last.is_some_and(|last| log.iter().any(|d| d["id"].as_i64().unwrap_or_default() < last));
        let mut reply = ResponseTemplate::new(200).set_body_json(page);
        if let (true, Some(last)) = (more, last) {
            let link = format!("<{}/app/hook/deliveries?per_page=100&cursor={last}>; rel=\"next\"", self.base);
            reply = reply.insert_header("link", link.as_str());
        }
        reply
    }

    fn redeliver(&self, request: &Request) -> ResponseTemplate {
        let id: i64 = request.url.path().split('/').nth(4).and_then(|id| id.parse().ok()).unwrap_or_default();
        let mut log = self.entries.lock().unwrap();
        let Some(guid) = log.iter().find(|d| d["id"] == id).map(|d| d["guid"].clone()) else {
            return ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}));
        };
        let next_id = log.iter().filter_map(|d| d["id"].as_i64()).max().unwrap_or_default() + 1;
        let mut attempt = delivery_entry(next_id, guid.as_str().unwrap_or_default(), 0, self.redelivery_status);
        attempt["redelivery"] = json!(true);
        log.insert(0, attempt);
        ResponseTemplate::new(202).set_body_json(json!({}))
    }
}

impl Respond for DeliveryLog {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if request.method.as_str() == "POST" { self.redeliver(request) } else { self.page(request) }
    }
}

/// A delivery as GitHub's log lists it, delivered `ago_minutes` ago with `status_code` (0: no
/// answer).
pub fn delivery_entry(id: i64, guid: &str, ago_minutes: i64, status_code: i64) -> Value {
    let at = chrono::Utc::now() - chrono::Duration::minutes(ago_minutes);
    json!({
        "id": id, "guid": guid, "delivered_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "redelivery": false, "duration": 0.1, "status": if status_code == 200 { "OK" } else { "failed" },
        "status_code": status_code, "event": "workflow_run", "action": "completed"
    })
}
