//! `JsonObject<T>`: a JSON request body that must be an object, read into `T`. Serde would read a
//! struct from a JSON array too (`[null, null]` by position), which the API never means: a body
//! that is not an object is a 400, as are unknown fields where `T` refuses them. The body limit,
//! the content type (415) and malformed JSON are `web::Json`'s, configured in `build_app`.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ApiError;

pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonObject<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let value = json.await?.into_inner();
            if !value.is_object() {
                return Err(ApiError::BadRequest("Request body must be a JSON object".into()).into());
            }
            serde_json::from_value(value)
                .map(JsonObject)
                .map_err(|e| ApiError::BadRequest(format!("Invalid request body: {e}")).into())
        })
    }
}
