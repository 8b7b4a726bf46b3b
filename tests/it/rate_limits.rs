//! Rate limits of the API, on both databases: per client address and per token (429 with
//! `Retry-After` in the JSON error shape), failed authentications per address, and the webhook
//! path outside them. Client addresses are loopback ones (127.0.0.1, 127.0.0.2).

use std::net::IpAddr;

use reqwest::Method;

use crate::helpers::{Backend, OTHER_TOKEN, Reply, TOKEN, TestApp, reply, workflow_run};
use ccm::http::access::{AccessConfig, Rate};

on_both_databases!(requests_past_the_rate_get_429_with_retry_after, failed_authentication_is_throttled_per_address);

fn rate(text: &str) -> Option<Rate> {
    Rate::parse_setting(text).unwrap()
}

/// A request from the loopback address `from`.
async fn from(app: &TestApp, from: &str, method: Method, path: &str, token: Option<&str>) -> Reply {
    let address: IpAddr = from.parse().unwrap();
    let client = reqwest::Client::builder().local_address(address).build().unwrap();
    let mut req = client.request(method, format!("{}{path}", app.base));
    if let Some(token) = token {
        req = req.header("CCM-Token", token);
    }
    reply(req.send().await.expect("request")).await
}

fn assert_limited(reply: &Reply, message: &str, most: u64) {
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert_eq!(reply.body["code"], "rate_limited");
    assert_eq!(reply.body["success"], false);
    assert!(reply.body["error"].as_str().unwrap().starts_with(message), "{}", reply.body);
    let retry: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=most).contains(&retry), "Retry-After {retry}");
}

async fn requests_past_the_rate_get_429_with_retry_after(backend: Backend) {
    let access = AccessConfig { rate_limit: rate("3/min"), ..AccessConfig::unlimited() };
    let app = TestApp::with_access(backend, &access).await;
    // Per address: three requests, then 429 whatever the token (one more every 20 s).
    for _ in 0..3 {
        assert_eq!(from(&app, "127.0.0.1", Method::GET, "/api/pipelines", Some(TOKEN)).await.status, 200);
    }
    let reply = from(&app, "127.0.0.1", Method::GET, "/api/pipelines", Some(OTHER_TOKEN)).await;
    assert_limited(&reply, "Too many requests from this address", 20);
    // Another address is counted on its own; but the token used three times is spent.
    let reply = from(&app, "127.0.0.2", Method::GET, "/api/pipelines", Some(TOKEN)).await;
    assert_limited(&reply, "Too many requests with this token", 20);
    assert_eq!(from(&app, "127.0.0.2", Method::GET, "/api/pipelines", Some(OTHER_TOKEN)).await.status, 200);

    // The webhook path and the health checks are not limited by this.
    for i in 0..5 {
        let body = workflow_run(700 + i, 1, "o/r", "main", "queued", None, chrono::Utc::now(), chrono::Utc::now());
        assert_eq!(app.deliver("workflow_run", &format!("limited-{i}"), &body).await.status, 200);
    }
    for _ in 0..5 {
        assert_eq!(app.send(Method::GET, "/healthz", None, None).await.status, 200);
    }
    // Still limited on the API.
    assert_eq!(from(&app, "127.0.0.1", Method::GET, "/api/pipelines", Some(TOKEN)).await.status, 429);

    // Off: no limit.
    let app = TestApp::with_access(backend, &AccessConfig::unlimited()).await;
    for _ in 0..50 {
        assert_eq!(app.get("/api/pipelines").await.status, 200);
    }
}

async fn failed_authentication_is_throttled_per_address(backend: Backend) {
    let access = AccessConfig { auth_failure_limit: rate("3/min"), ..AccessConfig::unlimited() };
    let app = TestApp::with_access(backend, &access).await;
    // No token at all is not a failed guess.
    for _ in 0..5 {
        assert_eq!(from(&app, "127.0.0.1", Method::GET, "/api/pipelines", None).await.status, 401);
    }
    for guess in ["guess-000000000001", "guess-000000000002", "ccm_0000000000000000"] {
        assert_eq!(from(&app, "127.0.0.1", Method::GET, "/api/pipelines", Some(guess)).await.status, 401);
    }
    let reply = from(&app, "127.0.0.1", Method::GET, "/api/pipelines", Some("guess-000000000004")).await;
    assert_limited(&reply, "Too many failed authentications from this address", 20);
    // The address is refused before its token is looked at, a right one included.
    let reply = from(&app, "127.0.0.1", Method::GET, "/api/pipelines", Some(TOKEN)).await;
    assert_limited(&reply, "Too many failed authentications from this address", 20);
    let reply = from(&app, "127.0.0.1", Method::POST, "/api/tasks", Some(TOKEN)).await;
    assert_eq!(reply.status, 429);
    // Other addresses are not.
    assert_eq!(from(&app, "127.0.0.2", Method::GET, "/api/pipelines", Some(TOKEN)).await.status, 200);
    assert_eq!(from(&app, "127.0.0.2", Method::GET, "/api/pipelines", Some("guess-000000000005")).await.status, 401);
}
