//! Issue 16: alert rules, alerts and their notifications, with wiremock as the receiver (webhook
//! and Slack) and a real local SMTP server (Python's aiosmtpd) for e-mail.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::ccm_cli::Ccm;
use crate::helpers::github::FakeGithub;
use crate::helpers::*;

const CHANNEL_SECRET: &str = "channel-secret-for-tests";

fn settings() -> ccm::notify::AlertSettings {
    ccm::notify::AlertSettings {
        sweep: Duration::from_millis(200),
        poll: Duration::from_millis(100),
        retry_base: Duration::from_millis(100),
        ..Default::default()
    }
}

async fn app(backend: Backend) -> TestApp {
    TestApp::with_alerts_on(TestDb::new(backend).await, settings())
}

async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/hook")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    server
}

async fn webhook_channel(app: &TestApp, server: &MockServer) -> i64 {
    let reply = app
        .post(
            "/api/notification-channels",
            json!({"name": "ops-hook", "kind": "webhook", "url": format!("{}/hook", server.uri()), "secret": CHANNEL_SECRET}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["channel"]["id"].as_i64().unwrap()
}

async fn rule(app: &TestApp, body: Value) -> i64 {
    let reply = app.post("/api/alert-rules", body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["rule"]["id"].as_i64().unwrap()
}

fn run(run_id: i64, conclusion: &str) -> Vec<u8> {
    let now = Utc::now();
    workflow_run(
        run_id,
        1,
        "octo-org/app",
        "main",
        "completed",
        Some(conclusion),
        now - chrono::Duration::minutes(3),
        now - chrono::Duration::minutes(1),
    )
}

/// The POSTs received on /hook answered with a success.
async fn hooks(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default().into_iter().filter(|r| r.url.path() == "/hook").collect()
}

fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("a JSON body")
}

fn header<'a>(request: &'a Request, name: &str) -> &'a str {
    request.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// The signature verifies the way a receiver would check it: HMAC-SHA256 of the raw body.
fn assert_signed(request: &Request) {
    let expected = ccm::domain::alerts::signature(CHANNEL_SECRET.as_bytes(), &request.body);
    assert_eq!(header(request, "X-CCM-Signature-256"), expected);
    assert_eq!(header(request, "X-CCM-Event"), "alert");
    assert!(!header(request, "X-CCM-Delivery").is_empty());
}

async fn wait_hooks(server: &MockServer, n: usize) -> Vec<Request> {
    wait_for(&format!("{n} notifications"), PATIENCE, async || {
        let got = hooks(server).await;
        if got.len() >= n { Ok(got) } else { Err(format!("{} so far", got.len())) }
    })
    .await
}

async fn run_failed_fires_once_per_streak_and_resolves(backend: Backend) {
    let app = app(backend).await;
    let server = receiver().await;
    let channel = webhook_channel(&app, &server).await;
    let pipeline = app.provision("octo-org/app", WORKFLOW, json!({"trigger_branches": ["main"]})).await;
    rule(&app, json!({"name": "deploy failed", "kind": "run_failed", "pipeline_id": pipeline, "channels": [channel]}))
        .await;

    assert_eq!(app.deliver("workflow_run", "f-1", &run(101, "failure")).await.status, 200);
    let got = wait_hooks(&server, 1).await;
    assert_signed(&got[0]);
    let firing = body(&got[0]);
    assert_eq!(firing["event"], "firing", "{firing}");
    assert_eq!(firing["kind"], "run_failed");
    assert_eq!(firing["pipeline_id"], pipeline.as_str());
    assert_eq!(firing["run"]["run_id"], 101);
    assert_eq!(firing["run"]["conclusion"], "failure");
    let alert_id = firing["id"].as_i64().unwrap();

    // The stats show the firing alert; the listing too.
    let stats = app.stats(&pipeline).await;
    assert_eq!(stats["alerts"][0]["id"], alert_id, "{stats}");
    let listed = app.get(&format!("/api/alerts?state=firing&pipeline_id={pipeline}")).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["total"], 1);

    // A second failure updates the same alert, it does not page again.
    assert_eq!(app.deliver("workflow_run", "f-2", &run(102, "timed_out")).await.status, 200);
    wait_until("the alert to follow the second failure", async || {
        let alert = &app.get(&format!("/api/alerts?pipeline_id={pipeline}")).await.body["alerts"][0];
        alert["run"]["run_id"] == 102
    })
    .await;

    // The next success resolves it: one resolved notification, the same alert.
    assert_eq!(app.deliver("workflow_run", "s-1", &run(103, "success")).await.status, 200);
    let got = wait_hooks(&server, 2).await;
    assert_eq!(got.len(), 2, "one firing and one resolved notification");
    assert_signed(&got[1]);
    let resolved = body(&got[1]);
    assert_eq!((resolved["event"].as_str(), resolved["id"].as_i64()), (Some("resolved"), Some(alert_id)));
    assert!(resolved["resolved_at"].is_string());
    assert_ne!(header(&got[0], "X-CCM-Delivery"), header(&got[1], "X-CCM-Delivery"));
    let listed = app.get("/api/alerts?state=resolved").await;
    assert_eq!(listed.body["alerts"][0]["id"], alert_id);
    assert_eq!(app.stats(&pipeline).await["alerts"], json!([]));

    // A new failing streak is a new alert; within the cooldown (10 minutes by default) of the
    // first one's notification, it is recorded without paging again.
    assert_eq!(app.deliver("workflow_run", "f-3", &run(104, "failure")).await.status, 200);
    let again = wait_for("a second alert", PATIENCE, async || {
        let listed = app.get("/api/alerts?state=firing").await.body;
        listed["alerts"].get(0).cloned().ok_or_else(|| listed.to_string())
    })
    .await;
    assert_ne!(again["id"].as_i64(), Some(alert_id));
    let queued = app.store().alert_notifications(again["id"].as_i64().unwrap()).await.unwrap();
    assert!(queued.is_empty(), "{queued:?}");
    assert_eq!(hooks(&server).await.len(), 2);
}

async fn muted_pipeline_records_but_sends_nothing(backend: Backend) {
    let app = app(backend).await;
    let server = receiver().await;
    let channel = webhook_channel(&app, &server).await;
    let pipeline = app
        .provision("octo-org/app", WORKFLOW, json!({"trigger_branches": ["main"], "notifications_enabled": false}))
        .await;
    rule(&app, json!({"name": "all failures", "kind": "run_failed", "pipeline_id": null, "channels": [channel]})).await;
    assert_eq!(app.deliver("workflow_run", "m-1", &run(201, "failure")).await.status, 200);
    let alert = wait_for("the alert to be recorded", PATIENCE, async || {
        let listed = app.get(&format!("/api/alerts?pipeline_id={pipeline}")).await;
        listed.body["alerts"].get(0).cloned().ok_or_else(|| listed.body.to_string())
    })
    .await;
    assert_eq!(alert["state"], "firing");
    let queued = app.store().alert_notifications(alert["id"].as_i64().unwrap()).await.unwrap();
    assert!(queued.is_empty(), "{queued:?}");
    // Resolved too, and still nothing sent.
    assert_eq!(app.deliver("workflow_run", "m-2", &run(202, "success")).await.status, 200);
    wait_until("the alert to resolve", async || {
        app.get(&format!("/api/alerts?state=resolved&pipeline_id={pipeline}")).await.body["total"] == 1
    })
    .await;
    assert!(hooks(&server).await.is_empty());
}

async fn receiver_down_then_up_gets_each_notification_once_in_order(backend: Backend) {
    let app = app(backend).await;
    let server = MockServer::start().await;
    // Down for the first 4 attempts, then up.
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(4)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&server)
        .await;
    let channel = webhook_channel(&app, &server).await;
    let pipeline = app.provision("octo-org/app", WORKFLOW, json!({})).await;
    rule(&app, json!({"name": "failed", "kind": "run_failed", "pipeline_id": pipeline, "channels": [channel]})).await;
    assert_eq!(app.deliver("workflow_run", "d-1", &run(301, "failure")).await.status, 200);
    wait_until("the alert to fire", async || app.get("/api/alerts?state=firing").await.body["total"] == 1).await;
    assert_eq!(app.deliver("workflow_run", "d-2", &run(302, "success")).await.status, 200);

    let alert_id = app.get("/api/alerts").await.body["alerts"][0]["id"].as_i64().unwrap();
    let sent = wait_for("both notifications to be sent", PATIENCE, async || {
        let all = app.store().alert_notifications(alert_id).await.unwrap();
        if all.len() == 2 && all.iter().all(|n| n.status.as_str() == "sent") {
            Ok(all)
        } else {
            Err(format!("{all:?}"))
        }
    })
    .await;
    let got = hooks(&server).await;
    assert!(got.len() >= 6, "4 refused attempts and 2 accepted: {}", got.len());
    // Every attempt of a notification carries its delivery id; the resolved one never went out
    // before the firing one was accepted.
    let ids: Vec<&str> = got.iter().map(|r| header(r, "X-CCM-Delivery")).collect();
    let firing_id = sent[0].delivery_id.as_str();
    let resolved_id = sent[1].delivery_id.as_str();
    let first_resolved = ids.iter().position(|id| *id == resolved_id).expect("the resolved one was sent");
    assert!(ids[..first_resolved].iter().all(|id| *id == firing_id), "{ids:?}");
    assert!(ids[first_resolved..].iter().all(|id| *id == resolved_id), "{ids:?}");
    // Accepted once each: the last attempt of each id was the one answered 200.
    let accepted: Vec<&str> = ids.iter().skip(4).copied().collect();
    assert_eq!(accepted, vec![firing_id, resolved_id], "{ids:?}");
    for request in &got {
        assert_signed(request);
    }
}

async fn health_and_success_rate_fire_and_resolve(backend: Backend) {
    let app = app(backend).await;
    let server = receiver().await;
    let channel = webhook_channel(&app, &server).await;
    let pipeline = app.provision("octo-org/app", WORKFLOW, json!({})).await;
    rule(&app, json!({"name": "rate", "kind": "success_rate_below", "pipeline_id": pipeline, "threshold": 50, "channels": [channel]}))
        .await;
    rule(&app, json!({"name": "health", "kind": "health_below", "pipeline_id": pipeline, "threshold": 50, "channels": [channel]}))
        .await;
    for (i, guid) in ["h-1", "h-2", "h-3"].iter().enumerate() {
        assert_eq!(app.deliver("workflow_run", guid, &run(400 + i as i64, "failure")).await.status, 200);
    }
    let firing = wait_for("both rules to fire", PATIENCE, async || {
        let listed = app.get("/api/alerts?state=firing").await.body;
        if listed["total"] == 2 { Ok(listed) } else { Err(listed.to_string()) }
    })
    .await;
    let kinds: Vec<&str> = firing["alerts"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"success_rate_below") && kinds.contains(&"health_below"), "{kinds:?}");
    // Seven successes: the rate is 70 % and health well above 55.
    for i in 0..7 {
        assert_eq!(app.deliver("workflow_run", &format!("h-ok-{i}"), &run(410 + i, "success")).await.status, 200);
    }
    wait_until("both alerts to resolve", async || app.get("/api/alerts?state=resolved").await.body["total"] == 2).await;
    let events: Vec<String> =
        wait_hooks(&server, 4).await.iter().map(|r| format!("{}:{}", body(r)["kind"], body(r)["event"])).collect();
    assert_eq!(events.len(), 4, "{events:?}");
}

async fn channels_hide_secrets_and_need_admin(backend: Backend) {
    let app = app(backend).await;
    let reply = app
        .post(
            "/api/notification-channels",
            json!({"name": "slack", "kind": "slack", "url": "https://user:hunter2@hooks.example.com/T0/B0/xyz"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let listed = app.get("/api/notification-channels").await;
    let text = listed.body.to_string();
    assert!(!text.contains("hunter2") && !text.contains("hooks.example.com"), "{text}");
    assert_eq!(listed.body["channels"][0]["has_url"], true);
    // Invalid bodies are JSON errors.
    let bad = app.post("/api/notification-channels", json!({"name": "x", "kind": "pager"})).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let bad = app.post("/api/alert-rules", json!({"name": "x", "kind": "health_below"})).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    // A filter outside the documented states, the empty one included, is refused by name.
    for filter in ["state=", "state=open"] {
        let bad = app.get(&format!("/api/alerts?{filter}")).await;
        assert_eq!(bad.status, 400, "{filter}: {}", bad.body);
        assert!(bad.body["error"].as_str().unwrap_or_default().contains("state"), "{}", bad.body);
    }
    // A write token may not manage channels, but may acknowledge alerts.
    let named = app.post("/api/tokens", json!({"name": "writer", "scope": "write"})).await;
    assert_eq!(named.status, 201, "{}", named.body);
    let writer = named.body["token"].as_str().unwrap().to_string();
    let refused = app
        .send(
            reqwest::Method::POST,
            "/api/notification-channels",
            Some(json!({"name": "y", "kind": "slack", "url": "https://example.com"})),
            Some(&writer),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let missing = app.send(reqwest::Method::POST, "/api/alerts/999/ack", None, Some(&writer)).await;
    assert_eq!(missing.status, 404, "{}", missing.body);
}

async fn slack_channel_gets_text_and_blocks(backend: Backend) {
    let app = app(backend).await;
    let server = receiver().await;
    let reply = app
        .post(
            "/api/notification-channels",
            json!({"name": "slack", "kind": "slack", "url": format!("{}/hook", server.uri())}),
        )
        .await;
    let channel = reply.body["channel"]["id"].as_i64().unwrap();
    let tested = app.post(&format!("/api/notification-channels/{channel}/test"), json!({})).await;
    assert_eq!(tested.status, 200, "{}", tested.body);
    assert_eq!((tested.body["success"].as_bool(), tested.body["status"].as_i64()), (Some(true), Some(200)));
    let pipeline = app.provision("octo-org/app", WORKFLOW, json!({})).await;
    rule(&app, json!({"name": "failed", "kind": "run_failed", "pipeline_id": pipeline, "channels": [channel]})).await;
    assert_eq!(app.deliver("workflow_run", "sl-1", &run(501, "failure")).await.status, 200);
    let got = wait_hooks(&server, 2).await;
    let slack = body(&got[1]);
    assert!(slack["text"].as_str().unwrap().contains("Firing"), "{slack}");
    assert!(slack["blocks"].as_array().is_some_and(|b| !b.is_empty()), "{slack}");
}

/// A local SMTP server (aiosmtpd) whose messages are written to a folder.
struct Smtp {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SMTP_SCRIPT: &str = r#"
import asyncio, sys, os, itertools, ssl
from aiosmtpd.controller import Controller
folder = sys.argv[2]
counter = itertools.count()
class Handler:
    async def handle_DATA(self, server, session, envelope):
        path = os.path.join(folder, "msg-%d.eml" % next(counter))
        with open(path + ".tmp", "wb") as f:
            f.write(("X-Rcpt: %s\n" % ",".join(envelope.rcpt_tos)).encode() + envelope.content)
        os.rename(path + ".tmp", path)
        return "250 OK"
# argv[3]: plain, starttls (required) or tls (from the start), with argv[4] and argv[5] the
# server's certificate and key.
mode = sys.argv[3]
tls = {}
if mode != "plain":
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(sys.argv[4], sys.argv[5])
    tls = {"tls_context": context, "require_starttls": True} if mode == "starttls" else {"ssl_context": context}
controller = Controller(Handler(), hostname="127.0.0.1", port=int(sys.argv[1]), **tls)
controller.start()
print("ready", flush=True)
asyncio.get_event_loop().run_forever()
"#;

/// How the test SMTP server secures its connections.
#[derive(Clone, Copy, PartialEq)]
enum SmtpTls {
    Plain,
    StartTls,
    Tls,
}

/// A private CA and a certificate it signed for 127.0.0.1 (PEM files in `dir`), made with the
/// openssl command.
struct TestCa {
    dir: tempfile::TempDir,
}

impl TestCa {
    fn make() -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        let steps = [
            format!("req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=ccm-test-CA"),
            format!("req {ec} -keyout server.key -out server.csr -subj /CN=127.0.0.1"),
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
             -extfile server.ext"
                .to_string(),
        ];
        for step in steps {
            let args: Vec<&str> = step.split_whitespace().collect();
            let out = std::process::Command::new("openssl").args(&args).current_dir(dir.path()).output();
            let out = out.expect("the TLS e-mail test needs the openssl command (Debian: apt-get install openssl)");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        TestCa { dir }
    }

    fn file(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }
}

impl Smtp {
    async fn start() -> Smtp {
        Smtp::start_with(SmtpTls::Plain, None).await
    }

    async fn start_with(tls: SmtpTls, ca: Option<&TestCa>) -> Smtp {
        let has = std::process::Command::new("python3").args(["-c", "import aiosmtpd"]).status();
        assert!(
            has.is_ok_and(|s| s.success()),
            "the e-mail test needs Python's aiosmtpd: run scripts/test (it installs it) or pip install --user aiosmtpd"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let child = std::process::Command::new("python3")
            .args(["-c", SMTP_SCRIPT, &port.to_string(), dir.path().to_str().unwrap()])
            .args(match (tls, ca) {
                (SmtpTls::Plain, _) => vec!["plain".to_string()],
                (mode, Some(ca)) => vec![
                    if mode == SmtpTls::StartTls { "starttls" } else { "tls" }.to_string(),
                    ca.file("server.pem"),
                    ca.file("server.key"),
                ],
                (_, None) => panic!("a TLS SMTP server needs a certificate"),
            })
            .stdout(std::process::Stdio::null())
            // Its tracebacks (a client refusing its certificate, as one test makes it) go to a
            // file beside the messages, not into the test output.
            .stderr(std::fs::File::create(dir.path().join("aiosmtpd.log")).unwrap())
            .spawn()
            .expect("start aiosmtpd");
        wait_until("the SMTP server to listen", async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
        Smtp { child, port, dir }
    }

    fn messages(&self) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
    }
}

async fn email_channel_sends_over_smtp(backend: Backend) {
    let smtp = Smtp::start().await;
    let settings = ccm::notify::AlertSettings {
        smtp: Some(ccm::notify::SmtpSettings {
            url: format!("smtp://127.0.0.1:{}", smtp.port).into(),
            from: "ccm@example.com".into(),
            ca_pem: None,
        }),
        ..settings()
    };
    let app = TestApp::with_alerts_on(TestDb::new(backend).await, settings);
    let reply = app
        .post("/api/notification-channels", json!({"name": "mail", "kind": "email", "to": ["ops@example.com"]}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let channel = reply.body["channel"]["id"].as_i64().unwrap();
    let pipeline = app.provision("octo-org/app", WORKFLOW, json!({})).await;
    rule(&app, json!({"name": "failed", "kind": "run_failed", "pipeline_id": pipeline, "channels": [channel]})).await;
    assert_eq!(app.deliver("workflow_run", "e-1", &run(601, "failure")).await.status, 200);
    let mail =
        wait_for("the e-mail", PATIENCE, async || smtp.messages().first().cloned().ok_or_else(|| "none".to_string()))
            .await;
    assert!(mail.contains("X-Rcpt: ops@example.com"), "{mail}");
    assert!(mail.contains("Subject: [ccm] Firing"), "{mail}");
    assert!(mail.contains("octo-org/app"), "{mail}");
}

/// E-mail over STARTTLS and over TLS from the start, to a relay whose certificate a private CA
/// signed (`CCM_SMTP_CA_FILE`); without that CA the certificate is refused and nothing is sent.
#[actix_web::test]
async fn email_channel_sends_over_starttls_and_tls() {
    let ca = TestCa::make();
    let ca_pem = std::fs::read(ca.file("ca.pem")).unwrap();
    for (tls, url) in
        [(SmtpTls::StartTls, "smtp://127.0.0.1:{port}?tls=required"), (SmtpTls::Tls, "smtps://127.0.0.1:{port}")]
    {
        let smtp = Smtp::start_with(tls, Some(&ca)).await;
        let url = url.replace("{port}", &smtp.port.to_string());
        let smtp_settings = |ca_pem: Option<Vec<u8>>| ccm::notify::AlertSettings {
            smtp: Some(ccm::notify::SmtpSettings { url: url.clone().into(), from: "ccm@example.com".into(), ca_pem }),
            ..settings()
        };
        // The system's roots do not know the private CA: the test send fails and says why.
        let untrusting = TestApp::with_alerts_on(TestDb::new(Backend::Sqlite).await, smtp_settings(None));
        let channel = untrusting
            .post("/api/notification-channels", json!({"name": "mail", "kind": "email", "to": ["ops@example.com"]}))
            .await;
        let id = channel.body["channel"]["id"].as_i64().unwrap();
        let tested = untrusting.post(&format!("/api/notification-channels/{id}/test"), json!({})).await;
        assert_eq!(tested.body["success"], false, "{}", tested.body);
        assert!(tested.body.to_string().to_lowercase().contains("certificate"), "{}", tested.body);
        assert!(smtp.messages().is_empty());

        let app = TestApp::with_alerts_on(TestDb::new(Backend::Sqlite).await, smtp_settings(Some(ca_pem.clone())));
        let channel = app
            .post("/api/notification-channels", json!({"name": "mail", "kind": "email", "to": ["ops@example.com"]}))
            .await;
        let id = channel.body["channel"]["id"].as_i64().unwrap();
        let tested = app.post(&format!("/api/notification-channels/{id}/test"), json!({})).await;
        assert_eq!(
            (tested.body["success"].as_bool(), tested.body["status"].as_i64()),
            (Some(true), Some(250)),
            "{}",
            tested.body
        );
        let mail = wait_for("the e-mail", PATIENCE, async || {
            smtp.messages().first().cloned().ok_or_else(|| "none".to_string())
        })
        .await;
        assert!(mail.contains("X-Rcpt: ops@example.com"), "{mail}");
    }
}

async fn cli_lists_acks_and_tests(backend: Backend) {
    let app = app(backend).await;
    let server = receiver().await;
    let channel = webhook_channel(&app, &server).await;
    let pipeline = app.provision("octo-org/app", WORKFLOW, json!({})).await;
    rule(&app, json!({"name": "failed", "kind": "run_failed", "pipeline_id": pipeline, "channels": [channel]})).await;
    assert_eq!(app.deliver("workflow_run", "c-1", &run(801, "failure")).await.status, 200);
    wait_until("the alert to fire", async || app.get("/api/alerts?state=firing").await.body["total"] == 1).await;
    let ccm = Ccm::new(&app.base, Some(TOKEN));
    let listed = ccm.run(&["alerts", "list", "--state", "firing"]).await;
    listed.assert_code(0);
    assert!(listed.stdout.contains("run_failed") && listed.stdout.contains(&pipeline), "{listed:?}");
    let id = app.get("/api/alerts").await.body["alerts"][0]["id"].as_i64().unwrap().to_string();
    let acked = ccm.run(&["alerts", "ack", &id, "--json"]).await;
    acked.assert_code(0);
    assert_eq!(acked.json()["alert"]["state"], "acknowledged");
    let tested = ccm.run(&["notify", "test", "ops-hook"]).await;
    tested.assert_code(0);
    assert!(tested.stdout.contains("accepted"), "{tested:?}");
    let test_hook = hooks(&server).await.into_iter().find(|r| header(r, "X-CCM-Delivery").starts_with("test-"));
    assert_signed(&test_hook.expect("the test notification"));
}

async fn event_streams_carry_alert_events(backend: Backend) {
    let app = app(backend).await;
    let pipeline = app.provision("octo-org/app", WORKFLOW, json!({})).await;
    rule(&app, json!({"name": "failed", "kind": "run_failed", "pipeline_id": pipeline, "channels": []})).await;
    let mut stream = app
        .client
        .get(format!("{}/api/pipelines/{pipeline}/events", app.base))
        .header("CCM-Token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(app.deliver("workflow_run", "sse-1", &run(901, "failure")).await.status, 200);
    let events = read_events(&mut stream, |kind, _| kind == "alert").await;
    let (_, _, data) = events.iter().find(|(kind, _, _)| kind == "alert").expect("an alert event");
    assert_eq!(data["event"], "firing", "{data}");
    assert_eq!(data["alert"]["kind"], "run_failed");
    assert_eq!(data["alert"]["pipeline_id"], pipeline.as_str());
}

/// The dashboard shows firing alerts (a banner, and on the pipeline's page) and a write token
/// acknowledges them; a read-only token is shown no button.
async fn dashboard_shows_and_acknowledges_alerts(backend: Backend) {
    let app = app(backend).await;
    let pipeline = app.provision("octo-org/app", WORKFLOW, json!({})).await;
    rule(&app, json!({"name": "failed", "kind": "run_failed", "pipeline_id": pipeline, "channels": []})).await;
    let reader = app.post("/api/tokens", json!({"name": "wall", "scope": "read"})).await;
    let reader = reader.body["token"].as_str().unwrap().to_string();

    let browser = crate::browser::Browser::start().await;
    browser.goto(&format!("{}/", app.base)).await;
    browser.wait_text("#sign-in h1", "the sign-in form", |t| t.contains("Sign in")).await;
    browser.type_into("#token", &reader).await;
    browser.click("#sign-in button[type=submit]").await;
    browser.wait_text("#live", "the live stream", |t| t == "live").await;

    // A failure while the page is open: the banner appears live.
    assert_eq!(app.deliver("workflow_run", "ui-1", &run(1001, "failure")).await.status, 200);
    browser
        .wait_text("#alerts", "the firing alert", |t| t.contains("1 firing alert") && t.contains("octo-org/app"))
        .await;
    let id = app.get("/api/alerts").await.body["alerts"][0]["id"].as_i64().unwrap();
    let button = format!("#alerts [data-alert-id=\"{id}\"] button.ack");
    // A read token is shown no button to acknowledge with.
    let buttons = "return document.querySelectorAll('#alerts button.ack').length";
    assert_eq!(browser.script(buttons, json!([])).await, 0);
    assert_eq!(app.get("/api/alerts?state=firing").await.body["total"], 1);

    // With a write token: the pipeline's page lists it, and acknowledging clears the banner.
    browser.script("localStorage.setItem('ccm-token', arguments[0]); location.reload();", json!([TOKEN])).await;
    browser.wait_text("#alerts", "the firing alert", |t| t.contains("1 firing alert")).await;
    browser.goto(&format!("{}/#/pipelines/{pipeline}", app.base)).await;
    browser
        .wait_text("#pipeline-stats [data-field=\"alerts\"]", "the pipeline's alert", |t| {
            t.contains("firing: octo-org/app")
        })
        .await;
    browser.click(&button).await;
    wait_until("the alert to be acknowledged", async || {
        app.get("/api/alerts?state=acknowledged").await.body["total"] == 1
    })
    .await;
    wait_until("the banner to go", async || {
        browser.script("return document.getElementById('alerts').hidden", json!([])).await == true
    })
    .await;
}

async fn wait_state(app: &TestApp, rule_id: i64, state: &str) -> Value {
    wait_for(&format!("rule {rule_id}'s alert to be {state}"), PATIENCE, async || {
        let listed = app.get(&format!("/api/alerts?state={state}")).await.body;
        listed["alerts"]
            .as_array()
            .and_then(|all| all.iter().find(|a| a["rule_id"] == rule_id).cloned())
            .ok_or_else(|| listed.to_string())
    })
    .await
}

/// The sweep's kinds: a stuck run, a silent webhook, a parked delivery.
async fn time_based_and_global_kinds_fire_and_resolve(backend: Backend) {
    let app = app(backend).await;
    let now = Utc::now();
    let pipeline = app.provision("octo-org/app", WORKFLOW, json!({})).await;
    let silent = app.provision("octo-org/silent", WORKFLOW, json!({})).await;
    let stuck =
        rule(&app, json!({"name": "stuck", "kind": "run_stuck", "pipeline_id": pipeline, "for_minutes": 5})).await;
    let quiet =
        rule(&app, json!({"name": "quiet", "kind": "hook_silent", "pipeline_id": silent, "for_minutes": 30})).await;
    let parked = rule(&app, json!({"name": "parked", "kind": "deliveries_parked", "pipeline_id": null})).await;

    // A run in progress for 10 minutes, behind a newer one that has just started: the older is
    // the stuck one.
    let started = now - chrono::Duration::minutes(10);
    let body = workflow_run(1101, 1, "octo-org/app", "main", "in_progress", None, started, started);
    assert_eq!(app.deliver("workflow_run", "st-1", &body).await.status, 200);
    let body = workflow_run(1102, 1, "octo-org/app", "main", "in_progress", None, now, now);
    assert_eq!(app.deliver("workflow_run", "st-1b", &body).await.status, 200);
    let alert = wait_state(&app, stuck, "firing").await;
    assert_eq!(alert["run"]["run_id"], 1101, "{alert}");
    assert!(alert["summary"].as_str().unwrap().contains("run 1101 in_progress for 10 minutes"), "{alert}");
    // It completes; the newer run is still open but not stuck.
    let body = workflow_run(1101, 1, "octo-org/app", "main", "completed", Some("success"), started, now);
    assert_eq!(app.deliver("workflow_run", "st-2", &body).await.status, 200);
    wait_state(&app, stuck, "resolved").await;

    // A pipeline an hour old that never heard from its repository; then a delivery arrives.
    let hour_ago = now - chrono::Duration::hours(1);
    rows::set_time(&app.db, backend, &format!("UPDATE pipelines SET created_at = $1 WHERE id = '{silent}'"), hour_ago)
        .await;
    let alert = wait_state(&app, quiet, "firing").await;
    assert_eq!(alert["pipeline_id"], silent.as_str());
    let body = workflow_run(1201, 1, "octo-org/silent", "main", "completed", Some("success"), now, now);
    assert_eq!(app.deliver("workflow_run", "si-1", &body).await.status, 200);
    wait_state(&app, quiet, "resolved").await;

    // A parked delivery (as after its last failed attempt), then none.
    rows::execute(&app.db, backend, "UPDATE deliveries SET status = 'parked' WHERE guid = 'st-1'").await;
    let alert = wait_state(&app, parked, "firing").await;
    assert!(alert["pipeline_id"].is_null() && alert["summary"].as_str().unwrap().contains("parked"), "{alert}");
    rows::execute(&app.db, backend, "UPDATE deliveries SET status = 'processed' WHERE guid = 'st-1'").await;
    wait_state(&app, parked, "resolved").await;
}

/// Outbound GitHub calls paused after repeated failures, then resumed when the pause ends.
async fn github_paused_fires_and_resolves(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::with_github_and_alerts(backend, &gh.url(), settings()).await;
    let paused = rule(&app, json!({"name": "paused", "kind": "github_paused", "pipeline_id": null})).await;
    let health = &app.gh().client.health;
    for _ in 0..10 {
        health.record_failure("HTTP 502 from GitHub", Utc::now());
    }
    assert!(health.snapshot(Utc::now()).paused);
    let alert = wait_state(&app, paused, "firing").await;
    assert!(alert["summary"].as_str().unwrap().contains("paused"), "{alert}");
    health.record_success(Utc::now());
    wait_state(&app, paused, "resolved").await;
}

on_both_databases!(
    github_paused_fires_and_resolves,
    time_based_and_global_kinds_fire_and_resolve,
    dashboard_shows_and_acknowledges_alerts,
    event_streams_carry_alert_events,
    cli_lists_acks_and_tests,
    run_failed_fires_once_per_streak_and_resolves,
    muted_pipeline_records_but_sends_nothing,
    receiver_down_then_up_gets_each_notification_once_in_order,
    health_and_success_rate_fire_and_resolve,
    channels_hide_secrets_and_need_admin,
    slack_channel_gets_text_and_blocks,
    email_channel_sends_over_smtp,
);

/// Two replicas on one PostgreSQL, one of them with its GitHub calls paused (a breaker is per
/// process): the alert fires once and stays firing whichever replica evaluates, until the pause
/// ends.
#[actix_web::test]
async fn github_paused_on_one_replica_holds_on_both() {
    let gh = FakeGithub::start().await;
    let a = TestApp::with_github_and_alerts(Backend::Postgres, &gh.url(), settings()).await;
    let b = a.replica_with_alerts(settings()).await;
    let paused = rule(&a, json!({"name": "paused", "kind": "github_paused", "pipeline_id": null})).await;
    let health = &a.gh().client.health;
    for _ in 0..15 {
        health.record_failure("HTTP 502 from GitHub", Utc::now());
    }
    wait_state(&a, paused, "firing").await;
    let evaluations = |app: &TestApp| app.alerts.as_ref().expect("alert workers").evaluations.load(Ordering::Relaxed);
    let (then_a, then_b) = (evaluations(&a), evaluations(&b));
    wait_until("three more evaluations on each replica", async || {
        evaluations(&a) >= then_a + 3 && evaluations(&b) >= then_b + 3
    })
    .await;
    let all = a.get("/api/alerts").await.body;
    assert_eq!(all["total"], 1, "the replica whose calls are not paused resolved it: {all}");
    assert_eq!(all["alerts"][0]["state"], "firing", "{all}");
    health.record_success(Utc::now());
    wait_state(&b, paused, "resolved").await;
}

/// Two replicas on one PostgreSQL: one alert, one notification.
#[actix_web::test]
async fn two_replicas_send_one_notification_per_alert() {
    let a = app(Backend::Postgres).await;
    let b = a.replica_with_alerts(settings()).await;
    let server = receiver().await;
    let channel = webhook_channel(&a, &server).await;
    let pipeline = a.provision("octo-org/app", WORKFLOW, json!({})).await;
    rule(&a, json!({"name": "failed", "kind": "run_failed", "pipeline_id": pipeline, "channels": [channel]})).await;
    // Both replicas receive deliveries, so both evaluate the failure.
    assert_eq!(a.deliver("workflow_run", "r-1", &run(701, "failure")).await.status, 200);
    assert_eq!(b.deliver("ping", "r-ping", b"{\"zen\":\"x\",\"hook_id\":1}").await.status, 200);
    wait_hooks(&server, 1).await;
    // Several evaluations of both replicas later, still one alert and one notification.
    let evaluations = |app: &TestApp| app.alerts.as_ref().expect("alert workers").evaluations.load(Ordering::Relaxed);
    let (then_a, then_b) = (evaluations(&a), evaluations(&b));
    wait_until("three more evaluations on each replica", async || {
        evaluations(&a) >= then_a + 3 && evaluations(&b) >= then_b + 3
    })
    .await;
    assert_eq!(hooks(&server).await.len(), 1);
    assert_eq!(a.get("/api/alerts").await.body["total"], 1);
}
