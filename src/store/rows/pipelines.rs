//! A pipeline as `pipelines` stores it, and an entry of its audit log: the columns a `Pipeline`
//! and an `AuditRecord` are read from.

use super::SqlType::{Int, Json, Text, Time};
use super::{CellSource, Column, ReadRow, column};
use crate::domain::pipeline::Pipeline;
use crate::store::AuditRecord;

impl ReadRow for Pipeline {
    const COLUMNS: &'static [Column] = &[
        column("id", Text),
        column("repository", Text),
        column("workflow_file", Text),
        column("status", Text),
        column("config", Json),
        column("linked_domain", Text),
        column("linked_app", Text),
        column("version", Int),
        column("created_at", Time),
        column("updated_at", Time),
        column("deactivated_at", Time),
    ];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        Ok(Pipeline {
            id: cells.next()?,
            repository: cells.next()?,
            workflow_file: cells.next()?,
            status: cells.next()?,
            config: cells.next()?,
            linked_domain: cells.next()?,
            linked_app: cells.next()?,
            version: cells.next()?,
            created_at: cells.next()?,
            updated_at: cells.next()?,
            deactivated_at: cells.next()?,
        })
    }
}

impl ReadRow for AuditRecord {
    const COLUMNS: &'static [Column] = &[
        column("id", Int),
        column("at", Time),
        column("actor", Text),
        column("action", Text),
        column("pipeline_id", Text),
        column("details", Json),
    ];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        Ok(AuditRecord {
            id: cells.next()?,
            at: cells.next()?,
            actor: cells.next()?,
            action: cells.next()?,
            pipeline_id: cells.next()?,
            details: cells.next()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_match_columns() {
        super::super::reads::tests::assert_reads_match::<Pipeline>();
        super::super::reads::tests::assert_reads_match::<AuditRecord>();
    }
}
