//! The `SignedDelivery` extractor: headers checked, raw body read up to GitHub's 25 MB cap and
//! its signature verified, before anything in it is parsed.

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, USER_AGENT};
use actix_web::{FromRequest, HttpRequest, web};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::ser::{SerializeMap, Serializer};
use serde_json::value::RawValue;

use crate::http::{ApiError, AppState};

/// GitHub caps webhook payloads at 25 MB.
pub const MAX_BODY: usize = 25 * 1024 * 1024;

// Named once: looking a header up by a `&str` that is not a standard name allocates each time.
pub const X_GITHUB_EVENT: HeaderName = HeaderName::from_static("x-github-event");
pub const X_GITHUB_DELIVERY: HeaderName = HeaderName::from_static("x-github-delivery");
const X_GITHUB_HOOK_ID: HeaderName = HeaderName::from_static("x-github-hook-id");
const X_HUB_SIGNATURE_256: HeaderName = HeaderName::from_static("x-hub-signature-256");

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
            let mut body = BytesMut::with_capacity(declared.unwrap_or(16 * 1024));
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("Could not read the body: {e}")))?;
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            let body = body.freeze();
            if !state.secrets.verify(&body, &signature) {
                return Err(ApiError::SignatureRejected("Invalid X-Hub-Signature-256"));
            }
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
