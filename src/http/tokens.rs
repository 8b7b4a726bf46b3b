//! Named API tokens: `GET/POST /api/tokens`, `DELETE /api/tokens/{id}` (admin only). A token is
//! shown once, in the answer that creates it; only its SHA-256 is stored.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::body::JsonObject;
use super::error::{ErrorBody, parse_choice};
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::domain::clock::{self, serde_secs};
use crate::domain::tokens::{self, ApiToken, Scope};
use crate::store::{NewAudit, StoreError};

pub fn routes(routes: &mut Routes) {
    routes
        .add(resource("/tokens").get(list).needs(Scope::Admin).post(create).needs(Scope::Admin))
        // Before `/tokens/{id}`, which would take it otherwise.
        .add(resource("/tokens/current").get(current))
        .add(resource("/tokens/{id}").delete(revoke).needs(Scope::Admin));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, create, revoke, current))]
pub(super) struct Api;

/// A named token, without the token.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ApiToken)]
struct TokenView<'a> {
    id: i64,
    #[schema(example = "deploy-bot")]
    name: &'a str,
    scope: Scope,
    #[serde(with = "serde_secs")]
    #[schema(value_type = String)]
    created_at: DateTime<Utc>,
    #[serde(with = "serde_secs::option")]
    #[schema(value_type = Option<String>)]
    expires_at: Option<DateTime<Utc>>,
    #[serde(with = "serde_secs::option")]
    #[schema(value_type = Option<String>)]
    revoked_at: Option<DateTime<Utc>>,
    /// Noted at most once a minute.
    #[serde(with = "serde_secs::option")]
    #[schema(value_type = Option<String>)]
    last_used_at: Option<DateTime<Utc>>,
    /// Neither revoked nor expired.
    active: bool,
}

impl<'a> From<&'a ApiToken> for TokenView<'a> {
    fn from(t: &'a ApiToken) -> Self {
        TokenView {
            id: t.id,
            name: &t.name,
            scope: t.scope,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            last_used_at: t.last_used_at,
            active: t.usable(clock::now()),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct TokenList<'a> {
    success: bool,
    /// Oldest first, revoked and expired ones included.
    tokens: Vec<TokenView<'a>>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct TokenCreated<'a> {
    success: bool,
    /// The token: shown this once, never again.
    #[schema(example = "ccm_3f9a0c1b2d4e...")]
    token: &'a str,
    api_token: TokenView<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct TokenRevoked<'a> {
    success: bool,
    api_token: TokenView<'a>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = TokenCreate)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// 1 to 64 letters, digits, `.`, `_` or `-` (not 8 hex characters); unique among the tokens not
    /// revoked
    #[schema(example = "deploy-bot", min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    name: String,
    /// read, write or admin
    #[schema(value_type = Scope)]
    scope: String,
    /// When the token stops working (RFC 3339, in the future); none: never
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<String>,
}

/// Every named token (not the tokens themselves).
#[utoipa::path(get, path = "/api/tokens", operation_id = "list_tokens", tag = "tokens",
    responses((status = 200, description = "The named tokens, oldest first", body = TokenList)))]
async fn list(state: web::Data<AppState>, _actor: Actor) -> Result<HttpResponse, ApiError> {
    let stored = state.store.list_tokens().await?;
    Ok(HttpResponse::Ok().json(TokenList { success: true, tokens: stored.iter().map(TokenView::from).collect() }))
}

/// Creates a named token with a scope; the answer holds the token, shown this once.
#[utoipa::path(post, path = "/api/tokens", operation_id = "create_token", tag = "tokens",
    request_body = CreateBody,
    responses(
        (status = 201, description = "The new token (shown this once) and what is stored", body = TokenCreated),
        (status = 400, description = "Invalid or unknown fields", body = ErrorBody),
        (status = 409, description = "A token not revoked has this name", body = ErrorBody),
    ))]
async fn create(
    state: web::Data<AppState>,
    actor: Actor,
    body: JsonObject<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    tokens::check_name(&body.name).map_err(ApiError::BadRequest)?;
    let scope: Scope = parse_choice(&body.scope, "scope")?;
    let expires_at = match body.expires_at.as_deref() {
        None => None,
        Some(text) => {
            let at = DateTime::parse_from_rfc3339(text)
                .map_err(|_| ApiError::BadRequest(format!("expires_at must be an RFC 3339 time, got '{text}'")))?
                .with_timezone(&Utc);
            if at <= clock::now() {
                return Err(ApiError::BadRequest(format!("expires_at must be in the future, got '{text}'")));
            }
            Some(at)
        }
    };
    let audit = NewAudit {
        actor: actor.0,
        action: "token.created".into(),
        pipeline_id: None,
        details: json!({"name": body.name, "scope": scope}),
    };
    let created = match state.access.tokens.create(state.store.as_ref(), &body.name, scope, expires_at, &audit).await {
        Ok(created) => created,
        Err(StoreError::Conflict(message)) => return Err(ApiError::Conflict { message, pipeline_id: None }),
        Err(err) => return Err(err.into()),
    };
    Ok(HttpResponse::Created().json(TokenCreated {
        success: true,
        token: created.token.expose(),
        api_token: TokenView::from(&created.stored),
    }))
}

/// Revokes a named token: refused from then on (by other replicas within CCM_TOKEN_CACHE_SECONDS).
/// Revoking it again changes nothing.
#[utoipa::path(delete, path = "/api/tokens/{id}", operation_id = "revoke_token", tag = "tokens",
    params(("id" = i64, Path, description = "The token's id", minimum = 1)),
    responses(
        (status = 200, description = "The token, revoked", body = TokenRevoked),
        (status = 404, description = "No such token", body = ErrorBody),
    ))]
async fn revoke(state: web::Data<AppState>, actor: Actor, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::NotFound(format!("Token not found: {id}"));
    let token_id: i64 = id.parse().map_err(|_| not_found())?;
    let audit = NewAudit { actor: actor.0, action: "token.revoked".into(), pipeline_id: None, details: json!({}) };
    let revoked = state.access.tokens.revoke(state.store.as_ref(), token_id, &audit).await?.ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(TokenRevoked { success: true, api_token: TokenView::from(&revoked) }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct CurrentToken {
    success: bool,
    /// Who the token is, as the audit log names it.
    actor: String,
    /// What it may do (the dashboard shows the controls it allows).
    scope: Scope,
}

/// The token the request presents: its name and scope (any token may ask).
#[utoipa::path(get, path = "/api/tokens/current", operation_id = "current_token", tag = "tokens",
    responses((status = 200, description = "The caller's token", body = CurrentToken)))]
async fn current(actor: Actor, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let scope = req.extensions().get::<Scope>().copied().ok_or(ApiError::Unauthorized)?;
    Ok(HttpResponse::Ok().json(CurrentToken { success: true, actor: actor.0, scope }))
}
