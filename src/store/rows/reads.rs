//! One definition of each read row: its `COLUMNS` (the select list) and how its cells become the
//! entity, in order. Every read path maps through it, by position: the pool on both databases
//! (`sql::db`'s statements) and SQLite's inline reads (rusqlite), where a row may start after
//! other columns. A statement selects a row's `COLUMNS` in order (see `column_names`,
//! `qualified_names`); in debug builds every read checks the names it finds. A small tuple of
//! cells (a count, a pair) is read by position too, without names (`FromCells`).

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
#[cfg(test)]
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::types::Json;
use sqlx::{Postgres, Sqlite};

use super::Column;
#[cfg(test)]
use super::SqlType;
use crate::domain::status::{
    AlertEvent, AlertKind, AlertState, ChannelKind, Conclusion, DeliveryStatus, DeploymentState, JobLogState,
    NotificationStatus, OutboxJobStatus, PipelineStatus, RunStatus, Scope, TaskPriority, TaskStatus,
};

/// A value sqlx decodes on either database.
pub(crate) trait SqlxCell:
    Sized
    + sqlx::Type<Postgres>
    + sqlx::Type<Sqlite>
    + for<'r> sqlx::Decode<'r, Postgres>
    + for<'r> sqlx::Decode<'r, Sqlite>
{
}

impl<T> SqlxCell for T where
    T: sqlx::Type<Postgres>
        + sqlx::Type<Sqlite>
        + for<'r> sqlx::Decode<'r, Postgres>
        + for<'r> sqlx::Decode<'r, Sqlite>
{
}

/// A value a read row holds: decoded by sqlx on either database, and by hand from SQLite's C API.
pub(crate) trait ReadCell: SqlxCell {
    /// The type of the column it is read from (the tests hold a row's reads to its columns').
    #[cfg(test)]
    const TYPE: SqlType;

    /// The value at position `index` of a row SQLite's C API returned.
    fn from_rusqlite(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self>;

    /// Any value of the type, for the tests that hold a row's reads to its columns.
    #[cfg(test)]
    fn example() -> Self;
}

/// Types rusqlite converts itself.
macro_rules! read_cells {
    ($($ty:ty: $sql:ident = $example:expr),* $(,)?) => {$(
        impl ReadCell for $ty {
            #[cfg(test)]
            const TYPE: SqlType = SqlType::$sql;

            fn from_rusqlite(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self> {
                row.get(index)
            }

            #[cfg(test)]
            fn example() -> Self {
                $example
            }
        }
    )*};
}

read_cells!(
    i64: Int = 0,
    bool: Bool = false,
    String: Text = String::new(),
    Vec<u8>: Bytes = Vec::new(),
    DeliveryStatus: Text = DeliveryStatus::Pending,
    OutboxJobStatus: Text = OutboxJobStatus::Pending,
    PipelineStatus: Text = PipelineStatus::Active,
    RunStatus: Text = RunStatus::Completed,
    Conclusion: Text = Conclusion::Success,
    TaskStatus: Text = TaskStatus::Todo,
    TaskPriority: Text = TaskPriority::Medium,
    Scope: Text = Scope::Read,
    JobLogState: Text = JobLogState::Stored,
    DeploymentState: Text = DeploymentState::Success,
    ChannelKind: Text = ChannelKind::Webhook,
    AlertKind: Text = AlertKind::RunFailed,
    AlertState: Text = AlertState::Firing,
    AlertEvent: Text = AlertEvent::Firing,
    NotificationStatus: Text = NotificationStatus::Pending,
);

impl<T: ReadCell> ReadCell for Option<T> {
    #[cfg(test)]
    const TYPE: SqlType = T::TYPE;

    fn from_rusqlite(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self> {
        match row.get_ref(index)? {
            rusqlite::types::ValueRef::Null => Ok(None),
            _ => T::from_rusqlite(row, index).map(Some),
        }
    }

    #[cfg(test)]
    fn example() -> Self {
        None
    }
}

impl ReadCell for DateTime<Utc> {
    #[cfg(test)]
    const TYPE: SqlType = SqlType::Time;

    /// RFC 3339 text, as sqlx writes it (see `sqlite_time`).
    fn from_rusqlite(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self> {
        let text = row.get_ref(index)?.as_str()?;
        DateTime::parse_from_rfc3339(text).map(|at| at.with_timezone(&Utc)).map_err(|err| conversion(index, err))
    }

    #[cfg(test)]
    fn example() -> Self {
        Utc::now()
    }
}

impl<T: DeserializeOwned + 'static> ReadCell for Json<T> {
    #[cfg(test)]
    const TYPE: SqlType = SqlType::Json;

    /// JSON text on SQLite.
    fn from_rusqlite(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self> {
        let text = row.get_ref(index)?.as_str()?;
        serde_json::from_str(text).map(Json).map_err(|err| conversion(index, err))
    }

    /// `[]`: the JSON every row's non-optional JSON columns (steps, config, labels) can hold.
    #[cfg(test)]
    fn example() -> Self {
        Json(serde_json::from_value(Value::Array(Vec::new())).expect("a JSON column that can hold []"))
    }
}

fn conversion(index: usize, err: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(err))
}

/// The cells of one row, read in order by a `ReadRow`.
pub(crate) trait CellSource {
    type Error;

    /// The next cell.
    fn next<T: ReadCell>(&mut self) -> Result<T, Self::Error>;
}

/// A row some path reads: its columns, and how its cells, in their order, make the entity.
pub(crate) trait ReadRow: Sized {
    const COLUMNS: &'static [Column];

    /// Reads `COLUMNS.len()` cells, one for each column, in order.
    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error>;
}

/// What a statement's rows are read as: a `ReadRow`, or a tuple of cells (`(i64,)` for a count).
pub(crate) trait FromCells: Sized {
    /// The columns the statement selects, when they have names to check (`ReadRow`s').
    fn columns() -> &'static [Column];

    fn from_cells<S: CellSource>(cells: &mut S) -> Result<Self, S::Error>;
}

impl<R: ReadRow> FromCells for R {
    fn columns() -> &'static [Column] {
        R::COLUMNS
    }

    fn from_cells<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        R::read(cells)
    }
}

impl<A: ReadCell> FromCells for (A,) {
    fn columns() -> &'static [Column] {
        &[]
    }

    fn from_cells<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        Ok((cells.next()?,))
    }
}

impl<A: ReadCell, B: ReadCell> FromCells for (A, B) {
    fn columns() -> &'static [Column] {
        &[]
    }

    fn from_cells<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        Ok((cells.next()?, cells.next()?))
    }
}

/// A row of sqlx (either database), read by position from `next`.
pub(crate) struct SqlxCells<'r, R> {
    row: &'r R,
    next: usize,
}

impl CellSource for SqlxCells<'_, PgRow> {
    type Error = sqlx::Error;

    fn next<T: ReadCell>(&mut self) -> Result<T, sqlx::Error> {
        self.next += 1;
        sqlx::Row::try_get(self.row, self.next - 1)
    }
}

impl CellSource for SqlxCells<'_, SqliteRow> {
    type Error = sqlx::Error;

    fn next<T: ReadCell>(&mut self) -> Result<T, sqlx::Error> {
        self.next += 1;
        sqlx::Row::try_get(self.row, self.next - 1)
    }
}

/// A row SQLite's C API returned, read by position from `next`.
pub(crate) struct RusqliteCells<'a, 'r> {
    row: &'a rusqlite::Row<'r>,
    next: usize,
}

impl CellSource for RusqliteCells<'_, '_> {
    type Error = rusqlite::Error;

    fn next<T: ReadCell>(&mut self) -> rusqlite::Result<T> {
        self.next += 1;
        T::from_rusqlite(self.row, self.next - 1)
    }
}

/// The `R` whose columns start at position `first` of a sqlx row.
pub(crate) fn read_sqlx<'r, R, Row>(row: &'r Row, first: usize) -> Result<R, sqlx::Error>
where
    R: FromCells,
    Row: sqlx::Row,
    SqlxCells<'r, Row>: CellSource<Error = sqlx::Error>,
{
    debug_assert_names::<R>(first, |i| sqlx::Row::columns(row).get(i).map(sqlx::Column::name));
    R::from_cells(&mut SqlxCells { row, next: first })
}

/// The `R` whose columns start at position `first` of a row SQLite's C API returned.
pub(crate) fn read_rusqlite<R: FromCells>(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<R> {
    debug_assert_names::<R>(first, |i| row.as_ref().column_name(i).ok());
    R::from_cells(&mut RusqliteCells { row, next: first })
}

/// In debug builds, that the statement selected `R`'s columns from position `first`, in order.
fn debug_assert_names<'a, R: FromCells>(first: usize, name: impl Fn(usize) -> Option<&'a str>) {
    if cfg!(debug_assertions) {
        for (i, column) in R::columns().iter().enumerate() {
            assert_eq!(name(first + i), Some(column.name), "column {} of the row read", first + i);
        }
    }
}

/// `p.a, p.b, ...`: `columns` of the table or subquery `alias`, for a SELECT that joins.
pub(crate) fn qualified_names(alias: &str, columns: &[Column]) -> String {
    columns.iter().map(|c| format!("{alias}.{}", c.name)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Records the type of each cell read, and hands out examples.
    struct Recorder(Vec<SqlType>);

    impl CellSource for Recorder {
        type Error = std::convert::Infallible;

        fn next<T: ReadCell>(&mut self) -> Result<T, Self::Error> {
            self.0.push(T::TYPE);
            Ok(T::example())
        }
    }

    /// Holds a row's reads to its columns: one cell each, of its column's type, in order.
    pub(crate) fn assert_reads_match<R: ReadRow>() {
        let mut recorder = Recorder(Vec::new());
        let Ok(_) = R::read(&mut recorder);
        let expected: Vec<SqlType> = R::COLUMNS.iter().map(|c| c.ty).collect();
        assert_eq!(recorder.0, expected, "reads of {}", super::super::column_names(R::COLUMNS));
    }

    #[test]
    fn rusqlite_reads_from_an_offset_and_keeps_nulls() {
        struct Pair(Option<i64>, DateTime<Utc>);
        impl ReadRow for Pair {
            const COLUMNS: &'static [Column] =
                &[super::super::column("n", SqlType::Int), super::super::column("at", SqlType::Time)];
            fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
                Ok(Pair(cells.next()?, cells.next()?))
            }
        }
        assert_reads_match::<Pair>();
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let pair = conn
            .query_row("SELECT 'x' AS skipped, NULL AS n, '2024-05-06T07:08:09.5Z' AS at", [], |row| {
                read_rusqlite::<Pair>(row, 1)
            })
            .unwrap();
        assert_eq!(pair.0, None);
        assert_eq!(pair.1.to_rfc3339(), "2024-05-06T07:08:09.500+00:00");
    }
}
