//! The probes: a delivery for a run of its own every 20 ms, timed until its stats show it (via
//! GET) and until the SSE stream carries its stats, while the load runs.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::bodies::synthetic_run;
use super::send::Signed;
use super::server::TOKEN;

async fn post(client: &reqwest::Client, base: &str, d: &Signed, guid: &str) -> bool {
    client
        .post(format!("{base}/webhooks/github"))
        .header("X-GitHub-Event", d.event)
        .header("X-GitHub-Delivery", guid)
        .header("X-Hub-Signature-256", &d.signature)
        .header("Content-Type", "application/json")
        .body(d.body.clone())
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// Sends `n` probe deliveries, one every 20 ms, each a new completed run of bench-org/probe.
/// Returns the SSE latencies and the stats latencies (ms from sending to seeing the run).
pub async fn probe(client: &reqwest::Client, base: &str, n: usize) -> (Vec<f64>, Vec<f64>) {
    if n == 0 {
        return (Vec::new(), Vec::new());
    }
    let mut stream = client.get(format!("{base}/api/events")).header("CCM-Token", TOKEN).send().await.unwrap();
    let id = {
        let list: Value = client
            .get(format!("{base}/api/pipelines?repository=bench-org/probe"))
            .header("CCM-Token", TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        list["pipelines"][0]["pipeline_id"].as_str().unwrap().to_string()
    };
    let (mut sse, mut visible) = (Vec::new(), Vec::new());
    let mut buffer = String::new();
    let base_time = chrono::Utc::now() - chrono::Duration::minutes(20);
    for k in 0..n {
        let run_id = 10_000_000 + k as i64;
        let at = (base_time + chrono::Duration::seconds(k as i64)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let body = synthetic_run(run_id, "bench-org/probe", "completed", Some("success"), &at, &at);
        let d = Signed { event: "workflow_run", signature: super::sign(&body), body };
        let t = Instant::now();
        assert!(post(client, base, &d, &format!("probe-{k}")).await, "probe refused");
        let stats: Value = client
            .get(format!("{base}/api/pipelines/{id}/stats"))
            .header("CCM-Token", TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(stats["stats"]["last_run"]["run_id"], run_id, "stats do not show the acknowledged run");
        visible.push(t.elapsed().as_secs_f64() * 1000.0);
        let needle = format!("\"run_id\":{run_id}");
        'wait: loop {
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                if frame.contains("event: stats") && frame.contains(&needle) {
                    sse.push(t.elapsed().as_secs_f64() * 1000.0);
                    break 'wait;
                }
            }
            match tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await {
                Ok(Ok(Some(chunk))) => buffer.push_str(&String::from_utf8_lossy(&chunk)),
                _ => panic!("no SSE stats event for probe {k}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (sse, visible)
}
