//! The sender: delivers queued notifications to their channels (webhook, slack, email), retrying
//! with backoff (`domain::alerts::retry_delay`) until `AlertSettings::retry_for` has passed.
//! A receiver's URL may hold credentials: errors are reported without it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{AlertSettings, Alerts, SmtpSettings};
use crate::domain::alerts::{self, Channel};
use crate::domain::clock;
use crate::domain::status::ChannelKind;
use crate::store::{Notification, Store};

/// How long a claim is held before another worker may take the notification again.
const LEASE: Duration = Duration::from_secs(120);
/// How long a receiver may take to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What a receiver answered.
#[derive(Debug, Clone, PartialEq)]
pub struct SendOutcome {
    /// The HTTP status (webhook, slack), or 250 for mail the SMTP server accepted.
    pub status: Option<u16>,
    /// Why it failed, without the receiver's URL.
    pub error: Option<String>,
}

impl SendOutcome {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Sends notifications over HTTP and SMTP.
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
    smtp: Option<SmtpSettings>,
}

impl Sender {
    pub fn new(smtp: Option<SmtpSettings>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("ccm/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client");
        Sender { http, smtp }
    }

    /// Sends `payload` (a webhook body: an alert and its `event`) to `channel`, with this
    /// delivery id.
    pub async fn send(&self, channel: &Channel, delivery_id: &str, payload: &Value) -> SendOutcome {
        match channel.kind {
            ChannelKind::Webhook => {
                let body = serde_json::to_vec(payload).expect("JSON serializes");
                let mut req = self
                    .http
                    .post(channel.url.as_ref().map(|u| u.expose()).unwrap_or_default())
                    .header("Content-Type", "application/json")
                    .header("X-CCM-Delivery", delivery_id)
                    .header("X-CCM-Event", "alert");
                if let Some(secret) = &channel.secret {
                    req = req.header("X-CCM-Signature-256", alerts::signature(secret.expose().as_bytes(), &body));
                }
                self.http_outcome(req.body(body)).await
            }
            ChannelKind::Slack => {
                let req = self
                    .http
                    .post(channel.url.as_ref().map(|u| u.expose()).unwrap_or_default())
                    .json(&alerts::slack_body(payload));
                self.http_outcome(req).await
            }
            ChannelKind::Email => self.email(channel, payload).await,
        }
    }

    async fn http_outcome(&self, req: reqwest::RequestBuilder) -> SendOutcome {
        match req.send().await {
            Ok(res) if res.status().is_success() => SendOutcome { status: Some(res.status().as_u16()), error: None },
            Ok(res) => {
                let status = res.status().as_u16();
                SendOutcome { status: Some(status), error: Some(format!("the receiver answered {status}")) }
            }
            Err(err) => SendOutcome { status: None, error: Some(err.without_url().to_string()) },
        }
    }

    async fn email(&self, channel: &Channel, payload: &Value) -> SendOutcome {
        use lettre::message::header::ContentType;
        use lettre::{AsyncTransport, Message};
        let fail = |error: String| SendOutcome { status: None, error: Some(error) };
        let Some(smtp) = &self.smtp else {
            return fail("email channels need CCM_SMTP_URL and CCM_SMTP_FROM".into());
        };
        let (subject, text) = alerts::email_text(payload);
        let from = match smtp.from.parse() {
            Ok(from) => from,
            Err(err) => return fail(format!("CCM_SMTP_FROM is not an address: {err}")),
        };
        let mut builder = Message::builder().from(from).subject(subject).header(ContentType::TEXT_PLAIN);
        for to in &channel.to {
            match to.parse() {
                Ok(to) => builder = builder.to(to),
                Err(err) => return fail(format!("'{to}' is not an address: {err}")),
            }
        }
        let message = match builder.body(text) {
            Ok(message) => message,
            Err(err) => return fail(format!("the message could not be built: {err}")),
        };
        let transport = match smtp_transport(smtp) {
            Ok(transport) => transport,
            Err(error) => return fail(error),
        };
        match transport.send(message).await {
            Ok(reply) => SendOutcome { status: Some(u16::from(reply.code())), error: None },
            Err(err) => fail(format!("SMTP: {err}")),
        }
    }
}

pub(super) async fn run(alerts: Alerts, store: Arc<dyn Store>) {
    let smtp_key = |s: &Option<SmtpSettings>| s.as_ref().map(|s| (s.url.clone(), s.from.clone(), s.ca_pem.clone()));
    let mut sender = Sender::new(None);
    let mut sender_smtp = None;
    loop {
        let settings = alerts.settings();
        // The settings are set once at start; the client is rebuilt only if they changed.
        if smtp_key(&settings.smtp) != sender_smtp {
            sender_smtp = smtp_key(&settings.smtp);
            sender = Sender::new(settings.smtp.clone());
        }
        let sent = match deliver_due(store.as_ref(), &sender, &settings).await {
            Ok(n) => n,
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), "alert notifications: claiming failed");
                0
            }
        };
        if sent == 0 {
            tokio::select! {
                _ = alerts.send.notified() => {}
                _ = tokio::time::sleep(settings.poll) => {}
            }
        }
    }
}

/// Claims the due notifications and sends them; how many were claimed.
pub(super) async fn deliver_due(store: &dyn Store, sender: &Sender, settings: &AlertSettings) -> anyhow::Result<usize> {
    let now = clock::now();
    let lease = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
    let claimed = store.claim_notifications(now, lease, 20).await?;
    let n = claimed.len();
    for notification in claimed {
        deliver(store, sender, &notification, settings).await?;
    }
    Ok(n)
}

async fn deliver(store: &dyn Store, sender: &Sender, n: &Notification, settings: &AlertSettings) -> anyhow::Result<()> {
    let Some(channel) = store.get_channel(n.channel_id).await? else {
        store.notification_failed(n.id, n.attempts, "the channel was deleted").await?;
        return Ok(());
    };
    let outcome = sender.send(&channel, &n.delivery_id, &n.payload).await;
    match outcome.error {
        None => {
            store.notification_sent(n.id, n.attempts).await?;
            tracing::info!(notification_id = n.id, alert_id = n.alert_id, channel = %channel.name, event = %n.event, "alert notification sent");
        }
        Some(error) => {
            let now = clock::now();
            let give_up = now - n.created_at > chrono::Duration::from_std(settings.retry_for).unwrap_or_default();
            if give_up {
                store.notification_failed(n.id, n.attempts, &error).await?;
                tracing::error!(notification_id = n.id, alert_id = n.alert_id, channel = %channel.name, error = %error, "alert notification given up");
            } else {
                let at = now
                    + alerts::retry_delay(
                        n.attempts,
                        chrono::Duration::from_std(settings.retry_base).unwrap_or_default(),
                    );
                store.notification_retry(n.id, n.attempts, at, &error).await?;
                tracing::warn!(notification_id = n.id, alert_id = n.alert_id, channel = %channel.name, attempt = n.attempts, error = %error, "alert notification failed; retrying");
            }
        }
    }
    Ok(())
}

/// How a `CCM_SMTP_URL` secures its connection: TLS from the start (`smtps://`), STARTTLS
/// (`?tls=required` or `?tls=opportunistic`), or not at all (`None`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TlsMode {
    Wrapper,
    StartTlsRequired,
    StartTlsOpportunistic,
}

pub(crate) fn tls_mode(url: &str) -> Option<TlsMode> {
    let url = reqwest::Url::parse(url).ok()?;
    if url.scheme() == "smtps" {
        return Some(TlsMode::Wrapper);
    }
    match url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned()).as_deref() {
        Some("required") => Some(TlsMode::StartTlsRequired),
        Some("opportunistic") => Some(TlsMode::StartTlsOpportunistic),
        _ => None,
    }
}

/// The SMTP transport of `CCM_SMTP_URL`, trusting `CCM_SMTP_CA_FILE`'s certificates as well when
/// it is set.
fn smtp_transport(smtp: &SmtpSettings) -> Result<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>, String> {
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    let invalid = || "CCM_SMTP_URL is not a valid smtp:// or smtps:// URL".to_string();
    let url = smtp.url.expose();
    let mut builder = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url).map_err(|_| invalid())?;
    if let Some(pem) = &smtp.ca_pem {
        let host =
            reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()));
        let (Some(host), Some(mode)) = (host, tls_mode(url)) else { return Err(invalid()) };
        let cert = Certificate::from_pem(pem).map_err(|e| format!("CCM_SMTP_CA_FILE: {e}"))?;
        let params = TlsParameters::builder(host)
            .add_root_certificate(cert)
            .build_rustls()
            .map_err(|e| format!("SMTP TLS settings: {e}"))?;
        builder = builder.tls(match mode {
            TlsMode::Wrapper => Tls::Wrapper(params),
            TlsMode::StartTlsRequired => Tls::Required(params),
            TlsMode::StartTlsOpportunistic => Tls::Opportunistic(params),
        });
    }
    Ok(builder.timeout(Some(TIMEOUT)).build())
}
