//! `Secret`: a setting's secret value (a token, a webhook secret, a private key, a database URL
//! with its password). `Debug` never shows it, so a settings struct printed with `{:?}` (a log
//! line, a panic) leaks nothing; the value is read with `expose` where it is used.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_string())
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// A database URL as logs and `Debug` may show it: the password replaced by `***`.
pub fn redacted_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) => "<unparsable URL>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shown_by_debug() {
        let secret = Secret::from("hunter2-hunter2-hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Some(vec![secret.clone()])), "Some([Secret(***)])");
        assert_eq!(secret.expose(), "hunter2-hunter2-hunter2");
        assert_eq!(redacted_url("postgres://ccm:pw-123@db:5432/ccm"), "postgres://ccm:***@db:5432/ccm");
        assert_eq!(redacted_url("sqlite:///tmp/ccm.db"), "sqlite:///tmp/ccm.db");
    }
}
