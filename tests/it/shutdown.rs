//! Stopping `ccm serve` with SIGTERM (what systemd and `docker stop` send) ends the open event
//! streams cleanly and exits with success, instead of waiting out the 10 s shutdown timeout that
//! a never-ending stream used to cost.

use std::process::Command;
use std::time::Duration;

use crate::helpers::serve::Serve;
use crate::helpers::wait_until;

const TOKEN: &str = "shutdown-test-token-0123456789";

#[tokio::test]
async fn sigterm_ends_event_streams_and_exits_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let mut server =
        Serve::start(&[("CCM_DATA_DIR", data.path().display().to_string()), ("CCM_API_TOKEN", TOKEN.into())]).await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    wait_until("/readyz to answer 200", async || {
        client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success())
    })
    .await;
    let mut streams = Vec::new();
    for path in ["/api/events", "/api/events"] {
        let res = client.get(format!("{base}{path}")).header("CCM-Token", TOKEN).send().await.unwrap();
        assert_eq!(res.status(), 200);
        streams.push(res);
    }

    let status = Command::new("kill").arg("-TERM").arg(server.id().to_string()).status().expect("run kill");
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
    // Within 8 s of SIGTERM (it is killed when dropped otherwise).
    let exit = server.wait_exit(Duration::from_secs(8)).await;
    assert!(exit.success(), "ccm serve exited with {exit}:\n{}", server.output());
}
