//! `/metrics` with a token (CCM_METRICS_TOKEN, CCM_METRICS_AUTH), and its database gauges read at
//! most once per interval whatever the scrapes, on both databases.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, TOKEN, TestApp, WORKFLOW};
use ccm::http::access::{AccessConfig, MetricsAuth};

on_both_databases!(
    metrics_token_is_required_when_set,
    metrics_auth_accepts_any_api_token,
    database_gauges_are_read_once_per_interval
);

const METRICS_TOKEN: &str = "metrics-token-0123456789";

/// A scrape's status and text, with these headers.
async fn scrape(app: &TestApp, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = app.client.get(format!("{}/metrics", app.base));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = req.send().await.expect("scrape");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

fn assert_unauthorized((status, text): (u16, String)) {
    assert_eq!(status, 401, "{text}");
    let body: serde_json::Value = serde_json::from_str(&text).expect("a JSON error");
    assert_eq!(body["code"], "unauthorized");
}

async fn metrics_token_is_required_when_set(backend: Backend) {
    let access = AccessConfig { metrics: MetricsAuth::Token(METRICS_TOKEN.into()), ..AccessConfig::unlimited() };
    let app = TestApp::with_access(backend, &access).await;
    assert_unauthorized(scrape(&app, &[]).await);
    assert_unauthorized(scrape(&app, &[("CCM-Token", "metrics-token-wrong-0000")]).await);
    // An API token is not the metrics token.
    assert_unauthorized(scrape(&app, &[("CCM-Token", TOKEN)]).await);
    assert_unauthorized(scrape(&app, &[("Authorization", "Basic bWV0cmljcw==")]).await);
    let (status, text) = scrape(&app, &[("CCM-Token", METRICS_TOKEN)]).await;
    assert_eq!(status, 200);
    assert!(text.contains("ccm_build_info"), "{text}");
    let bearer = format!("Bearer {METRICS_TOKEN}");
    assert_eq!(scrape(&app, &[("Authorization", &bearer)]).await.0, 200);

    // Open by default.
    let open = TestApp::start(backend).await;
    assert_eq!(scrape(&open, &[]).await.0, 200);
}

async fn metrics_auth_accepts_any_api_token(backend: Backend) {
    let access = AccessConfig { metrics: MetricsAuth::AnyToken, ..AccessConfig::unlimited() };
    let app = TestApp::with_access(backend, &access).await;
    assert_unauthorized(scrape(&app, &[]).await);
    assert_unauthorized(scrape(&app, &[("CCM-Token", "not-a-token-0000000000")]).await);
    assert_eq!(scrape(&app, &[("CCM-Token", TOKEN)]).await.0, 200);
    let reply = app.post("/api/tokens", json!({"name": "prometheus", "scope": "read"})).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let read = reply.body["token"].as_str().unwrap().to_string();
    let id = reply.body["api_token"]["id"].as_i64().unwrap();
    assert_eq!(scrape(&app, &[("Authorization", &format!("Bearer {read}"))]).await.0, 200);
    assert_eq!(app.send(Method::DELETE, &format!("/api/tokens/{id}"), None, Some(TOKEN)).await.status, 200);
    assert_unauthorized(scrape(&app, &[("CCM-Token", &read)]).await);
}

fn gauge(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

async fn database_gauges_are_read_once_per_interval(backend: Backend) {
    const ACTIVE: &str = "ccm_pipelines{status=\"active\"}";
    // An interval no test outlasts: after the first scrape, the database gauges are those it read.
    let access = AccessConfig { gauges_for: Duration::from_secs(3600), ..AccessConfig::unlimited() };
    let app = TestApp::with_access(backend, &access).await;
    let (_, first) = scrape(&app, &[]).await;
    assert_eq!(gauge(&first, ACTIVE), 0.0);
    app.provision("octo/cached", WORKFLOW, json!({})).await;
    let (_, second) = scrape(&app, &[]).await;
    assert_eq!(gauge(&second, ACTIVE), 0.0, "the gauge was read again within its interval");
    // The counters are live all the same.
    let provisioned = "ccm_http_requests_total{method=\"POST\",route=\"/api/pipelines/provision\",status=\"201\"}";
    assert_eq!(gauge(&second, provisioned), 1.0);
    // Concurrent scrapes within the interval read nothing either.
    let scrapes: Vec<_> = (0..4).map(|_| scrape(&app, &[])).collect();
    for (status, text) in futures_util::future::join_all(scrapes).await {
        assert_eq!((status, gauge(&text, ACTIVE)), (200, 0.0));
    }

    // With no interval, every scrape reads the database.
    let access = AccessConfig { gauges_for: Duration::ZERO, ..AccessConfig::unlimited() };
    let app = TestApp::with_access(backend, &access).await;
    assert_eq!(gauge(&scrape(&app, &[]).await.1, ACTIVE), 0.0);
    app.provision("octo/fresh", WORKFLOW, json!({})).await;
    assert_eq!(gauge(&scrape(&app, &[]).await.1, ACTIVE), 1.0);
}
