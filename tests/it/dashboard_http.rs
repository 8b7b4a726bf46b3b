//! The dashboard's page and files over HTTP: no token needed, content types, caching, the
//! security policy, and the JSON errors around them unchanged. The browser test is
//! dashboard_browser.rs.

use crate::helpers::{Backend, TOKEN, TestApp};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderMap, IF_NONE_MATCH};
use serde_json::Value;

struct Fetched {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn fetch(app: &TestApp, method: reqwest::Method, path: &str, if_none_match: Option<&str>) -> Fetched {
    let mut req = app.client.request(method, format!("{}{path}", app.base));
    if let Some(tag) = if_none_match {
        req = req.header(IF_NONE_MATCH, tag);
    }
    let res = req.send().await.expect("request");
    let (status, headers) = (res.status(), res.headers().clone());
    Fetched { status, headers, body: res.text().await.expect("body") }
}

fn header(f: &Fetched, name: impl reqwest::header::AsHeaderName) -> &str {
    f.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

/// The `/assets/...` URLs the page loads.
fn asset_urls(page: &str) -> Vec<String> {
    page.split(['"', '\''])
        .filter(|part| part.starts_with("/assets/"))
        .map(str::to_string)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The modules a script imports (`from './x.js'`), as URLs next to it.
fn imports(url: &str, script: &str) -> Vec<String> {
    let folder = &url[..url.rfind('/').unwrap() + 1];
    script
        .split("from '")
        .skip(1)
        .map(|rest| rest.split('\'').next().unwrap())
        .map(|module| format!("{folder}{}", module.trim_start_matches("./")))
        .collect()
}

fn assert_json_error(f: &Fetched, status: u16, code: &str) {
    assert_eq!(f.status.as_u16(), status, "{}", f.body);
    assert!(header(f, CONTENT_TYPE).starts_with("application/json"), "{:?}", f.headers);
    let body: Value = serde_json::from_str(&f.body).unwrap_or_else(|_| panic!("not JSON: {}", f.body));
    assert_eq!((body["success"].clone(), body["code"].clone()), (Value::Bool(false), Value::from(code)), "{body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
}

#[actix_web::test]
async fn the_page_needs_no_token_and_forbids_other_origins() {
    let app = TestApp::start(Backend::Sqlite).await;
    let page = fetch(&app, reqwest::Method::GET, "/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(header(&page, CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(&page, CACHE_CONTROL), "no-cache");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert_eq!(header(&page, "x-frame-options"), "DENY");
    assert_eq!(header(&page, "referrer-policy"), "no-referrer");
    let csp = header(&page, "content-security-policy");
    for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'"] {
        assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
    }
    for loose in ["http:", "https:", "*", "unsafe-inline", "unsafe-eval", "data:"] {
        assert!(!csp.contains(loose), "CSP allows {loose}: {csp}");
    }
    // Everything the page loads is ours; links are in-page routes.
    for part in page.body.split(" src=\"").skip(1).chain(page.body.split(" href=\"").skip(1)) {
        assert!(part.starts_with("/assets/") || part.starts_with('#'), "page loads {}", &part[..40.min(part.len())]);
    }
    assert!(!page.body.contains(TOKEN));
    assert!(page.body.contains("<script type=\"module\" src=\"/assets/"), "{}", page.body);
}

#[actix_web::test]
async fn every_file_the_page_loads_is_served_with_its_type_and_kept_for_a_year() {
    let app = TestApp::start(Backend::Sqlite).await;
    let page = fetch(&app, reqwest::Method::GET, "/", None).await;
    let mut queue = asset_urls(&page.body);
    assert!(queue.len() >= 3, "the page loads {queue:?}");
    let mut seen = std::collections::BTreeSet::new();
    while let Some(url) = queue.pop() {
        if !seen.insert(url.clone()) {
            continue;
        }
        let f = fetch(&app, reqwest::Method::GET, &url, None).await;
        assert_eq!(f.status, StatusCode::OK, "{url}: {}", f.body);
        let expected = match url.rsplit('.').next().unwrap() {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            other => panic!("unexpected file type {other} in {url}"),
        };
        assert_eq!(header(&f, CONTENT_TYPE), expected, "{url}");
        assert_eq!(header(&f, CACHE_CONTROL), "public, max-age=31536000, immutable", "{url}");
        assert!(header(&f, ETAG).starts_with('"'), "{url}: {:?}", f.headers);
        assert!(!f.body.is_empty(), "{url}");
        if url.ends_with(".css") {
            assert!(!f.body.contains("url(") && !f.body.contains("@import"), "{url} loads something");
        }
        if url.ends_with(".js") {
            // Module imports resolve next to the importer: each must be served too.
            queue.extend(imports(&url, &f.body));
            assert!(!f.body.contains("innerHTML"), "{url} builds markup from strings");
        }
    }
    assert!(seen.len() >= 8, "only {seen:?}");
}

#[actix_web::test]
async fn unchanged_files_answer_304_and_old_versions_are_revalidated() {
    let app = TestApp::start(Backend::Sqlite).await;
    let page = fetch(&app, reqwest::Method::GET, "/", None).await;
    let tag = header(&page, ETAG).to_string();
    let again = fetch(&app, reqwest::Method::GET, "/", Some(&tag)).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(header(&again, ETAG), tag);
    assert_eq!(fetch(&app, reqwest::Method::GET, "/", Some("\"other\"")).await.status, StatusCode::OK);
    assert_eq!(
        fetch(&app, reqwest::Method::GET, "/", Some(&format!("W/{tag}"))).await.status,
        StatusCode::NOT_MODIFIED
    );

    let css = asset_urls(&page.body).into_iter().find(|u| u.ends_with("style.css")).unwrap();
    let current = fetch(&app, reqwest::Method::GET, &css, None).await;
    let old = fetch(&app, reqwest::Method::GET, "/assets/0123456789abcdef/style.css", None).await;
    assert_eq!(old.status, StatusCode::OK);
    assert_eq!(old.body, current.body);
    assert_eq!(header(&old, CACHE_CONTROL), "no-cache");
    let cached = fetch(&app, reqwest::Method::GET, &css, Some(header(&current, ETAG))).await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);

    let head = fetch(&app, reqwest::Method::HEAD, "/", None).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(header(&head, ETAG), tag);
    assert!(head.body.is_empty());
}

#[actix_web::test]
async fn unknown_paths_keep_their_json_errors() {
    let app = TestApp::start(Backend::Sqlite).await;
    let page = fetch(&app, reqwest::Method::GET, "/", None).await;
    let version = asset_urls(&page.body)[0].split('/').nth(2).unwrap().to_string();
    assert_json_error(
        &fetch(&app, reqwest::Method::GET, &format!("/assets/{version}/nope.js"), None).await,
        404,
        "not_found",
    );
    assert_json_error(&fetch(&app, reqwest::Method::GET, "/assets/app.js", None).await, 404, "not_found");
    assert_json_error(&fetch(&app, reqwest::Method::GET, "/index.html", None).await, 404, "not_found");
    assert_json_error(&fetch(&app, reqwest::Method::GET, "/api/nope", None).await, 401, "unauthorized");
    assert_json_error(&fetch(&app, reqwest::Method::POST, "/", None).await, 405, "method_not_allowed");
    let api = app.get("/api/nope").await;
    assert_eq!((api.status, api.body["code"].as_str()), (404, Some("not_found")), "{}", api.body);
}
