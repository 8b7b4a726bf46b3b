//! `GET /api/openapi.json`: the OpenAPI 3 document, generated from the handlers' `utoipa::path`
//! annotations (each route file gathers its own in an `Api` struct) and the schema types. Public,
//! like `/healthz`: it describes the API and holds no data.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, ContentBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder};

use super::routes::{Routes, resource};

/// The security scheme every `/api/*` operation names.
pub const TOKEN_SCHEME: &str = "ccm_token";

pub fn routes(routes: &mut Routes) {
    routes.add(resource("/api/openapi.json").get(document));
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ccm",
        description = "Webhook-driven CI/CD manager: the CCM pipeline API, GitHub webhooks, research tasks \
                       synced with GitHub issues. Every error has the `Error` shape. Every `/api/*` operation \
                       except this document needs the `CCM-Token` header.",
        license(name = "MIT")
    ),
    paths(document),
    tags(
        (name = "pipelines", description = "The CCM pipeline API"),
        (name = "runs", description = "Live updates and GitHub actions on a pipeline's workflow"),
        (name = "webhooks", description = "GitHub's deliveries and what became of them"),
        (name = "github", description = "The GitHub App's outbound calls"),
        (name = "tasks", description = "Research tasks and their sync with GitHub issues"),
        (name = "audit", description = "Who did what"),
        (name = "alerts", description = "Alert rules, their alerts, and where notifications go"),
        (name = "tokens", description = "Named API tokens and their scopes (admin only)"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
struct ApiDoc;

/// The whole document: this module's paths and every route file's.
pub fn openapi() -> Document {
    let mut doc = ApiDoc::openapi();
    for part in [
        super::health::Api::openapi(),
        super::webhooks::Api::openapi(),
        super::prometheus::Api::openapi(),
        super::pipelines::Api::openapi(),
        super::import::Api::openapi(),
        super::jobs::Api::openapi(),
        super::deployments::Api::openapi(),
        super::reports::Api::openapi(),
        super::job_logs::Api::openapi(),
        super::events::Api::openapi(),
        super::actions::Api::openapi(),
        super::run_actions::Api::openapi(),
        super::deliveries::Api::openapi(),
        super::integrations::Api::openapi(),
        super::tasks::Api::openapi(),
        super::sync::Api::openapi(),
        super::audit::Api::openapi(),
        super::tokens::Api::openapi(),
        super::alerts::Api::openapi(),
        super::backups::Api::openapi(),
    ] {
        doc.merge(part);
    }
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    super::aliases::document(&mut doc);
    secure_api(&mut doc);
    super::access::document(&mut doc);
    json_bodies(&mut doc);
    // Issue 20: allow-lists (403) and body deadlines (408).
    super::edge::openapi::document(&mut doc);
    doc
}

/// Every `/api` operation that takes a JSON body answers 400 (malformed or invalid), 413 (past
/// the API's 1 MiB) and 415 (not sent as `application/json`): documented on each, whatever its
/// own annotation lists.
fn json_bodies(doc: &mut Document) {
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build())
            .build()
    };
    let answers = [
        ("400", error("Malformed JSON, or invalid or unknown fields")),
        ("413", error("Body larger than 1 MiB")),
        ("415", error("A body not sent as application/json")),
    ];
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with("/api/") {
            continue;
        }
        let operations = [&mut item.put, &mut item.post, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            let takes_json = matches!(&operation.request_body,
                Some(RefOr::T(body)) if body.content.contains_key("application/json"));
            if takes_json {
                for (status, response) in &answers {
                    operation.responses.responses.entry((*status).into()).or_insert_with(|| response.clone().into());
                }
            }
        }
    }
}

/// The `/api` scope asks every request for a token (this document excepted, being registered
/// outside it): its operations name the scheme and document the 401, and the 503 any of them
/// answers when the database is busy or unreachable (with `Retry-After`).
fn secure_api(doc: &mut Document) {
    let scheme = SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
        super::auth::TOKEN_HEADER,
        "One of the tokens configured in CCM_API_TOKEN (or the generated one in CCM_DATA_DIR/api-token), admin; \
         or a named token (`ccm tokens create`), of scope read, write or admin",
    )));
    doc.components.get_or_insert_with(|| ComponentsBuilder::new().build()).add_security_scheme(TOKEN_SCHEME, scheme);
    let unauthorized = ResponseBuilder::new()
        .description("Missing or unknown CCM-Token")
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build())
        .build();
    let busy = ResponseBuilder::new()
        .description(
            "The database is busy (`database_busy`) or unreachable (`unavailable`): retry after the seconds \
             `Retry-After` says",
        )
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build())
        .build();
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with("/api/") || super::aliases::PUBLIC_API_PATHS.contains(&path.as_str()) {
            continue;
        }
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            operation.security = Some(vec![SecurityRequirement::new(TOKEN_SCHEME, Vec::<String>::new())]);
            operation.responses.responses.entry("401".into()).or_insert_with(|| unauthorized.clone().into());
            operation.responses.responses.entry("503".into()).or_insert_with(|| busy.clone().into());
        }
    }
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json", operation_id = "openapi_document",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document of this API", body = Object)),
)]
async fn document() -> HttpResponse {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let json = DOCUMENT.get_or_init(|| serde_json::to_string(&openapi()).expect("the document serializes"));
    HttpResponse::Ok().content_type("application/json").body(json.as_str())
}
