//! `ccm copy` (issue 18), through the real binary: a SQLite ccm populated through its API and
//! webhooks (GitHub's real payloads), copied to an empty PostgreSQL database and from there to a
//! new SQLite file, answers every listing and stats request the same on all three. A non-empty
//! target and a source at another migration version are refused, a copy whose counts differ
//! leaves the target as it was, and the copy's table list
//! covers every table of both schemas, with types that map between them.

use std::collections::BTreeMap;

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::ccm_cli::{Ccm, Run};
use crate::helpers::rows::count;
use crate::helpers::*;
use ccm::store::copy::{Handling, TABLES};

/// The repository and workflow of GitHub's example `workflow_run` payloads.
const REAL_REPO: &str = "octo-org/octo-repo";
const REAL_WORKFLOW: &str = ".github/workflows/test.yml";
/// A pipeline fed with runs of our own: more than a copy batch (1,000 rows).
const SHOP: &str = "octo/shop";

async fn copy(from: &str, to: &str) -> Run {
    Ccm::new("http://127.0.0.1:1", None).run(&["copy", "--from", from, "--to", to]).await
}

fn ok(reply: &Reply, what: &str) {
    assert!((200..300).contains(&reply.status), "{what}: {} {}", reply.status, reply.body);
}

/// What a busy ccm holds: pipelines (one torn down), GitHub's example deliveries of every event,
/// 1,100 runs of one pipeline with jobs, a deployment, tasks, tokens (one revoked), sync settings,
/// a notification channel and an alert rule.
async fn populate(app: &TestApp) {
    let real = app.provision(REAL_REPO, REAL_WORKFLOW, json!({"environment": "production"})).await;
    let _shop = app.provision(SHOP, WORKFLOW, json!({"auto_deploy": true, "replicas": 2})).await;
    let old = app.provision("octo/old", WORKFLOW, json!({})).await;
    ok(&app.delete(&format!("/api/pipelines/{old}")).await, "teardown");
    ok(&app.patch(&format!("/api/pipelines/{real}"), json!({"linked_domain": "octo.example.com"})).await, "link");

    let mut events: Vec<_> =
        std::fs::read_dir(shared_payloads()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    events.sort();
    let mut n = 0;
    for dir in events {
        let event = dir.file_name().unwrap().to_str().unwrap().to_string();
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files {
            n += 1;
            let reply = app.deliver(&event, &format!("real-{n}"), &std::fs::read(&file).unwrap()).await;
            assert_eq!(reply.status, 200, "{}: {}", file.display(), reply.body);
        }
    }
    assert!(n > 50, "only {n} example payloads");
    // More deliveries than one batch of a table with blobs (100 rows).
    for k in 0..40 {
        let body = format!(r#"{{"zen":"Half measures are as bad as nothing at all.","hook_id":7,"n":{k}}}"#);
        assert_eq!(app.deliver("ping", &format!("ping-{k}"), body.as_bytes()).await.status, 200);
    }

    let now = ccm::domain::clock::now();
    for i in 0..1100i64 {
        let conclusion = match i % 7 {
            0 => Some("failure"),
            1 => None,
            2 => Some("skipped"),
            _ => Some("success"),
        };
        let branch = if i % 3 == 0 { "release" } else { "main" };
        let run = run(10_000 + i, SHOP, branch, now, Duration::minutes(17 * i + 5), conclusion, 40 + i % 90);
        app.store().upsert_execution(&run).await.unwrap();
    }
    for (k, run_id) in [20_001i64, 20_002].into_iter().enumerate() {
        let started = now - Duration::minutes(30 + k as i64);
        let body = workflow_run(run_id, 1, SHOP, "main", "completed", Some("failure"), started, started);
        assert_eq!(app.deliver("workflow_run", &format!("run-{run_id}"), &body).await.status, 200);
        for (j, name) in ["build", "test"].into_iter().enumerate() {
            let job = workflow_job(run_id * 10 + j as i64, run_id, SHOP, name, "completed", Some("failure"), started);
            assert_eq!(app.deliver("workflow_job", &format!("job-{run_id}-{j}"), &job).await.status, 200);
        }
    }
    let deployment = json!({
        "id": 501, "sha": format!("{:040x}", 20_001), "ref": "main", "task": "deploy", "environment": "production",
        "description": "ship it", "creator": {"login": "octocat"},
        "created_at": "2026-01-05T10:00:00Z", "updated_at": "2026-01-05T10:00:00Z",
    });
    let created = json!({"action": "created", "deployment": deployment, "workflow_run": {"id": 20_001, "run_attempt": 1},
                         "repository": {"full_name": SHOP}});
    assert_eq!(app.deliver("deployment", "dep-501", created.to_string().as_bytes()).await.status, 200);
    let status = json!({"action": "created", "deployment": deployment, "repository": {"full_name": SHOP},
        "deployment_status": {"id": 601, "state": "success", "description": "done", "target_url": "https://shop.example.com",
                              "created_at": "2026-01-05T10:05:00Z"}});
    assert_eq!(app.deliver("deployment_status", "st-601", status.to_string().as_bytes()).await.status, 200);

    let task = app
        .post(
            "/api/tasks",
            json!({"title": "Write the runbook", "description": "for ops", "priority": "high", "labels": ["ops"]}),
        )
        .await;
    ok(&task, "task");
    let id = task.body["task"]["id"].as_i64().expect("a task id");
    ok(&app.patch(&format!("/api/tasks/{id}"), json!({"status": "done"})).await, "task done");
    ok(&app.post("/api/tasks", json!({"title": "Rotate the keys", "priority": "low"})).await, "task");
    ok(&app.post("/api/tokens", json!({"name": "reader", "scope": "read"})).await, "token");
    let revoked = app
        .post("/api/tokens", json!({"name": "old-ci", "scope": "write", "expires_at": "2099-01-01T00:00:00Z"}))
        .await;
    ok(&revoked, "token");
    let token_id = revoked.body["api_token"]["id"].as_i64().expect("a token id");
    ok(&app.delete(&format!("/api/tokens/{token_id}")).await, "revoke");
    let sync = json!({"auto_sync": true, "default_labels": ["from-github"], "closes_issues_in": ["octo-org/other"]});
    ok(
        &app.send(reqwest::Method::PUT, &format!("/api/sync/repositories/{REAL_REPO}"), Some(sync), Some(TOKEN)).await,
        "sync",
    );
    let channel = app
        .post("/api/notification-channels", json!({"name": "ops", "kind": "webhook", "url": "http://127.0.0.1:9/hook"}))
        .await;
    ok(&channel, "channel");
    let channel = channel.body["channel"]["id"].as_i64().expect("a channel id");
    // On the torn-down pipeline: it never fires, so no notification changes while compared.
    let rule = json!({"name": "old failed", "kind": "run_failed", "pipeline_id": old, "channels": [channel]});
    ok(&app.post("/api/alert-rules", rule).await, "rule");
}

/// The `run_id`/`run_attempt` pairs anywhere in a body.
fn runs_in(body: &Value, found: &mut Vec<(i64, i64)>) {
    match body {
        Value::Object(map) => {
            if let (Some(run), Some(attempt)) =
                (map.get("run_id").and_then(Value::as_i64), map.get("run_attempt").and_then(Value::as_i64))
            {
                found.push((run, attempt));
            }
            map.values().for_each(|v| runs_in(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| runs_in(v, found)),
        _ => {}
    }
}

/// Every listing and every stats body, and the details of everything listed, by path.
async fn answers(app: &TestApp) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    // Each answer with its status: a 404 must be the same 404 after the copy.
    let mut get = async |path: String| -> Value {
        let reply = app.get(&path).await;
        out.insert(path, json!({"status": reply.status, "body": reply.body}));
        reply.body
    };
    for path in [
        "/api/tokens/current",
        "/api/alerts",
        "/api/alert-rules",
        "/api/notification-channels",
        "/api/tokens",
        "/api/audit?limit=1000",
        "/api/pipelines?status=inactive",
    ] {
        get(path.to_string()).await;
    }
    get(format!("/api/sync/repositories/{REAL_REPO}")).await;
    let pipelines = get("/api/pipelines?limit=100".into()).await;
    let ids: Vec<String> = pipelines["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pipeline_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3, "{pipelines}");
    for id in &ids {
        let mut runs = Vec::new();
        for page in ["?limit=1000", "?limit=1000&offset=1000"] {
            runs_in(&get(format!("/api/pipelines/{id}{page}")).await, &mut runs);
        }
        for path in ["stats", "pushes", "deployments", "logs"] {
            get(format!("/api/pipelines/{id}/{path}")).await;
        }
        runs.sort_unstable();
        runs.dedup();
        for (run, attempt) in runs.iter().rev().take(40) {
            get(format!("/api/pipelines/{id}/executions/{run}/{attempt}/jobs")).await;
        }
    }
    let tasks = get("/api/tasks?limit=1000".into()).await;
    for task in tasks["tasks"].as_array().unwrap() {
        get(format!("/api/tasks/{}", task["id"])).await;
    }
    let deliveries = get("/api/deliveries?limit=1000".into()).await;
    let guids: Vec<String> = deliveries["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["delivery_id"].as_str().unwrap().to_string())
        .collect();
    assert!(guids.len() > 50, "{deliveries}");
    for guid in guids {
        get(format!("/api/deliveries/{guid}")).await;
    }
    // A run's jobs and a pipeline's logs may be a 404 (none yet), compared as such; nothing else.
    let failed: Vec<&String> = out
        .iter()
        .filter(|(p, a)| a["status"] != 200 && !p.ends_with("/jobs") && !p.ends_with("/logs"))
        .map(|(p, _)| p)
        .collect();
    assert!(failed.is_empty(), "requests that failed: {failed:?}");
    let jobs = out.iter().filter(|(p, a)| p.ends_with("/jobs") && a["status"] == 200).count();
    assert!(jobs >= 3, "runs with their jobs: {jobs}");
    out
}

/// Fails naming every answer that differs.
fn assert_same(copied: &BTreeMap<String, Value>, original: &BTreeMap<String, Value>, what: &str) {
    assert_eq!(copied.keys().collect::<Vec<_>>(), original.keys().collect::<Vec<_>>(), "{what}: the same requests");
    let differ: Vec<String> = original
        .iter()
        .filter(|(path, body)| copied.get(*path) != Some(body))
        .map(|(path, body)| format!("{path}:\n  original {body}\n  copied   {}", copied[path]))
        .collect();
    assert!(differ.is_empty(), "{what}: {} answers differ:\n{}", differ.len(), differ.join("\n"));
}

/// Every row of a SQLite table as text, in key order: SQLite's `quote()` of each value (BLOBs as
/// hex, so bodies and logs compare byte for byte), text columns as they are.
async fn sqlite_rows(pool: &sqlx::SqlitePool, table: &ccm::store::copy::Table) -> Vec<Vec<String>> {
    let columns: Vec<(String, String)> = sqlx::query_as("SELECT name, type FROM pragma_table_info($1) ORDER BY cid")
        .bind(table.name)
        .fetch_all(pool)
        .await
        .unwrap();
    let exprs: Vec<String> = columns
        .iter()
        .map(|(c, ty)| if ty == "TEXT" { format!("COALESCE(\"{c}\", 'NULL')") } else { format!("quote(\"{c}\")") })
        .collect();
    let sql =
        format!("SELECT {} FROM \"{}\" ORDER BY {}", exprs.join(" || char(31) || "), table.name, table.key.join(", "));
    let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await.unwrap();
    rows.into_iter().map(|(row,)| row.split('\u{1f}').map(String::from).collect()).collect()
}

/// The round trip SQLite -> PostgreSQL -> SQLite leaves every copied row as it was: integers,
/// booleans, timestamps' text, blobs byte for byte; JSON the same value (PostgreSQL's jsonb keeps
/// no formatting).
async fn assert_same_rows(original: &str, back: &str) {
    let (original, back) =
        (sqlx::SqlitePool::connect(original).await.unwrap(), sqlx::SqlitePool::connect(back).await.unwrap());
    let mut compared = 0;
    for table in TABLES.iter().filter(|t| !matches!(t.handling, Handling::Skip(_))) {
        let (was, is) = (sqlite_rows(&original, table).await, sqlite_rows(&back, table).await);
        assert_eq!(was.len(), is.len(), "rows of {}", table.name);
        compared += was.len();
        for (a, b) in was.iter().zip(&is) {
            let same = a.len() == b.len()
                && a.iter().zip(b).all(|(x, y)| {
                    x == y
                        || matches!((serde_json::from_str::<Value>(x), serde_json::from_str::<Value>(y)), (Ok(p), Ok(q)) if p == q)
                });
            assert!(same, "{}: a row changed in the round trip:\n  was {a:?}\n  is  {b:?}", table.name);
        }
    }
    assert!(compared > 1200, "only {compared} rows compared");
}

/// The printed count of `table`: (source rows, target rows).
fn printed_count(run: &Run, table: &str) -> (i64, i64) {
    let line = run.stdout.lines().find(|l| l.split_whitespace().next() == Some(table));
    let line = line.unwrap_or_else(|| panic!("no count for {table}: {run:?}"));
    let numbers: Vec<i64> = line.split_whitespace().skip(1).take(2).map(|n| n.parse().unwrap()).collect();
    (numbers[0], numbers[1])
}

#[actix_web::test]
async fn copy_both_ways_keeps_every_api_answer() {
    let original = TestApp::start(Backend::Sqlite).await;
    populate(&original).await;
    let expected = answers(&original).await;

    let postgres = fresh_postgres_database().await;
    let run = copy(&original.db.url, &postgres).await;
    run.assert_code(0);
    for table in TABLES {
        let (source, target) = printed_count(&run, table.name);
        if !matches!(table.handling, Handling::Skip(_)) {
            assert_eq!(source, target, "{}: {run:?}", table.name);
        }
    }
    assert!(printed_count(&run, "executions").0 > 1000, "more than one batch: {run:?}");
    assert!(printed_count(&run, "deliveries").0 > ccm::store::copy::BLOB_BATCH as i64, "more than one batch: {run:?}");
    assert!(!run.stdout.contains("secret") && !run.stdout.contains(TOKEN), "{run:?}");
    assert!(!run.stderr.contains(" rows ("), "no progress bar without a terminal: {run:?}");
    let on_postgres = TestApp::on(TestDb::at(&postgres).await, &[TOKEN, OTHER_TOKEN], &[SECRET]);
    assert_same(&answers(&on_postgres).await, &expected, "SQLite -> PostgreSQL");

    let dir = tempfile::tempdir().unwrap();
    let sqlite = ccm::config::sqlite_url(&dir.path().join("back").join("ccm.db"));
    copy(&postgres, &sqlite).await.assert_code(0);
    let back = TestApp::on(TestDb::at(&sqlite).await, &[TOKEN, OTHER_TOKEN], &[SECRET]);
    assert_same(&answers(&back).await, &expected, "PostgreSQL -> SQLite");
    assert_same_rows(&original.db.url, &sqlite).await;

    // Ids go on past the copied ones (sequences and sqlite_sequence were set).
    for app in [&on_postgres, &back] {
        let task = app.post("/api/tasks", json!({"title": "after the copy"})).await;
        assert_eq!(task.status, 201, "{}", task.body);
        let max = expected["/api/tasks?limit=1000"]["body"]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap());
        assert!(task.body["task"]["id"].as_i64().unwrap() > max.max().unwrap());
    }
}

#[actix_web::test]
async fn copy_refuses_a_target_that_holds_rows_and_writes_nothing() {
    let source = TestApp::start(Backend::Sqlite).await;
    source.provision(SHOP, WORKFLOW, json!({})).await;
    let busy = TestApp::start(Backend::Postgres).await;
    ok(&busy.post("/api/tasks", json!({"title": "already here"})).await, "task");

    let run = copy(&source.db.url, &busy.db.url).await;
    run.assert_code(1);
    assert!(run.stderr.contains("is not empty: table") && run.stderr.contains("holds rows"), "{run:?}");
    assert_eq!(count(&busy.db, Backend::Postgres, "SELECT COUNT(*) FROM pipelines").await, 0, "nothing written");

    // The other way: a SQLite target with a pipeline.
    let run = copy(&busy.db.url, &source.db.url).await;
    run.assert_code(1);
    assert!(run.stderr.contains("not empty") && run.stderr.contains("table pipelines"), "{run:?}");
    assert_eq!(count(&source.db, Backend::Sqlite, "SELECT COUNT(*) FROM tasks").await, 0, "nothing written");
}

#[actix_web::test]
async fn a_copy_whose_counts_differ_is_rolled_back() {
    let source = TestApp::start(Backend::Sqlite).await;
    source.provision(SHOP, WORKFLOW, json!({})).await;
    for title in ["first", "second"] {
        ok(&source.post("/api/tasks", json!({"title": title})).await, "task");
    }
    // A target that loses what is written to one table (a trigger drops each row), as a target
    // with a fault would: the copy sees the counts differ and keeps nothing.
    let target = TestDb::new(Backend::Postgres).await;
    let lose_tasks = "CREATE FUNCTION lose_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$; \
                      CREATE TRIGGER lose_tasks BEFORE INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION lose_row();";
    rows::execute(&target, Backend::Postgres, lose_tasks).await;

    let run = copy(&source.db.url, &target.url).await;
    run.assert_code(1);
    assert!(run.stderr.contains("the counts differ") && run.stderr.contains("rolled back"), "{run:?}");
    assert_eq!(printed_count(&run, "tasks"), (2, 0), "{run:?}");
    assert_eq!(printed_count(&run, "pipelines"), (1, 1), "{run:?}");
    for table in ["pipelines", "tasks", "deliveries"] {
        let rows = count(&target, Backend::Postgres, &format!("SELECT COUNT(*) FROM {table}")).await;
        assert_eq!(rows, 0, "{table}: the rolled-back copy left rows");
    }
}

#[actix_web::test]
async fn copy_refuses_a_source_at_another_migration_version() {
    let source = TestDb::new(Backend::Sqlite).await;
    let latest = count(&source, Backend::Sqlite, "SELECT MAX(version) FROM _sqlx_migrations").await;
    rows::execute(&source, Backend::Sqlite, &format!("DELETE FROM _sqlx_migrations WHERE version = {latest}")).await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("ccm.db");
    let run = copy(&source.url, &ccm::config::sqlite_url(&target)).await;
    run.assert_code(1);
    assert!(run.stderr.contains("ccm migrate"), "{run:?}");
    assert!(!target.exists(), "the target is not even created");
    let run = copy("mysql://db/ccm", &ccm::config::sqlite_url(&target)).await;
    run.assert_code(1);
    assert!(run.stderr.contains("not a database URL"), "{run:?}");
}

/// Each table's columns and their declared types, from the catalog (sqlx's own table left out).
async fn catalog(db: &TestDb, backend: Backend) -> BTreeMap<String, BTreeMap<String, String>> {
    let rows: Vec<(String, String, String)> = match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query_as(
                "SELECT m.name, p.name, p.type FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite%' AND m.name <> '_sqlx_migrations'",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query_as(
                "SELECT CAST(c.table_name AS TEXT), CAST(c.column_name AS TEXT), CAST(c.data_type AS TEXT) \
                 FROM information_schema.columns c JOIN information_schema.tables t \
                   ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                 WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
                   AND c.table_name <> '_sqlx_migrations'",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let mut tables: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (table, column, ty) in rows {
        tables.entry(table).or_default().insert(column, ty.to_lowercase());
    }
    tables
}

#[actix_web::test]
async fn the_copy_list_covers_every_table_with_types_that_map() {
    let sqlite = catalog(&TestDb::new(Backend::Sqlite).await, Backend::Sqlite).await;
    let postgres = catalog(&TestDb::new(Backend::Postgres).await, Backend::Postgres).await;
    let listed: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    for (backend, tables) in [("SQLite", &sqlite), ("PostgreSQL", &postgres)] {
        let unlisted: Vec<&String> = tables.keys().filter(|t| !listed.contains(&t.as_str())).collect();
        assert!(unlisted.is_empty(), "tables of the {backend} schema missing from store::copy::TABLES: {unlisted:?}");
        let absent: Vec<&&str> = listed.iter().filter(|t| !tables.contains_key(**t)).collect();
        assert!(absent.is_empty(), "listed in store::copy::TABLES but not in the {backend} schema: {absent:?}");
    }
    for table in TABLES {
        let (lite, pg) = (&sqlite[table.name], &postgres[table.name]);
        assert_eq!(lite.keys().collect::<Vec<_>>(), pg.keys().collect::<Vec<_>>(), "columns of {}", table.name);
        for key in table.key {
            assert!(lite.contains_key(*key), "{}: key column {key}", table.name);
        }
        for (column, lite_type) in lite {
            let pg_type = pg[column].as_str();
            let maps = match lite_type.as_str() {
                "integer" => ["bigint", "integer"].contains(&pg_type),
                "boolean" => pg_type == "boolean",
                "text" => ["text", "timestamp with time zone", "jsonb"].contains(&pg_type),
                "blob" => pg_type == "bytea",
                _ => false,
            };
            assert!(maps, "{}.{column}: SQLite {lite_type} and PostgreSQL {pg_type} do not map", table.name);
        }
    }
}

#[actix_web::test]
async fn copy_refuses_a_sqlite_target_a_ccm_serves() {
    let source = TestDb::new(Backend::Sqlite).await;
    let data = tempfile::tempdir().unwrap();
    let settings = vec![
        ("CCM_DATA_DIR", data.path().display().to_string()),
        ("CCM_API_TOKEN", TOKEN.to_string()),
        ("GITHUB_WEBHOOK_SECRET", SECRET.to_string()),
    ];
    let server = crate::helpers::serve::Serve::start(&settings).await;
    let target = ccm::config::sqlite_url(&data.path().join("ccm.db"));
    let run = copy(&source.url, &target).await;
    run.assert_code(1);
    assert!(run.stderr.contains("ccm is running on the target"), "{run:?}");
    drop(server);
}

/// On a terminal the copy draws its progress bar (the table being copied, rows done of all).
#[actix_web::test]
async fn on_a_terminal_the_copy_shows_its_progress() {
    let source = TestDb::new(Backend::Sqlite).await;
    let now = ccm::domain::clock::now();
    for i in 0..300 {
        let run = run(30_000 + i, SHOP, "main", now, Duration::minutes(i + 1), Some("success"), 30);
        source.store.upsert_execution(&run).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let target = ccm::config::sqlite_url(&dir.path().join("ccm.db"));
    let ccm = Ccm::new("http://127.0.0.1:1", None);
    let run = ccm.run_on_terminal(&["copy", "--from", &source.url, "--to", &target], "").await;
    run.assert_code(0);
    // The bar names the table it copies and counts the rows done of all.
    let bar = run.stdout.lines().next().unwrap_or_default();
    assert!(bar.contains("executions ") && bar.contains(" rows ("), "{run:?}");
    assert!(run.stdout.contains("copied sqlite:"), "{run:?}");
}

#[actix_web::test]
async fn copy_refuses_a_database_of_something_else_and_leaves_it_as_it_was() {
    let source = TestDb::new(Backend::Sqlite).await;
    let other = fresh_postgres_database().await;
    let pool = sqlx::PgPool::connect(&other).await.unwrap();
    sqlx::query("CREATE TABLE invoices (id BIGINT PRIMARY KEY)").execute(&pool).await.unwrap();
    let run = copy(&source.url, &other).await;
    run.assert_code(1);
    assert!(run.stderr.contains("has a table invoices, not one of ccm's"), "{run:?}");
    let tables: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(tables, 1, "no migration was applied to it");
}
