//! Route registration. Every route goes through `Routes::add`, which also records its method and
//! full path, so the list of what the app serves comes from the registration itself
//! (`super::endpoints()`; the OpenAPI test checks each one is documented).

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, web};

/// One method on one path, as served (`{name}` for path parameters).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    pub method: String,
    pub path: String,
}

/// A path and its handlers; methods without one answer 405 in the JSON error shape.
pub struct Resource {
    path: &'static str,
    methods: Vec<Method>,
    inner: actix_web::Resource,
}

pub fn resource(path: &'static str) -> Resource {
    Resource { path, methods: Vec::new(), inner: web::resource(path) }
}

macro_rules! method {
    ($name:ident, $method:expr) => {
        pub fn $name<F, Args>(self, handler: F) -> Self
        where
            F: Handler<Args>,
            Args: FromRequest + 'static,
            F::Output: Responder + 'static,
        {
            self.on($method, handler)
        }
    };
}

impl Resource {
    method!(get, Method::GET);
    method!(post, Method::POST);
    method!(put, Method::PUT);
    method!(patch, Method::PATCH);
    method!(delete, Method::DELETE);
    method!(head, Method::HEAD);

    fn on<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.inner = self.inner.route(web::method(method.clone()).to(handler));
        self.methods.push(method);
        self
    }
}

/// Registers resources under a scope's prefix and remembers them.
pub struct Routes<'a> {
    cfg: &'a mut web::ServiceConfig,
    prefix: &'static str,
    seen: &'a mut Vec<Endpoint>,
}

impl<'a> Routes<'a> {
    pub fn new(cfg: &'a mut web::ServiceConfig, prefix: &'static str, seen: &'a mut Vec<Endpoint>) -> Self {
        Routes { cfg, prefix, seen }
    }

    pub fn add(&mut self, resource: Resource) -> &mut Self {
        for method in &resource.methods {
            self.seen.push(Endpoint { method: method.to_string(), path: format!("{}{}", self.prefix, resource.path) });
        }
        self.cfg.service(resource.inner.default_service(web::to(super::method_not_allowed)));
        self
    }
}
