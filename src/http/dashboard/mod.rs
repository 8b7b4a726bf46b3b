//! The web dashboard: one page and its scripts and styles, embedded in the binary. The page holds
//! no data and needs no token; its scripts call `/api` with the token the operator enters.
//!
//! Files are served under `/assets/<version>/`, where the version is a digest of all of them: a
//! new build changes every URL, so browsers may keep them for a year. The page itself is always
//! revalidated (ETag), so it names the current version.

use std::sync::LazyLock;

use actix_web::http::header::{self, EntityTag, IfNoneMatch};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, HttpResponseBuilder, web};
use sha2::{Digest, Sha256};

use super::ApiError;
use super::routes::{Routes, resource};

/// Nothing from another origin, no inline script or style, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset { name: $name, content_type: $content_type, body: include_bytes!(concat!("assets/", $name)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("stream.js", JS),
    asset!("dom.js", JS),
    asset!("pipelines.js", JS),
    asset!("pipeline.js", JS),
    asset!("tasks.js", JS),
    asset!("deliveries.js", JS),
    asset!("actions.js", JS),
    asset!("logs.js", JS),
    asset!("charts.js", JS),
];

const PAGE_TEMPLATE: &str = include_str!("assets/index.html");

struct Built {
    /// A digest of every asset: the folder they are served under.
    version: String,
    page: String,
    page_etag: EntityTag,
    etags: Vec<EntityTag>,
}

static BUILT: LazyLock<Built> = LazyLock::new(|| {
    let mut all = Sha256::new();
    for asset in ASSETS {
        all.update(asset.name.as_bytes());
        all.update([0]);
        all.update(asset.body);
    }
    let version = hex::encode(all.finalize())[..16].to_string();
    let page = PAGE_TEMPLATE.replace("{{assets}}", &format!("/assets/{version}"));
    let page_etag = etag(page.as_bytes());
    let etags = ASSETS.iter().map(|a| etag(a.body)).collect();
    Built { version, page, page_etag, etags }
});

fn etag(body: &[u8]) -> EntityTag {
    EntityTag::new_strong(hex::encode(Sha256::digest(body))[..32].to_string())
}

pub fn routes(routes: &mut Routes) {
    routes.add(resource("/").get(page).head(page)).add(resource("/assets/{version}/{name}").get(file).head(file));
}

async fn page(req: HttpRequest) -> HttpResponse {
    let built = &*BUILT;
    respond(&req, "text/html; charset=utf-8", REVALIDATE, &built.page_etag, built.page.clone().into_bytes())
}

async fn file(req: HttpRequest, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (version, name) = path.into_inner();
    let built = &*BUILT;
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return Err(ApiError::NotFound(format!("No such file: {}", req.path())));
    };
    let asset = &ASSETS[index];
    // An older page asking for an older version gets today's file, to be revalidated next time.
    let cache = if version == built.version { IMMUTABLE } else { REVALIDATE };
    Ok(respond(&req, asset.content_type, cache, &built.etags[index], asset.body.to_vec()))
}

fn respond(req: &HttpRequest, content_type: &str, cache: &str, tag: &EntityTag, body: Vec<u8>) -> HttpResponse {
    let fresh = match req.get_header::<IfNoneMatch>() {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(tag)),
        None => false,
    };
    let mut res = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    secure(&mut res).insert_header(header::ETag(tag.clone())).insert_header((header::CACHE_CONTROL, cache));
    if fresh {
        return res.finish();
    }
    res.content_type(content_type).body(body)
}

fn secure(res: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    res.insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_the_current_version_of_every_file_it_loads() {
        let built = &*BUILT;
        assert!(!built.page.contains("{{"), "a placeholder is left in the page");
        for name in ["style.css", "app.js", "icon.svg"] {
            let url = format!("/assets/{}/{name}", built.version);
            assert!(built.page.contains(&url), "the page does not load {url}");
        }
        for asset in ASSETS {
            assert!(!asset.body.is_empty(), "{} is empty", asset.name);
        }
    }
}
