//! Alerts (issue 16): channels, rules, alerts, and the pure rules that decide when a rule's
//! condition holds (`evaluate`), how a notification is signed (`signature`) and how each channel
//! kind words it (`slack_body`, `email_text`).

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::clock::serde_secs;
use super::pipeline::Pipeline;
use super::runs::Execution;
use super::stats::{self, StatsSnapshot};
use super::status::{AlertEvent, AlertKind, AlertState, ChannelKind, Conclusion, RunStatus};

/// A write-only value (a channel's URL or secret): `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Hidden(pub String);

impl Hidden {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hidden(***)")
    }
}

/// Where notifications go.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub id: i64,
    pub name: String,
    pub kind: ChannelKind,
    /// The receiver's URL (webhook, slack); may hold credentials.
    pub url: Option<Hidden>,
    /// The HMAC key of a webhook channel.
    pub secret: Option<Hidden>,
    /// E-mail recipients.
    pub to: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewChannel {
    pub name: String,
    pub kind: ChannelKind,
    pub url: Option<Hidden>,
    pub secret: Option<Hidden>,
    pub to: Vec<String>,
}

impl NewChannel {
    /// What each kind needs: a URL (http or https) for webhook and slack, recipients for email.
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() || self.name.len() > 100 {
            return Err("name must be 1 to 100 characters".into());
        }
        match self.kind {
            ChannelKind::Webhook | ChannelKind::Slack => {
                let url = self.url.as_ref().map(Hidden::expose).unwrap_or_default();
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!("a {} channel needs a url (http:// or https://)", self.kind));
                }
                if !self.to.is_empty() {
                    return Err(format!("a {} channel has no recipients ('to')", self.kind));
                }
            }
            ChannelKind::Email => {
                if self.to.is_empty() {
                    return Err("an email channel needs recipients ('to')".into());
                }
                if let Some(bad) = self.to.iter().find(|to| !to.contains('@') || to.contains(char::is_whitespace)) {
                    return Err(format!("'{bad}' is not an e-mail address"));
                }
            }
        }
        if self.secret.is_some() && self.kind != ChannelKind::Webhook {
            return Err("only a webhook channel has a secret".into());
        }
        Ok(())
    }
}

/// A rule's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleSpec {
    pub threshold: Option<f64>,
    pub for_minutes: Option<i64>,
    /// Channel ids.
    pub channels: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: i64,
    pub name: String,
    pub kind: AlertKind,
    /// None: every active pipeline (global kinds have none).
    pub pipeline_id: Option<String>,
    pub spec: RuleSpec,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewRule {
    pub name: String,
    pub kind: AlertKind,
    pub pipeline_id: Option<String>,
    pub spec: RuleSpec,
}

impl AlertKind {
    /// A kind about ccm itself rather than a pipeline.
    pub fn is_global(self) -> bool {
        matches!(self, AlertKind::DeliveriesParked | AlertKind::GithubPaused)
    }

    pub fn needs_threshold(self) -> bool {
        matches!(self, AlertKind::HealthBelow | AlertKind::SuccessRateBelow)
    }

    pub fn needs_for_minutes(self) -> bool {
        matches!(self, AlertKind::RunStuck | AlertKind::HookSilent)
    }
}

impl NewRule {
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() || self.name.len() > 100 {
            return Err("name must be 1 to 100 characters".into());
        }
        if self.kind.is_global() && self.pipeline_id.is_some() {
            return Err(format!("a {} rule is global: pipeline_id must be null", self.kind));
        }
        match (self.kind.needs_threshold(), self.spec.threshold) {
            (true, None) => return Err(format!("a {} rule needs a threshold", self.kind)),
            (true, Some(t)) if !(0.0..=100.0).contains(&t) => {
                return Err("threshold must be between 0 and 100".into());
            }
            (false, Some(_)) => return Err(format!("a {} rule takes no threshold", self.kind)),
            _ => {}
        }
        match (self.kind.needs_for_minutes(), self.spec.for_minutes) {
            (true, None) => return Err(format!("a {} rule needs for_minutes", self.kind)),
            (true, Some(m)) if !(1..=100_000).contains(&m) => {
                return Err("for_minutes must be between 1 and 100000".into());
            }
            (false, Some(_)) => return Err(format!("a {} rule takes no for_minutes", self.kind)),
            _ => {}
        }
        Ok(())
    }
}

/// The run an alert is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertRun {
    pub run_id: i64,
    pub attempt: i64,
    pub url: Option<String>,
    pub branch: Option<String>,
    pub conclusion: Option<String>,
}

impl From<&Execution> for AlertRun {
    fn from(e: &Execution) -> Self {
        AlertRun {
            run_id: e.run_id,
            attempt: e.run_attempt,
            url: e.html_url.clone(),
            branch: e.branch.clone(),
            conclusion: e.conclusion.as_ref().map(|c| c.as_str().to_string()),
        }
    }
}

/// An alert, as stored, answered by the API and sent to webhook channels (with `event`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: i64,
    pub rule_id: i64,
    pub kind: AlertKind,
    pub state: AlertState,
    pub pipeline_id: Option<String>,
    pub repository: Option<String>,
    pub workflow_file: Option<String>,
    pub summary: String,
    #[schema(value_type = Object)]
    pub details: Value,
    pub run: Option<AlertRun>,
    #[serde(with = "serde_secs")]
    #[schema(value_type = String)]
    pub started_at: DateTime<Utc>,
    #[serde(with = "serde_secs::option")]
    #[schema(value_type = Option<String>)]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(with = "serde_secs::option")]
    #[schema(value_type = Option<String>)]
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// A rule's condition, holding: what the alert says.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    pub summary: String,
    pub details: Value,
    pub run: Option<AlertRun>,
}

/// What `evaluate` decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Firing(Firing),
    Clear,
    /// Not enough to decide (no runs yet): leave an alert as it is.
    Unknown,
}

/// What ccm knows of a pipeline when its rules are evaluated.
#[derive(Debug, Clone)]
pub struct PipelineView<'a> {
    pub pipeline: &'a Pipeline,
    pub snapshot: &'a StatsSnapshot,
    /// The run queued or in progress the longest, when read (for `run_stuck`; else the latest
    /// run stands for it).
    pub oldest_open: Option<&'a Execution>,
}

/// Whether `rule`'s condition holds for a pipeline at `now`; `open` says whether its alert is open
/// (hysteresis: `health_below` clears only above threshold + 5).
pub fn evaluate(rule: &Rule, view: &PipelineView, now: DateTime<Utc>, open: bool) -> Verdict {
    let s = view.snapshot;
    let p = view.pipeline;
    match rule.kind {
        AlertKind::RunFailed => match &s.last_conclusion {
            None => Verdict::Unknown,
            Some(c) if is_failure(c) => {
                let run = s.last_run.as_ref().filter(|r| r.status == RunStatus::Completed).map(AlertRun::from);
                let run_text = run.as_ref().map(|r| format!(" (run {})", r.run_id)).unwrap_or_default();
                Verdict::Firing(Firing {
                    summary: format!("{} {}: run {}{run_text}", p.repository, p.workflow_file, c.as_str()),
                    details: json!({"conclusion": c.as_str()}),
                    run,
                })
            }
            Some(_) => Verdict::Clear,
        },
        AlertKind::HealthBelow => {
            let threshold = rule.spec.threshold.unwrap_or(0.0);
            let score = f64::from(stats::health_score(s));
            if score < threshold {
                Verdict::Firing(Firing {
                    summary: format!("{} {}: health {score} below {threshold}", p.repository, p.workflow_file),
                    details: json!({"health_score": score, "threshold": threshold}),
                    run: None,
                })
            } else if open && score <= threshold + 5.0 {
                Verdict::Unknown
            } else {
                Verdict::Clear
            }
        }
        AlertKind::SuccessRateBelow => {
            let threshold = rule.spec.threshold.unwrap_or(0.0);
            if s.runs_24h < 3 {
                return if open { Verdict::Clear } else { Verdict::Unknown };
            }
            let rate = (s.successes_24h as f64) * 100.0 / (s.runs_24h as f64);
            if rate < threshold {
                Verdict::Firing(Firing {
                    summary: format!(
                        "{} {}: 24 h success rate {rate:.1}% below {threshold}%",
                        p.repository, p.workflow_file
                    ),
                    details: json!({"success_rate": rate, "runs_24h": s.runs_24h, "threshold": threshold}),
                    run: None,
                })
            } else {
                Verdict::Clear
            }
        }
        AlertKind::RunStuck => {
            let limit = Duration::minutes(rule.spec.for_minutes.unwrap_or(60));
            let open = view.oldest_open.or(s.last_run.as_ref()).filter(|r| r.status != RunStatus::Completed);
            match open {
                Some(r) if now - r.started_at > limit => {
                    let minutes = (now - r.started_at).num_minutes();
                    Verdict::Firing(Firing {
                        summary: format!(
                            "{} {}: run {} {} for {minutes} minutes",
                            p.repository,
                            p.workflow_file,
                            r.run_id,
                            r.status.as_str()
                        ),
                        details: json!({"status": r.status.as_str(), "minutes": minutes}),
                        run: Some(AlertRun::from(r)),
                    })
                }
                _ => Verdict::Clear,
            }
        }
        AlertKind::HookSilent => {
            let limit = Duration::minutes(rule.spec.for_minutes.unwrap_or(60));
            let last = s.last_delivery_at.unwrap_or(p.created_at).max(p.created_at);
            if now - last > limit {
                Verdict::Firing(Firing {
                    summary: format!(
                        "{}: no webhook delivery for {} minutes",
                        p.repository,
                        (now - last).num_minutes()
                    ),
                    details: json!({"last_delivery_at": s.last_delivery_at.map(|t| t.to_rfc3339())}),
                    run: None,
                })
            } else {
                Verdict::Clear
            }
        }
        AlertKind::DeliveriesParked | AlertKind::GithubPaused => Verdict::Unknown,
    }
}

/// A global rule's verdict: `parked` deliveries, GitHub calls `paused`.
pub fn evaluate_global(rule: &Rule, parked: i64, paused: bool) -> Verdict {
    match rule.kind {
        AlertKind::DeliveriesParked if parked > 0 => Verdict::Firing(Firing {
            summary: format!("{parked} webhook deliveries parked (failed every attempt)"),
            details: json!({"parked": parked}),
            run: None,
        }),
        AlertKind::GithubPaused if paused => Verdict::Firing(Firing {
            summary: "outbound GitHub calls paused after repeated failures".into(),
            details: json!({"paused": true}),
            run: None,
        }),
        AlertKind::DeliveriesParked | AlertKind::GithubPaused => Verdict::Clear,
        _ => Verdict::Unknown,
    }
}

/// Conclusions that count as a failed run.
pub fn is_failure(c: &Conclusion) -> bool {
    matches!(c.as_str(), "failure" | "timed_out" | "startup_failure")
}

/// The key that lets one open alert exist per rule and pipeline.
pub fn open_key(rule_id: i64, pipeline_id: Option<&str>) -> String {
    format!("{rule_id}:{}", pipeline_id.unwrap_or("*"))
}

/// A webhook channel's body: the alert and the event.
pub fn webhook_body(alert: &Alert, event: AlertEvent) -> Value {
    let mut body = serde_json::to_value(alert).expect("an alert serializes");
    if let Value::Object(map) = &mut body {
        map.insert("event".into(), json!(event));
    }
    body
}

/// `sha256=<hex HMAC-SHA256 of body>` with `secret`: what `X-CCM-Signature-256` carries.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One line about the notification (`payload`: a webhook body).
pub fn headline(payload: &Value) -> String {
    let event = payload["event"].as_str().unwrap_or("firing");
    let summary = payload["summary"].as_str().unwrap_or("alert");
    match event {
        "resolved" => format!("[ccm] Resolved: {summary}"),
        _ => format!("[ccm] Firing: {summary}"),
    }
}

/// A Slack-compatible incoming-webhook body (`text` and `blocks`).
pub fn slack_body(payload: &Value) -> Value {
    let headline = headline(payload);
    let mut fields = vec![];
    for (label, key) in [("Kind", "kind"), ("Repository", "repository"), ("Workflow", "workflow_file")] {
        if let Some(v) = payload[key].as_str() {
            fields.push(json!({"type": "mrkdwn", "text": format!("*{label}:* {v}")}));
        }
    }
    let mut blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": headline}})];
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if let Some(url) = payload["run"]["url"].as_str() {
        blocks.push(
            json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("<{url}|View the run>")}]}),
        );
    }
    json!({"text": headline, "blocks": blocks})
}

/// An e-mail's subject and plain-text body.
pub fn email_text(payload: &Value) -> (String, String) {
    let subject = headline(payload);
    let mut body = format!("{subject}\n\n");
    for key in ["kind", "state", "repository", "workflow_file", "pipeline_id", "started_at", "resolved_at"] {
        if let Some(v) = payload[key].as_str() {
            body.push_str(&format!("{key}: {v}\n"));
        }
    }
    if let Some(url) = payload["run"]["url"].as_str() {
        body.push_str(&format!("run: {url}\n"));
    }
    body.push_str(&format!("\ndetails: {}\n", payload["details"]));
    (subject, body)
}

/// When a notification that failed `attempts` times is tried again: `base` doubling, at most 10
/// minutes apart.
pub fn retry_delay(attempts: i64, base: Duration) -> Duration {
    let exp = (attempts.clamp(1, 20) - 1).min(16) as i32;
    (base * 2_i32.pow(exp as u32)).min(Duration::minutes(10))
}

/// Whether a pipeline's notifications are on (`config.notifications_enabled`, default true).
pub fn notifications_enabled(pipeline: &Pipeline) -> bool {
    pipeline.config.get("notifications_enabled").and_then(Value::as_bool).unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status::PipelineStatus;
    use sqlx::types::Json;

    fn pipeline() -> Pipeline {
        Pipeline {
            id: "pipe_1".into(),
            repository: "o/r".into(),
            workflow_file: "deploy.yml".into(),
            status: PipelineStatus::Active,
            config: Json(json!({})),
            linked_domain: None,
            linked_app: None,
            version: 1,
            created_at: Utc::now() - Duration::days(1),
            updated_at: Utc::now(),
            deactivated_at: None,
        }
    }

    fn rule(kind: AlertKind, threshold: Option<f64>, for_minutes: Option<i64>) -> Rule {
        Rule {
            id: 1,
            name: "r".into(),
            kind,
            pipeline_id: None,
            spec: RuleSpec { threshold, for_minutes, channels: vec![] },
            created_at: Utc::now(),
        }
    }

    fn open_run(run_id: i64, status: RunStatus, started_minutes_ago: i64) -> Execution {
        let at = Utc::now() - Duration::minutes(started_minutes_ago);
        Execution {
            id: run_id,
            run_id,
            run_attempt: 1,
            repository: "o/r".into(),
            workflow_path: ".github/workflows/deploy.yml".into(),
            workflow_name: None,
            status,
            conclusion: None,
            branch: Some("main".into()),
            head_sha: None,
            event: None,
            run_number: None,
            actor: None,
            html_url: None,
            created_at: at,
            started_at: at,
            updated_at: at,
            completed_at: None,
            duration_seconds: None,
            rolled_back: false,
            rollback_reason: None,
            rollback_previous_execution_id: None,
        }
    }

    #[test]
    fn run_stuck_watches_the_oldest_open_run_not_only_the_latest() {
        let p = pipeline();
        let r = rule(AlertKind::RunStuck, None, Some(30));
        let latest = open_run(2, RunStatus::InProgress, 5);
        let s = StatsSnapshot { last_run: Some(latest.clone()), active_runs: 2, ..Default::default() };
        let view = |oldest_open| PipelineView { pipeline: &p, snapshot: &s, oldest_open };
        assert_eq!(evaluate(&r, &view(None), Utc::now(), false), Verdict::Clear);
        let stuck = open_run(1, RunStatus::Queued, 45);
        let Verdict::Firing(firing) = evaluate(&r, &view(Some(&stuck)), Utc::now(), false) else {
            panic!("a run queued for 45 minutes is stuck past 30")
        };
        assert_eq!(firing.run.map(|run| run.run_id), Some(1));
        assert!(firing.summary.contains("run 1 queued for 45 minutes"), "{}", firing.summary);
    }

    #[test]
    fn run_failed_fires_on_failure_and_clears_on_success() {
        let p = pipeline();
        let r = rule(AlertKind::RunFailed, None, None);
        let mut s = StatsSnapshot { last_conclusion: Some(Conclusion::Failure), ..Default::default() };
        assert!(matches!(
            evaluate(&r, &PipelineView { pipeline: &p, snapshot: &s, oldest_open: None }, Utc::now(), false),
            Verdict::Firing(_)
        ));
        s.last_conclusion = Some(Conclusion::Success);
        assert_eq!(
            evaluate(&r, &PipelineView { pipeline: &p, snapshot: &s, oldest_open: None }, Utc::now(), true),
            Verdict::Clear
        );
        s.last_conclusion = None;
        assert_eq!(
            evaluate(&r, &PipelineView { pipeline: &p, snapshot: &s, oldest_open: None }, Utc::now(), true),
            Verdict::Unknown
        );
    }

    #[test]
    fn health_below_has_hysteresis() {
        let p = pipeline();
        let r = rule(AlertKind::HealthBelow, Some(95.0), None);
        // Last run failed, 24 h all successes but the last: S = 75, L = 0, D = 100 -> 55.
        let s = StatsSnapshot {
            runs_24h: 4,
            successes_24h: 3,
            last_conclusion: Some(Conclusion::Failure),
            ..Default::default()
        };
        assert!(matches!(
            evaluate(&r, &PipelineView { pipeline: &p, snapshot: &s, oldest_open: None }, Utc::now(), false),
            Verdict::Firing(_)
        ));
        let r2 = rule(AlertKind::HealthBelow, Some(98.0), None);
        let ok = StatsSnapshot {
            runs_24h: 4,
            successes_24h: 4,
            last_conclusion: Some(Conclusion::Success),
            ..Default::default()
        };
        // 100 is above 98 but not above 98 + 5: an open alert stays.
        assert_eq!(
            evaluate(&r2, &PipelineView { pipeline: &p, snapshot: &ok, oldest_open: None }, Utc::now(), true),
            Verdict::Unknown
        );
        assert_eq!(
            evaluate(&r2, &PipelineView { pipeline: &p, snapshot: &ok, oldest_open: None }, Utc::now(), false),
            Verdict::Clear
        );
        let r3 = rule(AlertKind::HealthBelow, Some(90.0), None);
        assert_eq!(
            evaluate(&r3, &PipelineView { pipeline: &p, snapshot: &ok, oldest_open: None }, Utc::now(), true),
            Verdict::Clear
        );
    }

    #[test]
    fn success_rate_needs_three_runs() {
        let p = pipeline();
        let r = rule(AlertKind::SuccessRateBelow, Some(80.0), None);
        let two = StatsSnapshot { runs_24h: 2, successes_24h: 0, ..Default::default() };
        assert_eq!(
            evaluate(&r, &PipelineView { pipeline: &p, snapshot: &two, oldest_open: None }, Utc::now(), false),
            Verdict::Unknown
        );
        let three = StatsSnapshot { runs_24h: 3, successes_24h: 1, ..Default::default() };
        assert!(matches!(
            evaluate(&r, &PipelineView { pipeline: &p, snapshot: &three, oldest_open: None }, Utc::now(), false),
            Verdict::Firing(_)
        ));
    }

    #[test]
    fn hook_silent_counts_from_the_last_delivery() {
        let p = pipeline();
        let r = rule(AlertKind::HookSilent, None, Some(30));
        let now = Utc::now();
        let recent = StatsSnapshot { last_delivery_at: Some(now - Duration::minutes(5)), ..Default::default() };
        assert_eq!(
            evaluate(&r, &PipelineView { pipeline: &p, snapshot: &recent, oldest_open: None }, now, false),
            Verdict::Clear
        );
        let old = StatsSnapshot { last_delivery_at: Some(now - Duration::minutes(45)), ..Default::default() };
        assert!(matches!(
            evaluate(&r, &PipelineView { pipeline: &p, snapshot: &old, oldest_open: None }, now, false),
            Verdict::Firing(_)
        ));
    }

    #[test]
    fn rules_check_their_settings() {
        let new = |kind, threshold, for_minutes, pipeline_id: Option<&str>| NewRule {
            name: "x".into(),
            kind,
            pipeline_id: pipeline_id.map(String::from),
            spec: RuleSpec { threshold, for_minutes, channels: vec![] },
        };
        assert!(new(AlertKind::HealthBelow, None, None, None).check().is_err());
        assert!(new(AlertKind::HealthBelow, Some(70.0), None, None).check().is_ok());
        assert!(new(AlertKind::RunStuck, None, None, None).check().is_err());
        assert!(new(AlertKind::RunFailed, Some(1.0), None, None).check().is_err());
        assert!(new(AlertKind::GithubPaused, None, None, Some("pipe_1")).check().is_err());
    }

    #[test]
    fn signature_is_github_style() {
        // The example of GitHub's documentation ("Validating webhook deliveries").
        assert_eq!(
            signature(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn hidden_values_do_not_debug() {
        let c = NewChannel {
            name: "n".into(),
            kind: ChannelKind::Webhook,
            url: Some(Hidden("https://user:pw@example.com/x".into())),
            secret: Some(Hidden("s3cret".into())),
            to: vec![],
        };
        let text = format!("{c:?}");
        assert!(!text.contains("pw@") && !text.contains("s3cret"), "{text}");
    }

    #[test]
    fn retries_back_off_to_ten_minutes() {
        let base = Duration::seconds(5);
        assert_eq!(retry_delay(1, base), Duration::seconds(5));
        assert_eq!(retry_delay(2, base), Duration::seconds(10));
        assert_eq!(retry_delay(30, base), Duration::seconds(600));
    }
}
