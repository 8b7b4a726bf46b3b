//! Named API tokens: their format, the digest that is stored in their place, names and expiry
//! texts (`90d`).

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

pub use super::status::Scope;

/// What every named token starts with, so that one found in a log or a repository is recognised.
pub const TOKEN_PREFIX: &str = "ccm_";

/// Random bytes in a token (shown as hex after the prefix).
const TOKEN_BYTES: usize = 32;

/// The longest token name.
pub const MAX_NAME_LEN: usize = 64;

/// A named token as stored: never the token, only its digest.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub scope: Scope,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    /// Neither revoked nor expired at `now`.
    pub fn usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }

    /// The caller's name in the audit log and the request log.
    pub fn actor(&self) -> String {
        format!("token:{}", self.name)
    }
}

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub scope: Scope,
    pub token_hash: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new random token: the prefix and 64 hex characters.
pub fn generate() -> String {
    let bytes: [u8; TOKEN_BYTES] = rand::random();
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// The hex SHA-256 a token is stored and looked up by.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A name is 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit, and not 8
/// hex characters (which would read like a configured token's fingerprint in the logs).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.len() == 8 && name.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("name must not be 8 hex characters (a token fingerprint's form), got '{name}'"));
    }
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "name must be 1 to {MAX_NAME_LEN} letters, digits, '.', '_' or '-', starting with a letter or digit, \
             got '{name}'"
        ))
    }
}

/// A lifetime such as `90d`, `12h`, `30m` or `2w` (a number and one unit: m, h, d or w).
pub fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let err = || format!("'{text}' is not a lifetime: a number and a unit, m, h, d or w (e.g. 90d)");
    let unit = text.chars().last().ok_or_else(err)?;
    let number: i64 = text[..text.len() - unit.len_utf8()].parse().map_err(|_| err())?;
    if !(1..=100_000).contains(&number) {
        return Err(err());
    }
    match unit {
        'm' => Ok(Duration::minutes(number)),
        'h' => Ok(Duration::hours(number)),
        'd' => Ok(Duration::days(number)),
        'w' => Ok(Duration::weeks(number)),
        _ => Err(err()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_stored_as_digests() {
        let (a, b) = (generate(), generate());
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64, "{a}");
        assert_ne!(a, b);
        assert_eq!(hash(&a).len(), 64);
        assert!(!hash(&a).contains(&a[4..]));
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn scopes_are_ordered() {
        assert!(Scope::Read < Scope::Write && Scope::Write < Scope::Admin);
        assert_eq!("write".parse::<Scope>().unwrap(), Scope::Write);
        assert!("root".parse::<Scope>().is_err());
    }

    #[test]
    fn names_and_lifetimes() {
        assert!(check_name("deploy-bot.v2_x").is_ok());
        assert!(check_name("deadbeefs").is_ok());
        for bad in ["", "-x", "a b", "token:x", &"x".repeat(65), "1a2b3c4d", "DEADBEEF"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_lifetime("90d").unwrap(), Duration::days(90));
        assert_eq!(parse_lifetime("2w").unwrap(), Duration::weeks(2));
        assert_eq!(parse_lifetime("30m").unwrap(), Duration::minutes(30));
        for bad in ["", "d", "0d", "-1d", "5y", "1.5h"] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }
}
