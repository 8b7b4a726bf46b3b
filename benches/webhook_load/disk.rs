//! `--disk`: what the stored deliveries take on disk, read from the database at the end of the
//! load: each table with its indexes (SQLite's `dbstat`, PostgreSQL's `pg_total_relation_size`,
//! TOAST included), the compressed bodies' bytes, and the figures per stored delivery.

use sqlx::{Connection, Row};

/// A table (with its indexes) and its bytes on disk.
struct TableSize {
    name: String,
    bytes: i64,
}

pub async fn report(url: &str, stored: usize) {
    let (tables, bodies, deliveries) = if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query("VACUUM ANALYZE").execute(&mut conn).await.expect("vacuum");
        let rows = sqlx::query(
            "SELECT c.relname::text AS name, pg_total_relation_size(c.oid)::bigint AS bytes FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' \
             ORDER BY 2 DESC",
        )
        .fetch_all(&mut conn)
        .await
        .expect("table sizes");
        let tables: Vec<TableSize> =
            rows.iter().map(|r| TableSize { name: r.get("name"), bytes: r.get("bytes") }).collect();
        let row = sqlx::query("SELECT COUNT(*)::bigint, COALESCE(SUM(octet_length(body)), 0)::bigint FROM deliveries")
            .fetch_one(&mut conn)
            .await
            .expect("bodies");
        (tables, row.get::<i64, _>(1), row.get::<i64, _>(0))
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("open");
        // Each table's pages and its indexes' pages (dbstat names each b-tree; an index is
        // counted with the table it belongs to).
        let rows = sqlx::query(
            "SELECT COALESCE(m.tbl_name, d.name) AS name, SUM(d.pgsize) AS bytes FROM dbstat d \
             LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1 ORDER BY 2 DESC",
        )
        .fetch_all(&mut conn)
        .await
        .expect("dbstat (SQLite built with SQLITE_ENABLE_DBSTAT_VTAB)");
        let tables: Vec<TableSize> =
            rows.iter().map(|r| TableSize { name: r.get("name"), bytes: r.get("bytes") }).collect();
        let row = sqlx::query("SELECT COUNT(*), COALESCE(SUM(length(body)), 0) FROM deliveries")
            .fetch_one(&mut conn)
            .await
            .expect("bodies");
        (tables, row.get::<i64, _>(1), row.get::<i64, _>(0))
    };
    print(&tables, bodies, deliveries, stored);
}

fn print(tables: &[TableSize], bodies: i64, deliveries: i64, stored: usize) {
    let total: i64 = tables.iter().map(|t| t.bytes).sum();
    let per = |bytes: i64| bytes as f64 / stored.max(1) as f64;
    println!("disk: {stored} deliveries stored ({deliveries} rows), {:.1} MB in all", total as f64 / 1e6);
    println!("| table (with its indexes) | MB | bytes per stored delivery |");
    println!("|---|---:|---:|");
    for t in tables.iter().filter(|t| t.bytes >= 64 * 1024) {
        println!("| {} | {:.1} | {:.0} |", t.name, t.bytes as f64 / 1e6, per(t.bytes));
    }
    println!("| all tables | {:.1} | {:.0} |", total as f64 / 1e6, per(total));
    println!("compressed bodies: {:.0} bytes per delivery (part of deliveries)", per(bodies));
}
