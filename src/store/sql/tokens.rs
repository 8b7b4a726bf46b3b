//! Named API tokens (`api_tokens`): created, listed, looked up by their digest, revoked, and
//! their last use noted.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::db::query;
use super::pipelines::insert_audit;
use crate::domain::clock;
use crate::domain::tokens::{ApiToken, NewToken};
use crate::store::rows::{ReadRow, column_names};
use crate::store::{NewAudit, SqlStore, StoreError, StoreResult, classify};

/// `audit` with the token's id in its details.
fn with_id(audit: &NewAudit, id: i64) -> NewAudit {
    let mut audit = audit.clone();
    if let serde_json::Value::Object(details) = &mut audit.details {
        details.insert("token_id".into(), id.into());
    }
    audit
}

fn select(rest: &str) -> String {
    format!("SELECT {} FROM api_tokens {rest}", column_names(ApiToken::COLUMNS))
}

#[async_trait]
pub trait TokenStore {
    /// Stores a token and its audit entry (`id` is added to its details); `Conflict` when a
    /// token not revoked already has its name.
    async fn create_token(&self, token: &NewToken, audit: &NewAudit) -> StoreResult<ApiToken>;

    /// Every token, revoked and expired ones included, oldest first.
    async fn list_tokens(&self) -> StoreResult<Vec<ApiToken>>;

    /// The token whose digest is `token_hash` (revoked or expired included).
    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiToken>>;

    /// Revokes a token (a token revoked before keeps its time) and writes the audit entry;
    /// `None` when there is no such id.
    async fn revoke_token(&self, id: i64, audit: &NewAudit) -> StoreResult<Option<ApiToken>>;

    /// Notes that a token was used at `at`.
    async fn touch_token(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()>;
}

#[async_trait]
impl TokenStore for SqlStore {
    async fn create_token(&self, token: &NewToken, audit: &NewAudit) -> StoreResult<ApiToken> {
        let mut tx = self.db.begin().await?;
        let sql = format!(
            "INSERT INTO api_tokens (name, scope, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING {}",
            column_names(ApiToken::COLUMNS)
        );
        let created: ApiToken = query(AssertSqlSafe(sql))
            .bind(token.name.as_str())
            .bind(token.scope.as_str())
            .bind(token.token_hash.as_str())
            .bind(clock::now())
            .bind(token.expires_at)
            .fetch_one(&mut tx)
            .await
            .map_err(|err| match classify(err) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("a token named '{}' exists", token.name)),
                other => other,
            })?;
        insert_audit(&mut tx, &with_id(audit, created.id)).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn list_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        Ok(query(AssertSqlSafe(select("ORDER BY id"))).fetch_all(&self.db).await?)
    }

    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
        Ok(query(AssertSqlSafe(select("WHERE token_hash = $1"))).bind(token_hash).fetch_optional(&self.db).await?)
    }

    async fn revoke_token(&self, id: i64, audit: &NewAudit) -> StoreResult<Option<ApiToken>> {
        let mut tx = self.db.begin().await?;
        let revoked = query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(clock::now())
            .execute(&mut tx)
            .await?;
        let token: Option<ApiToken> =
            query(AssertSqlSafe(select("WHERE id = $1"))).bind(id).fetch_optional(&mut tx).await?;
        if revoked > 0 {
            insert_audit(&mut tx, &with_id(audit, id)).await?;
        }
        tx.commit().await?;
        Ok(token)
    }

    async fn touch_token(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()> {
        query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1").bind(id).bind(at).execute(&self.db).await?;
        Ok(())
    }
}
