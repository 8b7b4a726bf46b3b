//! Deployments and their statuses as `deployments` and `deployment_statuses` store them.

use chrono::{DateTime, Utc};

use super::SqlType::{Int, Text, Time};
use super::{Cell, CellSource, Column, ReadRow, WrittenRow, column};
use crate::domain::deployments::{Deployment, DeploymentRecord, DeploymentStatus};

impl WrittenRow for DeploymentRecord {
    const COLUMNS: &'static [Column] = &[
        column("id", Int),
        column("repo_key", Text),
        column("repository", Text),
        column("environment", Text),
        column("sha", Text),
        column("git_ref", Text),
        column("task", Text),
        column("creator", Text),
        column("description", Text),
        column("run_id", Int),
        column("run_attempt", Int),
        column("created_at", Time),
        column("updated_at", Time),
    ];

    fn cells(&self, _now: DateTime<Utc>) -> Vec<Cell<'_>> {
        vec![
            self.id.into(),
            self.repository.to_lowercase().into(),
            self.repository.as_str().into(),
            self.environment.as_str().into(),
            self.sha.as_str().into(),
            (&self.git_ref).into(),
            (&self.task).into(),
            (&self.creator).into(),
            (&self.description).into(),
            self.run_id.into(),
            self.run_attempt.into(),
            self.created_at.into(),
            self.updated_at.into(),
        ]
    }
}

impl WrittenRow for DeploymentStatus {
    const COLUMNS: &'static [Column] = &[
        column("id", Int),
        column("deployment_id", Int),
        column("state", Text),
        column("description", Text),
        column("url", Text),
        column("created_at", Time),
    ];

    fn cells(&self, _now: DateTime<Utc>) -> Vec<Cell<'_>> {
        vec![
            self.id.into(),
            self.deployment_id.into(),
            self.state.as_str().into(),
            (&self.description).into(),
            (&self.url).into(),
            self.created_at.into(),
        ]
    }
}

impl ReadRow for DeploymentStatus {
    const COLUMNS: &'static [Column] = <DeploymentStatus as WrittenRow>::COLUMNS;

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        Ok(DeploymentStatus {
            id: cells.next()?,
            deployment_id: cells.next()?,
            state: cells.next()?,
            description: cells.next()?,
            url: cells.next()?,
            created_at: cells.next()?,
        })
    }
}

impl ReadRow for Deployment {
    const COLUMNS: &'static [Column] = &[
        column("id", Int),
        column("repository", Text),
        column("environment", Text),
        column("sha", Text),
        column("git_ref", Text),
        column("task", Text),
        column("creator", Text),
        column("description", Text),
        column("run_id", Int),
        column("run_attempt", Int),
        column("created_at", Time),
        column("state", Text),
        column("state_at", Time),
    ];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        Ok(Deployment {
            id: cells.next()?,
            repository: cells.next()?,
            environment: cells.next()?,
            sha: cells.next()?,
            git_ref: cells.next()?,
            task: cells.next()?,
            creator: cells.next()?,
            description: cells.next()?,
            run_id: cells.next()?,
            run_attempt: cells.next()?,
            created_at: cells.next()?,
            state: cells.next()?,
            state_at: cells.next()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status::DeploymentState;

    #[test]
    fn cells_match_columns() {
        let at = Utc::now();
        let record = DeploymentRecord {
            id: 1,
            repository: "Octo/App".into(),
            environment: "production".into(),
            sha: "abc".into(),
            git_ref: Some("main".into()),
            task: None,
            creator: None,
            description: None,
            run_id: Some(7),
            run_attempt: Some(1),
            created_at: at,
            updated_at: at,
        };
        super::super::tests::assert_cells_match(&record);
        let status = DeploymentStatus {
            id: 2,
            deployment_id: 1,
            state: DeploymentState::Success,
            description: None,
            url: None,
            created_at: at,
        };
        super::super::tests::assert_cells_match(&status);
    }

    #[test]
    fn reads_match_columns() {
        super::super::reads::tests::assert_reads_match::<Deployment>();
        super::super::reads::tests::assert_reads_match::<DeploymentStatus>();
    }
}
