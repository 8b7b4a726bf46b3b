//! An old CCM on the same machine: its `~/.ccm/pipelines.json` (CCM_PIPELINES_PATH) is imported
//! once, at the first start of `ccm serve` on a database without pipelines, and never again;
//! the real binary, on SQLite and on PostgreSQL.

use std::path::Path;

use serde_json::{Value, json};

use crate::helpers::serve::Serve;
use crate::helpers::{Backend, TOKEN, fixture, fresh_postgres_database};

on_both_databases!(the_old_registry_is_imported_once_at_the_first_start, a_database_with_pipelines_is_left_alone);

const STARTED_IMPORT: &str = "the database has no pipelines: importing the old CCM's registry";
const IMPORTED: &str = "old CCM registry imported";

/// `ccm serve` on `data` (SQLite there, or `database`), with `extra` settings.
async fn serve(data: &Path, database: &Option<String>, extra: &[(&str, String)]) -> Serve {
    let mut envs = vec![("CCM_DATA_DIR", data.display().to_string()), ("CCM_API_TOKEN", TOKEN.to_string())];
    if let Some(url) = database {
        envs.push(("DATABASE_URL", url.clone()));
    }
    envs.extend(extra.iter().cloned());
    Serve::start(&envs).await
}

async fn database(backend: Backend) -> Option<String> {
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_database().await),
    }
}

async fn get(server: &Serve, path: &str) -> Value {
    let res = reqwest::Client::new().get(format!("{}{path}", server.base)).header("CCM-Token", TOKEN).send().await;
    res.unwrap().json().await.unwrap()
}

fn entry(id: &str, repository: &str) -> Value {
    json!({"pipeline_id": id, "repository": repository, "workflow_file": ".github/workflows/deploy.yml",
        "status": "active", "config": {}})
}

async fn the_old_registry_is_imported_once_at_the_first_start(backend: Backend) {
    let data = tempfile::tempdir().unwrap();
    let database = database(backend).await;
    // The old CCM's registry where it kept it: two good entries and one it cannot read.
    let registry = data.path().join("pipelines.json");
    std::fs::copy(fixture("registry/versioned-map.json"), &registry).unwrap();

    let mut server = serve(data.path(), &database, &[]).await;
    let output = server.wait_for_output("the import's summary", |out| out.contains(IMPORTED)).await;
    assert!(output.contains(STARTED_IMPORT), "{output}");
    let summary = output.lines().find(|l| l.contains(IMPORTED)).unwrap();
    for count in ["created=2", "already_present=0", "invalid=1"] {
        assert!(summary.contains(count), "{summary}");
    }
    let invalid = output.lines().find(|l| l.contains("entry not imported")).expect("the invalid entry is logged");
    assert!(invalid.contains("pipe_0f0f0f0f0f0f") && invalid.contains("Invalid repo"), "{invalid}");
    let listed = get(&server, "/api/pipelines").await;
    assert_eq!(listed["count"], 2, "{listed}");
    let shop = get(&server, "/api/pipelines/pipe_1a2b3c4d5e6f").await;
    assert_eq!(shop["pipeline"]["vps_integration"]["linked_domain"], "shop.example.com", "{shop}");
    let audit = get(&server, "/api/audit?pipeline_id=pipe_1a2b3c4d5e6f").await;
    assert_eq!(audit["entries"][0]["actor"], "ccm:start-up", "{audit}");
    drop(server.stop());

    // The file changed since: it was imported once, so it is not read again.
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&registry).unwrap()).unwrap();
    doc["pipelines"]["pipe_abcabcabcabc"] = entry("pipe_abcabcabcabc", "myorg/new");
    std::fs::write(&registry, doc.to_string()).unwrap();
    let server = serve(data.path(), &database, &[]).await;
    assert_eq!(get(&server, "/api/pipelines").await["count"], 2);
    let output = server.stop();
    assert!(!output.contains(STARTED_IMPORT), "imported again:\n{output}");
}

async fn a_database_with_pipelines_is_left_alone(backend: Backend) {
    let data = tempfile::tempdir().unwrap();
    let database = database(backend).await;
    let elsewhere = tempfile::tempdir().unwrap();
    let registry = elsewhere.path().join("old-ccm.json");
    let at = [("CCM_PIPELINES_PATH", registry.display().to_string())];

    // Nothing to import: every entry is invalid. It is remembered all the same, though the
    // database stays empty, and a later, good file is not taken over.
    std::fs::write(&registry, json!([entry("pipe_bad", "octo/bad")]).to_string()).unwrap();
    let mut server = serve(data.path(), &database, &at).await;
    let output = server.wait_for_output("the import's summary", |out| out.contains(IMPORTED)).await;
    assert!(output.lines().any(|l| l.contains(IMPORTED) && l.contains("created=0") && l.contains("invalid=1")));
    drop(server.stop());
    std::fs::write(&registry, json!([entry("pipe_aaaaaaaaaaaa", "octo/good")]).to_string()).unwrap();
    let server = serve(data.path(), &database, &at).await;
    assert_eq!(get(&server, "/api/pipelines").await["count"], 0);
    assert!(!server.stop().contains(STARTED_IMPORT));

    // A file that is not a registry is said so, and ccm starts without it (the next start tries
    // again: nothing was imported).
    let other = tempfile::tempdir().unwrap();
    let database = self::database(backend).await;
    std::fs::write(other.path().join("pipelines.json"), "{not json").unwrap();
    let server = serve(other.path(), &database, &[]).await;
    assert_eq!(get(&server, "/api/pipelines").await["count"], 0);
    let output = server.stop();
    assert!(
        output.contains("the old CCM's registry could not be imported") && output.contains("not valid JSON"),
        "{output}"
    );
    // A database that already has pipelines is ccm's own: the file is left alone.
    let res = reqwest::Client::new();
    std::fs::write(other.path().join("pipelines.json"), json!([entry("pipe_bbbbbbbbbbbb", "octo/old")]).to_string())
        .unwrap();
    let server = serve(other.path(), &database, &[("CCM_PIPELINES_PATH", "/nonexistent/pipelines.json".into())]).await;
    let provisioned = res
        .post(format!("{}/api/pipelines/provision", server.base))
        .header("CCM-Token", TOKEN)
        .json(&json!({"repo": "octo/current", "workflow_file": ".github/workflows/deploy.yml"}))
        .send()
        .await
        .unwrap();
    assert_eq!(provisioned.status(), 201);
    drop(server.stop());
    let server = serve(other.path(), &database, &[]).await;
    let listed = get(&server, "/api/pipelines").await;
    assert_eq!(
        (listed["count"].as_i64(), listed["pipelines"][0]["repository"].as_str()),
        (Some(1), Some("octo/current"))
    );
    assert!(!server.stop().contains(STARTED_IMPORT));
}
