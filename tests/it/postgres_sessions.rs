//! ccm's PostgreSQL connections set what its promises rest on rather than trusting the server's
//! defaults: a commit is durable before ccm answers (`synchronous_commit = on`), and statements
//! and idle transactions are bounded (`statement_timeout`, `idle_in_transaction_session_timeout`).

use std::time::Duration;

use ccm::store::{DbOptions, SqlStore};
use sqlx::Connection;

async fn show(pool: &sqlx::PgPool, setting: &str) -> String {
    let (value,): (String,) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SHOW {setting}"))).fetch_one(pool).await.expect("SHOW");
    value
}

/// Even where the database's own default says otherwise (`synchronous_commit = off`, no
/// timeouts), every connection of ccm's pool has the settings ccm asks for: the defaults, then
/// others given.
#[actix_web::test]
async fn ccm_connections_set_durability_and_timeouts() {
    let url = crate::helpers::fresh_postgres_database().await;
    let name = url.rsplit('/').next().unwrap().to_string();
    let mut admin = sqlx::PgConnection::connect(&crate::helpers::postgres_admin_url()).await.expect("connect");
    for setting in ["synchronous_commit = off", "statement_timeout = 0", "idle_in_transaction_session_timeout = 0"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE {name} SET {setting}")))
            .execute(&mut admin)
            .await
            .expect("change the database's defaults");
    }

    let store = SqlStore::connect(&url, 3).await.expect("open with the defaults");
    let pool = store.postgres_pool().expect("PostgreSQL");
    assert_eq!(show(pool, "synchronous_commit").await, "on");
    assert_eq!(show(pool, "statement_timeout").await, "30s");
    assert_eq!(show(pool, "idle_in_transaction_session_timeout").await, "1min");
    // ccm's own setting (generic plans) is still there beside them.
    assert_eq!(show(pool, "plan_cache_mode").await, "force_generic_plan");

    let options = DbOptions {
        statement_timeout: Duration::from_secs(7),
        idle_in_transaction_timeout: Duration::from_secs(90),
        ..DbOptions::new(2)
    };
    let store = SqlStore::connect_with(&url, &options).await.expect("open with other timeouts");
    let pool = store.postgres_pool().expect("PostgreSQL");
    assert_eq!(show(pool, "statement_timeout").await, "7s");
    assert_eq!(show(pool, "idle_in_transaction_session_timeout").await, "90s");
    assert_eq!(show(pool, "synchronous_commit").await, "on");
}
