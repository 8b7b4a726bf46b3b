//! Id counters after a copy: rows were inserted with their ids, which neither PostgreSQL's
//! sequences nor SQLite's `sqlite_sequence` (AUTOINCREMENT) count, so each is set to the largest
//! id copied, or to the source's own counter when that is further (ids of deleted rows are
//! never given again, as on the source).

use super::tx::{Tx, quoted};
use super::values::Val;
use crate::store::Backend;

fn text(value: &str) -> Val {
    Val::Text(Some(value.to_string()))
}

/// PostgreSQL: the sequence behind `table.column`, if it has one.
async fn serial_sequence(tx: &mut Tx<'_>, table: &str, column: &str) -> anyhow::Result<Option<String>> {
    let rows =
        tx.texts("SELECT CAST(pg_get_serial_sequence($1, $2) AS TEXT)", vec![text(table), text(column)], 1).await?;
    Ok(rows.into_iter().next().map(|mut r| r.remove(0)).filter(|s| !s.is_empty()))
}

/// SQLite: whether `table` keeps its counter in `sqlite_sequence`.
async fn autoincrement(tx: &mut Tx<'_>, table: &str) -> anyhow::Result<bool> {
    let sql = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1 \
               AND upper(sql) LIKE '%AUTOINCREMENT%'";
    Ok(tx.int(sql.into(), vec![text(table)]).await? > 0)
}

/// The last id the source's counter gave for `table` (0: none, or no counter).
pub(super) async fn source_counter(tx: &mut Tx<'_>, table: &str, column: &str) -> anyhow::Result<i64> {
    match tx.backend() {
        Backend::Sqlite => {
            if !autoincrement(tx, table).await? {
                return Ok(0);
            }
            tx.int("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = $1".into(), vec![text(table)]).await
        }
        Backend::Postgres => match serial_sequence(tx, table, column).await? {
            // The name comes from the catalog, already quoted where it needs it.
            Some(seq) => {
                tx.int(format!("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {seq}"), vec![]).await
            }
            None => Ok(0),
        },
    }
}

/// Sets the target's counter for `table` past every id it holds and past `source`.
pub(super) async fn set_target_counter(tx: &mut Tx<'_>, table: &str, column: &str, source: i64) -> anyhow::Result<()> {
    let largest = format!("SELECT COALESCE(MAX({}), 0) FROM {}", quoted(column), quoted(table));
    match tx.backend() {
        Backend::Sqlite => {
            if !autoincrement(tx, table).await? {
                return Ok(());
            }
            let value = tx.int(largest, vec![]).await?.max(source);
            let binds = || vec![text(table), Val::Int(Some(value))];
            let updated = tx.execute("UPDATE sqlite_sequence SET seq = $2 WHERE name = $1".into(), binds()).await?;
            if updated == 0 && value > 0 {
                tx.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ($1, $2)".into(), binds()).await?;
            }
        }
        Backend::Postgres => {
            let Some(seq) = serial_sequence(tx, table, column).await? else { return Ok(()) };
            let value = tx.int(largest, vec![]).await?.max(source);
            if value > 0 {
                tx.int("SELECT setval(CAST($1 AS regclass), $2)".into(), vec![text(&seq), Val::Int(Some(value))])
                    .await?;
            }
        }
    }
    Ok(())
}
