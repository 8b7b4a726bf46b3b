//! The `SignedDelivery` extractor: headers checked, raw body read up to GitHub's 25 MB cap and
//! its signature verified, before anything in it is parsed.
//!
//! Until the signature is checked the sender is anyone (issue 20): the signature header's format
//! is checked before the body is read; the body is read under a process-wide budget of
//! concurrent unverified reads and unverified bytes (`http::edge::limits`; 503 with `Retry-After`
//! when spent), taken as bytes arrive and given back once verified or refused; the buffer grows
//! with what arrives, never sized from the sender's `Content-Length`; and the read has a deadline
//! and a minimum rate (408), set by `http::edge::guard`.

use std::task::Poll;

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, USER_AGENT};
use actix_web::{FromRequest, HttpRequest, web};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::ser::{SerializeMap, Serializer};
use serde_json::value::RawValue;

use crate::http::edge::limits::SLOT_AFTER;
use crate::http::{ApiError, AppState};

/// GitHub caps webhook payloads at 25 MB.
pub const MAX_BODY: usize = 25 * 1024 * 1024;

// Named once: looking a header up by a `&str` that is not a standard name allocates each time.
pub const X_GITHUB_EVENT: HeaderName = HeaderName::from_static("x-github-event");
pub const X_GITHUB_DELIVERY: HeaderName = HeaderName::from_static("x-github-delivery");
const X_GITHUB_HOOK_ID: HeaderName = HeaderName::from_static("x-github-hook-id");
const X_HUB_SIGNATURE_256: HeaderName = HeaderName::from_static("x-hub-signature-256");
/// Bodies larger than this are verified on the blocking pool.
const OFF_THREAD_VERIFY: usize = 256 * 1024;

/// Headers kept with a stored delivery (none of them secret).
const KEPT_HEADERS: [HeaderName; 8] = [
    X_GITHUB_EVENT,
    X_GITHUB_DELIVERY,
    X_GITHUB_HOOK_ID,
    HeaderName::from_static("x-github-hook-installation-target-id"),
    HeaderName::from_static("x-github-hook-installation-target-type"),
    X_HUB_SIGNATURE_256,
    USER_AGENT,
    CONTENT_TYPE,
];

/// A delivery whose signature matched one of the configured secrets.
#[derive(Debug)]
pub struct SignedDelivery {
    pub guid: String,
    pub event: String,
    pub hook_id: Option<i64>,
    /// The kept headers, as a JSON object's text.
    pub headers: Box<RawValue>,
    /// The JSON payload (for form-encoded deliveries, the decoded `payload` field).
    pub payload: Bytes,
}

fn header<'a>(req: &'a HttpRequest, name: &HeaderName) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

impl FromRequest for SignedDelivery {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let state = req.app_data::<web::Data<AppState>>().expect("AppState is registered by build_app");
            if state.secrets.is_empty() {
                return Err(ApiError::Unavailable(
                    "Webhook secret not configured: set GITHUB_WEBHOOK_SECRET (deliveries are refused until then)"
                        .into(),
                ));
            }
            let event = header(&req, &X_GITHUB_EVENT)
                .ok_or_else(|| ApiError::BadRequest("Missing X-GitHub-Event header".into()))?
                .to_string();
            let guid = header(&req, &X_GITHUB_DELIVERY)
                .ok_or_else(|| ApiError::BadRequest("Missing X-GitHub-Delivery header".into()))?
                .to_string();
            if guid.len() > 100 || event.len() > 100 {
                return Err(ApiError::BadRequest("X-GitHub-Event or X-GitHub-Delivery is too long".into()));
            }
            let signature = header(&req, &X_HUB_SIGNATURE_256)
                .ok_or(ApiError::SignatureRejected("Missing X-Hub-Signature-256 header"))?
                .to_string();
            let too_large = || ApiError::PayloadTooLarge(format!("Delivery body larger than {MAX_BODY} bytes"));
            let declared = header(&req, &CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
            if declared.is_some_and(|len| len > MAX_BODY) {
                return Err(too_large());
            }
            if super::signature::parse_header(&signature).is_none() {
                return Err(ApiError::SignatureRejected(
                    "Malformed X-Hub-Signature-256: expected sha256= and 64 hex digits",
                ));
            }
            let busy = || {
                ApiError::Unavailable(
                    "Too many unverified webhook bodies in flight: delivery not read, retry later".into(),
                )
            };
            let client = crate::http::client_addr::client_ip(&req);
            let mut unverified = state.edge.limits.start_unverified(client).ok_or_else(busy)?;
            // Grown as data arrives: a Content-Length is the sender's word, not yet verified.
            // Kept as they arrive (no buffer doubling as it grows), joined once verified.
            let (mut parts, mut received) = (Vec::<Bytes>::new(), 0usize);
            loop {
                // A body arriving promptly is read without a slot; one is needed to wait for more.
                // (Polled once first: data already here needs no timer.)
                let mut next = payload.next();
                let next = match futures_util::poll!(&mut next) {
                    Poll::Ready(next) => next,
                    Poll::Pending => match tokio::time::timeout(SLOT_AFTER, next).await {
                        Ok(next) => next,
                        Err(_) if unverified.wait_slot() => payload.next().await,
                        Err(_) => return Err(busy()),
                    },
                };
                let Some(chunk) = next else { break };
                let chunk = chunk.map_err(|e| match crate::http::edge::limits::timed_out(&e) {
                    Some(message) => ApiError::RequestTimeout(message),
                    None => ApiError::BadRequest(format!("Could not read the body: {e}")),
                })?;
                if received + chunk.len() > MAX_BODY {
                    return Err(too_large());
                }
                if !unverified.reserve(chunk.len()) {
                    return Err(busy());
                }
                received += chunk.len();
                parts.push(chunk);
            }
            // A large body's HMAC (tens of ms for 25 MB) is computed off the worker thread, which
            // keeps answering the deliveries behind it.
            let verified = if received > OFF_THREAD_VERIFY {
                let (secrets, shared, signature) = (state.secrets.clone(), parts.clone(), signature.clone());
                web::block(move || secrets.verify_parts(&shared, &signature))
                    .await
                    .map_err(|e| ApiError::Internal(e.into()))?
            } else {
                state.secrets.verify_parts(&parts, &signature)
            };
            if !verified {
                return Err(ApiError::SignatureRejected("Invalid X-Hub-Signature-256"));
            }
            let body = match parts.len() {
                0 => Bytes::new(),
                1 => parts.pop().expect("one part"),
                _ => {
                    let mut whole = BytesMut::with_capacity(received);
                    for part in parts.drain(..) {
                        whole.extend_from_slice(&part);
                    }
                    whole.freeze()
                }
            };
            drop(unverified);
            let form = header(&req, &CONTENT_TYPE).is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
            let payload = if form { form_payload(&body)? } else { body };
            let headers = kept_headers(&req);
            let hook_id = header(&req, &X_GITHUB_HOOK_ID).and_then(|v| v.parse().ok());
            Ok(SignedDelivery { guid, event, hook_id, headers, payload })
        })
    }
}

/// The kept headers present, written straight into one JSON object's text.
fn kept_headers(req: &HttpRequest) -> Box<RawValue> {
    let mut text = Vec::with_capacity(512);
    let mut serializer = serde_json::Serializer::new(&mut text);
    let written = serializer.serialize_map(None).and_then(|mut map| {
        for name in &KEPT_HEADERS {
            if let Some(value) = header(req, name) {
                map.serialize_entry(name.as_str(), value)?;
            }
        }
        map.end()
    });
    let text = written.ok().and_then(|()| String::from_utf8(text).ok()).unwrap_or_else(|| "{}".into());
    RawValue::from_string(text).expect("serde_json wrote a JSON object")
}

/// GitHub's form content type sends the JSON in a `payload` field.
fn form_payload(body: &[u8]) -> Result<Bytes, ApiError> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiError::BadRequest(format!("Form-encoded delivery not understood: {e}")))?;
    fields
        .into_iter()
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| Bytes::from(v))
        .ok_or_else(|| ApiError::BadRequest("Form-encoded delivery without a payload field".into()))
}
