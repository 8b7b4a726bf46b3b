//! `ccm pipelines watch`, the live dashboard, against the real app on SQLite and on PostgreSQL:
//! its frames follow webhooks delivered while it watches, and after the event stream drops it
//! resumes with `Last-Event-ID`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::helpers::ccm_cli::{Ccm, WAIT, finished_run, provision_webshop, row};
use crate::helpers::*;
use chrono::Utc;
use serde_json::json;

on_both_databases!(
    watch_redraws_when_a_webhook_changes_a_pipeline,
    watch_resumes_with_last_event_id_after_the_stream_drops,
);

/// The frames printed so far (without a terminal, one after another).
fn frames(out: &str) -> Vec<String> {
    out.split("ccm pipelines watch  ").skip(1).map(str::to_string).collect()
}

async fn watch_redraws_when_a_webhook_changes_a_pipeline(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = provision_webshop(&app).await;
    let ccm = Ccm::new(&app.base, Some(TOKEN));
    let mut watch = ccm.spawn(&["pipelines", "watch", "--max-events", "3"]);
    watch.wait_for("the first frame", WAIT, |out| frames(out).iter().any(|f| f.contains("  live  "))).await;
    let first = frames(&watch.stdout()).pop().unwrap();
    assert_eq!(
        row(&first, &id),
        [&id, "myorg/webshop", "deploy.yml", "active", "- (0 runs)", "-", "100", "0", "0", "-", "shop.example.com"]
    );

    // delivery, execution, stats: three events, then it exits with the last frame drawn.
    assert_eq!(app.deliver("workflow_run", "watch-1", &finished_run(901, "failure")).await.status, 200);
    let done = watch.wait_exit(WAIT).await;
    done.assert_code(0);
    assert!(!done.stdout.contains('\x1b'), "escape codes without a terminal: {done:?}");
    let last = frames(&done.stdout).pop().unwrap();
    // 0% of 1 run, the latest failed: 0.6 * 0 + 0.3 * 0 + 0.1 * 100 = 10.
    assert_eq!(
        row(&last, &id),
        [
            &id,
            "myorg/webshop",
            "deploy.yml",
            "active",
            "0.0% of 1",
            "2m 00s",
            "10",
            "0",
            "0",
            "failure",
            "shop.example.com"
        ]
    );
    assert!(last.contains(&format!("1 pipelines (1 active), 3 live events, last: stats of {id}\n")), "{last}");

    // One pipeline only: the other's changes are not its events.
    let other = app.provision("myorg/blog", WORKFLOW, json!({})).await;
    let mut watch = ccm.spawn(&["pipelines", "watch", &id, "--max-events", "2"]);
    watch.wait_for("the first frame", WAIT, |out| frames(out).iter().any(|f| f.contains("  live  "))).await;
    let blog_run = workflow_run(950, 1, "myorg/blog", "main", "completed", Some("success"), Utc::now(), Utc::now());
    assert_eq!(app.deliver("workflow_run", "watch-2", &blog_run).await.status, 200);
    assert_eq!(app.deliver("workflow_run", "watch-3", &finished_run(902, "success")).await.status, 200);
    let done = watch.wait_exit(WAIT).await;
    done.assert_code(0);
    let last = frames(&done.stdout).pop().unwrap();
    assert!(!last.contains(&other), "{last}");
    assert_eq!(row(&last, &id)[4], "50.0% of 2");
    assert!(last.contains("2 live events"), "{last}");
}

/// A TCP relay to the app that the test can cut, and make refuse new connections for a while.
struct Relay {
    url: String,
    blocked: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: &str) -> Relay {
        let target = target.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let blocked = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (is_blocked, sockets) = (blocked.clone(), open.clone());
        std::thread::spawn(move || {
            for inbound in listener.incoming() {
                let Ok(inbound) = inbound else { return };
                if is_blocked.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let Ok(outbound) = TcpStream::connect(&target) else { continue };
                sockets.lock().unwrap().extend([inbound.try_clone().unwrap(), outbound.try_clone().unwrap()]);
                pipe(inbound.try_clone().unwrap(), outbound.try_clone().unwrap());
                pipe(outbound, inbound);
            }
        });
        Relay { url, blocked, open }
    }

    /// Drops every open connection and refuses new ones until `unblock`.
    fn cut(&self) {
        self.blocked.store(true, Ordering::SeqCst);
        for socket in self.open.lock().unwrap().drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    fn unblock(&self) {
        self.blocked.store(false, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

async fn watch_resumes_with_last_event_id_after_the_stream_drops(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = provision_webshop(&app).await;
    let relay = Relay::start(&app.base);
    // 3 events of the first run, then 2 of the second (its delivery and execution) that are only
    // sent while the watch is disconnected: it gets them by resuming after the last id it saw.
    let mut watch = Ccm::new(&relay.url, Some(TOKEN)).spawn(&["pipelines", "watch", "--max-events", "5"]);
    watch.wait_for("the first frame", WAIT, |out| frames(out).iter().any(|f| f.contains("  live  "))).await;
    assert_eq!(app.deliver("workflow_run", "resume-1", &finished_run(1001, "success")).await.status, 200);
    watch.wait_for("the first run's events", WAIT, |out| out.contains("3 live events")).await;

    relay.cut();
    watch.wait_for("the disconnection", WAIT, |out| out.contains("disconnected (")).await;
    assert_eq!(app.deliver("workflow_run", "resume-2", &finished_run(1002, "failure")).await.status, 200);
    wait_until("the second run in the stats", async || {
        app.get(&format!("/api/pipelines/{id}/stats")).await.body["stats"]["metrics_24h"]["run_count"] == 2
    })
    .await;
    relay.unblock();

    let done = watch.wait_exit(WAIT).await;
    done.assert_code(0);
    let last = frames(&done.stdout).pop().unwrap();
    assert!(last.contains(&format!("5 live events, last: run 1002 failure ({id})")), "{last}");
    assert_eq!(row(&last, &id)[4..7], ["50.0% of 2", "2m 00s", "40"]);
}
