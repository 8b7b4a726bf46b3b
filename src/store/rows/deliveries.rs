//! A delivery as `deliveries` stores it, with the state it is stored in: the insert's columns
//! (`NewDelivery`), and the columns a `DeliverySummary` and a `StoredDelivery` are read from.

use chrono::{DateTime, Utc};

use super::SqlType::{Bytes, Int, Json, Text, Time};
use super::{Cell, CellSource, Column, ReadRow, WrittenRow, column, joined};
use crate::domain::status::DeliveryStatus;
use crate::store::deliveries::Settled;
use crate::store::{DeliverySummary, IncomingDelivery, StoredDelivery};

/// A delivery about to be inserted: what was received, and its state after this attempt.
pub(crate) struct NewDelivery<'a> {
    pub delivery: &'a IncomingDelivery,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_error: Option<&'a str>,
    pub processed_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl<'a> NewDelivery<'a> {
    /// A delivery processed once, now, and left as `settle` says (see `deliveries::settle`).
    pub(crate) fn settled(delivery: &'a IncomingDelivery, settled: &'a Settled, now: DateTime<Utc>) -> Self {
        let (status, error, next) = settled;
        NewDelivery {
            delivery,
            status: *status,
            attempts: 1,
            last_error: error.as_deref(),
            processed_at: Some(now),
            next_attempt_at: *next,
        }
    }
}

impl WrittenRow for NewDelivery<'_> {
    const COLUMNS: &'static [Column] = &[
        column("guid", Text),
        column("event", Text),
        column("action", Text),
        column("installation_id", Int),
        column("repository", Text),
        column("repo_key", Text),
        column("hook_id", Int),
        column("received_at", Time),
        column("headers", Json),
        column("body", Bytes),
        column("body_size", Int),
        column("status", Text),
        column("attempts", Int),
        column("last_error", Text),
        column("processed_at", Time),
        column("next_attempt_at", Time),
    ];

    fn cells(&self, _now: DateTime<Utc>) -> Vec<Cell<'_>> {
        let d = self.delivery;
        vec![
            d.guid.as_str().into(),
            d.event.as_str().into(),
            d.action.as_deref().into(),
            d.installation_id.into(),
            d.repository.as_deref().into(),
            d.repository.as_ref().map(|r| r.to_lowercase()).into(),
            d.hook_id.into(),
            d.received_at.into(),
            (&*d.headers).into(),
            Cell::Bytes(&d.body),
            d.body_size.into(),
            self.status.as_str().into(),
            self.attempts.into(),
            self.last_error.into(),
            self.processed_at.into(),
            self.next_attempt_at.into(),
        ]
    }
}

impl ReadRow for DeliverySummary {
    const COLUMNS: &'static [Column] = &[
        column("guid", Text),
        column("event", Text),
        column("action", Text),
        column("installation_id", Int),
        column("repository", Text),
        column("hook_id", Int),
        column("received_at", Time),
        column("status", Text),
        column("attempts", Int),
        column("last_error", Text),
        column("processed_at", Time),
        column("next_attempt_at", Time),
        column("body_size", Int),
    ];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        Ok(DeliverySummary {
            guid: cells.next()?,
            event: cells.next()?,
            action: cells.next()?,
            installation_id: cells.next()?,
            repository: cells.next()?,
            hook_id: cells.next()?,
            received_at: cells.next()?,
            status: cells.next()?,
            attempts: cells.next()?,
            last_error: cells.next()?,
            processed_at: cells.next()?,
            next_attempt_at: cells.next()?,
            body_size: cells.next()?,
        })
    }
}

/// A summary's columns, then the headers and the body.
const STORED_DELIVERY: [Column; 16] =
    joined(DeliverySummary::COLUMNS, &[column("headers", Json), column("body_encoding", Text), column("body", Bytes)]);

impl ReadRow for StoredDelivery {
    const COLUMNS: &'static [Column] = &STORED_DELIVERY;

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        Ok(StoredDelivery {
            summary: DeliverySummary::read(cells)?,
            headers: cells.next()?,
            body_encoding: cells.next()?,
            body: cells.next()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Processing;

    #[test]
    fn cells_match_columns() {
        let delivery = IncomingDelivery {
            guid: "g".into(),
            event: "push".into(),
            action: None,
            installation_id: Some(1),
            repository: Some("Octo/App".into()),
            hook_id: None,
            received_at: Utc::now(),
            headers: serde_json::value::RawValue::from_string("{}".into()).unwrap(),
            body: vec![1, 2],
            body_size: 2,
            processing: Processing::Ignore,
        };
        let row = NewDelivery {
            delivery: &delivery,
            status: DeliveryStatus::Ignored,
            attempts: 1,
            last_error: None,
            processed_at: None,
            next_attempt_at: None,
        };
        super::super::tests::assert_cells_match(&row);
        assert_eq!(row.cells(Utc::now())[5], Cell::from("octo/app".to_string()));
    }

    #[test]
    fn reads_match_columns() {
        super::super::reads::tests::assert_reads_match::<DeliverySummary>();
        super::super::reads::tests::assert_reads_match::<StoredDelivery>();
        assert_eq!(StoredDelivery::COLUMNS[..13], *DeliverySummary::COLUMNS);
    }
}
