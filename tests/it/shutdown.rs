//! Stopping `ccm serve` with SIGTERM (what systemd and `docker stop` send) ends the open event
//! streams cleanly and exits with success, instead of waiting out the 10 s shutdown timeout that
//! a never-ending stream used to cost.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "shutdown-test-token-0123456789";

#[tokio::test]
async fn sigterm_ends_event_streams_and_exits_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("ccm"));
    for name in ["DATABASE_URL", "GHT", "GITHUB_APP_ID", "GITHUB_WEBHOOK_SECRET"] {
        cmd.env_remove(name);
    }
    let mut child = cmd
        .arg("serve")
        .env("CCM_BIND", format!("127.0.0.1:{port}"))
        .env("CCM_DATA_DIR", data.path())
        .env("CCM_API_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ccm serve");

    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(child.try_wait().unwrap().is_none(), "ccm serve exited before it was ready");
        assert!(Instant::now() < deadline, "ccm serve was not ready after 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut streams = Vec::new();
    for path in ["/api/events", "/api/events"] {
        let res = client.get(format!("{base}{path}")).header("CCM-Token", TOKEN).send().await.unwrap();
        assert_eq!(res.status(), 200);
        streams.push(res);
    }

    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("run kill");
    assert!(status.success());
    for mut stream in streams {
        // Ended by the server (end of body), well before the 10 s timeout would cut it.
        loop {
            match tokio::time::timeout(Duration::from_secs(8), stream.chunk()).await {
                Ok(Ok(Some(_keep_alive_or_event))) => continue,
                Ok(Ok(None)) => break,
                Ok(Err(err)) => panic!("the event stream was cut instead of ended: {err}"),
                Err(_) => panic!("the event stream was still open 8 s after SIGTERM"),
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(8);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ccm serve was still running 8 s after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "ccm serve exited with {exit}");
}
