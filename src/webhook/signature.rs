//! `X-Hub-Signature-256`: HMAC-SHA256 of the exact body bytes, tried against every configured
//! secret so a secret can be rotated without refusing deliveries.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The configured webhook secrets, each kept as its HMAC state with the key already absorbed.
/// Debug output never shows them.
#[derive(Clone, Default)]
pub struct WebhookSecrets(Vec<HmacSha256>);

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecrets({} configured)", self.0.len())
    }
}

impl WebhookSecrets {
    pub fn new<S: AsRef<str>>(secrets: &[S]) -> Self {
        Self(
            secrets
                .iter()
                .map(|s| s.as_ref().as_bytes())
                .filter(|s| !s.is_empty())
                .map(|secret| HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length"))
                .collect(),
        )
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
        let Some(expected) = parse_header(header) else {
            return false;
        };
        let mut valid = false;
        for keyed in &self.0 {
            let mut mac = keyed.clone();
            for part in parts {
                mac.update(part.as_ref());
            }
            valid |= mac.verify_slice(&expected).is_ok();
        }
        valid
    }

    /// The header GitHub would send for `body` under the first secret.
    pub fn sign(&self, body: &[u8]) -> Option<String> {
        self.0.first().map(|keyed| {
            let mut mac = keyed.clone();
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        })
    }
}

/// The digest an `X-Hub-Signature-256` header carries (`sha256=` and 64 hex digits), or None
/// when the header is not of that form.
pub fn parse_header(header: &str) -> Option<[u8; 32]> {
    let mut digest = [0u8; 32];
    let hex = header.trim().strip_prefix("sha256=")?;
    hex::decode_to_slice(hex, &mut digest).ok()?;
    Some(digest)
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
        assert_eq!(secrets.sign(b"Hello, World!").as_deref(), Some(VECTOR));
    }

    #[test]
    fn the_header_carries_exactly_32_bytes_in_hex() {
        assert_eq!(parse_header(VECTOR).map(hex::encode).as_deref(), Some(&VECTOR[7..]));
        assert_eq!(parse_header(&format!("  {VECTOR} ")), parse_header(VECTOR));
        assert_eq!(parse_header(&VECTOR[..VECTOR.len() - 2]), None, "31 bytes");
        assert_eq!(parse_header(&format!("{VECTOR}00")), None, "33 bytes");
        assert_eq!(parse_header(&VECTOR.replace("sha256=", "sha1=")), None);
        assert_eq!(parse_header(&VECTOR.replace('7', "g")), None, "not hex");
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
