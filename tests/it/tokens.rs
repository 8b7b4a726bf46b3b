//! Named, scoped tokens: each scope refused and allowed, expiry, revocation (through this
//! process, and through the database as another replica would, within the cache's lifetime),
//! `ccm tokens`, and the audit log naming the token, on both databases.

use std::time::Duration;

use chrono::Utc;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::ccm_cli::Ccm;
use crate::helpers::serve::Serve;
use crate::helpers::{Backend, Reply, TOKEN, TestApp, WORKFLOW, fresh_postgres_database};
use ccm::domain::tokens::{self, NewToken, Scope};
use ccm::http::access::AccessConfig;
use ccm::store::NewAudit;

on_both_databases!(
    each_scope_is_refused_and_allowed,
    tokens_are_validated_listed_and_audited,
    expired_and_revoked_tokens_are_refused,
    revocation_elsewhere_takes_effect_within_the_cache_lifetime,
    cli_creates_lists_and_revokes_tokens,
    the_request_log_names_the_token,
);

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>, token: &str) -> Reply {
    app.send(method, path, body, Some(token)).await
}

/// Creates a token through the API (with the configured admin token) and returns it and its id.
async fn create(app: &TestApp, name: &str, scope: &str) -> (String, i64) {
    let reply = app.post("/api/tokens", json!({"name": name, "scope": scope})).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let token = reply.body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ccm_"), "{token}");
    assert_eq!(reply.body["api_token"]["scope"], scope);
    (token, reply.body["api_token"]["id"].as_i64().unwrap())
}

fn assert_forbidden(reply: &Reply, expected: &str) {
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.body["code"], "insufficient_scope");
    assert_eq!(reply.body["success"], false);
    assert_eq!(reply.body["error"], expected);
}

async fn each_scope_is_refused_and_allowed(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (read, _) = create(&app, "wall-screen", "read").await;
    let (write, _) = create(&app, "deployer", "write").await;
    let (admin, _) = create(&app, "operator", "admin").await;
    let provision = |repo: &str| json!({"repo": repo, "workflow_file": WORKFLOW, "config": {}});

    // read: GET only.
    assert_eq!(call(&app, Method::GET, "/api/pipelines", None, &read).await.status, 200);
    assert_eq!(call(&app, Method::GET, "/api/deliveries", None, &read).await.status, 200);
    let reply = call(&app, Method::POST, "/api/pipelines/provision", Some(provision("o/read")), &read).await;
    assert_forbidden(&reply, "This token has scope read; POST /api/pipelines/provision needs write");
    let reply = call(&app, Method::POST, "/api/tasks", Some(json!({"title": "t"})), &read).await;
    assert_forbidden(&reply, "This token has scope read; POST /api/tasks needs write");
    let reply = call(&app, Method::GET, "/api/tokens", None, &read).await;
    assert_forbidden(&reply, "This token has scope read; GET /api/tokens needs admin");

    // write: pipelines and tasks, not tokens, import, replay or settings.
    let reply = call(&app, Method::POST, "/api/pipelines/provision", Some(provision("o/write")), &write).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let pipeline = reply.body["pipeline_id"].as_str().unwrap().to_string();
    let reply = call(&app, Method::POST, "/api/tasks", Some(json!({"title": "t"})), &write).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let reply = call(&app, Method::POST, "/api/tokens", Some(json!({"name": "x", "scope": "read"})), &write).await;
    assert_forbidden(&reply, "This token has scope write; POST /api/tokens needs admin");
    let reply = call(&app, Method::POST, "/api/pipelines/import", Some(json!({})), &write).await;
    assert_forbidden(&reply, "This token has scope write; POST /api/pipelines/import needs admin");
    let reply = call(&app, Method::POST, "/api/deliveries/guid-1/replay", Some(json!({})), &write).await;
    assert_forbidden(&reply, "This token has scope write; POST /api/deliveries/guid-1/replay needs admin");
    let reply = call(&app, Method::PUT, "/api/sync/repositories/o/r", Some(json!({})), &write).await;
    assert_forbidden(&reply, "This token has scope write; PUT /api/sync/repositories/o/r needs admin");
    let reply = call(&app, Method::GET, "/api/audit", None, &write).await;
    assert_forbidden(&reply, "This token has scope write; GET /api/audit needs admin");
    // Nothing was done by the refused requests.
    assert_eq!(app.get("/api/tokens").await.body["tokens"].as_array().unwrap().len(), 3);

    // admin: everything.
    let reply = call(&app, Method::POST, "/api/tokens", Some(json!({"name": "bot", "scope": "read"})), &admin).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(call(&app, Method::GET, "/api/tokens", None, &admin).await.status, 200);
    assert_eq!(call(&app, Method::GET, "/api/audit", None, &admin).await.status, 200);
    let reply = call(&app, Method::DELETE, &format!("/api/pipelines/{pipeline}"), None, &admin).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // The configured tokens stay admin.
    assert_eq!(app.get("/api/audit").await.status, 200);

    // The audit log names each caller: the named tokens by name, the configured one by its
    // fingerprint; never a token.
    let audit = app.get("/api/audit?limit=1000").await.body;
    let entries = audit["entries"].as_array().unwrap();
    let by = |action: &str| -> Vec<String> {
        entries.iter().filter(|e| e["action"] == action).map(|e| e["actor"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(by("pipeline.provisioned"), ["token:deployer"]);
    assert_eq!(by("pipeline.deactivated"), ["token:operator"]);
    let created = by("token.created");
    assert_eq!(created.len(), 4);
    assert_eq!(created.iter().filter(|a| *a == "token:operator").count(), 1);
    assert_eq!(created.iter().filter(|a| **a == ccm::http::Actor::fingerprint(TOKEN)).count(), 3);
    let text = audit.to_string();
    for token in [&read, &write, &admin] {
        assert!(!text.contains(token.as_str()), "the audit log shows a token");
    }
}

async fn tokens_are_validated_listed_and_audited(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (token, id) = create(&app, "deploy-bot", "write").await;
    let refused = [
        (json!({"name": "deploy-bot", "scope": "read"}), 409, "a token named 'deploy-bot' exists"),
        (json!({"name": "x", "scope": "root"}), 400, "scope must be one of read, write, admin, got 'root'"),
        (json!({"name": "no spaces", "scope": "read"}), 400, "name must be"),
        (json!({"name": "1a2b3c4d", "scope": "read"}), 400, "8 hex characters"),
        (json!({"name": "x", "scope": "read", "expires_at": "2001-01-01T00:00:00Z"}), 400, "in the future"),
        (json!({"name": "x", "scope": "read", "expires_at": "tomorrow"}), 400, "RFC 3339"),
        (json!({"name": "x", "scope": "read", "token": "mine"}), 400, "unknown field"),
    ];
    for (body, status, message) in refused {
        let reply = app.post("/api/tokens", body.clone()).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        assert!(reply.body["error"].as_str().unwrap().contains(message), "{body}: {}", reply.body);
    }
    let expires = Utc::now() + chrono::Duration::days(90);
    let reply = app
        .post(
            "/api/tokens",
            json!({"name": "quarterly", "scope": "read", "expires_at": ccm::domain::clock::format(&expires)}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["api_token"]["expires_at"], ccm::domain::clock::format(&expires));

    // Using a token notes when (once a minute at most).
    assert_eq!(call(&app, Method::GET, "/api/pipelines", None, &token).await.status, 200);
    let list = app.get("/api/tokens").await;
    assert_eq!(list.status, 200);
    let listed = list.body["tokens"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["name"], "deploy-bot");
    assert_eq!(listed[0]["active"], true);
    assert!(listed[0]["last_used_at"].is_string(), "{}", list.body);
    assert!(listed[1]["last_used_at"].is_null(), "{}", list.body);
    // Neither the token nor its digest is ever sent again.
    let text = list.body.to_string();
    assert!(!text.contains(&token) && !text.contains(&tokens::hash(&token)), "{text}");
    // Only the digest is stored.
    let stored = app.store().list_tokens().await.unwrap();
    assert_eq!(stored[0].token_hash, tokens::hash(&token));
}

async fn expired_and_revoked_tokens_are_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    // Expired: stored with a time already past (as it will be, once its time comes).
    let expired = tokens::generate();
    let audit =
        NewAudit { actor: "test".into(), action: "token.created".into(), pipeline_id: None, details: json!({}) };
    let new = NewToken {
        name: "old".into(),
        scope: Scope::Admin,
        token_hash: tokens::hash(&expired),
        expires_at: Some(ccm::domain::clock::now() - chrono::Duration::seconds(1)),
    };
    app.store().create_token(&new, &audit).await.unwrap();
    let reply = call(&app, Method::GET, "/api/pipelines", None, &expired).await;
    assert_eq!((reply.status, &reply.body["code"]), (401, &json!("unauthorized")), "{}", reply.body);
    let listed = app.get("/api/tokens").await.body;
    assert_eq!(listed["tokens"][0]["active"], false, "{listed}");

    // Revoked through this process: refused at once, though it was just verified (and cached).
    let (token, id) = create(&app, "ci", "write").await;
    assert_eq!(call(&app, Method::GET, "/api/pipelines", None, &token).await.status, 200);
    let reply = app.delete(&format!("/api/tokens/{id}")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let revoked_at = reply.body["api_token"]["revoked_at"].clone();
    assert!(revoked_at.is_string() && reply.body["api_token"]["active"] == false, "{}", reply.body);
    assert_eq!(call(&app, Method::GET, "/api/pipelines", None, &token).await.status, 401);
    // Revoking again changes nothing; an unknown id is 404.
    let again = app.delete(&format!("/api/tokens/{id}")).await;
    assert_eq!((again.status, &again.body["api_token"]["revoked_at"]), (200, &revoked_at));
    assert_eq!(app.delete("/api/tokens/999999").await.status, 404);
    assert_eq!(app.delete("/api/tokens/not-a-number").await.status, 404);
    // The name is free again once revoked.
    let (renewed, _) = create(&app, "ci", "write").await;
    assert_eq!(call(&app, Method::GET, "/api/pipelines", None, &renewed).await.status, 200);
    let audit = app.get("/api/audit?action=token.revoked").await.body;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(audit["entries"][0]["details"]["token_id"], id);
}

async fn revocation_elsewhere_takes_effect_within_the_cache_lifetime(backend: Backend) {
    let audit =
        NewAudit { actor: "test".into(), action: "token.revoked".into(), pipeline_id: None, details: json!({}) };
    // No cache: a token revoked in the database (by another replica) is refused at the next
    // request.
    let uncached =
        TestApp::with_access(backend, &AccessConfig { token_cache: Duration::ZERO, ..AccessConfig::unlimited() }).await;
    let (token, id) = create(&uncached, "ci", "read").await;
    assert_eq!(call(&uncached, Method::GET, "/api/pipelines", None, &token).await.status, 200);
    uncached.store().revoke_token(id, &audit).await.unwrap();
    assert_eq!(call(&uncached, Method::GET, "/api/pipelines", None, &token).await.status, 401);

    // A cache of an hour: the token verified before keeps working from the cache (what
    // CCM_TOKEN_CACHE_SECONDS bounds).
    let cached = TestApp::with_access(
        backend,
        &AccessConfig { token_cache: Duration::from_secs(3600), ..AccessConfig::unlimited() },
    )
    .await;
    let (token, id) = create(&cached, "ci", "read").await;
    assert_eq!(call(&cached, Method::GET, "/api/pipelines", None, &token).await.status, 200);
    cached.store().revoke_token(id, &audit).await.unwrap();
    assert_eq!(call(&cached, Method::GET, "/api/pipelines", None, &token).await.status, 200);
}

async fn cli_creates_lists_and_revokes_tokens(backend: Backend) {
    let app = TestApp::start(backend).await;
    let ccm = Ccm::new(&app.base, Some(TOKEN));
    let run = ccm.run(&["tokens", "create", "deploy-bot", "--scope", "write", "--expires", "90d"]).await;
    run.assert_code(0);
    let token = run.stdout.lines().next().unwrap().trim().to_string();
    assert!(token.starts_with("ccm_") && token.len() == 68, "{run:?}");
    assert!(run.stdout.contains("Token 'deploy-bot'") && run.stdout.contains("scope write"), "{run:?}");
    assert_eq!(call(&app, Method::GET, "/api/pipelines", None, &token).await.status, 200);

    let run = ccm.run(&["tokens", "list"]).await;
    run.assert_code(0);
    let line = run.stdout.lines().find(|l| l.contains("deploy-bot")).unwrap_or_else(|| panic!("{run:?}"));
    assert!(line.contains("write") && line.contains("active"), "{line}");
    assert!(!run.stdout.contains(&token), "{run:?}");
    let listed = ccm.run(&["tokens", "list", "--json"]).await;
    listed.assert_code(0);
    let expires = listed.json()["tokens"][0]["expires_at"].as_str().unwrap().to_string();
    let days = (chrono::DateTime::parse_from_rfc3339(&expires).unwrap().with_timezone(&Utc) - Utc::now()).num_days();
    assert!((89..=90).contains(&days), "{expires}");

    // A token below admin cannot manage tokens: the server's error, exit code 1.
    let as_writer = Ccm::new(&app.base, Some(&token));
    let run = as_writer.run(&["tokens", "list"]).await;
    run.assert_code(1);
    assert!(run.stderr.contains("This token has scope write; GET /api/tokens needs admin"), "{run:?}");

    let run = ccm.run(&["tokens", "revoke", "deploy-bot"]).await;
    run.assert_code(0);
    assert!(run.stdout.contains("Token 'deploy-bot'") && run.stdout.contains("revoked"), "{run:?}");
    assert_eq!(call(&app, Method::GET, "/api/pipelines", None, &token).await.status, 401);
    ccm.run(&["tokens", "revoke", "deploy-bot"]).await.assert_code(1);
    let (_, id) = create(&app, "by-id", "read").await;
    ccm.run(&["tokens", "revoke", &id.to_string()]).await.assert_code(0);
    let run = ccm.run(&["tokens", "create", "x", "--scope", "root"]).await;
    run.assert_code(2);
    ccm.run(&["tokens", "create", "x", "--scope", "read", "--expires", "soon"]).await.assert_code(2);
}

async fn the_request_log_names_the_token(backend: Backend) {
    let data = tempfile::tempdir().unwrap();
    let mut envs = vec![
        ("CCM_DATA_DIR", data.path().display().to_string()),
        ("CCM_API_TOKEN", TOKEN.to_string()),
        ("CCM_LOG_FORMAT", "json".to_string()),
    ];
    if backend == Backend::Postgres {
        envs.push(("DATABASE_URL", fresh_postgres_database().await));
    }
    let mut serve = Serve::start(&envs).await;
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}/api/tokens", serve.base))
        .header("CCM-Token", TOKEN)
        .json(&json!({"name": "deploy-bot", "scope": "read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    let read = client.get(format!("{}/api/pipelines", serve.base)).header("CCM-Token", &token).send().await.unwrap();
    assert_eq!(read.status(), 200);
    let refused = client
        .post(format!("{}/api/tasks", serve.base))
        .header("CCM-Token", &token)
        .json(&json!({"title": "t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let named = "\"actor\":\"token:deploy-bot\"";
    // Other lines of the requests carry the actor too (their span's field): wait for the two
    // request lines themselves, which the pipe may deliver after those.
    let request_line = |status: &str| {
        let status = format!("\"status\":{status}");
        move |line: &str| {
            line.contains(named) && line.contains("\"message\":\"http request\"") && line.contains(&status)
        }
    };
    let (read_line, refused_line) = (request_line("200"), request_line("403"));
    let output = serve
        .wait_for_output("the request lines of the read (200) and the refused write (403)", |o| {
            o.lines().any(&read_line) && o.lines().any(&refused_line)
        })
        .await;
    // The configured token by its fingerprint; never a token.
    assert!(output.contains(&format!("\"actor\":\"{}\"", ccm::http::Actor::fingerprint(TOKEN))), "{output}");
    assert!(!output.contains(&token) && !output.contains(TOKEN), "{output}");
}
