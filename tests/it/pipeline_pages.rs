//! Offset pages of the pipeline listing against the order of the whole listing, on every store
//! path: PostgreSQL, a SQLite file (read inline) and an in-memory SQLite database (read through
//! the pool). Pages past the middle of a listing are found from its oldest end; these checks
//! cover both ends, the page that straddles the middle, the last partial page and pages past
//! the end, with every filter.

use std::sync::Arc;

use ccm::domain::status::PipelineStatus;
use ccm::store::{NewAudit, Pipeline, PipelineFilter, SqlStore, Store};
use chrono::{Duration, TimeZone, Utc};
use serde_json::json;
use sqlx::types::Json;

/// 11 pipelines over 4 repositories; 4 inactive; three share a creation time, so the id decides
/// their order.
async fn fill(store: &dyn Store) -> Vec<Pipeline> {
    let base = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let mut pipelines = Vec::new();
    for i in 0..11i64 {
        let created_at = if (4..7).contains(&i) { base + Duration::minutes(4) } else { base + Duration::minutes(i) };
        let pipeline = Pipeline {
            id: format!("pipe_{:012x}", (i * 7919) % 1000),
            repository: format!("octo/pages-{}", i % 4),
            workflow_file: format!(".github/workflows/w{i}.yml"),
            status: if i % 3 == 1 { PipelineStatus::Inactive } else { PipelineStatus::Active },
            config: Json(json!({})),
            linked_domain: None,
            linked_app: None,
            version: 1,
            created_at,
            updated_at: created_at,
            deactivated_at: None,
        };
        let audit = NewAudit {
            actor: "test".into(),
            action: "pipeline.provisioned".into(),
            pipeline_id: Some(pipeline.id.clone()),
            details: json!({}),
        };
        store.create_pipeline(&pipeline, &audit).await.expect("create a pipeline");
        pipelines.push(pipeline);
    }
    pipelines.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    pipelines
}

async fn offset_pages_match_the_whole_listing(store: &dyn Store) {
    let all = fill(store).await;
    let filters: [(Option<PipelineStatus>, Option<&str>); 5] = [
        (None, None),
        (Some(PipelineStatus::Active), None),
        (Some(PipelineStatus::Inactive), None),
        (None, Some("OCTO/pages-1")),
        (Some(PipelineStatus::Active), Some("octo/pages-2")),
    ];
    for (status, repository) in filters {
        let expected: Vec<&str> = all
            .iter()
            .filter(|p| status.is_none_or(|s| p.status == s))
            .filter(|p| repository.is_none_or(|r| p.repository.eq_ignore_ascii_case(r)))
            .map(|p| p.id.as_str())
            .collect();
        assert!(expected.len() >= 2, "each filter matches several pipelines");
        for limit in [1, 2, 3, 4, 50] {
            for offset in 0..=expected.len() as i64 + 2 {
                let filter =
                    PipelineFilter { status, repository: repository.map(str::to_owned), limit, offset, after: None };
                let page = store.list_pipelines(&filter).await.expect("list pipelines");
                let from = (offset as usize).min(expected.len());
                let to = (from + limit as usize).min(expected.len());
                let ids: Vec<&str> = page.items.iter().map(|p| p.id.as_str()).collect();
                assert_eq!(
                    ids,
                    expected[from..to],
                    "status {status:?}, repository {repository:?}, {limit} from {offset}"
                );
                assert_eq!(page.total, expected.len() as i64);
            }
        }
    }
}

#[actix_web::test]
async fn postgres_offset_pages() {
    let store =
        ccm::store::connect(&crate::helpers::fresh_postgres_database().await, 3).await.expect("open PostgreSQL");
    offset_pages_match_the_whole_listing(store.as_ref()).await;
}

#[actix_web::test]
async fn sqlite_file_offset_pages() {
    let dir = tempfile::tempdir().unwrap();
    let url = ccm::config::sqlite_url(&dir.path().join("ccm.db"));
    let store = ccm::store::connect(&url, 3).await.expect("open SQLite");
    offset_pages_match_the_whole_listing(store.as_ref()).await;
}

#[actix_web::test]
async fn sqlite_memory_offset_pages() {
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect("sqlite::memory:", 1).await.expect("open SQLite"));
    offset_pages_match_the_whole_listing(store.as_ref()).await;
}
