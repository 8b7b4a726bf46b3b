//! Route registration. Every route goes through `Routes::add`, which also records its method and
//! full path, so the list of what the app serves comes from the registration itself
//! (`super::endpoints()`; the OpenAPI test checks each one is documented).
//!
//! So does the scope a token needs for each (`/api` only): `read` for GET and HEAD, `write` for
//! the other methods, unless the registration says more with `needs` (admin routes).

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, web};

use crate::domain::tokens::Scope;

/// One method on one path, as served (`{name}` for path parameters), and the scope a token needs
/// for it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    pub method: String,
    pub path: String,
    pub scope: Scope,
}

/// A path and its handlers; methods without one answer 405 in the JSON error shape.
pub struct Resource {
    path: &'static str,
    methods: Vec<(Method, Scope)>,
    inner: actix_web::Resource,
}

pub fn resource(path: &'static str) -> Resource {
    Resource { path, methods: Vec::new(), inner: web::resource(path) }
}

/// The scope of a method unless its registration says more: reading needs `read`, anything
/// else `write`.
fn default_scope(method: &Method) -> Scope {
    if method == Method::GET || method == Method::HEAD { Scope::Read } else { Scope::Write }
}

/// The scope a token needs for `method` on the route `pattern` (as registered, `{name}` for
/// parameters); the default rule for a route not registered.
pub fn required_scope(method: &Method, pattern: Option<&str>) -> Scope {
    static SCOPES: LazyLock<HashMap<(String, String), Scope>> =
        LazyLock::new(|| super::endpoints().into_iter().map(|e| ((e.method, e.path), e.scope)).collect());
    pattern
        .and_then(|pattern| SCOPES.get(&(method.to_string(), pattern.to_string())))
        .copied()
        .unwrap_or_else(|| default_scope(method))
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

    /// The method registered last needs `scope` (more than its default).
    pub fn needs(mut self, scope: Scope) -> Self {
        if let Some((_, needed)) = self.methods.last_mut() {
            *needed = scope;
        }
        self
    }

    fn on<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.inner = self.inner.route(web::method(method.clone()).to(handler));
        let scope = default_scope(&method);
        self.methods.push((method, scope));
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
        for (method, scope) in &resource.methods {
            let path = format!("{}{}", self.prefix, resource.path);
            self.seen.push(Endpoint { method: method.to_string(), path, scope: *scope });
        }
        self.cfg.service(resource.inner.default_service(web::to(super::method_not_allowed)));
        self
    }
}
