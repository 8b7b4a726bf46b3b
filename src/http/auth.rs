//! `CCM-Token`: the configured tokens (CCM_API_TOKEN) and the `Actor` of a request. The checks of
//! each `/api` request are `access`'s.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ApiError;

pub const TOKEN_HEADER: &str = "CCM-Token";

/// The configured API tokens, kept only as SHA-256 digests.
#[derive(Clone)]
pub struct ApiTokens {
    digests: Vec<[u8; 32]>,
}

impl ApiTokens {
    pub fn new<S: AsRef<str>>(tokens: &[S]) -> Self {
        Self { digests: tokens.iter().map(|t| digest(t.as_ref())).collect() }
    }

    /// The caller's identity for the audit log when `presented` matches a configured token.
    /// Every configured token is compared, in constant time, whatever matches.
    pub fn verify(&self, presented: &str) -> Option<Actor> {
        let presented = digest(presented);
        let mut found = None;
        for known in &self.digests {
            if bool::from(known.ct_eq(&presented)) {
                found = Some(Actor::from_digest(known));
            }
        }
        found
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Who made a request: `token:` and the first 8 hex characters of the token's SHA-256 (never the
/// token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    fn from_digest(digest: &[u8; 32]) -> Self {
        Actor(format!("token:{}", &hex::encode(digest)[..8]))
    }

    pub fn fingerprint(token: &str) -> String {
        Self::from_digest(&digest(token)).0
    }
}

impl FromRequest for Actor {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Actor>().cloned().ok_or(ApiError::Unauthorized))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_any_configured_token() {
        let tokens = ApiTokens::new(&["old-token", "new-token"]);
        assert_eq!(tokens.verify("new-token"), Some(Actor(Actor::fingerprint("new-token"))));
        assert!(tokens.verify("old-token").is_some());
        assert_eq!(tokens.verify("new-tokeN"), None);
        assert_eq!(tokens.verify(""), None);
        let fp = Actor::fingerprint("new-token");
        assert!(fp.starts_with("token:") && fp.len() == 14 && !fp.contains("new-token"));
    }
}
