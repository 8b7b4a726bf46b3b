//! Which GitHub App installation covers which repositories (from `installation` and
//! `installation_repositories` events).

use async_trait::async_trait;

use super::StoreResult;

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

macro_rules! installation_sql {
    ($store:ident, $db:ty) => {
        use $crate::store::installations::InstallationChange;
        use $crate::store::*;

        /// Applies one change on an open connection or transaction.
        pub(in crate::store) async fn apply_change(
            conn: &mut <$db as sqlx::Database>::Connection,
            change: &InstallationChange,
        ) -> StoreResult<()> {
            let now = $crate::domain::clock::now();
            async fn upsert(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: i64,
                account: &Option<String>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO installations (id, account, suspended, deleted, updated_at) \
                     VALUES ($1, $2, FALSE, FALSE, $3) \
                     ON CONFLICT (id) DO UPDATE SET account = COALESCE(excluded.account, installations.account), \
                       deleted = FALSE, updated_at = excluded.updated_at",
                )
                .bind(id)
                .bind(account)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }
            async fn add_repos(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: i64,
                repositories: &[String],
            ) -> StoreResult<()> {
                for repo in repositories {
                    sqlx::query(
                        "INSERT INTO installation_repositories (installation_id, repo_key, repository) \
                         VALUES ($1, $2, $3) ON CONFLICT (installation_id, repo_key) DO NOTHING",
                    )
                    .bind(id)
                    .bind(repo.to_lowercase())
                    .bind(repo)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            }
            match change {
                InstallationChange::Upsert { id, account, repositories } => {
                    upsert(conn, *id, account, now).await?;
                    if let Some(repositories) = repositories {
                        sqlx::query("DELETE FROM installation_repositories WHERE installation_id = $1")
                            .bind(id)
                            .execute(&mut *conn)
                            .await?;
                        add_repos(conn, *id, repositories).await?;
                    }
                }
                InstallationChange::Deleted { id } => {
                    sqlx::query(
                        "INSERT INTO installations (id, deleted, updated_at) VALUES ($1, TRUE, $2) \
                         ON CONFLICT (id) DO UPDATE SET deleted = TRUE, updated_at = excluded.updated_at",
                    )
                    .bind(id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query("DELETE FROM installation_repositories WHERE installation_id = $1")
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                }
                InstallationChange::Suspended { id, suspended } => {
                    sqlx::query(
                        "INSERT INTO installations (id, suspended, updated_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (id) DO UPDATE SET suspended = excluded.suspended, updated_at = excluded.updated_at",
                    )
                    .bind(id)
                    .bind(suspended)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                }
                InstallationChange::RepositoriesAdded { id, account, repositories } => {
                    upsert(conn, *id, account, now).await?;
                    add_repos(conn, *id, repositories).await?;
                }
                InstallationChange::RepositoriesRemoved { id, repositories } => {
                    for repo in repositories {
                        sqlx::query("DELETE FROM installation_repositories WHERE installation_id = $1 AND repo_key = $2")
                            .bind(id)
                            .bind(repo.to_lowercase())
                            .execute(&mut *conn)
                            .await?;
                    }
                }
            }
            Ok(())
        }

        #[async_trait::async_trait]
        impl InstallationStore for $store {
            async fn apply_installation_change(&self, change: &InstallationChange) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                apply_change(&mut *tx, change).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn installation_for_repository(&self, repository: &str) -> StoreResult<Option<i64>> {
                Ok(sqlx::query_scalar(
                    "SELECT r.installation_id FROM installation_repositories r \
                     JOIN installations i ON i.id = r.installation_id \
                     WHERE r.repo_key = $1 AND i.deleted = FALSE AND i.suspended = FALSE \
                     ORDER BY r.installation_id LIMIT 1",
                )
                .bind(repository.to_lowercase())
                .fetch_optional(&self.pool)
                .await?)
            }
        }
    };
}

pub(crate) use installation_sql;
