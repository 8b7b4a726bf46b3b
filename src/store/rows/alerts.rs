//! Channels, rules, alerts and their queued notifications, as stored.

use serde_json::Value;
use sqlx::types::Json;

use super::SqlType::{Int, Json as JsonType, Text, Time};
use super::{CellSource, Column, ReadRow, column};
use crate::domain::alerts::{Alert, AlertRun, Channel, Hidden, Rule, RuleSpec};
use crate::store::sql::alerts::Notification;

impl ReadRow for Channel {
    const COLUMNS: &'static [Column] = &[
        column("id", Int),
        column("name", Text),
        column("kind", Text),
        column("url", Text),
        column("secret", Text),
        column("recipients", JsonType),
        column("created_at", Time),
    ];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        let id = cells.next()?;
        let name = cells.next()?;
        let kind = cells.next()?;
        let url: Option<String> = cells.next()?;
        let secret: Option<String> = cells.next()?;
        let to: Json<Vec<String>> = cells.next()?;
        Ok(Channel {
            id,
            name,
            kind,
            url: url.map(Hidden),
            secret: secret.map(Hidden),
            to: to.0,
            created_at: cells.next()?,
        })
    }
}

impl ReadRow for Rule {
    const COLUMNS: &'static [Column] = &[
        column("id", Int),
        column("name", Text),
        column("kind", Text),
        column("pipeline_id", Text),
        column("spec", JsonType),
        column("created_at", Time),
    ];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        let id = cells.next()?;
        let name = cells.next()?;
        let kind = cells.next()?;
        let pipeline_id = cells.next()?;
        let spec: Json<RuleSpec> = cells.next()?;
        Ok(Rule { id, name, kind, pipeline_id, spec: spec.0, created_at: cells.next()? })
    }
}

impl ReadRow for Alert {
    const COLUMNS: &'static [Column] = &[
        column("id", Int),
        column("rule_id", Int),
        column("kind", Text),
        column("state", Text),
        column("pipeline_id", Text),
        column("repository", Text),
        column("workflow_file", Text),
        column("summary", Text),
        column("details", JsonType),
        column("run", JsonType),
        column("started_at", Time),
        column("resolved_at", Time),
        column("acknowledged_at", Time),
    ];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        let id = cells.next()?;
        let rule_id = cells.next()?;
        let kind = cells.next()?;
        let state = cells.next()?;
        let pipeline_id = cells.next()?;
        let repository = cells.next()?;
        let workflow_file = cells.next()?;
        let summary = cells.next()?;
        let details: Json<Value> = cells.next()?;
        let run: Json<Option<AlertRun>> = cells.next()?;
        Ok(Alert {
            id,
            rule_id,
            kind,
            state,
            pipeline_id,
            repository,
            workflow_file,
            summary,
            details: details.0,
            run: run.0,
            started_at: cells.next()?,
            resolved_at: cells.next()?,
            acknowledged_at: cells.next()?,
        })
    }
}

impl ReadRow for Notification {
    const COLUMNS: &'static [Column] = &[
        column("id", Int),
        column("alert_id", Int),
        column("channel_id", Int),
        column("event", Text),
        column("delivery_id", Text),
        column("payload", JsonType),
        column("status", Text),
        column("attempts", Int),
        column("last_error", Text),
        column("created_at", Time),
        column("sent_at", Time),
    ];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        let id = cells.next()?;
        let alert_id = cells.next()?;
        let channel_id = cells.next()?;
        let event = cells.next()?;
        let delivery_id = cells.next()?;
        let payload: Json<Value> = cells.next()?;
        Ok(Notification {
            id,
            alert_id,
            channel_id,
            event,
            delivery_id,
            payload: payload.0,
            status: cells.next()?,
            attempts: cells.next()?,
            last_error: cells.next()?,
            created_at: cells.next()?,
            sent_at: cells.next()?,
        })
    }
}
