//! Several replicas over one PostgreSQL database: a change received by one reaches the SSE
//! clients of another. (SQLite is a single-process deployment, so this is PostgreSQL only.)

use crate::helpers::*;
use chrono::Duration;
use serde_json::json;

#[actix_web::test]
async fn live_updates_cross_replicas() {
    let a = TestApp::start(Backend::Postgres).await;
    let b = a.replica().await;
    let id = a.provision("octo-org/app", ".github/workflows/deploy.yml", json!({})).await;
    let mut stream =
        b.client.get(format!("{}/api/pipelines/{id}/events", b.base)).header("CCM-Token", TOKEN).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    // B hears A's announcements once its listener has run LISTEN (A's listener too: two).
    let pool = sqlx::PgPool::connect(&a.db.url).await.unwrap();
    wait_until("both replicas to LISTEN for live changes", async || {
        let listening: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN %'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        listening >= 2
    })
    .await;
    let now = ccm::domain::clock::now();
    let body =
        workflow_run(501, 1, "octo-org/app", "main", "completed", Some("success"), now - Duration::minutes(5), now);
    assert_eq!(a.deliver("workflow_run", "replica-1", &body).await.status, 200);

    let events =
        read_events(&mut stream, |kind, data| kind == "stats" && data.to_string().contains("\"run_count\":1")).await;
    assert!(events.iter().any(|(kind, _, _)| kind == "execution"), "{events:?}");
    assert!(events.iter().any(|(_, _, data)| data.to_string().contains("\"run_id\":501")), "{events:?}");
}
