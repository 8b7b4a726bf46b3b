//! Missed-delivery recovery against a fake GitHub whose delivery log pages like the real one:
//! after an outage longer than one scan can read, the next scans resume where it stopped; and a
//! delivery that keeps failing is redelivered a few times, not at every scan forever; on SQLite
//! and on PostgreSQL.

use crate::helpers::github::*;
use crate::helpers::*;
use ccm::domain::outbox::OutboxTask;
use ccm::github::outbox;
use ccm::github::recovery::MAX_REDELIVERIES;
use serde_json::{Value, json};

on_both_databases!(
    a_long_outage_is_read_to_its_end_over_several_scans,
    a_delivery_that_keeps_failing_is_redelivered_a_few_times
);

/// Runs one missed-delivery scan and the redeliveries it queued; returns the scan's result.
async fn scan(app: &TestApp) -> Value {
    let id = outbox::enqueue(app.gh(), OutboxTask::RecoverDeliveries {}, None).await.unwrap();
    let job = app.wait_job(id).await;
    assert_eq!(job.status.as_str(), "done", "{:?}", job.last_error);
    app.outbox_settled().await;
    job.result.unwrap().0
}

/// The redeliveries ccm asked of GitHub, by delivery id.
async fn redeliveries_asked(gh: &FakeGithub) -> Vec<i64> {
    let mut asked: Vec<i64> = gh
        .server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/attempts"))
        .filter_map(|r| r.url.path().split('/').nth(4).and_then(|id| id.parse().ok()))
        .collect();
    asked.sort();
    asked
}

/// Twelve deliveries an hour apart, four of them failed, in pages of three; a scan reads three
/// pages at most. The first scan reads the newest nine and keeps the rest as a gap; the second
/// reads what arrived since, then resumes the gap where the first stopped: every failed delivery
/// is redelivered once, the oldest included.
async fn a_long_outage_is_read_to_its_end_over_several_scans(backend: Backend) {
    let gh = FakeGithub::start().await;
    let mut config = test_config(&gh.url());
    config.recovery_max_pages = 3;
    let app = TestApp::start_with_github_config(backend, config).await;
    let failed = [(11, "g-page1"), (8, "g-page2"), (5, "g-page3"), (2, "g-page4")];
    let entries = (1..=12)
        .map(|id| {
            let (guid, status) = match failed.iter().find(|(f, _)| *f == id) {
                Some((_, guid)) => (guid.to_string(), 502),
                None => (format!("g-ok-{id}"), 200),
            };
            delivery_entry(id, &guid, (13 - id) * 60, status)
        })
        .collect();
    let log = DeliveryLog::mount(&gh, entries, 3, 200).await;

    let first = scan(&app).await;
    assert_eq!(first["pages"], 3, "{first}");
    assert_eq!(first["redeliveries_queued"], json!(["g-page1", "g-page2", "g-page3"]), "{first}");
    assert_eq!(first["gaps_left"], 1, "{first}");
    assert_eq!(redeliveries_asked(&gh).await, vec![5, 8, 11]);

    // A delivery fails meanwhile: the next scan reads it first, then the rest of the outage.
    log.add(vec![delivery_entry(100, "g-new", 0, 500)]);
    let second = scan(&app).await;
    assert_eq!(second["redeliveries_queued"], json!(["g-new", "g-page4"]), "{second}");
    assert_eq!(second["gaps_left"], 0, "{second}");
    assert_eq!(redeliveries_asked(&gh).await, vec![2, 5, 8, 11, 100]);

    // Nothing left behind: a third scan (the newest pages, back to the cursor) asks for nothing.
    let third = scan(&app).await;
    assert_eq!((third["gaps_left"].as_i64(), third["redeliveries_queued"].clone()), (Some(0), json!([])), "{third}");
    assert_eq!(redeliveries_asked(&gh).await.len(), 5);
}

/// Each redelivery of one delivery fails again (ccm refuses it): it is asked MAX_REDELIVERIES
/// times over as many scans, then given up, while the scans go on.
async fn a_delivery_that_keeps_failing_is_redelivered_a_few_times(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    let entries = vec![delivery_entry(1, "g-stubborn", 5, 401), delivery_entry(2, "g-fine", 4, 200)];
    DeliveryLog::mount(&gh, entries, 100, 401).await;

    for n in 1..=MAX_REDELIVERIES {
        let result = scan(&app).await;
        assert_eq!(result["redeliveries_queued"], json!(["g-stubborn"]), "scan {n}: {result}");
        assert_eq!(redeliveries_asked(&gh).await.len() as i64, n);
    }
    for _ in 0..2 {
        let result = scan(&app).await;
        assert_eq!(result["redeliveries_queued"], json!([]), "{result}");
        assert_eq!(result["redeliveries_given_up"], json!(["g-stubborn"]), "{result}");
    }
    assert_eq!(redeliveries_asked(&gh).await.len() as i64, MAX_REDELIVERIES);
}
