//! Issue 20, the internet edge: the listener split, the limits on unverified bodies (408, 503,
//! malformed signatures refused before the body is read), the allow-lists with and without
//! trusted proxies, and `CCM_WEBHOOK_ALLOW=github` from a fake GitHub `/meta`; on SQLite and on
//! PostgreSQL.

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::edge::{EdgeApp, RawClient, trickle};
use crate::helpers::*;
use ccm::http::edge::{EdgeConfig, EdgeSettings};

on_both_databases!(
    split_listeners_serve_each_their_part,
    a_trickled_body_is_cut_off_with_408,
    spent_unverified_budgets_answer_503_without_reading,
    a_malformed_signature_is_refused_before_the_body,
    a_refused_body_is_not_read_after_the_answer,
    allow_lists_with_and_without_trusted_proxies,
    the_github_allow_list_comes_from_meta_and_survives_outages,
    ccm_serve_splits_its_listeners_and_stops_both,
);

fn edge(settings: EdgeSettings) -> EdgeConfig {
    settings.validate().expect("valid edge settings")
}

fn some(value: &str) -> Option<String> {
    Some(value.to_string())
}

async fn post_delivery(client: &reqwest::Client, base: &str, path: &str, guid: &str) -> Reply {
    let body = br#"{"action":"created"}"#;
    let signature = ccm::webhook::signature::sign(SECRET.as_bytes(), body);
    let url = format!("{base}{path}");
    reply(crate::helpers::post_delivery(client, &url, "star", guid, body, &signature).await.expect("deliver")).await
}

async fn get_at(client: &reqwest::Client, url: String) -> Reply {
    reply(client.get(url).header("CCM-Token", TOKEN).send().await.expect("get")).await
}

/// The headers of a delivery whose body is sent (or not) separately.
fn delivery_head(length: usize, signature: &str) -> Vec<(&'static str, String)> {
    vec![
        ("X-GitHub-Event", "star".into()),
        ("X-GitHub-Delivery", "raw-1".into()),
        ("X-Hub-Signature-256", signature.into()),
        ("Content-Type", "application/json".into()),
        ("Content-Length", length.to_string()),
    ]
}

const WELL_FORMED: &str = "sha256=0000000000000000000000000000000000000000000000000000000000000000";

async fn split_listeners_serve_each_their_part(backend: Backend) {
    let split = EdgeApp::split(TestDb::new(backend).await, &EdgeConfig::default());
    let (api, webhooks) = (&split.app, split.webhooks.as_deref().unwrap());

    // The webhook listener: the webhook paths and /healthz, nothing else.
    let stored = post_delivery(&api.client, webhooks, "/webhooks/github", "split-1").await;
    assert_eq!((stored.status, stored.body["success"].as_bool()), (200, Some(true)), "{}", stored.body);
    let alias = post_delivery(&api.client, webhooks, "/api/v1/integrations/github/webhook", "split-2").await;
    assert_eq!(alias.status, 200, "{}", alias.body);
    assert_eq!(get_at(&api.client, format!("{webhooks}/healthz")).await.status, 200);
    for path in ["/api/deliveries", "/api/pipelines", "/metrics", "/readyz", "/openapi.json", "/"] {
        let answer = get_at(&api.client, format!("{webhooks}{path}")).await;
        assert_eq!((answer.status, answer.body["code"].as_str()), (404, Some("not_found")), "{path}");
    }

    // The API listener: everything else; the webhook paths are 404 there.
    for path in ["/webhooks/github", "/api/v1/integrations/github/webhook"] {
        let refused = post_delivery(&api.client, &api.base, path, "split-3").await;
        assert_eq!((refused.status, refused.body["success"].as_bool()), (404, Some(false)), "{path}");
        assert!(refused.body["error"].as_str().unwrap().contains("CCM_WEBHOOK_BIND"), "{}", refused.body);
    }
    assert_eq!(api.get("/healthz").await.status, 200);
    assert_eq!(api.get("/readyz").await.status, 200);
    // One state: what the webhook listener stored, the API lists.
    let listed = api.get("/api/deliveries").await;
    assert_eq!(listed.body["count"], 2, "{}", listed.body);
}

async fn a_trickled_body_is_cut_off_with_408(backend: Backend) {
    let settings = EdgeSettings { body_timeout: some("1"), ..Default::default() };
    let one = EdgeApp::one(TestDb::new(backend).await, &edge(settings));
    // One byte every 100 ms: far too slow to finish 1,000 bytes within the 1 s deadline.
    let every = Duration::from_millis(100);
    let (status, _, body) =
        trickle(&one.app.base, "/webhooks/github", &delivery_head(1000, WELL_FORMED), 1000, every).await;
    assert_eq!((status, body["code"].as_str()), (408, Some("request_timeout")), "{body}");
    assert_eq!(body["error"], "Request body not received within 1 s");
    // The same deadline holds for the API's JSON bodies.
    let head = vec![
        ("CCM-Token", TOKEN.to_string()),
        ("Content-Type", "application/json".into()),
        ("Content-Length", "1000".into()),
    ];
    let (status, _, body) = trickle(&one.app.base, "/api/pipelines/provision", &head, 1000, every).await;
    assert_eq!((status, body["code"].as_str()), (408, Some("request_timeout")), "{body}");
    // The read's share of the budget is given back.
    let limits = &one.state.edge.limits;
    wait_until("the unverified budget to be given back", async || limits.unverified_reads_free() == 256).await;
    assert_eq!(limits.unverified_bytes_free(), 64 << 20);
    assert_eq!(one.app.get("/api/deliveries").await.body["count"], 0);
}

async fn spent_unverified_budgets_answer_503_without_reading(backend: Backend) {
    let settings = EdgeSettings { unverified_reads: some("1"), unverified_bytes: some("1000"), ..Default::default() };
    let one = EdgeApp::one(TestDb::new(backend).await, &edge(settings));
    let limits = &one.state.edge.limits;

    // A sender that starts a body and stops holds the one unverified read.
    let mut holder = RawClient::connect(&one.app.base).await;
    holder.head("POST", "/webhooks/github", &delivery_head(500, WELL_FORMED)).await;
    assert!(holder.send(&[b' '; 100]).await);
    wait_until("the first body to hold the only unverified read", async || limits.unverified_reads_free() == 0).await;
    // Another that has to wait for its body finds no slot: 503 at once, its body unread.
    let mut waiting = RawClient::connect(&one.app.base).await;
    waiting.head("POST", "/webhooks/github", &delivery_head(500, WELL_FORMED)).await;
    let (status, headers, body) = waiting.answer().await;
    assert_eq!((status, body["code"].as_str()), (503, Some("unavailable")), "{body}");
    assert!(headers.iter().any(|(n, v)| n == "retry-after" && v == "5"), "{headers:?}");
    assert!(body["error"].as_str().unwrap().contains("unverified"), "{body}");
    assert_eq!(limits.unverified_bytes_free(), 900, "the held read took what arrived, no more");
    // A delivery that arrives whole (as GitHub's do) is read at once, without a slot.
    let body = br#"{"action":"created"}"#;
    let signature = ccm::webhook::signature::sign(SECRET.as_bytes(), body);
    let mut whole = RawClient::connect(&one.app.base).await;
    let head = delivery_head(body.len(), &signature)
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect::<String>()
        .replace("raw-1", "budget-1");
    let request =
        [format!("POST /webhooks/github HTTP/1.1\r\nHost: localhost\r\n{head}\r\n").as_bytes(), body].concat();
    assert!(whole.send(&request).await);
    let (status, _, answer) = whole.answer().await;
    assert_eq!(status, 200, "{answer}");

    // Its connection closed, the read and its bytes are given back.
    drop(holder);
    wait_until("the read to be given back", async || {
        limits.unverified_reads_free() == 1 && limits.unverified_bytes_free() == 1000
    })
    .await;
    let stored = post_delivery(&one.app.client, &one.app.base, "/webhooks/github", "budget-2").await;
    assert_eq!(stored.status, 200, "{}", stored.body);

    // A body larger than the byte budget is refused as its bytes arrive (whatever it declares).
    let big = vec![b' '; 1500];
    let refused = one.app.deliver("star", "budget-3", &big).await;
    assert_eq!((refused.status, refused.body["code"].as_str()), (503, Some("unavailable")), "{}", refused.body);
    assert_eq!(refused.headers["retry-after"], "5");
    wait_until("the budget to be whole again", async || limits.unverified_bytes_free() == 1000).await;
    let listed = one.app.get("/api/deliveries").await.body;
    assert_eq!(listed["count"], 2, "{listed}");
}

async fn a_malformed_signature_is_refused_before_the_body(backend: Backend) {
    // A deadline far past the test's patience: an answer can only come before the body.
    let settings = EdgeSettings { body_timeout: some("600"), body_min_rate: some("0"), ..Default::default() };
    let one = EdgeApp::one(TestDb::new(backend).await, &edge(settings));
    for malformed in ["sha256=zz", "sha1=0123", &WELL_FORMED[..70], &format!("{WELL_FORMED}0")] {
        let mut raw = RawClient::connect(&one.app.base).await;
        raw.head("POST", "/webhooks/github", &delivery_head(10_000, malformed)).await;
        let (status, _, body) = tokio::time::timeout(PATIENCE, raw.answer()).await.expect("an answer without the body");
        assert_eq!((status, body["code"].as_str()), (401, Some("invalid_signature")), "{malformed}: {body}");
        assert!(body["error"].as_str().unwrap().starts_with("Malformed X-Hub-Signature-256"), "{body}");
    }
    // A well-formed one waits for the body, and is checked against it.
    let wrong = one.app.deliver_signed("star", "sig-1", b"{}", WELL_FORMED).await;
    assert_eq!((wrong.status, wrong.body["error"].as_str()), (401, Some("Invalid X-Hub-Signature-256")));
    assert_eq!(one.state.edge.limits.unverified_reads_free(), 256);
}

/// Sends `total` bytes of body after a refusal has been answered; how many went out before the
/// connection failed (`total` if none failed).
async fn body_sent_after_the_answer(raw: &mut RawClient, total: usize) -> usize {
    let chunk = vec![b' '; 64 << 10];
    let mut sent = 0;
    while sent < total {
        if !raw.send(&chunk).await {
            return sent;
        }
        sent += chunk.len();
    }
    sent
}

async fn a_refused_body_is_not_read_after_the_answer(backend: Backend) {
    // A refusal answered before the body is read ends the connection: what the sender goes on
    // sending is refused by the kernel, not read and thrown away by ccm (issue 20: 25 MB bodies
    // from refused senders cost ccm the copy of every byte, and its legitimate senders the CPU).
    const DECLARED: usize = 25 << 20;
    let open = EdgeApp::one(TestDb::new(backend).await, &edge(EdgeSettings::default()));
    let allow_listed =
        open.restart(&edge(EdgeSettings { webhook_allow: some("10.0.0.0/8"), ..Default::default() })).await;
    let api_head = vec![("Content-Type", "application/json".to_string()), ("Content-Length", DECLARED.to_string())];
    let refusals = [
        (&open, "/webhooks/github", delivery_head(DECLARED, "sha256=zz"), 401),
        (&allow_listed, "/webhooks/github", delivery_head(DECLARED, WELL_FORMED), 403),
        (&open, "/api/pipelines/provision", api_head, 401),
    ];
    for (one, path, head, expected) in refusals {
        let mut raw = RawClient::connect(&one.app.base).await;
        raw.head("POST", path, &head).await;
        let (status, _, body) = raw.answer().await;
        assert_eq!(status, expected, "{path}: {body}");
        let sent = body_sent_after_the_answer(&mut raw, DECLARED).await;
        assert!(sent < DECLARED, "{path} ({expected}): all {DECLARED} bytes were taken after the answer");
    }
    assert_eq!(open.app.get("/api/deliveries").await.body["count"], 0);

    // The API's own listener (split, private) lingers instead: a client still sending a body it
    // refuses reads the answer.
    let split = EdgeApp::split(TestDb::new(backend).await, &edge(EdgeSettings::default()));
    let huge = json!({"repo": "o/r", "workflow_file": WORKFLOW, "config": {"blob": "x".repeat(2 << 20)}});
    let url = format!("{}/api/pipelines/provision", split.app.base);
    let sent = split.app.client.post(url).header("CCM-Token", TOKEN).json(&huge).send().await;
    let answer = reply(sent.expect("the answer, not a reset")).await;
    assert_eq!((answer.status, answer.body["code"].as_str()), (413, Some("payload_too_large")), "{}", answer.body);
}

async fn allow_lists_with_and_without_trusted_proxies(backend: Backend) {
    let forwarded = |app: &TestApp, path: &str, from: Option<&str>| {
        let mut req = app.client.get(format!("{}{path}", app.base)).header("CCM-Token", TOKEN);
        if let Some(from) = from {
            req = req.header("X-Forwarded-For", from);
        }
        async move { reply(req.send().await.expect("get")).await }
    };

    // Without trusted proxies: the peer (127.0.0.1) is the client, whatever it forwards.
    let settings =
        EdgeSettings { api_allow: some("10.0.0.0/8"), webhook_allow: some("192.0.2.0/24"), ..Default::default() };
    let direct = EdgeApp::one(TestDb::new(backend).await, &edge(settings));
    for from in [None, Some("10.1.2.3")] {
        let refused = forwarded(&direct.app, "/api/pipelines", from).await;
        assert_eq!((refused.status, refused.body["success"].as_bool()), (403, Some(false)), "{from:?}");
        assert_eq!(refused.body["code"], "address_refused");
        assert_eq!(refused.body["error"], "Address 127.0.0.1 is not allowed here");
    }
    assert_eq!(forwarded(&direct.app, "/healthz", None).await.status, 200, "/healthz is for anyone");
    assert_eq!(forwarded(&direct.app, "/metrics", None).await.status, 403);
    let delivery = post_delivery(&direct.app.client, &direct.app.base, "/webhooks/github", "allow-1").await;
    assert_eq!((delivery.status, delivery.body["code"].as_str()), (403, Some("address_refused")));
    let metrics = direct.state.metrics.render();
    assert!(metrics.contains(r#"ccm_http_refused_total{list="api"} 3"#), "{metrics}");
    assert!(metrics.contains(r#"ccm_http_refused_total{list="webhook"} 1"#), "{metrics}");

    // Behind a trusted proxy (127.0.0.1): the right-most address it forwards that is not a proxy.
    let settings = EdgeSettings {
        api_allow: some("10.0.0.0/8"),
        webhook_allow: some("10.9.0.0/16"),
        trusted_proxies: some("127.0.0.1/32, 172.16.0.0/12"),
        ..Default::default()
    };
    let proxied = EdgeApp::one(TestDb::new(backend).await, &edge(settings));
    assert_eq!(forwarded(&proxied.app, "/api/pipelines", Some("10.1.2.3")).await.status, 200);
    assert_eq!(forwarded(&proxied.app, "/api/pipelines", Some("10.1.2.3, 172.16.0.5")).await.status, 200);
    let spoofed = forwarded(&proxied.app, "/api/pipelines", Some("10.1.2.3, 203.0.113.9")).await;
    assert_eq!(
        (spoofed.status, spoofed.body["error"].as_str()),
        (403, Some("Address 203.0.113.9 is not allowed here"))
    );
    assert_eq!(forwarded(&proxied.app, "/api/pipelines", None).await.status, 403, "the proxy itself is not allowed");
    let from = |ip: &str| {
        let body = br#"{"action":"created"}"#;
        proxied
            .app
            .client
            .post(format!("{}/webhooks/github", proxied.app.base))
            .header("X-GitHub-Event", "star")
            .header("X-GitHub-Delivery", format!("allow-{ip}"))
            .header("X-Hub-Signature-256", ccm::webhook::signature::sign(SECRET.as_bytes(), body))
            .header("X-Forwarded-For", ip)
            .body(body.to_vec())
            .send()
    };
    assert_eq!(reply(from("10.9.8.7").await.unwrap()).await.status, 200);
    assert_eq!(reply(from("10.1.2.3").await.unwrap()).await.status, 403);
}

async fn the_github_allow_list_comes_from_meta_and_survives_outages(backend: Backend) {
    let github = MockServer::start().await;
    let meta = |hooks: serde_json::Value| {
        Mock::given(method("GET")).and(path("/meta")).respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "verifiable_password_authentication": false, "hooks": hooks, "web": ["192.30.252.0/22"]
        })))
    };
    let settings = EdgeSettings { webhook_allow: some("github"), ..Default::default() };
    let config = edge(settings);
    let one = EdgeApp::one(TestDb::new(backend).await, &config);
    let allow = one.state.edge.webhook_allow.clone();
    let store = one.app.store();

    // No list yet: refused with 503 (GitHub redelivers later); nothing kept to load.
    let early = post_delivery(&one.app.client, &one.app.base, "/webhooks/github", "meta-1").await;
    assert_eq!((early.status, early.body["code"].as_str()), (503, Some("unavailable")), "{}", early.body);
    assert!(!allow.load_stored(store).await.unwrap());

    // GitHub's ranges without this address: refused; with it: accepted.
    let mounted = meta(json!(["192.30.252.0/22", "2a0a:a440::/29"])).up_to_n_times(1).mount_as_scoped(&github).await;
    assert_eq!(allow.refresh(store, &github.uri()).await.unwrap(), 2);
    drop(mounted);
    let outside = post_delivery(&one.app.client, &one.app.base, "/webhooks/github", "meta-2").await;
    assert_eq!((outside.status, outside.body["code"].as_str()), (403, Some("address_refused")));
    meta(json!(["127.0.0.0/8"])).up_to_n_times(1).mount(&github).await;
    assert_eq!(allow.refresh(store, &github.uri()).await.unwrap(), 1);
    assert_eq!(post_delivery(&one.app.client, &one.app.base, "/webhooks/github", "meta-3").await.status, 200);

    // GitHub unreachable, or answering nonsense: the last good list stays in use.
    Mock::given(method("GET"))
        .and(path("/meta"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&github)
        .await;
    assert!(allow.refresh(store, &github.uri()).await.is_err());
    meta(json!([])).up_to_n_times(1).mount(&github).await;
    assert!(allow.refresh(store, &github.uri()).await.is_err());
    assert_eq!(post_delivery(&one.app.client, &one.app.base, "/webhooks/github", "meta-4").await.status, 200);

    // After a restart, before any fetch: the list kept in the database.
    let restarted = one.restart(&config).await;
    let kept = restarted.state.edge.webhook_allow.clone();
    assert!(kept.load_stored(restarted.app.store()).await.unwrap());
    assert_eq!(
        post_delivery(&restarted.app.client, &restarted.app.base, "/webhooks/github", "meta-5").await.status,
        200
    );
    let listed = restarted.app.get("/api/deliveries").await.body;
    assert_eq!(listed["count"], 3, "{listed}");
}

/// The real `ccm serve` with CCM_WEBHOOK_BIND: both listeners answer their part, and SIGTERM stops
/// both (an open event stream ended, exit 0).
async fn ccm_serve_splits_its_listeners_and_stops_both(backend: Backend) {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut envs = vec![
        ("CCM_DATA_DIR", data.path().display().to_string()),
        ("CCM_API_TOKEN", TOKEN.to_string()),
        ("GITHUB_WEBHOOK_SECRET", SECRET.to_string()),
        ("CCM_WEBHOOK_BIND", format!("127.0.0.1:{port}")),
    ];
    if backend == Backend::Postgres {
        envs.push(("DATABASE_URL", fresh_postgres_database().await));
    }
    let mut server = crate::helpers::serve::Serve::start(&envs).await;
    let (api, webhooks) = (server.base.clone(), format!("http://127.0.0.1:{port}"));
    let client = reqwest::Client::new();
    assert_eq!(get_at(&client, format!("{webhooks}/healthz")).await.status, 200);
    assert_eq!(get_at(&client, format!("{api}/readyz")).await.status, 200);
    assert_eq!(post_delivery(&client, &webhooks, "/webhooks/github", "serve-1").await.status, 200);
    assert_eq!(post_delivery(&client, &api, "/webhooks/github", "serve-2").await.status, 404);
    assert_eq!(get_at(&client, format!("{webhooks}/api/deliveries")).await.status, 404);
    let listed = get_at(&client, format!("{api}/api/deliveries")).await;
    assert_eq!(listed.body["count"], 1, "{}", listed.body);
    let mut stream = client.get(format!("{api}/api/events")).header("CCM-Token", TOKEN).send().await.unwrap();
    assert_eq!(stream.status(), 200);

    let status = std::process::Command::new("kill").arg("-TERM").arg(server.id().to_string()).status().unwrap();
    assert!(status.success());
    loop {
        match tokio::time::timeout(Duration::from_secs(8), stream.chunk()).await {
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) => break,
            Ok(Err(err)) => panic!("the event stream was cut instead of ended: {err}"),
            Err(_) => panic!("the event stream was still open 8 s after SIGTERM"),
        }
    }
    let exit = server.wait_exit(Duration::from_secs(8)).await;
    assert!(exit.success(), "ccm serve exited with {exit}:\n{}", server.output());
}
