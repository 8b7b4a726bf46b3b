//! `--old N`: a database that already holds N deliveries past every retention setting (received
//! 100 days ago, bodies still stored), so that with `--prune` the load runs while the background
//! pruner removes them (issue 18: ingest while pruning a million old rows). The old deliveries
//! are copies of one real delivery, made by one SQL statement each 10,000 rows.

use sqlx::Connection;

/// The GUIDs of the old deliveries start with this.
pub const PREFIX: &str = "old-";

/// Copies the delivery `template` (a GUID) `count` times, each received 100 days ago.
pub async fn seed(url: &str, template: &str, count: usize) {
    const CHUNK: usize = 10_000;
    let columns = "event, action, installation_id, repository, repo_key, hook_id, headers, body_encoding, body, \
                   body_size, attempts, last_error";
    let postgres = url.starts_with("postgres");
    let received = if postgres {
        "received_at - INTERVAL '100 days'"
    } else {
        "strftime('%Y-%m-%dT%H:%M:%f', received_at, '-100 days') || '+00:00'"
    };
    let mut done = 0;
    while done < count {
        let n = CHUNK.min(count - done);
        let sql = format!(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {n}) \
             INSERT INTO deliveries (guid, received_at, processed_at, status, {columns}) \
             SELECT '{PREFIX}' || CAST(g.n + {done} AS TEXT), {received}, {received}, 'processed', {columns} \
             FROM deliveries CROSS JOIN g WHERE guid = $1"
        );
        let inserted = if postgres {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(template).execute(&mut conn).await.map(|r| r.rows_affected())
        } else {
            let mut conn = sqlx::SqliteConnection::connect(url).await.expect("open");
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(template).execute(&mut conn).await.map(|r| r.rows_affected())
        };
        assert_eq!(inserted.expect("seed old deliveries"), n as u64, "the template delivery {template} is stored");
        done += n;
    }
}

/// The deliveries of the load itself (not the old ones, not the template).
pub async fn load_deliveries(url: &str) -> usize {
    let sql = "SELECT COUNT(*) FROM deliveries WHERE guid LIKE 'bench-%'";
    let n: i64 = if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.expect("count")
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("open");
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.expect("count")
    };
    n as usize
}
