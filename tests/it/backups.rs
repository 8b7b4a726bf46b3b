//! `ccm backup`, `ccm restore` and scheduled backups, through the real binary: a backup taken
//! while deliveries are being acknowledged holds every one acknowledged before it began, a
//! restore refuses a running ccm and a database with data, PostgreSQL is pointed at pg_dump.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::helpers::ccm_cli::Ccm;
use crate::helpers::post_delivery;
use crate::helpers::serve::Serve;
use crate::helpers::wait::wait_until;

const TOKEN: &str = "backup-test-token-0123456789";
const SECRET: &str = "backup-test-secret-0123456789";

fn settings(data: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("CCM_DATA_DIR", data.display().to_string()),
        ("CCM_API_TOKEN", TOKEN.into()),
        ("GITHUB_WEBHOOK_SECRET", SECRET.into()),
        ("RUST_LOG", "info".into()),
    ]
}

/// The `ccm` command line for the server commands on `data`.
fn ccm(data: &Path) -> Ccm {
    Ccm::new("http://127.0.0.1:1", None).env("CCM_DATA_DIR", data.display().to_string())
}

async fn deliver(client: &reqwest::Client, base: &str, guid: &str) -> u16 {
    let body = format!(r#"{{"zen":"Keep it logically awesome.","hook_id":7,"guid":"{guid}"}}"#);
    let signature = ccm::webhook::signature::sign(SECRET.as_bytes(), body.as_bytes());
    let url = format!("{base}/webhooks/github");
    let res = post_delivery(client, &url, "ping", guid, body.as_bytes(), &signature).await;
    res.map(|r| r.status().as_u16()).unwrap_or(0)
}

async fn stored(client: &reqwest::Client, base: &str, guid: &str) -> u16 {
    let res = client.get(format!("{base}/api/deliveries/{guid}")).header("CCM-Token", TOKEN).send().await.unwrap();
    res.status().as_u16()
}

#[tokio::test]
async fn a_backup_taken_while_ingesting_restores_every_acknowledged_delivery() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, restored, file) = (tmp.path().join("data"), tmp.path().join("restored"), tmp.path().join("copy.db"));
    let server = Serve::start(&settings(&data)).await;

    let acknowledged: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..16)
        .map(|sender| {
            let (acknowledged, stop, base) = (acknowledged.clone(), stop.clone(), server.base.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let guid = format!("backup-{sender}-{n}");
                    n += 1;
                    if deliver(&client, &base, &guid).await == 200 {
                        acknowledged.lock().unwrap().push((guid, Instant::now()));
                    }
                }
            })
        })
        .collect();
    wait_until("300 deliveries acknowledged", async || acknowledged.lock().unwrap().len() >= 300).await;

    let began = Instant::now();
    let run = ccm(&data).run(&["backup", "--output", file.to_str().unwrap()]).await;
    run.assert_code(0);
    assert!(run.stdout.contains("backup written and checked"), "{run:?}");
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let before: Vec<&str> = acknowledged.iter().filter(|(_, at)| *at < began).map(|(g, _)| g.as_str()).collect();
    assert!(before.len() >= 300);
    drop(server);

    ccm(&restored).run(&["restore", file.to_str().unwrap()]).await.assert_code(0);
    let server = Serve::start(&settings(&restored)).await;
    let client = reqwest::Client::new();
    for guid in &before {
        assert_eq!(
            stored(&client, &server.base, guid).await,
            200,
            "{guid}, acknowledged before the backup, is missing"
        );
    }
}

#[tokio::test]
async fn restore_refuses_a_running_ccm_and_a_database_with_data() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, file) = (tmp.path().join("data"), tmp.path().join("saved.db"));
    let server = Serve::start(&settings(&data)).await;
    let client = reqwest::Client::new();
    assert_eq!(deliver(&client, &server.base, "kept-1").await, 200);
    ccm(&data).run(&["backup", "-o", file.to_str().unwrap()]).await.assert_code(0);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600, "the backup is private");
    assert_eq!(deliver(&client, &server.base, "after-the-backup").await, 200);

    let running = ccm(&data).run(&["restore", file.to_str().unwrap(), "--force"]).await;
    running.assert_code(1);
    assert!(running.stderr.contains("stop it before restoring"), "{running:?}");
    drop(server);

    let with_data = ccm(&data).run(&["restore", file.to_str().unwrap()]).await;
    with_data.assert_code(1);
    assert!(with_data.stderr.contains("--force"), "{with_data:?}");
    let again = ccm(&data).run(&["backup", "-o", file.to_str().unwrap()]).await;
    again.assert_code(1);
    assert!(again.stderr.contains("must not exist"), "{again:?}");

    ccm(&data).run(&["restore", file.to_str().unwrap(), "--force"]).await.assert_code(0);
    let server = Serve::start(&settings(&data)).await;
    assert_eq!(stored(&client, &server.base, "kept-1").await, 200);
    assert_eq!(stored(&client, &server.base, "after-the-backup").await, 404, "the database is the backup's");
}

#[tokio::test]
async fn a_damaged_backup_is_refused_and_the_database_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, file) = (tmp.path().join("data"), tmp.path().join("damaged.db"));
    let server = Serve::start(&settings(&data)).await;
    assert_eq!(deliver(&reqwest::Client::new(), &server.base, "kept-2").await, 200);
    drop(server);
    std::fs::write(&file, b"SQLite format 3\0 and then nothing a database holds").unwrap();
    let run = ccm(&data).run(&["restore", file.to_str().unwrap(), "--force"]).await;
    run.assert_code(1);
    assert!(run.stderr.contains("cannot be restored"), "{run:?}");
    let server = Serve::start(&settings(&data)).await;
    assert_eq!(stored(&reqwest::Client::new(), &server.base, "kept-2").await, 200);
}

#[tokio::test]
async fn scheduled_backups_are_taken_rotated_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut envs = settings(&data);
    envs.extend([("CCM_BACKUP_INTERVAL", "1s".to_string()), ("CCM_BACKUP_KEEP", "2".to_string())]);
    let mut server = Serve::start(&envs).await;
    server.wait_for_output("three scheduled backups", |out| out.matches("scheduled backup taken").count() >= 3).await;
    let metrics = reqwest::get(format!("{}/metrics", server.base)).await.unwrap().text().await.unwrap();
    let size = metrics.lines().find(|l| l.starts_with("ccm_backup_last_size_bytes ")).expect("the size gauge");
    assert!(size.split(' ').nth(1).unwrap().parse::<f64>().unwrap() > 0.0, "{size}");
    assert!(metrics.contains("ccm_backup_last_timestamp_seconds "), "{metrics}");
    // The dashboard's line: the newest backup of the folder, with its time and size.
    let latest: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/backups/latest", server.base))
        .header("CCM-Token", TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(latest["database"], "sqlite", "{latest}");
    let file = latest["backup"]["file"].as_str().expect("a backup");
    let on_disk = std::fs::metadata(data.join("backups").join(file)).expect("the file it names").len();
    assert_eq!(latest["backup"]["bytes"].as_u64(), Some(on_disk), "{latest}");
    assert!(latest["backup"]["taken_at"].as_str().unwrap().ends_with('Z'), "{latest}");
    drop(server);
    // Stopped, so nothing is rotated while the folder is read (a backup cut short is `.partial`).
    let kept: Vec<_> = std::fs::read_dir(data.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "db"))
        .collect();
    assert_eq!(kept.len(), 2, "CCM_BACKUP_KEEP=2: {kept:?}");
    for path in &kept {
        ccm::store::sqlite_backup::check(path).unwrap();
    }
}

#[tokio::test]
async fn on_postgres_the_commands_point_at_pg_dump() {
    let tmp = tempfile::tempdir().unwrap();
    let on_postgres = ccm(&tmp.path().join("data")).env("DATABASE_URL", "postgres://ccm@127.0.0.1:1/ccm");
    for args in [&["backup"][..], &["restore", "some.db"][..]] {
        let run = on_postgres.run(args).await;
        run.assert_code(1);
        assert!(run.stderr.contains("pg_dump") && run.stderr.contains("pg_restore"), "{run:?}");
    }
}

#[actix_web::test]
async fn the_latest_backup_is_none_before_the_first_and_on_postgres() {
    use crate::helpers::{Backend, TestApp};
    let empty = tempfile::tempdir().unwrap();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = TestApp::with_backups(backend, empty.path().join("backups")).await;
        let latest = app.get("/api/backups/latest").await;
        assert_eq!(latest.status, 200, "{}", latest.body);
        let database = if backend == Backend::Sqlite { "sqlite" } else { "postgres" };
        assert_eq!(latest.body, serde_json::json!({"success": true, "database": database, "backup": null}));
    }
}
