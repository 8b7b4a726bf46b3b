//! Issue 16: notification channels (`/api/notification-channels`, admin to change), alert rules
//! (`/api/alert-rules`, admin to change), alerts (`/api/alerts`, `/api/alerts/{id}/ack`, write).
//! A channel's URL and secret are write-only: never answered.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::body::JsonObject;
use super::error::{ErrorBody, parse_choice};
use super::paging;
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::domain::alerts::{Alert, Channel, Hidden, NewChannel, NewRule, Rule, RuleSpec};
use crate::domain::clock::{self, serde_secs};
use crate::domain::status::{AlertEvent, AlertKind, AlertState, ChannelKind};
use crate::domain::tokens::Scope;
use crate::notify::Sender;
use crate::store::{AlertFilter, StoreError};

pub fn routes(routes: &mut Routes) {
    routes
        .add(
            // Listing shows no URL nor secret: a read token may.
            resource("/notification-channels").get(list_channels).post(create_channel).needs(Scope::Admin),
        )
        .add(resource("/notification-channels/{id}").delete(delete_channel).needs(Scope::Admin))
        .add(resource("/notification-channels/{id}/test").post(test_channel).needs(Scope::Admin))
        .add(resource("/alert-rules").get(list_rules).post(create_rule).needs(Scope::Admin))
        .add(resource("/alert-rules/{id}").delete(delete_rule).needs(Scope::Admin))
        .add(resource("/alerts").get(list_alerts))
        .add(resource("/alerts/{id}/ack").post(ack_alert));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_channels,
    create_channel,
    delete_channel,
    test_channel,
    list_rules,
    create_rule,
    delete_rule,
    list_alerts,
    ack_alert
))]
pub(super) struct Api;

/// A channel, without its URL and secret (write-only).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = NotificationChannel)]
struct ChannelView<'a> {
    id: i64,
    name: &'a str,
    kind: ChannelKind,
    /// Whether a URL is set (it is never shown).
    has_url: bool,
    /// Whether a signing secret is set (it is never shown).
    has_secret: bool,
    to: &'a [String],
    #[serde(with = "serde_secs")]
    #[schema(value_type = String)]
    created_at: DateTime<Utc>,
}

impl<'a> From<&'a Channel> for ChannelView<'a> {
    fn from(c: &'a Channel) -> Self {
        ChannelView {
            id: c.id,
            name: &c.name,
            kind: c.kind,
            has_url: c.url.is_some(),
            has_secret: c.secret.is_some(),
            to: &c.to,
            created_at: c.created_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct ChannelList<'a> {
    success: bool,
    channels: Vec<ChannelView<'a>>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ChannelCreated<'a> {
    success: bool,
    channel: ChannelView<'a>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = NotificationChannelCreate)]
#[serde(deny_unknown_fields)]
struct ChannelBody {
    #[schema(example = "ops-slack")]
    name: String,
    /// webhook, slack or email
    #[schema(value_type = ChannelKind)]
    kind: String,
    /// webhook and slack: where to POST (write-only)
    url: Option<String>,
    /// webhook: the HMAC-SHA256 key of X-CCM-Signature-256 (write-only)
    secret: Option<String>,
    /// email: the recipients
    #[serde(default)]
    to: Vec<String>,
}

impl std::fmt::Debug for ChannelBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelBody").field("name", &self.name).field("kind", &self.kind).finish_non_exhaustive()
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct Done {
    success: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
struct TestResult {
    /// Whether the receiver accepted the test notification.
    success: bool,
    /// The receiver's HTTP status (250 for mail accepted), none when it could not be reached.
    status: Option<u16>,
    error: Option<String>,
}

/// Every notification channel (without URLs and secrets).
#[utoipa::path(get, path = "/api/notification-channels", operation_id = "list_notification_channels", tag = "alerts",
    responses((status = 200, description = "The channels, oldest first", body = ChannelList)))]
async fn list_channels(state: web::Data<AppState>, _actor: Actor) -> Result<HttpResponse, ApiError> {
    let channels = state.store.list_channels().await?;
    Ok(HttpResponse::Ok()
        .json(ChannelList { success: true, channels: channels.iter().map(ChannelView::from).collect() }))
}

/// Creates a notification channel. The URL and secret are write-only.
#[utoipa::path(post, path = "/api/notification-channels", operation_id = "create_notification_channel", tag = "alerts",
    request_body = ChannelBody,
    responses(
        (status = 201, description = "The channel", body = ChannelCreated),
        (status = 400, description = "Invalid or unknown fields", body = ErrorBody),
        (status = 409, description = "A channel has this name", body = ErrorBody),
    ))]
async fn create_channel(
    state: web::Data<AppState>,
    _actor: Actor,
    body: JsonObject<ChannelBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let new = NewChannel {
        name: body.name,
        kind: parse_choice(&body.kind, "kind")?,
        url: body.url.map(Hidden),
        secret: body.secret.map(Hidden),
        to: body.to,
    };
    new.check().map_err(ApiError::BadRequest)?;
    let channel = match state.store.create_channel(&new).await {
        Ok(channel) => channel,
        Err(StoreError::Conflict(message)) => return Err(ApiError::Conflict { message, pipeline_id: None }),
        Err(err) => return Err(err.into()),
    };
    Ok(HttpResponse::Created().json(ChannelCreated { success: true, channel: ChannelView::from(&channel) }))
}

fn channel_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound(format!("Channel not found: {id}")))
}

/// Deletes a notification channel (its queued notifications are given up).
#[utoipa::path(delete, path = "/api/notification-channels/{id}", operation_id = "delete_notification_channel", tag = "alerts",
    params(("id" = i64, Path, description = "The channel id")),
    responses(
        (status = 200, description = "Deleted", body = Done),
        (status = 404, description = "No such channel", body = ErrorBody),
    ))]
async fn delete_channel(
    state: web::Data<AppState>,
    _actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !state.store.delete_channel(channel_id(&id)?).await? {
        return Err(ApiError::NotFound(format!("Channel not found: {id}")));
    }
    Ok(HttpResponse::Ok().json(Done { success: true }))
}

/// Sends a test notification on a channel now (not queued) and answers with what the receiver
/// said.
#[utoipa::path(post, path = "/api/notification-channels/{id}/test", operation_id = "test_notification_channel", tag = "alerts",
    params(("id" = i64, Path, description = "The channel id")),
    responses(
        (status = 200, description = "What the receiver answered (success false when it refused or could not be reached)", body = TestResult),
        (status = 404, description = "No such channel", body = ErrorBody),
    ))]
async fn test_channel(
    state: web::Data<AppState>,
    _actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let channel = state
        .store
        .get_channel(channel_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Channel not found: {id}")))?;
    let now = clock::now();
    let alert = Alert {
        id: 0,
        rule_id: 0,
        kind: AlertKind::RunFailed,
        state: AlertState::Firing,
        pipeline_id: None,
        repository: None,
        workflow_file: None,
        summary: format!("Test notification from ccm on channel '{}'", channel.name),
        details: json!({"test": true}),
        run: None,
        started_at: now,
        resolved_at: None,
        acknowledged_at: None,
    };
    let payload = crate::domain::alerts::webhook_body(&alert, AlertEvent::Firing);
    let sender = Sender::new(state.alerts.settings().smtp);
    let outcome = sender.send(&channel, &format!("test-{}", uuid::Uuid::new_v4()), &payload).await;
    Ok(HttpResponse::Ok().json(TestResult { success: outcome.ok(), status: outcome.status, error: outcome.error }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AlertRule)]
struct RuleView<'a> {
    id: i64,
    name: &'a str,
    kind: AlertKind,
    /// None: every active pipeline (or a global kind).
    pipeline_id: Option<&'a str>,
    threshold: Option<f64>,
    for_minutes: Option<i64>,
    channels: &'a [i64],
    #[serde(with = "serde_secs")]
    #[schema(value_type = String)]
    created_at: DateTime<Utc>,
}

impl<'a> From<&'a Rule> for RuleView<'a> {
    fn from(r: &'a Rule) -> Self {
        RuleView {
            id: r.id,
            name: &r.name,
            kind: r.kind,
            pipeline_id: r.pipeline_id.as_deref(),
            threshold: r.spec.threshold,
            for_minutes: r.spec.for_minutes,
            channels: &r.spec.channels,
            created_at: r.created_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct RuleList<'a> {
    success: bool,
    rules: Vec<RuleView<'a>>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct RuleCreated<'a> {
    success: bool,
    rule: RuleView<'a>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = AlertRuleCreate)]
#[serde(deny_unknown_fields)]
struct RuleBody {
    #[schema(example = "deploy failed")]
    name: String,
    #[schema(value_type = AlertKind)]
    kind: String,
    /// A pipeline, or null for every active pipeline (global kinds: null)
    pipeline_id: Option<String>,
    /// health_below (score), success_rate_below (percent)
    threshold: Option<f64>,
    /// run_stuck, hook_silent
    for_minutes: Option<i64>,
    /// Channel ids
    #[serde(default)]
    channels: Vec<i64>,
}

/// Every alert rule.
#[utoipa::path(get, path = "/api/alert-rules", operation_id = "list_alert_rules", tag = "alerts",
    responses((status = 200, description = "The rules, oldest first", body = RuleList)))]
async fn list_rules(state: web::Data<AppState>, _actor: Actor) -> Result<HttpResponse, ApiError> {
    let rules = state.store.list_rules().await?;
    Ok(HttpResponse::Ok().json(RuleList { success: true, rules: rules.iter().map(RuleView::from).collect() }))
}

/// Creates an alert rule.
#[utoipa::path(post, path = "/api/alert-rules", operation_id = "create_alert_rule", tag = "alerts",
    request_body = RuleBody,
    responses(
        (status = 201, description = "The rule", body = RuleCreated),
        (status = 400, description = "Invalid fields, an unknown channel", body = ErrorBody),
        (status = 404, description = "No such pipeline", body = ErrorBody),
    ))]
async fn create_rule(
    state: web::Data<AppState>,
    _actor: Actor,
    body: JsonObject<RuleBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let new = NewRule {
        name: body.name,
        kind: parse_choice(&body.kind, "kind")?,
        pipeline_id: body.pipeline_id,
        spec: RuleSpec { threshold: body.threshold, for_minutes: body.for_minutes, channels: body.channels },
    };
    new.check().map_err(ApiError::BadRequest)?;
    if let Some(id) = &new.pipeline_id
        && state.store.get_pipeline(id).await?.is_none()
    {
        return Err(ApiError::NotFound(format!("Pipeline not found: {id}")));
    }
    for channel in &new.spec.channels {
        if state.store.get_channel(*channel).await?.is_none() {
            return Err(ApiError::BadRequest(format!("no notification channel has id {channel}")));
        }
    }
    let rule = state.store.create_rule(&new).await?;
    state.alerts.evaluate.everything();
    Ok(HttpResponse::Created().json(RuleCreated { success: true, rule: RuleView::from(&rule) }))
}

/// Deletes an alert rule; its open alerts are resolved (without notifications).
#[utoipa::path(delete, path = "/api/alert-rules/{id}", operation_id = "delete_alert_rule", tag = "alerts",
    params(("id" = i64, Path, description = "The rule id")),
    responses(
        (status = 200, description = "Deleted", body = Done),
        (status = 404, description = "No such rule", body = ErrorBody),
    ))]
async fn delete_rule(
    state: web::Data<AppState>,
    _actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = match id.parse::<i64>() {
        Ok(n) => state.store.delete_rule(n).await?,
        Err(_) => false,
    };
    if !found {
        return Err(ApiError::NotFound(format!("Rule not found: {id}")));
    }
    Ok(HttpResponse::Ok().json(Done { success: true }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AlertsQuery {
    /// firing, acknowledged or resolved
    #[param(value_type = Option<AlertState>)]
    state: Option<String>,
    pipeline_id: Option<String>,
    /// 1 to 500 (default 50)
    limit: Option<i64>,
    offset: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct AlertList {
    success: bool,
    /// Newest first.
    alerts: Vec<Alert>,
    total: i64,
    limit: i64,
    offset: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
struct AlertAcked {
    success: bool,
    alert: Alert,
}

/// Alerts, newest first, by state and pipeline.
#[utoipa::path(get, path = "/api/alerts", operation_id = "list_alerts", tag = "alerts",
    params(AlertsQuery),
    responses(
        (status = 200, description = "A page of alerts", body = AlertList),
        (status = 400, description = "An invalid filter or page", body = ErrorBody),
    ))]
async fn list_alerts(
    state: web::Data<AppState>,
    _actor: Actor,
    query: web::Query<AlertsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging::resolve(query.limit, query.offset, 50)?;
    let alert_state = query.state.as_deref().map(|s| parse_choice(s, "state")).transpose()?;
    let filter = AlertFilter { state: alert_state, pipeline_id: query.pipeline_id.clone(), limit, offset };
    let page = state.store.list_alerts(&filter).await?;
    Ok(HttpResponse::Ok().json(AlertList { success: true, alerts: page.items, total: page.total, limit, offset }))
}

/// Acknowledges a firing alert: it stays open until its condition clears, shown as seen.
#[utoipa::path(post, path = "/api/alerts/{id}/ack", operation_id = "ack_alert", tag = "alerts",
    params(("id" = i64, Path, description = "The alert id")),
    responses(
        (status = 200, description = "The alert (acknowledged, or as it was when not firing)", body = AlertAcked),
        (status = 404, description = "No such alert", body = ErrorBody),
    ))]
async fn ack_alert(state: web::Data<AppState>, _actor: Actor, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let alert = match id.parse::<i64>() {
        Ok(n) => state.store.ack_alert(n).await?,
        Err(_) => None,
    };
    let alert = alert.ok_or_else(|| ApiError::NotFound(format!("Alert not found: {id}")))?;
    state.live.publish("alert", alert.pipeline_id.clone(), &json!({"event": "acknowledged", "alert": &alert}));
    Ok(HttpResponse::Ok().json(AlertAcked { success: true, alert }))
}
