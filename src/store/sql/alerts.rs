//! Alerts (issue 16): notification channels, alert rules, alerts, and the durable queue of
//! notifications. An alert is opened once per rule and pipeline whichever replica sees the
//! condition first: `open_key` is unique while it is open, and the notifications are queued in
//! the same transaction as the insert (or the resolution) that won.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::AssertSqlSafe;

use super::db::{On, query};
use crate::domain::alerts::{self, Alert, Channel, Firing, NewChannel, NewRule, Rule};
use crate::domain::clock;
use crate::domain::status::{AlertEvent, AlertState, NotificationStatus};
use crate::store::rows::{ReadRow, column_names};
use crate::store::{Page, SqlStore, StoreError, StoreResult, classify};

/// A queued notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub id: i64,
    pub alert_id: i64,
    pub channel_id: i64,
    pub event: AlertEvent,
    /// Sent as X-CCM-Delivery, the same on every attempt.
    pub delivery_id: String,
    /// The webhook body: the alert and `event`.
    pub payload: Value,
    pub status: NotificationStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// An alert to open.
#[derive(Debug, Clone)]
pub struct NewAlert<'a> {
    pub rule: &'a Rule,
    pub pipeline_id: Option<&'a str>,
    pub repository: Option<&'a str>,
    pub workflow_file: Option<&'a str>,
    pub firing: &'a Firing,
}

/// Who is told, and when not.
#[derive(Debug, Clone, Copy)]
pub struct Notify<'a> {
    /// Channel ids; empty (or muted) queues nothing.
    pub channels: &'a [i64],
    /// The pipeline's notifications are off: the alert is recorded, nothing is queued.
    pub muted: bool,
    /// A firing notification for the same rule and pipeline created after this is a burst: the
    /// new one is not queued.
    pub cooldown_since: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub state: Option<AlertState>,
    pub pipeline_id: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

fn select<R: ReadRow>(table: &str, rest: &str) -> String {
    format!("SELECT {} FROM {table} {rest}", column_names(R::COLUMNS))
}

#[async_trait]
pub trait AlertStore {
    /// `Conflict` when a channel has this name.
    async fn create_channel(&self, channel: &NewChannel) -> StoreResult<Channel>;
    async fn list_channels(&self) -> StoreResult<Vec<Channel>>;
    async fn get_channel(&self, id: i64) -> StoreResult<Option<Channel>>;
    /// Whether it existed.
    async fn delete_channel(&self, id: i64) -> StoreResult<bool>;

    async fn create_rule(&self, rule: &NewRule) -> StoreResult<Rule>;
    async fn list_rules(&self) -> StoreResult<Vec<Rule>>;
    async fn get_rule(&self, id: i64) -> StoreResult<Option<Rule>>;
    /// Deletes a rule and resolves its open alerts (without notifications).
    async fn delete_rule(&self, id: i64) -> StoreResult<bool>;

    /// Every open (firing or acknowledged) alert.
    async fn open_alerts(&self) -> StoreResult<Vec<Alert>>;

    /// Opens an alert unless one is open for its rule and pipeline; queues its firing
    /// notifications. `None`: one was open (another replica, or this one before).
    async fn open_alert(&self, alert: &NewAlert<'_>, notify: Notify<'_>) -> StoreResult<Option<Alert>>;

    /// Updates an open alert's summary, details and run (a repeated failure): no notification.
    async fn refresh_alert(&self, id: i64, firing: &Firing) -> StoreResult<()>;

    /// Resolves an open alert and queues its resolved notifications; `None` when it was not open.
    async fn resolve_alert(&self, id: i64, notify: Notify<'_>) -> StoreResult<Option<Alert>>;

    async fn list_alerts(&self, filter: &AlertFilter) -> StoreResult<Page<Alert>>;
    async fn get_alert(&self, id: i64) -> StoreResult<Option<Alert>>;
    /// Acknowledges a firing alert (an acknowledged or resolved one is left as it is).
    async fn ack_alert(&self, id: i64) -> StoreResult<Option<Alert>>;
    /// A pipeline's open alerts, newest first.
    async fn pipeline_alerts(&self, pipeline_id: &str) -> StoreResult<Vec<Alert>>;

    /// Claims up to `limit` due notifications until `lease_until`, counting the attempt; never one
    /// whose alert has an earlier notification to the same channel not sent yet (order per alert).
    async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Notification>>;
    async fn notification_sent(&self, id: i64, attempts: i64) -> StoreResult<bool>;
    async fn notification_retry(&self, id: i64, attempts: i64, at: DateTime<Utc>, error: &str) -> StoreResult<bool>;
    async fn notification_failed(&self, id: i64, attempts: i64, error: &str) -> StoreResult<bool>;
    /// Every notification of an alert, oldest first.
    async fn alert_notifications(&self, alert_id: i64) -> StoreResult<Vec<Notification>>;

    /// Records replica `replica`'s outbound GitHub breaker as seen at `now`: paused until
    /// `paused_until`, or not paused. Forgets replicas not seen since `forget_before`.
    async fn report_github_breaker(
        &self,
        replica: &str,
        paused_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Whether a replica seen since `seen_since` has its GitHub calls paused at `now`.
    async fn github_paused_anywhere(&self, now: DateTime<Utc>, seen_since: DateTime<Utc>) -> StoreResult<bool>;
}

/// Queues `alert`'s `event` notification on each channel.
async fn enqueue(on: &mut On<'_>, alert: &Alert, event: AlertEvent, channels: &[i64]) -> StoreResult<()> {
    let payload = alerts::webhook_body(alert, event);
    let now = clock::now();
    for channel in channels {
        query(
            "INSERT INTO alert_notifications (alert_id, channel_id, event, delivery_id, payload, status, attempts, \
               next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
        )
        .bind(alert.id)
        .bind(*channel)
        .bind(event.as_str())
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&payload)
        .bind(now)
        .execute(on.reborrow())
        .await?;
    }
    Ok(())
}

#[async_trait]
impl AlertStore for SqlStore {
    async fn create_channel(&self, c: &NewChannel) -> StoreResult<Channel> {
        let sql = format!(
            "INSERT INTO notification_channels (name, kind, url, secret, recipients, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {}",
            column_names(Channel::COLUMNS)
        );
        query(AssertSqlSafe(sql))
            .bind(c.name.as_str())
            .bind(c.kind.as_str())
            .bind(c.url.as_ref().map(|u| u.expose()))
            .bind(c.secret.as_ref().map(|s| s.expose()))
            .bind_json(&c.to)
            .bind(clock::now())
            .fetch_one(&self.db)
            .await
            .map_err(|err| match classify(err) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("a channel named '{}' exists", c.name)),
                other => other,
            })
    }

    async fn list_channels(&self) -> StoreResult<Vec<Channel>> {
        Ok(query(AssertSqlSafe(select::<Channel>("notification_channels", "ORDER BY id"))).fetch_all(&self.db).await?)
    }

    async fn get_channel(&self, id: i64) -> StoreResult<Option<Channel>> {
        Ok(query(AssertSqlSafe(select::<Channel>("notification_channels", "WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.db)
            .await?)
    }

    async fn delete_channel(&self, id: i64) -> StoreResult<bool> {
        Ok(query("DELETE FROM notification_channels WHERE id = $1").bind(id).execute(&self.db).await? > 0)
    }

    async fn create_rule(&self, r: &NewRule) -> StoreResult<Rule> {
        let sql = format!(
            "INSERT INTO alert_rules (name, kind, pipeline_id, spec, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING {}",
            column_names(Rule::COLUMNS)
        );
        Ok(query(AssertSqlSafe(sql))
            .bind(r.name.as_str())
            .bind(r.kind.as_str())
            .bind(r.pipeline_id.as_deref())
            .bind_json(&r.spec)
            .bind(clock::now())
            .fetch_one(&self.db)
            .await?)
    }

    async fn list_rules(&self) -> StoreResult<Vec<Rule>> {
        Ok(query(AssertSqlSafe(select::<Rule>("alert_rules", "ORDER BY id"))).fetch_all(&self.db).await?)
    }

    async fn get_rule(&self, id: i64) -> StoreResult<Option<Rule>> {
        Ok(query(AssertSqlSafe(select::<Rule>("alert_rules", "WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.db)
            .await?)
    }

    async fn delete_rule(&self, id: i64) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let deleted = query("DELETE FROM alert_rules WHERE id = $1").bind(id).execute(&mut tx).await?;
        let now = clock::now();
        query(
            "UPDATE alerts SET state = 'resolved', resolved_at = $2, updated_at = $2, open_key = NULL \
             WHERE rule_id = $1 AND open_key IS NOT NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn open_alerts(&self) -> StoreResult<Vec<Alert>> {
        Ok(query(AssertSqlSafe(select::<Alert>("alerts", "WHERE open_key IS NOT NULL ORDER BY id")))
            .fetch_all(&self.db)
            .await?)
    }

    async fn open_alert(&self, a: &NewAlert<'_>, notify: Notify<'_>) -> StoreResult<Option<Alert>> {
        let mut tx = self.db.begin().await?;
        let now = clock::now();
        let sql = format!(
            "INSERT INTO alerts (rule_id, kind, state, pipeline_id, repository, workflow_file, summary, details, run, \
               open_key, started_at, updated_at) \
             VALUES ($1, $2, 'firing', $3, $4, $5, $6, $7, $8, $9, $10, $10) \
             ON CONFLICT (open_key) DO NOTHING RETURNING {}",
            column_names(Alert::COLUMNS)
        );
        let run = a.firing.run.as_ref().map(|r| serde_json::to_value(r).expect("a run serializes"));
        let opened: Option<Alert> = query(AssertSqlSafe(sql))
            .bind(a.rule.id)
            .bind(a.rule.kind.as_str())
            .bind(a.pipeline_id)
            .bind(a.repository)
            .bind(a.workflow_file)
            .bind(a.firing.summary.as_str())
            .bind(&a.firing.details)
            .bind_json(&run)
            .bind(alerts::open_key(a.rule.id, a.pipeline_id))
            .bind(now)
            .fetch_optional(&mut tx)
            .await?;
        let Some(alert) = opened else {
            return Ok(None);
        };
        if !notify.muted && !notify.channels.is_empty() {
            // Bursts: at most one firing notification per rule and pipeline per cooldown.
            let (recent,): (i64,) = query(
                "SELECT COUNT(*) FROM alert_notifications n JOIN alerts a ON a.id = n.alert_id \
                 WHERE a.rule_id = $1 AND COALESCE(a.pipeline_id, '') = $2 AND n.event = 'firing' \
                   AND n.created_at > $3",
            )
            .bind(a.rule.id)
            .bind(a.pipeline_id.unwrap_or(""))
            .bind(notify.cooldown_since)
            .fetch_one(&mut tx)
            .await?;
            if recent == 0 {
                enqueue(&mut tx.on(), &alert, AlertEvent::Firing, notify.channels).await?;
            }
        }
        tx.commit().await?;
        Ok(Some(alert))
    }

    async fn refresh_alert(&self, id: i64, firing: &Firing) -> StoreResult<()> {
        let run = firing.run.as_ref().map(|r| serde_json::to_value(r).expect("a run serializes"));
        query(
            "UPDATE alerts SET summary = $2, details = $3, run = $4, updated_at = $5 \
             WHERE id = $1 AND open_key IS NOT NULL",
        )
        .bind(id)
        .bind(firing.summary.as_str())
        .bind(&firing.details)
        .bind_json(&run)
        .bind(clock::now())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn resolve_alert(&self, id: i64, notify: Notify<'_>) -> StoreResult<Option<Alert>> {
        let mut tx = self.db.begin().await?;
        let sql = format!(
            "UPDATE alerts SET state = 'resolved', resolved_at = $2, updated_at = $2, open_key = NULL \
             WHERE id = $1 AND open_key IS NOT NULL RETURNING {}",
            column_names(Alert::COLUMNS)
        );
        let resolved: Option<Alert> =
            query(AssertSqlSafe(sql)).bind(id).bind(clock::now()).fetch_optional(&mut tx).await?;
        let Some(alert) = resolved else {
            return Ok(None);
        };
        if !notify.muted && !notify.channels.is_empty() {
            enqueue(&mut tx.on(), &alert, AlertEvent::Resolved, notify.channels).await?;
        }
        tx.commit().await?;
        Ok(Some(alert))
    }

    async fn list_alerts(&self, f: &AlertFilter) -> StoreResult<Page<Alert>> {
        let filter = "WHERE ($1 = '' OR state = $1) AND ($2 = '' OR pipeline_id = $2)";
        let state = f.state.map(|s| s.as_str()).unwrap_or("");
        let pipeline = f.pipeline_id.as_deref().unwrap_or("");
        let (total,): (i64,) = query(AssertSqlSafe(format!("SELECT COUNT(*) FROM alerts {filter}")))
            .bind(state)
            .bind(pipeline)
            .fetch_one(&self.db)
            .await?;
        let items =
            query(AssertSqlSafe(select::<Alert>("alerts", &format!("{filter} ORDER BY id DESC LIMIT $3 OFFSET $4"))))
                .bind(state)
                .bind(pipeline)
                .bind(f.limit)
                .bind(f.offset)
                .fetch_all(&self.db)
                .await?;
        Ok(Page { items, total })
    }

    async fn get_alert(&self, id: i64) -> StoreResult<Option<Alert>> {
        Ok(query(AssertSqlSafe(select::<Alert>("alerts", "WHERE id = $1"))).bind(id).fetch_optional(&self.db).await?)
    }

    async fn ack_alert(&self, id: i64) -> StoreResult<Option<Alert>> {
        let now = clock::now();
        query(
            "UPDATE alerts SET state = 'acknowledged', acknowledged_at = $2, updated_at = $2 \
             WHERE id = $1 AND state = 'firing'",
        )
        .bind(id)
        .bind(now)
        .execute(&self.db)
        .await?;
        self.get_alert(id).await
    }

    async fn pipeline_alerts(&self, pipeline_id: &str) -> StoreResult<Vec<Alert>> {
        Ok(query(AssertSqlSafe(select::<Alert>(
            "alerts",
            "WHERE pipeline_id = $1 AND open_key IS NOT NULL ORDER BY id DESC",
        )))
        .bind(pipeline_id)
        .fetch_all(&self.db)
        .await?)
    }

    async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Notification>> {
        // A read first: the sender polls, and on SQLite an UPDATE takes the write lock even when
        // nothing is due.
        let open: Option<(i64,)> =
            query("SELECT id FROM alert_notifications WHERE status IN ('pending', 'running') LIMIT 1")
                .fetch_optional(&self.db)
                .await?;
        if open.is_none() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "UPDATE alert_notifications SET status = 'running', attempts = attempts + 1, locked_until = $2 \
             WHERE id IN (SELECT n.id FROM alert_notifications n \
               WHERE ((n.status = 'pending' AND n.next_attempt_at <= $1) \
                   OR (n.status = 'running' AND n.locked_until < $1)) \
                 AND NOT EXISTS (SELECT 1 FROM alert_notifications e \
                   WHERE e.alert_id = n.alert_id AND e.channel_id = n.channel_id AND e.id < n.id \
                     AND e.status IN ('pending', 'running')) \
               ORDER BY n.id LIMIT $3 {}) \
             RETURNING {}",
            self.db.skip_locked(),
            column_names(Notification::COLUMNS)
        );
        let mut claimed: Vec<Notification> =
            query(AssertSqlSafe(sql)).bind(now).bind(lease_until).bind(limit).fetch_all(&self.db).await?;
        claimed.sort_by_key(|n| n.id);
        Ok(claimed)
    }

    async fn notification_sent(&self, id: i64, attempts: i64) -> StoreResult<bool> {
        let done = query(
            "UPDATE alert_notifications SET status = 'sent', sent_at = $3, last_error = NULL, locked_until = NULL \
             WHERE id = $1 AND attempts = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(attempts)
        .bind(clock::now())
        .execute(&self.db)
        .await?;
        Ok(done > 0)
    }

    async fn notification_retry(&self, id: i64, attempts: i64, at: DateTime<Utc>, error: &str) -> StoreResult<bool> {
        let done = query(
            "UPDATE alert_notifications SET status = 'pending', next_attempt_at = $3, last_error = $4, \
               locked_until = NULL WHERE id = $1 AND attempts = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(attempts)
        .bind(at)
        .bind(error)
        .execute(&self.db)
        .await?;
        Ok(done > 0)
    }

    async fn notification_failed(&self, id: i64, attempts: i64, error: &str) -> StoreResult<bool> {
        let done = query(
            "UPDATE alert_notifications SET status = 'failed', last_error = $3, locked_until = NULL \
             WHERE id = $1 AND attempts = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(attempts)
        .bind(error)
        .execute(&self.db)
        .await?;
        Ok(done > 0)
    }

    async fn alert_notifications(&self, alert_id: i64) -> StoreResult<Vec<Notification>> {
        Ok(query(AssertSqlSafe(select::<Notification>("alert_notifications", "WHERE alert_id = $1 ORDER BY id")))
            .bind(alert_id)
            .fetch_all(&self.db)
            .await?)
    }

    async fn report_github_breaker(
        &self,
        replica: &str,
        paused_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> StoreResult<()> {
        query(
            "INSERT INTO github_breakers (replica, paused_until, seen_at) VALUES ($1, $2, $3) \
             ON CONFLICT (replica) DO UPDATE SET paused_until = excluded.paused_until, seen_at = excluded.seen_at",
        )
        .bind(replica)
        .bind(paused_until)
        .bind(now)
        .execute(&self.db)
        .await?;
        query("DELETE FROM github_breakers WHERE seen_at < $1").bind(forget_before).execute(&self.db).await?;
        Ok(())
    }

    async fn github_paused_anywhere(&self, now: DateTime<Utc>, seen_since: DateTime<Utc>) -> StoreResult<bool> {
        let paused: Option<(String,)> =
            query("SELECT replica FROM github_breakers WHERE paused_until > $1 AND seen_at >= $2 LIMIT 1")
                .bind(now)
                .bind(seen_since)
                .fetch_optional(&self.db)
                .await?;
        Ok(paused.is_some())
    }
}
