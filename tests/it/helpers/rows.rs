//! Rows written or changed behind ccm's back, straight through the database: what a crash, a
//! corrupted disk or an operator leaves, for the tests of how ccm copes.

use chrono::{DateTime, Utc};

use super::{Backend, TestDb};

/// Runs one statement (no parameters) on the test database.
pub async fn execute(db: &TestDb, backend: Backend, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("open the file");
            sqlx::raw_sql(sql).execute(&pool).await.expect("run the statement");
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
            sqlx::raw_sql(sql).execute(&pool).await.expect("run the statement");
            pool.close().await;
        }
    }
}

/// The number one query (no parameters) answers, such as a `SELECT COUNT(*)`.
pub async fn count(db: &TestDb, backend: Backend, sql: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("open the file");
            let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.expect("run the query");
            pool.close().await;
            n
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
            let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.expect("run the query");
            pool.close().await;
            n
        }
    }
}

/// Stores a `pending` delivery with `stored` as its (compressed) body, as if ccm had stored it and
/// stopped before processing it.
pub async fn insert_pending_delivery(db: &TestDb, backend: Backend, guid: &str, event: &str, stored: &[u8]) {
    let now = Utc::now();
    let sql = "INSERT INTO deliveries (guid, event, received_at, headers, body_encoding, body, body_size, status, \
                 attempts, next_attempt_at) VALUES ($1, $2, $3, $4, 'lz4', $5, $6, 'pending', 0, $3)";
    let headers = serde_json::json!({"x-github-event": event, "x-github-delivery": guid});
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("open the file");
            sqlx::query(sql)
                .bind(guid)
                .bind(event)
                .bind(now)
                .bind(headers.to_string())
                .bind(stored)
                .bind(stored.len() as i64)
                .execute(&pool)
                .await
                .expect("insert the delivery");
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
            sqlx::query(sql)
                .bind(guid)
                .bind(event)
                .bind(now)
                .bind(headers)
                .bind(stored)
                .bind(stored.len() as i64)
                .execute(&pool)
                .await
                .expect("insert the delivery");
            pool.close().await;
        }
    }
}

/// Makes a stored delivery due for its retry now.
pub async fn make_due(db: &TestDb, backend: Backend, guid: &str) {
    let past: DateTime<Utc> = Utc::now() - chrono::Duration::seconds(1);
    set_time(db, backend, &format!("UPDATE deliveries SET next_attempt_at = $1 WHERE guid = '{guid}'"), past).await;
}

/// Runs `sql` with `at` as its `$1` (a time, written as ccm writes them).
pub async fn set_time(db: &TestDb, backend: Backend, sql: &str, at: DateTime<Utc>) {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("open the file");
            sqlx::query(sql).bind(at).execute(&pool).await.expect("update");
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
            sqlx::query(sql).bind(at).execute(&pool).await.expect("update");
            pool.close().await;
        }
    }
}
