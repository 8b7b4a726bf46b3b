//! `X-Hub-Signature-256`: HMAC-SHA256 of the exact body bytes, tried against every configured
//! secret so a secret can be rotated without refusing deliveries.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The configured webhook secrets. Debug output never shows them.
#[derive(Clone, Default)]
pub struct WebhookSecrets(Vec<Vec<u8>>);

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecrets({} configured)", self.0.len())
    }
}

impl WebhookSecrets {
    pub fn new<S: AsRef<str>>(secrets: &[S]) -> Self {
        Self(secrets.iter().map(|s| s.as_ref().as_bytes().to_vec()).filter(|s| !s.is_empty()).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `header` (`sha256=<64 hex>`) is the HMAC of `body` under one of the secrets.
    /// Each comparison is constant-time (`Mac::verify_slice`).
    pub fn verify(&self, body: &[u8], header: &str) -> bool {
        self.verify_parts(&[body], header)
    }

    /// `verify` of the body made of `parts`, in order (as it arrived: never copied whole before
    /// it is known to be signed).
    pub fn verify_parts<P: AsRef<[u8]>>(&self, parts: &[P], header: &str) -> bool {
        let Some(expected) = header.trim().strip_prefix("sha256=").and_then(|hex| hex::decode(hex).ok()) else {
            return false;
        };
        if expected.len() != 32 {
            return false;
        }
        let mut valid = false;
        for secret in &self.0 {
            let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
            for part in parts {
                mac.update(part.as_ref());
            }
            valid |= mac.verify_slice(&expected).is_ok();
        }
        valid
    }

    /// The header GitHub would send for `body` under the first secret.
    pub fn sign(&self, body: &[u8]) -> Option<String> {
        self.0.first().map(|secret| sign(secret, body))
    }
}

/// `sha256=<hex>` for `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn githubs_test_vector() {
        let secrets = WebhookSecrets::new(&["It's a Secret to Everybody"]);
        assert_eq!(sign(b"It's a Secret to Everybody", b"Hello, World!"), VECTOR);
        assert!(secrets.verify(b"Hello, World!", VECTOR));
        assert!(!secrets.verify(b"Hello, World?", VECTOR));
        let mut flipped = VECTOR.to_string();
        flipped.replace_range(VECTOR.len() - 1.., "6");
        assert!(!secrets.verify(b"Hello, World!", &flipped));
        assert!(!secrets.verify(b"Hello, World!", "sha1=757107ea"));
        assert!(!secrets.verify(b"Hello, World!", "sha256=zz"));
        assert!(!secrets.verify(b"Hello, World!", ""));
    }

    #[test]
    fn any_configured_secret_verifies() {
        let rotated = WebhookSecrets::new(&["new-secret", "It's a Secret to Everybody"]);
        assert!(rotated.verify(b"Hello, World!", VECTOR));
        assert!(!WebhookSecrets::new(&["other"]).verify(b"Hello, World!", VECTOR));
        assert!(!WebhookSecrets::default().verify(b"Hello, World!", VECTOR));
        assert_eq!(format!("{rotated:?}"), "WebhookSecrets(2 configured)");
    }
}
