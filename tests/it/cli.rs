//! The real `ccm` binary: help, refused settings, `ccm migrate` and `ccm serve`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection;

use crate::helpers::serve::Serve;
use crate::helpers::text;

/// Every setting `ccm serve` and `ccm migrate` read from the environment.
const SETTINGS: [&str; 6] =
    ["CCM_BIND", "DATABASE_URL", "CCM_DATA_DIR", "CCM_API_TOKEN", "GITHUB_WEBHOOK_SECRET", "CCM_DB_MAX_CONNECTIONS"];
/// The logging settings, read by every command.
const LOGGING: [&str; 2] = ["RUST_LOG", "CCM_LOG_FORMAT"];

const API_TOKEN_VALUE: &str = "api-token-value-must-not-leak-1";
const WEBHOOK_SECRET_VALUE: &str = "webhook-secret-value-must-not-leak-2";
const DB_PASSWORD: &str = "db-password-must-not-leak-3";

/// `ccm` with none of its settings inherited from the environment running the tests.
fn ccm() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("ccm").expect("the ccm binary");
    for name in SETTINGS.iter().chain(LOGGING.iter()) {
        cmd.env_remove(name);
    }
    cmd.env_remove("NO_COLOR");
    cmd
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------------------------
// Help

fn help(args: &[&str], with_secrets: bool) -> String {
    let mut cmd = ccm();
    cmd.args(args);
    if with_secrets {
        cmd.env("CCM_API_TOKEN", API_TOKEN_VALUE)
            .env("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET_VALUE)
            .env("DATABASE_URL", format!("postgres://ccm:{DB_PASSWORD}@db.internal:5432/ccm"));
    }
    let out = cmd.output().expect("run ccm");
    assert!(out.status.success(), "ccm {args:?}: {}\n{}", out.status, text(&out.stderr));
    assert!(out.stderr.is_empty(), "help wrote to stderr: {}", text(&out.stderr));
    text(&out.stdout)
}

fn assert_no_secret(output: &str) {
    for secret in [API_TOKEN_VALUE, WEBHOOK_SECRET_VALUE, DB_PASSWORD] {
        assert!(!output.contains(secret), "a secret value leaked:\n{output}");
    }
}

#[test]
fn top_level_help_lists_every_command_and_the_logging_settings() {
    for with_secrets in [false, true] {
        for args in [&["--help"][..], &["-h"], &["help"]] {
            let out = help(args, with_secrets);
            assert!(out.contains("Usage: ccm"), "{out}");
            assert!(out.contains("serve") && out.contains("Run the HTTP server"), "{out}");
            assert!(out.contains("migrate") && out.contains("Apply database migrations"), "{out}");
            assert!(out.contains("help"), "{out}");
            if args != ["-h"] {
                for name in LOGGING {
                    assert!(out.contains(name), "`ccm {args:?}` does not mention {name}:\n{out}");
                }
            }
            assert_no_secret(&out);
        }
    }
}

#[test]
fn command_help_lists_every_setting_and_never_a_secret() {
    for with_secrets in [false, true] {
        for command in ["serve", "migrate"] {
            for args in [vec![command, "--help"], vec!["help", command]] {
                let out = help(&args, with_secrets);
                assert!(out.contains(&format!("Usage: ccm {command}")), "{out}");
                for name in SETTINGS.iter().chain(LOGGING.iter()) {
                    assert!(out.contains(name), "`ccm {args:?}` does not mention {name}:\n{out}");
                }
                for flag in ["--bind", "--database-url", "--data-dir", "--api-token", "--webhook-secret"] {
                    assert!(out.contains(flag), "`ccm {args:?}` does not list {flag}:\n{out}");
                }
                assert!(out.contains("--db-max-connections"), "{out}");
                assert_no_secret(&out);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Refused settings

/// `ccm serve` with one bad setting (and a data folder that must stay untouched).
fn refuse(command: &str, name: &str, value: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = ccm()
        .arg(command)
        .env("HOME", tmp.path())
        .env("CCM_DATA_DIR", &data)
        .env("CCM_BIND", "127.0.0.1:0")
        .env(name, value)
        .timeout(Duration::from_secs(30))
        .output()
        .expect("run ccm");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "ccm {command} with {name}={value:?}: {}\n{stderr}", out.status);
    assert_eq!(stderr.lines().count(), 1, "not one line on stderr for {name}={value:?}:\n{stderr}");
    assert!(stderr.ends_with('\n'), "{stderr:?}");
    assert!(stderr.starts_with(&format!("ccm: invalid {name}: ")), "{name}={value:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert!(!data.exists(), "start-up went on to create the data folder for {name}={value:?}");
    stderr
}

#[test]
fn an_invalid_setting_stops_start_up_with_one_line_naming_it() {
    for command in ["serve", "migrate"] {
        refuse(command, "CCM_BIND", "nonsense");
        refuse(command, "CCM_BIND", "127.0.0.1:99999");
        let line = refuse(command, "DATABASE_URL", &format!("mysql://u:{DB_PASSWORD}@h/db"));
        assert!(!line.contains(DB_PASSWORD) && !line.contains("mysql://"), "{line}");
        refuse(command, "CCM_DB_MAX_CONNECTIONS", "0");
        refuse(command, "CCM_DB_MAX_CONNECTIONS", "many");
        refuse(command, "CCM_DB_MAX_CONNECTIONS", "1001");
        refuse(command, "RUST_LOG", "=bad=");
        refuse(command, "RUST_LOG", "ccm=loud");
        refuse(command, "CCM_LOG_FORMAT", "xml");
        refuse(command, "CCM_API_TOKEN", " , ");
        refuse(command, "CCM_DATA_DIR", "");
    }
}

#[test]
fn a_token_with_whitespace_is_refused_without_echoing_it() {
    let line = refuse("serve", "CCM_API_TOKEN", "good-token-0123456789, bad token-value-9876");
    assert!(!line.contains("good-token") && !line.contains("bad token"), "{line}");
}

#[test]
fn a_short_token_or_secret_among_several_stops_start_up() {
    let line = refuse("serve", "CCM_API_TOKEN", "good-token-0123456789,short1");
    assert!(line.contains("token 2 of 2 has 6 characters: each must have at least 16"), "{line}");
    assert!(!line.contains("short1") && !line.contains("good-token"), "{line}");
    let line = refuse("serve", "GITHUB_WEBHOOK_SECRET", "whsec-0123456789abcdef , x");
    assert!(line.contains("secret 2 of 2 has 1 characters"), "{line}");
    assert!(!line.contains("whsec"), "{line}");
}

// ---------------------------------------------------------------------------------------------
// ccm migrate

fn migration_count(kind: &str) -> i64 {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations").join(kind);
    std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "sql"))
        .count() as i64
}

fn migrate(envs: &[(&str, String)]) -> String {
    let mut cmd = ccm();
    cmd.arg("migrate").timeout(Duration::from_secs(60));
    for (name, value) in envs {
        cmd.env(name, value);
    }
    let out = cmd.output().expect("run ccm migrate");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "ccm migrate: {}\n{stderr}", out.status);
    assert!(stderr.contains("migrations applied"), "{stderr}");
    stderr
}

#[tokio::test]
async fn migrate_creates_a_private_sqlite_database_and_can_run_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("nested/dir");
    for _ in 0..2 {
        migrate(&[("CCM_DATA_DIR", data.display().to_string())]);
        assert_eq!(mode(&data), 0o700, "the data folder is not private");
        let db = data.join("ccm.db");
        assert_eq!(mode(&db), 0o600, "ccm.db is not private");
        // SQLite's companion files (-wal, -shm), if left, are private too.
        for entry in std::fs::read_dir(&data).unwrap() {
            let path = entry.unwrap().path();
            assert_eq!(mode(&path), 0o600, "{} is not private", path.display());
        }
    }
    let url = ccm::config::sqlite_url(&data.join("ccm.db"));
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let applied: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success").fetch_one(&mut conn).await.unwrap();
    assert_eq!(applied, migration_count("sqlite"));
    let pipelines: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pipelines").fetch_one(&mut conn).await.unwrap();
    assert_eq!(pipelines, 0);
}

#[tokio::test]
async fn migrate_applies_the_postgres_migrations_to_a_fresh_database() {
    let url = crate::helpers::fresh_postgres_database().await;
    let tmp = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        migrate(&[("DATABASE_URL", url.clone()), ("CCM_DATA_DIR", tmp.path().join("data").display().to_string())]);
    }
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let applied: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success").fetch_one(&mut conn).await.unwrap();
    assert_eq!(applied, migration_count("postgres"));
    let pipelines: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pipelines").fetch_one(&mut conn).await.unwrap();
    assert_eq!(pipelines, 0);
}

#[test]
fn migrate_against_an_unreachable_postgres_fails_without_the_password() {
    // Port 1 on the loopback: nothing listens, the connection is refused at once.
    let out = ccm()
        .arg("migrate")
        .env("DATABASE_URL", format!("postgres://ccm:{DB_PASSWORD}@127.0.0.1:1/ccm"))
        .env("CCM_DATA_DIR", tempfile::tempdir().unwrap().path().join("data"))
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains(DB_PASSWORD), "the password leaked: {stderr}");
}

// ---------------------------------------------------------------------------------------------
// ccm serve

/// `ccm serve` with `envs` (it has logged "ccm is ready"), once it answers `/healthz` as a live process does.
async fn serve(envs: &[(&str, String)]) -> Serve {
    let server = Serve::start(envs).await;
    assert_eq!(get(&server, "/healthz", None).await, (200, json!({"success": true, "status": "ok"})));
    server
}

async fn get(server: &Serve, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(format!("{}{path}", server.base));
    if let Some(token) = token {
        req = req.header("CCM-Token", token);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn serve_generates_a_private_token_file_and_keeps_it_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let envs = [("CCM_DATA_DIR", data.display().to_string()), ("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET_VALUE.into())];

    let server = serve(&envs).await;
    let token_file = data.join("api-token");
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&token_file), 0o600, "the token file is not private");
    let token = std::fs::read_to_string(&token_file).unwrap().trim().to_string();
    assert!(token.starts_with("ccm_") && token.len() == 68, "{token}");

    assert_eq!(get(&server, "/readyz", None).await, (200, json!({"success": true, "status": "ready"})));
    let (status, body) = get(&server, "/api/pipelines", Some(&token)).await;
    assert_eq!((status, body["success"].clone(), body["count"].clone()), (200, json!(true), json!(0)));
    let (status, body) = get(&server, "/api/pipelines", Some("ccm_not-the-token")).await;
    assert_eq!((status, body["error"].clone()), (401, json!("Invalid CCM-Token")));
    let (status, _) = get(&server, "/api/pipelines", None).await;
    assert_eq!(status, 401);

    // Something to find again after the restart.
    let res = reqwest::Client::new()
        .post(format!("{}/api/pipelines/provision", server.base))
        .header("CCM-Token", &token)
        .json(&json!({"repo": "octo/app", "workflow_file": ".github/workflows/deploy.yml"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["pipeline_id"].as_str().unwrap().to_string();

    let logs = server.stop();
    assert!(logs.contains(&token_file.display().to_string()), "the token file's path is not logged:\n{logs}");
    assert!(logs.contains("CCM_API_TOKEN is unset"), "{logs}");
    assert!(!logs.contains(&token) && !logs.contains(&token[4..]), "the token leaked into the logs:\n{logs}");
    assert!(!logs.contains(WEBHOOK_SECRET_VALUE), "the webhook secret leaked:\n{logs}");
    // Output that is not a terminal gets no colour codes (a log file stays readable).
    assert!(!logs.contains('\u{1b}'), "ANSI escape codes in piped logs:\n{logs:?}");

    // A restart reads the same token; the data is still there.
    let server = serve(&envs).await;
    assert_eq!(std::fs::read_to_string(&token_file).unwrap().trim(), token);
    let (status, body) = get(&server, "/api/pipelines", Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pipelines"][0]["pipeline_id"], id.as_str());
    let logs = server.stop();
    assert!(logs.contains(&token_file.display().to_string()), "{logs}");
    assert!(!logs.contains(&token), "the token leaked into the logs:\n{logs}");
}

#[tokio::test]
async fn serve_with_a_configured_token_writes_no_token_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = serve(&[
        ("CCM_DATA_DIR", data.display().to_string()),
        ("CCM_API_TOKEN", API_TOKEN_VALUE.into()),
        ("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET_VALUE.into()),
        ("CCM_LOG_FORMAT", "json".into()),
    ])
    .await;
    assert_eq!(get(&server, "/api/pipelines", Some(API_TOKEN_VALUE)).await.0, 200);
    assert!(!data.join("api-token").exists());
    let logs = server.stop();
    assert_no_secret(&logs);
    // JSON lines, each one an object with a level and a message.
    for line in logs.lines() {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: not a JSON line: {line}"));
        assert!(entry["level"].is_string() && entry["message"].is_string(), "{line}");
    }
    assert!(!logs.contains("GITHUB_WEBHOOK_SECRET"), "a warning about a secret that is set:\n{logs}");
}

#[tokio::test]
async fn serve_without_a_webhook_secret_warns() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(&[
        ("CCM_DATA_DIR", tmp.path().join("data").display().to_string()),
        ("CCM_API_TOKEN", API_TOKEN_VALUE.into()),
    ])
    .await;
    let logs = server.stop();
    let warning = logs
        .lines()
        .find(|line| line.contains("GITHUB_WEBHOOK_SECRET"))
        .unwrap_or_else(|| panic!("no line mentions GITHUB_WEBHOOK_SECRET:\n{logs}"));
    assert!(warning.contains("WARN"), "not a warning: {warning}");
    assert_no_secret(&logs);
}
