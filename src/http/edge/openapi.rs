//! The edge's answers in the OpenAPI document (issue 20): any operation but `/healthz` may be
//! refused by an allow-list (403 `address_refused`), and any that takes a body may time out
//! reading it (408 `request_timeout`).

use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};

use super::HEALTH_PATH;

pub fn document(doc: &mut Document) {
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build())
            .build()
    };
    let refused = error(
        "The client's address is not in the allow-list covering this path (CCM_API_ALLOW, or CCM_WEBHOOK_ALLOW \
         for the webhook path): `address_refused`",
    );
    let timeout = error(
        "The request body did not arrive within CCM_BODY_TIMEOUT, or slower than CCM_BODY_MIN_RATE: \
         `request_timeout`",
    );
    for (path, item) in doc.paths.paths.iter_mut() {
        if path == HEALTH_PATH {
            continue;
        }
        let with_body = [&mut item.put, &mut item.post, &mut item.patch];
        for operation in with_body.into_iter().flatten() {
            if operation.request_body.is_some() {
                operation.responses.responses.entry("408".into()).or_insert_with(|| timeout.clone().into());
            }
        }
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            operation.responses.responses.entry("403".into()).or_insert_with(|| refused.clone().into());
        }
    }
}
