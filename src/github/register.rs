//! `ccm app register`: creates the GitHub App from `app-manifest.json` (GitHub's manifest flow).
//!
//! 1. A local page (on `--listen`, default 127.0.0.1:8765) holds a form with the manifest, the
//!    public URL filled in. It posts to the page's own `/start`, which sends the browser on to
//!    GitHub (`/settings/apps/new`, or the organization's) with a 307, the manifest kept: the
//!    `state` travels only in that redirect's `Location`, never in a page's text.
//! 2. GitHub creates the App and sends the browser back to `http://LISTEN/callback` with a
//!    `code` and the `state`; the state is checked.
//! 3. The code is exchanged (`POST /app-manifests/{code}/conversions`, no authentication) for the
//!    App's id, private key and webhook secret, written into CCM_DATA_DIR (key and secret with
//!    mode 0600), where `ccm serve` finds them.
//!
//! Every request must name the page's own address in its `Host` header (`--listen`, as printed):
//! a page reached under another name (DNS rebinding, a non-loopback `--listen` reached by someone
//! else's name for it) is refused, so no other site's script can read it or finish the flow.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context;
use rand::RngCore;
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;

use super::config::{APP_FILE, AppFile, PRIVATE_KEY_FILE, WEBHOOK_SECRET_FILE, parse_private_key};
use crate::data_dir;

/// The manifest at the repository's root, compiled in.
pub const MANIFEST: &str = include_str!("../../app-manifest.json");

#[derive(Debug, Clone)]
pub struct RegisterOptions {
    pub data_dir: PathBuf,
    /// GitHub's REST API (the code exchange).
    pub api_url: String,
    /// GitHub's web site (the form's target); derived from `api_url` when `None`.
    pub web_url: Option<String>,
    /// Where ccm is reachable from GitHub: the App's homepage; webhooks go to
    /// `{public_url}/webhooks/github`.
    pub public_url: String,
    pub org: Option<String>,
    pub name: Option<String>,
    /// The local page's address.
    pub listen: String,
    /// Replace an App already registered in the data folder.
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredApp {
    pub app_id: u64,
    pub slug: Option<String>,
    pub html_url: Option<String>,
}

/// `https://api.github.com` -> `https://github.com`; `https://HOST/api/v3` -> `https://HOST`.
pub fn web_url_for(api_url: &str) -> String {
    let api = api_url.trim_end_matches('/');
    if api == "https://api.github.com" {
        return "https://github.com".into();
    }
    api.strip_suffix("/api/v3").unwrap_or(api).to_string()
}

/// The manifest with this installation's URLs filled in.
pub fn manifest(public_url: &str, redirect_url: &str, name: Option<&str>) -> anyhow::Result<Value> {
    let mut manifest: Value = serde_json::from_str(MANIFEST).context("app-manifest.json is not JSON")?;
    let public = public_url.trim_end_matches('/');
    manifest["url"] = Value::from(public);
    manifest["hook_attributes"]["url"] = Value::from(format!("{public}/webhooks/github"));
    manifest["redirect_url"] = Value::from(redirect_url);
    if let Some(name) = name {
        manifest["name"] = Value::from(name);
    }
    Ok(manifest)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

struct Flow {
    state: String,
    /// The address the page answers at (`host:port`, as in its URL): the only `Host` accepted.
    authority: String,
    form_action: String,
    manifest: String,
    options: RegisterOptions,
    done: mpsc::Sender<anyhow::Result<RegisteredApp>>,
}

impl Flow {
    /// `None` when the request names the page's own address; else the refusal.
    fn misdirected(&self, req: &HttpRequest) -> Option<HttpResponse> {
        let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
        if host.eq_ignore_ascii_case(&self.authority) {
            return None;
        }
        tracing::warn!("registration page: a request for another host was refused");
        Some(text_page(
            actix_web::http::StatusCode::FORBIDDEN,
            &format!("This page answers only at http://{}/ (the request named another host).", self.authority),
        ))
    }
}

async fn page(flow: web::Data<Flow>, req: HttpRequest) -> HttpResponse {
    if let Some(refused) = flow.misdirected(&req) {
        return refused;
    }
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Register ccm as a GitHub App</title></head>\
         <body><h1>Register ccm as a GitHub App</h1>\
         <p>The button sends this manifest to GitHub, which asks you to confirm the App's creation.</p>\
         <form action=\"/start\" method=\"post\">\
         <input type=\"hidden\" name=\"manifest\" value=\"{}\">\
         <pre>{}</pre>\
         <button type=\"submit\">Create the GitHub App</button></form></body></html>",
        html_escape(&flow.manifest),
        html_escape(&flow.manifest),
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(body)
}

/// The form's target: on to GitHub's form with the state, the browser re-posting the manifest
/// (307 keeps the method and the body).
async fn start(flow: web::Data<Flow>, req: HttpRequest) -> HttpResponse {
    if let Some(refused) = flow.misdirected(&req) {
        return refused;
    }
    HttpResponse::TemporaryRedirect()
        .insert_header((header::LOCATION, flow.form_action.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish()
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
}

fn text_page(status: actix_web::http::StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>ccm</title></head><body><p>{}</p></body></html>",
        html_escape(message)
    ))
}

async fn callback(flow: web::Data<Flow>, req: HttpRequest, query: web::Query<Callback>) -> HttpResponse {
    use actix_web::http::StatusCode;
    if let Some(refused) = flow.misdirected(&req) {
        return refused;
    }
    let state_ok = query.state.as_deref().is_some_and(|s| bool::from(s.as_bytes().ct_eq(flow.state.as_bytes())));
    if !state_ok {
        return text_page(
            StatusCode::BAD_REQUEST,
            "The state parameter does not match: start again from the ccm page.",
        );
    }
    let Some(code) = query.code.as_deref().filter(|c| {
        !c.is_empty() && c.len() <= 200 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }) else {
        return text_page(StatusCode::BAD_REQUEST, "GitHub did not send a usable code.");
    };
    match exchange(&flow.options, code).await {
        Ok(app) => {
            let message = format!(
                "The GitHub App is registered (id {}). Its private key and webhook secret are in ccm's data folder. \
                 Now install it on your repositories{}; then start ccm serve.",
                app.app_id,
                app.html_url.as_deref().map(|u| format!(" at {u}/installations/new")).unwrap_or_default()
            );
            let _ = flow.done.send(Ok(app)).await;
            text_page(StatusCode::OK, &message)
        }
        Err(err) => {
            let message = format!("Registration failed: {err:#}");
            let _ = flow.done.send(Err(err)).await;
            text_page(StatusCode::BAD_GATEWAY, &message)
        }
    }
}

#[derive(Deserialize)]
struct Conversion {
    id: u64,
    slug: Option<String>,
    html_url: Option<String>,
    owner: Option<Value>,
    pem: String,
    webhook_secret: Option<String>,
}

/// `POST /app-manifests/{code}/conversions`, then the files.
async fn exchange(options: &RegisterOptions, code: &str) -> anyhow::Result<RegisteredApp> {
    let url = format!("{}/app-manifests/{code}/conversions", options.api_url.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .header("accept", "application/vnd.github+json")
        .header("user-agent", "ccm")
        .header("x-github-api-version", "2022-11-28")
        .send()
        .await
        .context("GitHub is unreachable")?;
    let status = response.status();
    if !status.is_success() {
        anyhow::bail!("GitHub refused the code exchange ({status}); the code is valid for one hour and one use");
    }
    let conversion: Conversion = response.json().await.context("GitHub's answer to the code exchange is malformed")?;
    parse_private_key("pem", &conversion.pem)
        .map_err(|_| anyhow::anyhow!("GitHub's answer holds no usable private key"))?;
    write_files(&options.data_dir, &conversion)?;
    Ok(RegisteredApp { app_id: conversion.id, slug: conversion.slug, html_url: conversion.html_url })
}

fn write_files(dir: &Path, conversion: &Conversion) -> anyhow::Result<()> {
    data_dir::ensure(dir)?;
    data_dir::write_private(&dir.join(PRIVATE_KEY_FILE), conversion.pem.as_bytes())?;
    if let Some(secret) = &conversion.webhook_secret {
        data_dir::write_private(&dir.join(WEBHOOK_SECRET_FILE), format!("{secret}\n").as_bytes())?;
    }
    let app = AppFile {
        app_id: conversion.id,
        slug: conversion.slug.clone(),
        html_url: conversion.html_url.clone(),
        owner: conversion.owner.as_ref().and_then(|o| o.get("login")).and_then(Value::as_str).map(str::to_string),
    };
    data_dir::write_private(&dir.join(APP_FILE), serde_json::to_string_pretty(&app)?.as_bytes())?;
    Ok(())
}

/// Runs the flow: serves the page, calls `ready` with its URL, and returns once GitHub's
/// redirect has been handled (the App registered, or the exchange failed).
pub async fn run(options: RegisterOptions, ready: impl FnOnce(&str)) -> anyhow::Result<RegisteredApp> {
    if !options.force && options.data_dir.join(APP_FILE).exists() {
        anyhow::bail!(
            "an App is already registered in {} ({APP_FILE}); pass --force to register another",
            options.data_dir.display()
        );
    }
    let listener =
        TcpListener::bind(&options.listen).with_context(|| format!("binding {} (--listen)", options.listen))?;
    let local = listener.local_addr()?;
    let base = format!("http://{local}");
    let redirect_url = format!("{base}/callback");

    let mut state_bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut state_bytes);
    let state = hex::encode(state_bytes);
    let web_url = options.web_url.clone().unwrap_or_else(|| web_url_for(&options.api_url));
    let form_action = match &options.org {
        Some(org) => format!("{web_url}/organizations/{}/settings/apps/new?state={state}", super::encode_path(org)),
        None => format!("{web_url}/settings/apps/new?state={state}"),
    };
    let manifest = manifest(&options.public_url, &redirect_url, options.name.as_deref())?.to_string();
    let (done, mut finished) = mpsc::channel(1);
    let authority = local.to_string();
    let flow = web::Data::new(Flow { state, authority, form_action, manifest, options, done });
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(flow.clone())
            .route("/", web::get().to(page))
            .route("/start", web::post().to(start))
            .route("/callback", web::get().to(callback))
    })
    .workers(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    let serving = tokio::spawn(server);
    ready(&base);
    let result = finished.recv().await.unwrap_or_else(|| Err(anyhow::anyhow!("the local page stopped")));
    // Let the browser receive its answer before stopping.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    handle.stop(true).await;
    let _ = serving.await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_asks_for_what_ccm_needs() {
        let m = manifest("https://ccm.example.org/", "http://127.0.0.1:8765/callback", None).unwrap();
        assert_eq!(m["hook_attributes"]["url"], "https://ccm.example.org/webhooks/github");
        assert_eq!(m["url"], "https://ccm.example.org");
        assert_eq!(m["public"], false);
        let perms = &m["default_permissions"];
        for (k, v) in [
            ("actions", "write"),
            ("checks", "read"),
            ("deployments", "read"),
            ("issues", "write"),
            ("pull_requests", "read"),
            ("contents", "read"),
            ("metadata", "read"),
        ] {
            assert_eq!(perms[k], v, "{k}");
        }
        let events: Vec<&str> = m["default_events"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
        for e in ["workflow_run", "workflow_job", "deployment", "deployment_status", "issues", "pull_request", "push"] {
            assert!(events.contains(&e), "{e}");
        }
        assert_eq!(web_url_for("https://api.github.com"), "https://github.com");
        assert_eq!(web_url_for("https://ghe.corp/api/v3"), "https://ghe.corp");
    }
}
