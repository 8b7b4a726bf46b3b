//! Server-sent events: `GET /api/events` (everything) and `GET /api/pipelines/{id}/events`
//! (one pipeline), with keep-alives and `Last-Event-ID` resume.

use std::time::Duration;

use actix_web::{HttpRequest, Responder, web};
use actix_web_lab::sse;
use tokio::sync::{broadcast, mpsc};

use super::error::ErrorBody;
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::live::LiveEvent;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn routes(routes: &mut Routes) {
    routes.add(resource("/events").get(all_events)).add(resource("/pipelines/{id}/events").get(pipeline_events));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(all_events, pipeline_events))]
pub(super) struct Api;

#[utoipa::path(get, path = "/api/events", operation_id = "stream_events", tag = "runs",
    description = "Server-sent events: `execution`, `job`, `stats` and `delivery`, each with an id (send \
        `Last-Event-ID` to resume) and JSON data; `resync` when the reader fell behind; keep-alive comments \
        every 15 s.",
    params(("Last-Event-ID" = Option<u64>, Header, description = "Resume after this event")),
    responses(
        (status = 200, description = "The event stream", body = String, content_type = "text/event-stream"),
        (status = 503, description = "As many event streams are open as CCM_MAX_EVENT_STREAMS allows", body = ErrorBody),
    ))]
async fn all_events(state: web::Data<AppState>, _actor: Actor, req: HttpRequest) -> Result<impl Responder, ApiError> {
    stream(&state, &req, None)
}

#[utoipa::path(get, path = "/api/pipelines/{id}/events", operation_id = "stream_pipeline_events", tag = "runs",
    description = "The events of one pipeline (see `/api/events`).",
    params(("id" = String, Path, description = "The pipeline id (pipe_ and 12 hex digits)", pattern = "^pipe_[0-9a-f]{12}$"),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this event")),
    responses(
        (status = 200, description = "The event stream", body = String, content_type = "text/event-stream"),
        (status = 404, description = "No such pipeline", body = ErrorBody),
        (status = 503, description = "As many event streams are open as CCM_MAX_EVENT_STREAMS allows", body = ErrorBody),
    ))]
async fn pipeline_events(
    state: web::Data<AppState>,
    _actor: Actor,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<impl Responder, ApiError> {
    if state.store.get_pipeline(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("Pipeline not found: {id}")));
    }
    stream(&state, &req, Some(id.into_inner()))
}

fn stream(
    state: &AppState,
    req: &HttpRequest,
    pipeline_id: Option<String>,
) -> Result<impl Responder + use<>, ApiError> {
    // Held by the task that feeds the stream: the slot is free again once the client is gone.
    let slot = state.live.open_stream().ok_or_else(|| {
        ApiError::Unavailable(format!(
            "Too many event streams open (at most {}, CCM_MAX_EVENT_STREAMS): retry later",
            state.live.max_streams()
        ))
    })?;
    let last_id = req.headers().get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let (backlog, mut receiver) = state.live.subscribe(last_id);
    let (sender, events) = mpsc::channel(64);
    let wanted = move |e: &LiveEvent| pipeline_id.is_none() || e.pipeline_id == pipeline_id;
    let closed = state.live.closed();
    tokio::spawn(async move {
        let _slot = slot;
        tokio::pin!(closed);
        for event in backlog.iter().filter(|e| wanted(e)) {
            if sender.send(to_sse(event)).await.is_err() {
                return;
            }
        }
        loop {
            let received = tokio::select! {
                _ = sender.closed() => return,
                _ = &mut closed => return,
                received = receiver.recv() => received,
            };
            let event = match received {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // Too slow a reader: tell it to re-read the state it shows.
                    let data = sse::Data::new(format!("{{\"missed\":{missed}}}")).event("resync");
                    if sender.send(data.into()).await.is_err() {
                        return;
                    }
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if wanted(&event) && sender.send(to_sse(&event)).await.is_err() {
                return;
            }
        }
    });
    Ok(sse::Sse::from_infallible_receiver(events)
        .with_keep_alive(KEEP_ALIVE)
        .with_retry_duration(Duration::from_secs(3)))
}

fn to_sse(event: &LiveEvent) -> sse::Event {
    sse::Data::new(event.data.clone()).event(event.kind).id(event.id.to_string()).into()
}
