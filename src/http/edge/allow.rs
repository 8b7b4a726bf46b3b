//! Allow-lists: `CCM_API_ALLOW` (everything but the webhook path and `/healthz`) and
//! `CCM_WEBHOOK_ALLOW` (the webhook path): CIDRs, or for the webhooks `github`, GitHub's published
//! hook ranges (`GET {GITHUB_API_URL}/meta`, field `hooks`). That list is kept in the database
//! (`github_state`), refreshed daily; when GitHub cannot be reached the last good list stays in
//! use. Until a first list was fetched, deliveries are refused with 503 (a delivery GitHub sees
//! refused is redelivered later or recovered by ccm's missed-delivery scan).

use std::net::IpAddr;
use std::sync::RwLock;
use std::time::Duration;

use anyhow::Context;
use ipnet::IpNet;
use serde_json::Value;

use crate::store::Store;

/// The `github_state` key the last good hook ranges are kept under.
pub const HOOKS_STATE_KEY: &str = "webhook_allow.github_hooks";

/// How often GitHub's hook ranges are fetched again.
pub const HOOKS_REFRESH: Duration = Duration::from_secs(24 * 60 * 60);

/// After a failed fetch, how soon it is tried again.
pub const HOOKS_RETRY: Duration = Duration::from_secs(15 * 60);

/// CIDRs (`10.0.0.0/8`, `2001:db8::/32`) or single addresses, comma-separated.
pub fn parse_cidrs(raw: &str) -> Result<Vec<IpNet>, String> {
    let mut nets = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let net = item
            .parse::<IpNet>()
            .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| format!("'{item}' is not an address or a CIDR such as 10.0.0.0/8"))?;
        nets.push(net.trunc());
    }
    if nets.is_empty() {
        return Err("is set but holds no address".into());
    }
    Ok(nets)
}

pub fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = crate::http::client_addr::canonical(ip);
    nets.iter().any(|net| net.contains(&ip))
}

/// What `CCM_WEBHOOK_ALLOW` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookAllowSetting {
    Anyone,
    Cidrs(Vec<IpNet>),
    Github,
}

impl WebhookAllowSetting {
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        match raw.map(str::trim) {
            None | Some("") => Ok(WebhookAllowSetting::Anyone),
            Some(v) if v.eq_ignore_ascii_case("github") => Ok(WebhookAllowSetting::Github),
            Some(v) => parse_cidrs(v).map(WebhookAllowSetting::Cidrs),
        }
    }
}

/// The webhook allow-list in use.
#[derive(Debug)]
pub enum WebhookAllow {
    Anyone,
    Cidrs(Vec<IpNet>),
    /// GitHub's hook ranges; `None` until a first list is known.
    Github(RwLock<Option<Vec<IpNet>>>),
}

/// Whether an address may deliver webhooks.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Refused,
    /// `github` with no list fetched yet.
    NoListYet,
}

impl WebhookAllow {
    pub fn new(setting: &WebhookAllowSetting) -> Self {
        match setting {
            WebhookAllowSetting::Anyone => WebhookAllow::Anyone,
            WebhookAllowSetting::Cidrs(nets) => WebhookAllow::Cidrs(nets.clone()),
            WebhookAllowSetting::Github => WebhookAllow::Github(RwLock::new(None)),
        }
    }

    pub fn check(&self, ip: Option<IpAddr>) -> Verdict {
        let allowed = |nets: &[IpNet]| match ip {
            Some(ip) if contains(nets, ip) => Verdict::Allowed,
            _ => Verdict::Refused,
        };
        match self {
            WebhookAllow::Anyone => Verdict::Allowed,
            WebhookAllow::Cidrs(nets) => allowed(nets),
            WebhookAllow::Github(list) => match &*list.read().unwrap_or_else(|e| e.into_inner()) {
                Some(nets) => allowed(nets),
                None => Verdict::NoListYet,
            },
        }
    }

    pub fn is_github(&self) -> bool {
        matches!(self, WebhookAllow::Github(_))
    }

    fn set_github(&self, nets: Vec<IpNet>) {
        if let WebhookAllow::Github(list) = self {
            *list.write().unwrap_or_else(|e| e.into_inner()) = Some(nets);
        }
    }

    /// Takes the list kept in the database, if there is one (at start, before the first fetch).
    pub async fn load_stored(&self, store: &dyn Store) -> anyhow::Result<bool> {
        if !self.is_github() {
            return Ok(false);
        }
        let Some(stored) = store.get_state(HOOKS_STATE_KEY).await? else { return Ok(false) };
        let nets = hooks_of(&serde_json::from_str(&stored).context("the stored hook ranges are not JSON")?)?;
        self.set_github(nets);
        Ok(true)
    }

    /// Fetches GitHub's hook ranges, keeps them in the database and uses them. On failure the
    /// list in use (the last good one) stays.
    pub async fn refresh(&self, store: &dyn Store, api_url: &str) -> anyhow::Result<usize> {
        let meta = fetch_meta(api_url).await?;
        let nets = hooks_of(&meta)?;
        let kept = Value::Object(
            [("hooks".to_string(), meta["hooks"].clone())].into_iter().collect::<serde_json::Map<_, _>>(),
        );
        store.set_state(HOOKS_STATE_KEY, &kept.to_string()).await?;
        let count = nets.len();
        self.set_github(nets);
        Ok(count)
    }

    /// Keeps GitHub's hook ranges fresh: the stored list first, then a fetch now and daily (every
    /// 15 minutes while fetches fail). Must run inside the async runtime.
    pub fn spawn_refresh(self: std::sync::Arc<Self>, store: std::sync::Arc<dyn Store>, api_url: String) {
        if !self.is_github() {
            return;
        }
        tokio::spawn(async move {
            match self.load_stored(store.as_ref()).await {
                Ok(true) => tracing::info!("CCM_WEBHOOK_ALLOW=github: using the hook ranges kept in the database"),
                Ok(false) => {}
                Err(err) => tracing::warn!(error = format!("{err:#}"), "the kept GitHub hook ranges are unusable"),
            }
            loop {
                let wait = match self.refresh(store.as_ref(), &api_url).await {
                    Ok(count) => {
                        tracing::info!(ranges = count, "CCM_WEBHOOK_ALLOW=github: GitHub's hook ranges fetched");
                        HOOKS_REFRESH
                    }
                    Err(err) => {
                        let fallback = match self.check(None) {
                            Verdict::NoListYet => "no list yet: deliveries are refused with 503 until one is fetched",
                            _ => "the last good list stays in use",
                        };
                        tracing::warn!(
                            error = format!("{err:#}"),
                            fallback,
                            "CCM_WEBHOOK_ALLOW=github: fetching GitHub's hook ranges (GET /meta) failed"
                        );
                        HOOKS_RETRY
                    }
                };
                tokio::time::sleep(wait).await;
            }
        });
    }
}

/// `GET {api_url}/meta`: public, no credentials needed (nor sent).
async fn fetch_meta(api_url: &str) -> anyhow::Result<Value> {
    let url = format!("{}/meta", api_url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .user_agent(concat!("ccm/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let res = client
        .get(&url)
        .header("Accept", "application/vnd.github+json")
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = res.status();
    if !status.is_success() {
        anyhow::bail!("GET {url} answered {status}");
    }
    res.json().await.with_context(|| format!("GET {url}: the answer is not JSON"))
}

/// The `hooks` field of GitHub's `/meta`, which must be a non-empty list of CIDRs.
fn hooks_of(meta: &Value) -> anyhow::Result<Vec<IpNet>> {
    let hooks = meta.get("hooks").and_then(Value::as_array).context("GitHub's /meta has no `hooks` list")?;
    let nets = hooks
        .iter()
        .map(|v| v.as_str().and_then(|s| s.parse::<IpNet>().ok()).context("a `hooks` item is not a CIDR"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!nets.is_empty(), "GitHub's /meta `hooks` list is empty");
    Ok(nets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse() {
        assert_eq!(WebhookAllowSetting::parse(None).unwrap(), WebhookAllowSetting::Anyone);
        assert_eq!(WebhookAllowSetting::parse(Some(" GitHub ")).unwrap(), WebhookAllowSetting::Github);
        let nets = parse_cidrs("10.0.0.0/8, 192.168.1.7 ,::1").unwrap();
        assert_eq!(nets.len(), 3);
        assert!(contains(&nets, "10.2.3.4".parse().unwrap()));
        assert!(contains(&nets, "::ffff:10.2.3.4".parse().unwrap()));
        assert!(contains(&nets, "192.168.1.7".parse().unwrap()));
        assert!(!contains(&nets, "192.168.1.8".parse().unwrap()));
        assert!(parse_cidrs("10.0.0.0/33").unwrap_err().contains("10.0.0.0/33"));
        assert!(parse_cidrs(" , ").is_err());
    }

    #[test]
    fn hooks_must_be_cidrs() {
        let meta = serde_json::json!({"hooks": ["192.30.252.0/22", "2a0a:a440::/29"]});
        assert_eq!(hooks_of(&meta).unwrap().len(), 2);
        assert!(hooks_of(&serde_json::json!({"hooks": []})).is_err());
        assert!(hooks_of(&serde_json::json!({"hooks": ["nope"]})).is_err());
        assert!(hooks_of(&serde_json::json!({})).is_err());
    }
}
