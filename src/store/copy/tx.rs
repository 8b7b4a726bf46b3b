//! A transaction at either end, and the few statements the copy runs on it: dynamic SQL (table
//! and column names from the catalog and the table list, quoted) with values bound as `Val`s.

use anyhow::Context;
use sqlx::{AssertSqlSafe, Connection, Postgres, Sqlite, Transaction};

use super::endpoint::Conn;
use super::values::{self, ColType, Val};
use crate::store::Backend;

pub(super) enum Tx<'c> {
    Sqlite(Transaction<'c, Sqlite>),
    Postgres(Transaction<'c, Postgres>),
}

/// `"name"`: an identifier quoted for either database.
pub(super) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Conn {
    /// A read-only snapshot of the source: every table is read as it was at one moment, so the
    /// copy is consistent even while a ccm still writes to the source.
    pub(super) async fn snapshot(&mut self) -> anyhow::Result<Tx<'_>> {
        Ok(match self {
            // Deferred: the snapshot is taken at the first read, and no write lock is held.
            Conn::Sqlite(conn) => Tx::Sqlite(conn.begin_with("BEGIN DEFERRED").await?),
            Conn::Postgres(conn) => {
                Tx::Postgres(conn.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?)
            }
        })
    }

    /// The target's one transaction: the copy commits whole or not at all.
    pub(super) async fn write(&mut self) -> anyhow::Result<Tx<'_>> {
        Ok(match self {
            Conn::Sqlite(conn) => Tx::Sqlite(conn.begin_with("BEGIN IMMEDIATE").await?),
            Conn::Postgres(conn) => Tx::Postgres(conn.begin().await?),
        })
    }
}

impl Tx<'_> {
    pub(super) fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    pub(super) async fn commit(self) -> anyhow::Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    /// The rows of `sql`, each column read as `types` says.
    pub(super) async fn rows(
        &mut self,
        sql: String,
        binds: Vec<Val>,
        types: &[ColType],
    ) -> anyhow::Result<Vec<Vec<Val>>> {
        let shown = sql.clone();
        let rows = match self {
            Tx::Sqlite(tx) => {
                let mut args = sqlx::sqlite::SqliteArguments::default();
                for value in binds {
                    values::bind_sqlite(&mut args, value)?;
                }
                let rows = sqlx::query_with(AssertSqlSafe(sql), args).fetch_all(&mut **tx).await;
                let rows = rows.with_context(|| shown.clone())?;
                let read = rows.iter().map(|row| {
                    types
                        .iter()
                        .enumerate()
                        .map(|(i, ty)| values::read_sqlite(row, i, *ty))
                        .collect::<Result<Vec<_>, _>>()
                });
                read.collect::<Result<Vec<_>, _>>()
            }
            Tx::Postgres(tx) => {
                let mut args = sqlx::postgres::PgArguments::default();
                for value in binds {
                    values::bind_postgres(&mut args, value)?;
                }
                let rows = sqlx::query_with(AssertSqlSafe(sql), args).fetch_all(&mut **tx).await;
                let rows = rows.with_context(|| shown.clone())?;
                let read = rows.iter().map(|row| {
                    types
                        .iter()
                        .enumerate()
                        .map(|(i, ty)| values::read_postgres(row, i, *ty))
                        .collect::<Result<Vec<_>, _>>()
                });
                read.collect::<Result<Vec<_>, _>>()
            }
        };
        rows.with_context(|| format!("reading the rows of {shown}"))
    }

    /// Runs `sql`; the number of rows it changed.
    pub(super) async fn execute(&mut self, sql: String, binds: Vec<Val>) -> anyhow::Result<u64> {
        let shown = || sql.chars().take(200).collect::<String>();
        let done = match self {
            Tx::Sqlite(tx) => {
                let mut args = sqlx::sqlite::SqliteArguments::default();
                for value in binds {
                    values::bind_sqlite(&mut args, value)?;
                }
                sqlx::query_with(AssertSqlSafe(sql.clone()), args).execute(&mut **tx).await.map(|r| r.rows_affected())
            }
            Tx::Postgres(tx) => {
                let mut args = sqlx::postgres::PgArguments::default();
                for value in binds {
                    values::bind_postgres(&mut args, value)?;
                }
                sqlx::query_with(AssertSqlSafe(sql.clone()), args).execute(&mut **tx).await.map(|r| r.rows_affected())
            }
        };
        done.with_context(shown)
    }

    /// The first column of the first row of `sql`, an integer (0 when NULL or no row).
    pub(super) async fn int(&mut self, sql: String, binds: Vec<Val>) -> anyhow::Result<i64> {
        let rows = self.rows(sql, binds, &[ColType::Int]).await?;
        Ok(match rows.into_iter().next().and_then(|r| r.into_iter().next()) {
            Some(Val::Int(Some(n))) => n,
            _ => 0,
        })
    }

    /// Text columns of `sql`'s rows (NULL read as empty).
    pub(super) async fn texts(&mut self, sql: &str, binds: Vec<Val>, width: usize) -> anyhow::Result<Vec<Vec<String>>> {
        let types = vec![ColType::Text; width];
        let rows = self.rows(sql.to_string(), binds, &types).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|v| match v {
                        Val::Text(t) => t.unwrap_or_default(),
                        _ => String::new(),
                    })
                    .collect()
            })
            .collect())
    }

    /// The tables of this database, but SQLite's own and sqlx's `_sqlx_migrations`.
    pub(super) async fn tables(&mut self) -> anyhow::Result<Vec<String>> {
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
            }
        };
        let names = self.texts(sql, vec![], 1).await?.into_iter().map(|mut r| r.remove(0));
        Ok(names.filter(|n| n != "_sqlx_migrations").collect())
    }

    /// Whether sqlx's migrations table is there.
    pub(super) async fn has_migrations_table(&mut self) -> anyhow::Result<bool> {
        let sql = match self.backend() {
            Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            Backend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
            }
        };
        Ok(self.int(sql.into(), vec![]).await? > 0)
    }

    /// The versions of the migrations applied.
    pub(super) async fn applied_migrations(&mut self) -> anyhow::Result<Vec<i64>> {
        let sql = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version".to_string();
        let rows = self.rows(sql, vec![], &[ColType::Int]).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| match r.first() {
                Some(Val::Int(Some(v))) => Some(*v),
                _ => None,
            })
            .collect())
    }

    /// A table's columns in the catalog: name and declared type, in order.
    pub(super) async fn columns(&mut self, table: &str) -> anyhow::Result<Vec<(String, String)>> {
        let sql = match self.backend() {
            Backend::Sqlite => "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
            Backend::Postgres => {
                "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT) FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
            }
        };
        let rows = self.texts(sql, vec![Val::Text(Some(table.into()))], 2).await?;
        Ok(rows.into_iter().map(|mut r| (r.remove(0), r.remove(0))).collect())
    }

    /// How many rows `table` holds.
    pub(super) async fn count(&mut self, table: &str) -> anyhow::Result<i64> {
        self.int(format!("SELECT COUNT(*) FROM {}", quoted(table)), vec![]).await
    }

    /// Whether `table` holds any row.
    pub(super) async fn holds_rows(&mut self, table: &str) -> anyhow::Result<bool> {
        let sql = format!("SELECT COUNT(*) FROM (SELECT 1 FROM {} LIMIT 1) AS any_row", quoted(table));
        Ok(self.int(sql, vec![]).await? > 0)
    }
}
