//! One code path over both databases: `Db` holds either pool, `Tx` either transaction, and a
//! `Query` is a statement written once (with `$n` placeholders, which both accept) and its values
//! as `Cell`s, run on either and read through the row definitions of `rows/`. The areas match on
//! the backend only where their SQL differs.

use serde::Serialize;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{PgConnection, PgPool, Postgres, SqlSafeStr, SqlStr, Sqlite, SqliteConnection, SqlitePool, Transaction};

use crate::store::Backend;
use crate::store::rows::{Cell, FromCells, SqlxCell, arguments, read_sqlx};

/// The pool of either database.
#[derive(Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Begins a transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`, waiting
    /// up to the busy timeout for it): every transaction of ccm writes, and one begun deferred
    /// that read first could not take the lock later once another connection had written since
    /// its read (`SQLITE_BUSY` at once, whatever the busy timeout).
    pub(crate) async fn begin(&self) -> sqlx::Result<Tx> {
        Ok(match self {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// What a claim's inner `SELECT` ends with: on PostgreSQL it locks the rows it claims and skips
    /// those another replica holds; SQLite has one writer at a time.
    pub(crate) fn skip_locked(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "",
            Db::Postgres(_) => "FOR UPDATE SKIP LOCKED",
        }
    }
}

/// A transaction of either database; rolled back when dropped uncommitted.
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub(crate) async fn commit(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }

    /// Where a statement runs inside this transaction.
    pub(crate) fn on(&mut self) -> On<'_> {
        On::from(self)
    }
}

/// Where a statement runs: a pool (a connection of its own, autocommit) or an open connection
/// (inside a transaction). Functions that run several statements take `&mut On` and `reborrow`.
pub(crate) enum On<'e> {
    SqlitePool(&'e SqlitePool),
    PgPool(&'e PgPool),
    Sqlite(&'e mut SqliteConnection),
    Postgres(&'e mut PgConnection),
}

impl On<'_> {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            On::SqlitePool(_) | On::Sqlite(_) => Backend::Sqlite,
            On::PgPool(_) | On::Postgres(_) => Backend::Postgres,
        }
    }

    /// The same place, for one more statement.
    pub(crate) fn reborrow(&mut self) -> On<'_> {
        match self {
            On::SqlitePool(pool) => On::SqlitePool(pool),
            On::PgPool(pool) => On::PgPool(pool),
            On::Sqlite(conn) => On::Sqlite(conn),
            On::Postgres(conn) => On::Postgres(conn),
        }
    }
}

impl<'e> From<&'e Db> for On<'e> {
    fn from(db: &'e Db) -> Self {
        match db {
            Db::Sqlite(pool) => On::SqlitePool(pool),
            Db::Postgres(pool) => On::PgPool(pool),
        }
    }
}

impl<'e> From<&'e mut Tx> for On<'e> {
    fn from(tx: &'e mut Tx) -> Self {
        match tx {
            Tx::Sqlite(tx) => On::Sqlite(tx),
            Tx::Postgres(tx) => On::Postgres(tx),
        }
    }
}

impl<'a> From<&'a mut On<'_>> for On<'a> {
    fn from(on: &'a mut On<'_>) -> Self {
        on.reborrow()
    }
}

/// A row of either database, for statements whose rows are more than one row definition (a
/// row beside a count, the stats' figures): read by name with `get`, by position with `read`.
pub(crate) enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

impl Row {
    pub(crate) fn get<T: SqlxCell>(&self, name: &str) -> sqlx::Result<T> {
        match self {
            Row::Sqlite(row) => sqlx::Row::try_get(row, name),
            Row::Postgres(row) => sqlx::Row::try_get(row, name),
        }
    }

    /// The `R` whose columns start at position `first`.
    pub(crate) fn read<R: FromCells>(&self, first: usize) -> sqlx::Result<R> {
        match self {
            Row::Sqlite(row) => read_sqlx(row, first),
            Row::Postgres(row) => read_sqlx(row, first),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Row::Sqlite(row) => sqlx::Row::len(row),
            Row::Postgres(row) => sqlx::Row::len(row),
        }
    }
}

/// A statement and its values, in the order of its placeholders.
pub(crate) struct Query<'a> {
    sql: SqlStr,
    cells: Vec<Cell<'a>>,
    /// A value that could not be bound (a JSON value serde refused), reported when it runs.
    unbound: Option<serde_json::Error>,
}

/// A statement to bind values to (`$1` first).
pub(crate) fn query<'a>(sql: impl SqlSafeStr) -> Query<'a> {
    Query { sql: sql.into_sql_str(), cells: Vec::new(), unbound: None }
}

fn sqlite_row<R: FromCells>(row: SqliteRow) -> sqlx::Result<R> {
    read_sqlx(&row, 0)
}

fn postgres_row<R: FromCells>(row: PgRow) -> sqlx::Result<R> {
    read_sqlx(&row, 0)
}

impl<'a> Query<'a> {
    pub(crate) fn bind(mut self, value: impl Into<Cell<'a>>) -> Self {
        self.cells.push(value.into());
        self
    }

    /// Binds each of `values`, in order.
    pub(crate) fn bind_all<T: Into<Cell<'a>>>(mut self, values: impl IntoIterator<Item = T>) -> Self {
        self.cells.extend(values.into_iter().map(Into::into));
        self
    }

    /// Binds a typed value as JSON (`jsonb` on PostgreSQL, text on SQLite).
    pub(crate) fn bind_json(mut self, value: &impl Serialize) -> Self {
        match Cell::json(value) {
            Ok(cell) => self.cells.push(cell),
            Err(err) => self.unbound = Some(err),
        }
        self
    }

    fn sqlite(self) -> sqlx::Result<sqlx::query::Query<'static, Sqlite, SqliteArguments>> {
        if let Some(err) = self.unbound {
            return Err(sqlx::Error::Encode(err.into()));
        }
        Ok(sqlx::query_with(self.sql, arguments::<Sqlite>([self.cells])?))
    }

    fn postgres(self) -> sqlx::Result<sqlx::query::Query<'static, Postgres, PgArguments>> {
        if let Some(err) = self.unbound {
            return Err(sqlx::Error::Encode(err.into()));
        }
        Ok(sqlx::query_with(self.sql, arguments::<Postgres>([self.cells])?))
    }

    /// Runs the statement; returns the number of rows it changed.
    pub(crate) async fn execute(self, on: impl Into<On<'_>>) -> sqlx::Result<u64> {
        Ok(match on.into() {
            On::SqlitePool(pool) => self.sqlite()?.execute(pool).await?.rows_affected(),
            On::Sqlite(conn) => self.sqlite()?.execute(conn).await?.rows_affected(),
            On::PgPool(pool) => self.postgres()?.execute(pool).await?.rows_affected(),
            On::Postgres(conn) => self.postgres()?.execute(conn).await?.rows_affected(),
        })
    }

    pub(crate) async fn fetch_all<R>(self, on: impl Into<On<'_>>) -> sqlx::Result<Vec<R>>
    where
        R: FromCells + Send + Unpin,
    {
        match on.into() {
            On::SqlitePool(pool) => self.sqlite()?.try_map(sqlite_row).fetch_all(pool).await,
            On::Sqlite(conn) => self.sqlite()?.try_map(sqlite_row).fetch_all(conn).await,
            On::PgPool(pool) => self.postgres()?.try_map(postgres_row).fetch_all(pool).await,
            On::Postgres(conn) => self.postgres()?.try_map(postgres_row).fetch_all(conn).await,
        }
    }

    pub(crate) async fn fetch_optional<R>(self, on: impl Into<On<'_>>) -> sqlx::Result<Option<R>>
    where
        R: FromCells + Send + Unpin,
    {
        match on.into() {
            On::SqlitePool(pool) => self.sqlite()?.try_map(sqlite_row).fetch_optional(pool).await,
            On::Sqlite(conn) => self.sqlite()?.try_map(sqlite_row).fetch_optional(conn).await,
            On::PgPool(pool) => self.postgres()?.try_map(postgres_row).fetch_optional(pool).await,
            On::Postgres(conn) => self.postgres()?.try_map(postgres_row).fetch_optional(conn).await,
        }
    }

    pub(crate) async fn fetch_one<R>(self, on: impl Into<On<'_>>) -> sqlx::Result<R>
    where
        R: FromCells + Send + Unpin,
    {
        match on.into() {
            On::SqlitePool(pool) => self.sqlite()?.try_map(sqlite_row).fetch_one(pool).await,
            On::Sqlite(conn) => self.sqlite()?.try_map(sqlite_row).fetch_one(conn).await,
            On::PgPool(pool) => self.postgres()?.try_map(postgres_row).fetch_one(pool).await,
            On::Postgres(conn) => self.postgres()?.try_map(postgres_row).fetch_one(conn).await,
        }
    }

    /// The rows as they come, for statements read by name (see `Row`).
    pub(crate) async fn rows(self, on: impl Into<On<'_>>) -> sqlx::Result<Vec<Row>> {
        Ok(match on.into() {
            On::SqlitePool(pool) => self.sqlite()?.fetch_all(pool).await?.into_iter().map(Row::Sqlite).collect(),
            On::Sqlite(conn) => self.sqlite()?.fetch_all(conn).await?.into_iter().map(Row::Sqlite).collect(),
            On::PgPool(pool) => self.postgres()?.fetch_all(pool).await?.into_iter().map(Row::Postgres).collect(),
            On::Postgres(conn) => self.postgres()?.fetch_all(conn).await?.into_iter().map(Row::Postgres).collect(),
        })
    }

    /// The first row as it comes, if any (see `Row`).
    pub(crate) async fn row(self, on: impl Into<On<'_>>) -> sqlx::Result<Option<Row>> {
        Ok(match on.into() {
            On::SqlitePool(pool) => self.sqlite()?.fetch_optional(pool).await?.map(Row::Sqlite),
            On::Sqlite(conn) => self.sqlite()?.fetch_optional(conn).await?.map(Row::Sqlite),
            On::PgPool(pool) => self.postgres()?.fetch_optional(pool).await?.map(Row::Postgres),
            On::Postgres(conn) => self.postgres()?.fetch_optional(conn).await?.map(Row::Postgres),
        })
    }
}
