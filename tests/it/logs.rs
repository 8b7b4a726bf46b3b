//! The logs of a real `ccm serve`: with CCM_LOG_FORMAT=json, one JSON object per line, exactly
//! one `http request` line per request id and one `webhook delivery` line per delivery id, and
//! never a token or a secret; plain text otherwise.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::helpers::serve::Serve;

const TOKEN: &str = "log-test-token-must-not-leak-1";
const WRONG_TOKEN: &str = "wrong-token-must-not-leak-2";
const QUERY_SECRET: &str = "query-token-must-not-leak-3";
const SECRET: &str = "log-test-webhook-secret-4";

/// `ccm serve` with its own data folder.
struct Server {
    serve: Serve,
    base: String,
    _data: tempfile::TempDir,
}

impl Server {
    async fn start(format: Option<&str>) -> Server {
        let data = tempfile::tempdir().unwrap();
        let mut envs = vec![
            ("CCM_DATA_DIR", data.path().display().to_string()),
            ("CCM_API_TOKEN", TOKEN.to_string()),
            ("GITHUB_WEBHOOK_SECRET", SECRET.to_string()),
        ];
        if let Some(format) = format {
            envs.push(("CCM_LOG_FORMAT", format.to_string()));
        }
        let serve = Serve::start(&envs).await;
        Server { base: serve.base.clone(), serve, _data: data }
    }

    /// Sends a request; returns its status and request id.
    async fn request(&self, req: reqwest::RequestBuilder) -> (u16, String) {
        let res = req.send().await.expect("request");
        let id = res.headers().get("x-request-id").expect("x-request-id").to_str().unwrap().to_string();
        (res.status().as_u16(), id)
    }

    async fn deliver(&self, guid: &str, body: &[u8], signature: &str) -> (u16, String) {
        let req = reqwest::Client::new()
            .post(format!("{}/webhooks/github", self.base))
            .header("X-GitHub-Event", "workflow_run")
            .header("X-GitHub-Delivery", guid)
            .header("X-Hub-Signature-256", signature)
            .header("Content-Type", "application/json")
            .body(body.to_vec());
        self.request(req).await
    }

    /// Waits until `n` lines have `message`, then returns all the output.
    async fn wait_for_lines(&mut self, message: &str, n: usize) -> String {
        let what = format!("{n} {message:?} lines");
        self.serve.wait_for_output(&what, |output| output.matches(message).count() >= n).await
    }
}

/// A series of requests of every kind; returns (request id -> (method, route, status)) and the
/// delivery ids sent with their expected outcome.
async fn traffic(
    server: &Server,
) -> (BTreeMap<String, (&'static str, &'static str, u16)>, Vec<(String, &'static str)>) {
    let client = reqwest::Client::new();
    let base = &server.base;
    let mut requests = BTreeMap::new();
    let mut note = |(status, id): (u16, String), method, route| {
        assert!(requests.insert(id, (method, route, status)).is_none(), "a request id was reused");
    };
    note(server.request(client.get(format!("{base}/healthz"))).await, "GET", "/healthz");
    note(
        server.request(client.get(format!("{base}/api/pipelines")).header("CCM-Token", TOKEN)).await,
        "GET",
        "/api/pipelines",
    );
    let provision = client
        .post(format!("{base}/api/pipelines/provision"))
        .header("CCM-Token", TOKEN)
        .json(&serde_json::json!({"repo": "octo/logs", "workflow_file": ".github/workflows/deploy.yml"}));
    note(server.request(provision).await, "POST", "/api/pipelines/provision");
    let wrong = client.get(format!("{base}/api/pipelines")).header("CCM-Token", WRONG_TOKEN);
    note(server.request(wrong).await, "GET", "/api/pipelines");
    let query = client.get(format!("{base}/api/pipelines?token={QUERY_SECRET}")).header("CCM-Token", TOKEN);
    note(server.request(query).await, "GET", "/api/pipelines");
    note(server.request(client.get(format!("{base}/no/such/path"))).await, "GET", "unmatched");

    let now = chrono::Utc::now();
    let body = crate::helpers::workflow_run(41, 1, "octo/logs", "main", "in_progress", None, now, now);
    let good = ccm::webhook::signature::sign(SECRET.as_bytes(), &body);
    note(server.deliver("log-delivery-1", &body, &good).await, "POST", "/webhooks/github");
    note(server.deliver("log-delivery-2", &body, "sha256=0000").await, "POST", "/webhooks/github");
    let deliveries = vec![("log-delivery-1".to_string(), "processed"), ("log-delivery-2".to_string(), "rejected")];
    (requests, deliveries)
}

#[actix_web::test]
async fn json_logs_have_one_line_per_request_and_per_delivery_and_no_secret() {
    let mut server = Server::start(Some("json")).await;
    let (requests, deliveries) = traffic(&server).await;
    let output = server.wait_for_lines("\"message\":\"http request\"", requests.len()).await;
    let output = {
        let _ = output;
        server.wait_for_lines("\"message\":\"webhook delivery\"", deliveries.len()).await
    };
    let lines: Vec<Value> = output
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();

    for (id, (method, route, status)) in &requests {
        let mine: Vec<&Value> =
            lines.iter().filter(|l| l["message"] == "http request" && l["request_id"] == id.as_str()).collect();
        assert_eq!(mine.len(), 1, "request {id} ({method} {route}) logged {} times:\n{output}", mine.len());
        let line = mine[0];
        assert_eq!((line["method"].as_str(), line["route"].as_str()), (Some(*method), Some(*route)), "{line}");
        assert_eq!(line["status"], *status, "{line}");
        assert!(line["duration_ms"].as_f64().is_some_and(|d| d >= 0.0), "{line}");
        assert_eq!(line["level"], "INFO");
    }
    let request_lines = lines.iter().filter(|l| l["message"] == "http request").count();
    assert_eq!(request_lines, requests.len(), "{output}");

    for (guid, outcome) in &deliveries {
        let mine: Vec<&Value> =
            lines.iter().filter(|l| l["message"] == "webhook delivery" && l["delivery_id"] == guid.as_str()).collect();
        assert_eq!(mine.len(), 1, "delivery {guid} logged {} times:\n{output}", mine.len());
        let line = mine[0];
        assert_eq!(line["outcome"], *outcome, "{line}");
        assert_eq!(line["event"], "workflow_run", "{line}");
        // Logged inside its request's span: the two lines share the request id.
        let request_id = line["span"]["request_id"].as_str().expect("the request's span");
        assert_eq!(requests[request_id].2, if *outcome == "rejected" { 401 } else { 200 });
    }
    let accepted = lines.iter().find(|l| l["delivery_id"] == "log-delivery-1").unwrap();
    assert_eq!(accepted["repo"], "octo/logs");
    assert_eq!(accepted["run_id"], 41);

    // The caller's identity is its fingerprint; no token, query string or secret is logged.
    assert!(output.contains(&ccm::http::Actor::fingerprint(TOKEN)), "{output}");
    for secret in [TOKEN, WRONG_TOKEN, QUERY_SECRET, SECRET] {
        assert!(!output.contains(secret), "{secret} leaked into the logs:\n{output}");
    }
}

#[actix_web::test]
async fn text_logs_are_plain_lines_without_colour_codes() {
    let mut server = Server::start(None).await;
    let (requests, _) = traffic(&server).await;
    let output = server.wait_for_lines("http request", requests.len()).await;
    assert!(!output.contains('\u{1b}'), "escape codes in a log that is not a terminal:\n{output}");
    for id in requests.keys() {
        let mine: Vec<&str> =
            output.lines().filter(|l| l.contains("http request") && l.contains(id.as_str())).collect();
        assert_eq!(mine.len(), 1, "request {id}:\n{output}");
        assert!(serde_json::from_str::<Value>(mine[0]).is_err(), "a JSON line in text mode: {}", mine[0]);
        assert!(mine[0].contains("status="), "{}", mine[0]);
    }
    assert!(output.matches("webhook delivery").count() == 2, "{output}");
    for secret in [TOKEN, WRONG_TOKEN, QUERY_SECRET, SECRET] {
        assert!(!output.contains(secret), "{secret} leaked into the logs:\n{output}");
    }
}
