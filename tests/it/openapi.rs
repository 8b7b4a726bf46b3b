//! `GET /api/openapi.json`: a valid OpenAPI 3 document that describes every route the app
//! serves (the list comes from the route registration itself), and real responses that match
//! it: statuses, and bodies checked against the documented schemas.

mod schema;

use std::collections::BTreeSet;
use std::process::Command;

use crate::helpers::{Backend, Reply, TOKEN, TestApp, workflow_job, workflow_run};
use ccm::domain::tokens::Scope;
use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};

on_both_databases!(real_responses_match_the_document);

/// Routes served without documentation on purpose: pages for people, not API (method, path).
/// Keep this list small and explain each entry.
const UNDOCUMENTED: &[(&str, &str)] = &[
    // The dashboard's page and its embedded, versioned files (see README, "The dashboard").
    ("GET", "/"),
    ("HEAD", "/"),
    ("GET", "/assets/{version}/{name}"),
    ("HEAD", "/assets/{version}/{name}"),
];

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// The `/api` paths served without a token: the document itself, and CommandCenter's paths for
/// the health check and GitHub's deliveries (aliases of `/healthz` and `/webhooks/github`).
const PUBLIC_API: [&str; 3] = ["/api/openapi.json", "/api/v1/health", "/api/v1/integrations/github/webhook"];

fn needs_token(path: &str) -> bool {
    path.starts_with("/api/") && !PUBLIC_API.contains(&path)
}

async fn document(app: &TestApp) -> Value {
    // Public: no token.
    let reply = app.send(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                found.push((method.to_uppercase(), path.clone(), op));
            }
        }
    }
    found
}

fn documented_statuses(doc: &Value, method: &str, path: &str) -> Vec<u16> {
    let op = &doc["paths"][path][method.to_lowercase()];
    op["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is not documented"))
        .keys()
        .map(|s| s.parse().expect("numeric status"))
        .collect()
}

/// Asserts that `reply` is a documented answer of `method path` and matches its schema.
fn conforms(doc: &Value, method: &str, path: &str, reply: &Reply) {
    let op = &doc["paths"][path][method.to_lowercase()];
    assert!(op.is_object(), "{method} {path} is not documented");
    let status = reply.status.to_string();
    let response = &op["responses"][&status];
    assert!(response.is_object(), "{method} {path} answered {status}, which is not documented: {}", reply.body);
    let schema = &response["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{method} {path} {status} documents no JSON schema");
    let errors = schema::errors(doc, schema, &reply.body);
    assert!(
        errors.is_empty(),
        "{method} {path} {status} departs from the document:\n{}\n{}",
        errors.join("\n"),
        reply.body
    );
}

fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').expect("closing brace") + start;
        out.push_str(&rest[..start]);
        out.push('1');
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[actix_web::test]
async fn every_served_route_is_documented_and_answers_as_documented() {
    let app = TestApp::start(Backend::Sqlite).await;
    let doc = document(&app).await;
    let allowed: BTreeSet<(String, String)> =
        UNDOCUMENTED.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let served: BTreeSet<(String, String)> =
        ccm::http::endpoints().into_iter().map(|e| (e.method, e.path)).filter(|e| !allowed.contains(e)).collect();
    assert!(served.len() >= 30 && served.contains(&("GET".into(), "/api/pipelines".into())), "{served:?}");
    let documented: BTreeSet<(String, String)> = operations(&doc).into_iter().map(|(m, p, _)| (m, p)).collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let not_served: Vec<_> = documented.difference(&served).collect();
    assert!(undocumented.is_empty(), "served but not in the OpenAPI document: {undocumented:?}");
    assert!(not_served.is_empty(), "documented but not served: {not_served:?}");
    for (method, path) in UNDOCUMENTED {
        let served = ccm::http::endpoints().iter().any(|e| e.method == *method && e.path == *path);
        assert!(served, "UNDOCUMENTED names {method} {path}, which is not served");
    }

    // Each route answers (ids that do not exist, empty bodies) with a status it documents.
    for (method, path) in &served {
        let mut req = app.client.request(method.parse().unwrap(), format!("{}{}", app.base, concrete(path)));
        req = req.header("CCM-Token", TOKEN);
        if ["POST", "PUT", "PATCH"].contains(&method.as_str()) {
            req = req.json(&json!({}));
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        assert!(
            documented_statuses(&doc, method, path).contains(&status),
            "{method} {path} answered {status}, not documented: {}",
            if path.ends_with("events") { String::new() } else { res.text().await.unwrap() }
        );
        // A 404 or 405 from the router would mean the route table lies.
        if status == 404 || status == 405 {
            let body: Value = res.json().await.unwrap();
            assert!(!body["error"].as_str().unwrap().starts_with("No such endpoint"), "{method} {path}: {body}");
            assert_ne!(body["code"], "method_not_allowed", "{method} {path}");
        }
    }
    // And the 401 every /api operation documents is what a request without a token gets.
    for (method, path) in served.iter().filter(|(_, p)| needs_token(p)) {
        let reply = app.send(method.parse().unwrap(), &concrete(path), None, None).await;
        assert_eq!(reply.status, 401, "{method} {path}");
        conforms(&doc, method, path, &reply);
    }
}

/// Every operation behind a token documents 401, 403 (its scope) and 429 (rate limits); what a
/// token below an operation's scope gets is its documented 403, which names the scope.
#[actix_web::test]
async fn every_api_route_documents_its_scope_and_rate_limits() {
    let app = TestApp::start(Backend::Sqlite).await;
    let doc = document(&app).await;
    let endpoints: Vec<_> = ccm::http::endpoints().into_iter().filter(|e| needs_token(&e.path)).collect();
    assert!(endpoints.len() >= 30, "{endpoints:?}");
    for e in &endpoints {
        let statuses = documented_statuses(&doc, &e.method, &e.path);
        for status in [401, 403, 429] {
            assert!(statuses.contains(&status), "{} {} does not document {status}", e.method, e.path);
        }
        let limited = &doc["paths"][&e.path][e.method.to_lowercase()]["responses"]["429"];
        assert!(limited["headers"]["Retry-After"].is_object(), "{} {}: {limited}", e.method, e.path);
        let forbidden = doc["paths"][&e.path][e.method.to_lowercase()]["responses"]["403"]["description"].clone();
        assert!(
            forbidden.as_str().unwrap().contains(&format!("`{}`", e.scope)),
            "{} {}: {forbidden}",
            e.method,
            e.path
        );
        // Reading needs read (admin for the tokens and the audit log); anything else write at least.
        let reads = e.method == "GET" || e.method == "HEAD";
        let admin_reads = ["/api/tokens", "/api/audit"].contains(&e.path.as_str());
        let expected = match (reads, admin_reads) {
            (true, false) => e.scope == Scope::Read,
            (true, true) => e.scope == Scope::Admin,
            (false, _) => e.scope >= Scope::Write,
        };
        assert!(expected, "{} {} needs {}", e.method, e.path, e.scope);
    }
    for (method, path) in [("GET", "/api/tokens"), ("POST", "/api/tokens"), ("DELETE", "/api/tokens/{id}")] {
        assert!(endpoints.iter().any(|e| e.method == method && e.path == path && e.scope == Scope::Admin));
    }

    // A read token: every operation that needs more answers its documented 403.
    let created = app.post("/api/tokens", json!({"name": "reader", "scope": "read"})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let read = created.body["token"].as_str().unwrap().to_string();
    for e in endpoints.iter().filter(|e| e.scope > Scope::Read) {
        let body = (e.method != "DELETE").then(|| json!({}));
        let reply = app.send(e.method.parse().unwrap(), &concrete(&e.path), body, Some(&read)).await;
        assert_eq!(reply.status, 403, "{} {}: {}", e.method, e.path, reply.body);
        assert!(reply.body["error"].as_str().unwrap().ends_with(&format!("needs {}", e.scope)), "{}", reply.body);
        conforms(&doc, &e.method, &e.path, &reply);
    }
}

fn collect_refs<'a>(value: &'a Value, into: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                into.push(r);
            }
            map.values().for_each(|v| collect_refs(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, into)),
        _ => {}
    }
}

#[actix_web::test]
async fn the_document_is_valid_openapi_3() {
    let app = TestApp::start(Backend::Sqlite).await;
    let doc = document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "ccm");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 50, "suspiciously few $refs: {}", refs.len());
    for r in &refs {
        assert!(r.starts_with("#/components/"), "external $ref {r}");
        assert!(schema::resolve(&doc, r).is_some(), "{r} does not resolve");
    }

    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.to_string()), "operationId {id} is used twice");
        assert!(!op["responses"].as_object().unwrap().is_empty(), "{method} {path} has no responses");
        // Every {param} of the path is declared, required, and nothing else is a path parameter.
        let in_path: BTreeSet<&str> = path.split('{').skip(1).map(|s| s.split('}').next().unwrap()).collect();
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .inspect(|p| assert_eq!(p["required"], true, "{method} {path}: {p}"))
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(in_path, declared, "{method} {path}");
        // Errors have the one JSON error shape.
        for (status, response) in op["responses"].as_object().unwrap() {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
                    "{method} {path} {status}"
                );
            }
        }
        // The token: every /api operation but this document asks for it.
        let secured = op["security"] == json!([{"ccm_token": []}]);
        assert_eq!(secured, needs_token(&path), "{method} {path}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["ccm_token"],
        json!({"type": "apiKey", "in": "header", "name": "CCM-Token",
               "description": "One of the tokens configured in CCM_API_TOKEN (or the generated one in \
                 CCM_DATA_DIR/api-token), admin; or a named token (`ccm tokens create`), of scope read, write or admin"})
    );
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], json!(["success", "error", "code"]), "{error}");
    let webhook_headers: BTreeSet<&str> = doc["paths"]["/webhooks/github"]["post"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "header" && p["required"] == true)
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(webhook_headers, BTreeSet::from(["X-GitHub-Delivery", "X-GitHub-Event", "X-Hub-Signature-256"]));

    // What a request may hold, as the API checks it (the fuzzer generates from this).
    for (method, path, op) in operations(&doc) {
        let takes_json = op["requestBody"]["content"]["application/json"].is_object();
        if takes_json && path.starts_with("/api/") {
            for status in ["400", "413", "415"] {
                assert!(op["responses"][status].is_object(), "{method} {path} does not document {status}");
            }
        }
        for param in op["parameters"].as_array().into_iter().flatten() {
            if param["in"] == "path" && param["name"] == "id" && path.starts_with("/api/pipelines/") {
                assert_eq!(param["schema"]["pattern"], "^pipe_[0-9a-f]{12}$", "{method} {path}");
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    let required = |name: &str| schemas[name]["required"].as_array().cloned().unwrap_or_default();
    assert!(!required("TriggerRequest").contains(&json!("inputs")), "{}", schemas["TriggerRequest"]);
    assert!(!required("PipelineChange").contains(&json!("config")), "{}", schemas["PipelineChange"]);
    let trigger = &doc["paths"]["/api/pipelines/{id}/trigger"]["post"]["requestBody"];
    assert_ne!(trigger["required"], true, "an empty body is {{}}: {trigger}");
    for name in ["ProvisionRequest", "PipelineChange", "TriggerRequest", "TaskToIssueRequest", "RepositoryRef"] {
        assert_eq!(schemas[name]["additionalProperties"], false, "{name} refuses unknown fields");
    }
    assert!(schemas["ProvisionRequest"]["properties"]["repo"]["pattern"].is_string());
    assert!(schemas["ProvisionRequest"]["properties"]["workflow_file"]["pattern"].is_string());
    assert_eq!(schemas["ProvisionRequest"]["properties"]["config"]["properties"]["trigger_branches"]["maxItems"], 50);

    validate_with_openapi_spec_validator(&doc);
}

/// An independent validator: the Python `openapi-spec-validator` (scripts/test installs it).
fn validate_with_openapi_spec_validator(doc: &Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let script =
        "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))\n";
    let out = Command::new("python3").arg("-c").arg(script).arg(&file).output().unwrap_or_else(|e| {
        panic!("python3 is needed to validate the OpenAPI document ({e}): install python3 and openapi-spec-validator")
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'openapi_spec_validator'"),
        "the Python package openapi-spec-validator is missing: pip install openapi-spec-validator \
         (scripts/test installs it)"
    );
    assert!(out.status.success(), "openapi-spec-validator refused the document:\n{stderr}");
}

async fn real_responses_match_the_document(backend: Backend) {
    let app = TestApp::start(backend).await;
    let doc = document(&app).await;
    let ok = |method: &str, path: &str, reply: &Reply, status: u16| {
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.body);
        conforms(&doc, method, path, reply);
    };

    ok("GET", "/healthz", &app.send(Method::GET, "/healthz", None, None).await, 200);
    ok("GET", "/readyz", &app.send(Method::GET, "/readyz", None, None).await, 200);
    let repo = "octo/openapi";
    let body = json!({"repo": repo, "workflow_file": ".github/workflows/deploy.yml",
        "config": {"trigger_branches": ["main"], "environment": "production"}, "linked_domain": "example.com"});
    let provisioned = app.post("/api/pipelines/provision", body.clone()).await;
    ok("POST", "/api/pipelines/provision", &provisioned, 201);
    let id = provisioned.body["pipeline_id"].as_str().unwrap().to_string();
    ok("POST", "/api/pipelines/provision", &app.post("/api/pipelines/provision", body.clone()).await, 201);
    let mut other = body;
    other["linked_app"] = json!("another");
    ok("POST", "/api/pipelines/provision", &app.post("/api/pipelines/provision", other).await, 409);
    ok("POST", "/api/pipelines/provision", &app.post("/api/pipelines/provision", json!({})).await, 400);

    let t0 = Utc::now() - Duration::minutes(30);
    let run = workflow_run(7, 1, repo, "main", "in_progress", None, t0, t0);
    ok("POST", "/webhooks/github", &app.deliver("workflow_run", "oa-1", &run).await, 200);
    let job = workflow_job(70, 7, repo, "build", "in_progress", None, t0);
    ok("POST", "/webhooks/github", &app.deliver("workflow_job", "oa-2", &job).await, 200);
    let done = workflow_run(7, 1, repo, "main", "completed", Some("success"), t0, t0 + Duration::minutes(4));
    ok("POST", "/webhooks/github", &app.deliver("workflow_run", "oa-3", &done).await, 200);
    ok("POST", "/webhooks/github", &app.deliver_signed("workflow_run", "oa-4", &done, "sha256=0").await, 401);

    ok("GET", "/api/pipelines", &app.get("/api/pipelines").await, 200);
    ok("GET", "/api/pipelines", &app.get("/api/pipelines?include=stats").await, 200);
    ok("GET", "/api/pipelines", &app.get("/api/pipelines?include=everything").await, 400);
    ok("GET", "/api/pipelines", &app.get("/api/pipelines?limit=0").await, 400);
    let details = app.get(&format!("/api/pipelines/{id}")).await;
    ok("GET", "/api/pipelines/{id}", &details, 200);
    assert_eq!(details.body["executions"].as_array().unwrap().len(), 1, "{}", details.body);
    ok("GET", "/api/pipelines/{id}", &app.get("/api/pipelines/pipe_000000000000").await, 404);
    let stats = app.get(&format!("/api/pipelines/{id}/stats")).await;
    ok("GET", "/api/pipelines/{id}/stats", &stats, 200);
    assert_eq!(stats.body["stats"]["last_run"]["status"], "success", "{}", stats.body);
    let patched = app.patch(&format!("/api/pipelines/{id}"), json!({"linked_app": "app", "config": {"x": 1}})).await;
    ok("PATCH", "/api/pipelines/{id}", &patched, 200);
    let path = format!("/api/pipelines/{id}");
    let replaced = app.send(Method::PUT, &path, Some(patched.body["pipeline"].clone()), Some(TOKEN)).await;
    ok("PUT", "/api/pipelines/{id}", &replaced, 200);
    ok("GET", "/api/pipelines/{id}/pushes", &app.get(&format!("/api/pipelines/{id}/pushes")).await, 200);
    // Issue 19: the report and the overview.
    ok("GET", "/api/pipelines/{id}/report", &app.get(&format!("/api/pipelines/{id}/report?days=3")).await, 200);
    ok("GET", "/api/pipelines/{id}/report", &app.get(&format!("/api/pipelines/{id}/report?days=0")).await, 400);
    ok("GET", "/api/pipelines/{id}/report", &app.get("/api/pipelines/pipe_000000000000/report").await, 404);
    ok("GET", "/api/insights", &app.get("/api/insights?days=30").await, 200);
    ok("GET", "/api/insights", &app.get("/api/insights?limit=0").await, 400);
    let trigger = app.post(&format!("/api/pipelines/{id}/trigger"), json!({"ref": "main"})).await;
    ok("POST", "/api/pipelines/{id}/trigger", &trigger, 503);

    ok("GET", "/api/deliveries", &app.get("/api/deliveries").await, 200);
    ok("GET", "/api/deliveries/{guid}", &app.get("/api/deliveries/oa-2").await, 200);
    ok("GET", "/api/deliveries/{guid}", &app.get("/api/deliveries/nope").await, 404);
    ok("POST", "/api/deliveries/{guid}/replay", &app.post("/api/deliveries/oa-1/replay", json!({})).await, 200);

    let created = app.post("/api/tasks", json!({"title": "Document the API", "labels": ["docs"]})).await;
    ok("POST", "/api/tasks", &created, 201);
    let task = created.body["task"]["id"].as_i64().unwrap();
    ok("GET", "/api/tasks", &app.get("/api/tasks").await, 200);
    ok("GET", "/api/tasks/{id}", &app.get(&format!("/api/tasks/{task}")).await, 200);
    ok("PATCH", "/api/tasks/{id}", &app.patch(&format!("/api/tasks/{task}"), json!({"status": "done"})).await, 200);
    ok("PATCH", "/api/tasks/{id}", &app.patch(&format!("/api/tasks/{task}"), json!({"nope": 1})).await, 400);
    ok("DELETE", "/api/tasks/{id}", &app.delete(&format!("/api/tasks/{task}")).await, 200);
    let settings = "/api/sync/repositories/octo/research";
    ok("GET", "/api/sync/repositories/{owner}/{repo}", &app.get(settings).await, 200);
    let put = app.send(Method::PUT, settings, Some(json!({"auto_sync": false})), Some(TOKEN)).await;
    ok("PUT", "/api/sync/repositories/{owner}/{repo}", &put, 200);
    let to_task =
        app.post("/api/sync/issue-to-task", json!({"issue_number": 1, "repository": {"owner": "o", "name": "r"}}));
    ok("POST", "/api/sync/issue-to-task", &to_task.await, 503);

    ok("GET", "/api/integrations/github/health", &app.get("/api/integrations/github/health").await, 200);
    let job = ccm::store::NewOutboxJob {
        task: ccm::domain::outbox::OutboxTask::CorrectStuckRuns {},
        dedupe_key: None,
        max_attempts: 3,
        run_at: Utc::now(),
    };
    let job_id = app.store().enqueue_job(&job).await.unwrap();
    let job = app.get(&format!("/api/integrations/github/jobs/{job_id}")).await;
    ok("GET", "/api/integrations/github/jobs/{id}", &job, 200);
    ok("GET", "/api/audit", &app.get(&format!("/api/audit?pipeline_id={id}")).await, 200);

    ok("DELETE", "/api/pipelines/{id}", &app.delete(&format!("/api/pipelines/{id}")).await, 200);
    let again = app.delete(&format!("/api/pipelines/{id}")).await;
    ok("DELETE", "/api/pipelines/{id}", &again, 200);
    assert_eq!(again.body["already_inactive"], true);
    // Inactive: said so before the missing GitHub App matters.
    ok(
        "POST",
        "/api/pipelines/{id}/rollback",
        &app.post(&format!("/api/pipelines/{id}/rollback"), json!({})).await,
        409,
    );

    // Issue 16: channels, rules, alerts.
    let channels = "/api/notification-channels";
    let unreachable =
        json!({"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s3cret-for-the-doc"});
    let channel = app.post(channels, unreachable.clone()).await;
    ok("POST", channels, &channel, 201);
    ok("POST", channels, &app.post(channels, unreachable).await, 409);
    ok("POST", channels, &app.post(channels, json!({"name": "x", "kind": "pager"})).await, 400);
    ok("GET", channels, &app.get(channels).await, 200);
    let channel_id = channel.body["channel"]["id"].as_i64().unwrap();
    let tested = app.post(&format!("{channels}/{channel_id}/test"), json!({})).await;
    ok("POST", "/api/notification-channels/{id}/test", &tested, 200);
    assert_eq!(tested.body["success"], false, "{}", tested.body);
    ok(
        "POST",
        "/api/notification-channels/{id}/test",
        &app.post(&format!("{channels}/999/test"), json!({})).await,
        404,
    );
    let rules = "/api/alert-rules";
    let other_id = app.provision("octo/alerts", ".github/workflows/deploy.yml", json!({})).await;
    let rule = app
        .post(rules, json!({"name": "failed", "kind": "run_failed", "pipeline_id": other_id, "channels": [channel_id]}))
        .await;
    ok("POST", rules, &rule, 201);
    ok("POST", rules, &app.post(rules, json!({"name": "h", "kind": "health_below"})).await, 400);
    ok(
        "POST",
        rules,
        &app.post(rules, json!({"name": "f", "kind": "run_failed", "pipeline_id": "pipe_000000000000"})).await,
        404,
    );
    ok("GET", rules, &app.get(rules).await, 200);
    let now = chrono::Utc::now();
    let failed = workflow_run(9001, 1, "octo/alerts", "main", "completed", Some("failure"), now, now);
    assert_eq!(app.deliver("workflow_run", "openapi-alert-1", &failed).await.status, 200);
    crate::helpers::wait_until("the alert", async || app.get("/api/alerts?state=firing").await.body["total"] == 1)
        .await;
    ok("GET", "/api/alerts", &app.get("/api/alerts?state=firing").await, 200);
    ok("GET", "/api/alerts", &app.get("/api/alerts?state=gone").await, 400);
    ok("GET", "/api/pipelines/{id}/stats", &app.get(&format!("/api/pipelines/{other_id}/stats")).await, 200);
    let alert_id = app.get("/api/alerts").await.body["alerts"][0]["id"].as_i64().unwrap();
    ok("POST", "/api/alerts/{id}/ack", &app.post(&format!("/api/alerts/{alert_id}/ack"), json!({})).await, 200);
    ok("POST", "/api/alerts/{id}/ack", &app.post("/api/alerts/999999/ack", json!({})).await, 404);
    let rule_id = rule.body["rule"]["id"].as_i64().unwrap();
    ok("DELETE", "/api/alert-rules/{id}", &app.delete(&format!("{rules}/{rule_id}")).await, 200);
    ok("DELETE", "/api/alert-rules/{id}", &app.delete(&format!("{rules}/{rule_id}")).await, 404);
    ok("DELETE", "/api/notification-channels/{id}", &app.delete(&format!("{channels}/{channel_id}")).await, 200);
    ok("DELETE", "/api/notification-channels/{id}", &app.delete(&format!("{channels}/{channel_id}")).await, 404);
}
