//! Which GitHub App installation covers which repositories (from `installation` and
//! `installation_repositories` events).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::db::{On, query};
use crate::store::{SqlStore, StoreResult};

/// A change to installations, as an `installation` or `installation_repositories` event says.
#[derive(Debug, Clone, PartialEq)]
pub enum InstallationChange {
    /// `created` (with the repositories it covers) or `new_permissions_accepted`.
    Upsert {
        id: i64,
        account: Option<String>,
        repositories: Option<Vec<String>>,
    },
    Deleted {
        id: i64,
    },
    Suspended {
        id: i64,
        suspended: bool,
    },
    RepositoriesAdded {
        id: i64,
        account: Option<String>,
        repositories: Vec<String>,
    },
    RepositoriesRemoved {
        id: i64,
        repositories: Vec<String>,
    },
}

#[async_trait]
pub trait InstallationStore {
    async fn apply_installation_change(&self, change: &InstallationChange) -> StoreResult<()>;

    /// The installation that covers a repository (case-insensitive), unless deleted or suspended.
    async fn installation_for_repository(&self, repository: &str) -> StoreResult<Option<i64>>;
}

/// Applies one change on a pool or in a transaction.
pub(crate) async fn apply_change(on: &mut On<'_>, change: &InstallationChange) -> StoreResult<()> {
    let now = crate::domain::clock::now();
    match change {
        InstallationChange::Upsert { id, account, repositories } => {
            upsert(on, *id, account, now).await?;
            if let Some(repositories) = repositories {
                remove_repos(on, *id).await?;
                add_repos(on, *id, repositories).await?;
            }
        }
        InstallationChange::Deleted { id } => {
            query(
                "INSERT INTO installations (id, deleted, updated_at) VALUES ($1, TRUE, $2) \
                 ON CONFLICT (id) DO UPDATE SET deleted = TRUE, updated_at = excluded.updated_at",
            )
            .bind(*id)
            .bind(now)
            .execute(&mut *on)
            .await?;
            remove_repos(on, *id).await?;
        }
        InstallationChange::Suspended { id, suspended } => {
            query(
                "INSERT INTO installations (id, suspended, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET suspended = excluded.suspended, updated_at = excluded.updated_at",
            )
            .bind(*id)
            .bind(*suspended)
            .bind(now)
            .execute(on)
            .await?;
        }
        InstallationChange::RepositoriesAdded { id, account, repositories } => {
            upsert(on, *id, account, now).await?;
            add_repos(on, *id, repositories).await?;
        }
        InstallationChange::RepositoriesRemoved { id, repositories } => {
            for repo in repositories {
                query("DELETE FROM installation_repositories WHERE installation_id = $1 AND repo_key = $2")
                    .bind(*id)
                    .bind(repo.to_lowercase())
                    .execute(&mut *on)
                    .await?;
            }
        }
    }
    Ok(())
}

async fn upsert(on: &mut On<'_>, id: i64, account: &Option<String>, now: DateTime<Utc>) -> StoreResult<()> {
    query(
        "INSERT INTO installations (id, account, suspended, deleted, updated_at) \
         VALUES ($1, $2, FALSE, FALSE, $3) \
         ON CONFLICT (id) DO UPDATE SET account = COALESCE(excluded.account, installations.account), \
           deleted = FALSE, updated_at = excluded.updated_at",
    )
    .bind(id)
    .bind(account)
    .bind(now)
    .execute(on)
    .await?;
    Ok(())
}

async fn add_repos(on: &mut On<'_>, id: i64, repositories: &[String]) -> StoreResult<()> {
    for repo in repositories {
        query(
            "INSERT INTO installation_repositories (installation_id, repo_key, repository) \
             VALUES ($1, $2, $3) ON CONFLICT (installation_id, repo_key) DO NOTHING",
        )
        .bind(id)
        .bind(repo.to_lowercase())
        .bind(repo)
        .execute(&mut *on)
        .await?;
    }
    Ok(())
}

async fn remove_repos(on: &mut On<'_>, id: i64) -> StoreResult<()> {
    query("DELETE FROM installation_repositories WHERE installation_id = $1").bind(id).execute(on).await?;
    Ok(())
}

#[async_trait]
impl InstallationStore for SqlStore {
    async fn apply_installation_change(&self, change: &InstallationChange) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        apply_change(&mut tx.on(), change).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn installation_for_repository(&self, repository: &str) -> StoreResult<Option<i64>> {
        let id: Option<(i64,)> = query(
            "SELECT r.installation_id FROM installation_repositories r \
             JOIN installations i ON i.id = r.installation_id \
             WHERE r.repo_key = $1 AND i.deleted = FALSE AND i.suspended = FALSE \
             ORDER BY r.installation_id LIMIT 1",
        )
        .bind(repository.to_lowercase())
        .fetch_optional(&self.db)
        .await?;
        Ok(id.map(|(id,)| id))
    }
}
