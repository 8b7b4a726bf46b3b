//! docker/: the Dockerfile, the compose file, the systemd unit and the env examples name real
//! settings and real health endpoints, and hold no secret. (No Docker daemon or systemd runs
//! here, so they are read as text.)

use std::collections::BTreeSet;
use std::path::Path;

use crate::helpers::{Backend, TestApp};

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const FILES: [&str; 5] =
    ["docker/Dockerfile", "docker/compose.yml", "docker/ccm.service", "docker/.env.example", "docker/ccm.env.example"];

/// The names of ccm settings a text mentions.
fn settings_in(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .filter(|w| {
            w.starts_with("CCM_") || w.starts_with("GITHUB_") || ["DATABASE_URL", "RUST_LOG", "GHT"].contains(w)
        })
        .map(str::to_string)
        .collect()
}

/// Every string literal of the sources under src/.
fn source_text(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_text(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

#[test]
fn packaging_names_only_settings_that_ccm_reads_and_the_readme_documents() {
    let readme = read("README.md");
    let table = readme.split("## Settings").nth(1).expect("README has a Settings section");
    let table = table.split("\n## ").next().unwrap();
    let mut sources = String::new();
    source_text(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut sources);
    let mut named = BTreeSet::new();
    for file in FILES {
        for name in settings_in(&read(file)) {
            assert!(table.contains(&format!("`{name}`")), "{file} names {name}, which README's settings table lacks");
            assert!(sources.contains(&format!("\"{name}\"")), "{file} names {name}, which ccm never reads");
            named.insert(name);
        }
    }
    for needed in ["CCM_BIND", "CCM_DATA_DIR", "CCM_API_TOKEN", "GITHUB_WEBHOOK_SECRET", "DATABASE_URL"] {
        assert!(named.contains(needed), "the packaging never sets {needed}");
    }
}

#[actix_web::test]
async fn health_checks_call_endpoints_that_answer_on_the_published_port() {
    let app = TestApp::start(Backend::Sqlite).await;
    let mut checked = 0;
    for file in ["docker/Dockerfile", "docker/compose.yml"] {
        let text = read(file);
        assert!(text.contains("0.0.0.0:5000"), "{file} does not listen on port 5000 on every interface");
        let checks = text.lines().filter(|l| l.contains("curl")).collect::<Vec<_>>().join("\n");
        for url in checks.split("http://127.0.0.1:5000").skip(1) {
            let path: String = url.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '/').collect();
            let reply = app.send(reqwest::Method::GET, &path, None, None).await;
            assert_eq!(reply.status, 200, "{file} checks {path}: {}", reply.body);
            checked += 1;
        }
    }
    assert!(checked >= 2, "a health check is missing");
}

#[test]
fn the_image_builds_locked_and_runs_unprivileged_with_its_data_in_a_volume() {
    let dockerfile = read("docker/Dockerfile");
    for needed in [
        "cargo build --release --locked",
        "FROM debian:bookworm-slim",
        "ca-certificates",
        "CCM_DATA_DIR=/data",
        "VOLUME [\"/data\"]",
        "EXPOSE 5000",
        "USER ccm",
        "HEALTHCHECK",
    ] {
        assert!(dockerfile.contains(needed), "the Dockerfile lacks {needed}");
    }
    let ignored = read(".dockerignore");
    for needed in ["target/", ".git/", ".env"] {
        assert!(ignored.lines().any(|l| l == needed), ".dockerignore lacks {needed}");
    }
}

#[test]
fn compose_waits_for_a_healthy_database_and_takes_secrets_from_the_env_file() {
    let compose = read("docker/compose.yml");
    for needed in ["image: postgres:15", "condition: service_healthy", "pg_isready", "env_file: .env", "postgres-data:"]
    {
        assert!(compose.contains(needed), "compose.yml lacks {needed}");
    }
    for line in compose.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        let Some((key, value)) = line.split_once(':') else { continue };
        let key = key.trim().to_ascii_uppercase();
        let value = value.trim();
        if ["PASSWORD", "TOKEN", "SECRET", "DATABASE_URL"].iter().any(|s| key.contains(s)) && !value.is_empty() {
            assert!(value.contains("${"), "compose.yml holds a secret inline: {line}");
        }
    }
}

#[test]
fn env_examples_leave_every_secret_empty() {
    for file in ["docker/.env.example", "docker/ccm.env.example"] {
        for line in read(file).lines().filter(|l| !l.trim_start().starts_with('#') && l.contains('=')) {
            let (name, value) = line.split_once('=').unwrap();
            assert!(value.is_empty(), "{file} sets {name}: examples must not hold values");
        }
    }
}

#[test]
fn the_systemd_unit_runs_as_its_own_user_in_a_hardened_sandbox() {
    let unit = read("docker/ccm.service");
    let lines: BTreeSet<&str> = unit.lines().map(str::trim).collect();
    for needed in [
        "User=ccm",
        "EnvironmentFile=/etc/ccm/ccm.env",
        "StateDirectory=ccm",
        "Environment=CCM_DATA_DIR=/var/lib/ccm",
        "ReadWritePaths=/var/lib/ccm",
        "ExecStart=/usr/local/bin/ccm serve",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
    ] {
        assert!(lines.contains(needed), "ccm.service lacks {needed}");
    }
    // The data folder the unit sets is the one systemd creates for it.
    let state = unit.lines().find_map(|l| l.strip_prefix("StateDirectory=")).unwrap();
    assert!(lines.contains(format!("Environment=CCM_DATA_DIR=/var/lib/{state}").as_str()));
}
