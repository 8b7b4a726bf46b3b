//! One definition of each stored row's columns. A written row's (`WrittenRow`) is the one every
//! write path binds its values from; a read row's (`ReadRow`, see `reads`) the one every read
//! path selects and maps by.
//!
//! Written rows, in detail: every write path binds its values from the definition:
//! the sqlx pool (both databases), SQLite's writer thread (rusqlite) and PostgreSQL's
//! one-statement batch (one array per column, cast by `unnest`). A row type lists its `COLUMNS`
//! once and gives its `cells` in the same order; a column without its cell, or a cell of another
//! type, fails the unit tests below, never shifts a value silently.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use serde_json::Value;
use serde_json::value::RawValue;
use sqlx::Arguments;
use sqlx::error::BoxDynError;
use sqlx::types::Json;

mod alerts;
mod deliveries;
mod deployments;
mod executions;
mod insights;
mod job_logs;
mod jobs;
mod outbox;
mod pipelines;
mod reads;
mod tasks;
mod tokens;

pub(crate) use deliveries::NewDelivery;
pub(crate) use reads::{CellSource, FromCells, ReadCell, ReadRow, SqlxCell, qualified_names, read_rusqlite, read_sqlx};

/// What a column holds, as both databases store it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SqlType {
    Int,
    /// `boolean` on PostgreSQL, 0 or 1 on SQLite.
    Bool,
    Text,
    /// `timestamptz` on PostgreSQL, RFC 3339 text on SQLite (as sqlx writes it).
    Time,
    /// `jsonb` on PostgreSQL, text on SQLite.
    Json,
    Bytes,
}

impl SqlType {
    /// The PostgreSQL array type a batch binds a column of this type as.
    fn pg_array(self) -> &'static str {
        match self {
            SqlType::Int => "int8[]",
            SqlType::Bool => "bool[]",
            SqlType::Text => "text[]",
            SqlType::Time => "timestamptz[]",
            SqlType::Json => "jsonb[]",
            SqlType::Bytes => "bytea[]",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Column {
    pub name: &'static str,
    pub ty: SqlType,
}

pub(crate) const fn column(name: &'static str, ty: SqlType) -> Column {
    Column { name, ty }
}

/// The columns of `first` followed by those of `then` (`N` of them in all), for a row that
/// extends another.
pub(crate) const fn joined<const N: usize>(first: &[Column], then: &[Column]) -> [Column; N] {
    assert!(first.len() + then.len() == N, "N is the length of both lists");
    let mut columns = [column("", SqlType::Int); N];
    let mut i = 0;
    while i < N {
        columns[i] = if i < first.len() { first[i] } else { then[i - first.len()] };
        i += 1;
    }
    columns
}

/// One value of a row, in the form every path converts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<Cow<'a, str>>),
    Time(Option<DateTime<Utc>>),
    Json(JsonCell<'a>),
    Bytes(&'a [u8]),
}

/// A JSON value to bind: borrowed as it is, or JSON text (a typed value serialized beforehand,
/// or text kept as received), so that SQLite stores the same text either way.
#[derive(Debug, Clone)]
pub(crate) enum JsonCell<'a> {
    Value(&'a Value),
    Raw(Cow<'a, RawValue>),
}

impl PartialEq for JsonCell<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (JsonCell::Value(a), JsonCell::Value(b)) => a == b,
            (JsonCell::Raw(a), JsonCell::Raw(b)) => a.get() == b.get(),
            _ => false,
        }
    }
}

impl serde::Serialize for JsonCell<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            JsonCell::Value(value) => value.serialize(serializer),
            JsonCell::Raw(raw) => raw.serialize(serializer),
        }
    }
}

impl Cell<'_> {
    /// A typed value as a JSON cell.
    pub(crate) fn json(value: &impl serde::Serialize) -> Result<Cell<'static>, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(|raw| Cell::Json(JsonCell::Raw(Cow::Owned(raw))))
    }
}

impl Cell<'_> {
    pub(crate) fn ty(&self) -> SqlType {
        match self {
            Cell::Int(_) => SqlType::Int,
            Cell::Bool(_) => SqlType::Bool,
            Cell::Text(_) => SqlType::Text,
            Cell::Time(_) => SqlType::Time,
            Cell::Json(_) => SqlType::Json,
            Cell::Bytes(_) => SqlType::Bytes,
        }
    }
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(text: &'a str) -> Self {
        Cell::Text(Some(Cow::Borrowed(text)))
    }
}

impl<'a> From<Option<&'a str>> for Cell<'a> {
    fn from(text: Option<&'a str>) -> Self {
        Cell::Text(text.map(Cow::Borrowed))
    }
}

impl From<String> for Cell<'_> {
    fn from(text: String) -> Self {
        Cell::Text(Some(Cow::Owned(text)))
    }
}

impl From<Option<String>> for Cell<'_> {
    fn from(text: Option<String>) -> Self {
        Cell::Text(text.map(Cow::Owned))
    }
}

impl<'a> From<&'a String> for Cell<'a> {
    fn from(text: &'a String) -> Self {
        Cell::Text(Some(Cow::Borrowed(text)))
    }
}

impl<'a> From<&'a Option<String>> for Cell<'a> {
    fn from(text: &'a Option<String>) -> Self {
        Cell::Text(text.as_deref().map(Cow::Borrowed))
    }
}

impl<'a> From<&'a Value> for Cell<'a> {
    fn from(value: &'a Value) -> Self {
        Cell::Json(JsonCell::Value(value))
    }
}

impl<'a> From<&'a RawValue> for Cell<'a> {
    fn from(text: &'a RawValue) -> Self {
        Cell::Json(JsonCell::Raw(Cow::Borrowed(text)))
    }
}

impl From<i64> for Cell<'_> {
    fn from(value: i64) -> Self {
        Cell::Int(Some(value))
    }
}

impl From<Option<i64>> for Cell<'_> {
    fn from(value: Option<i64>) -> Self {
        Cell::Int(value)
    }
}

impl From<bool> for Cell<'_> {
    fn from(value: bool) -> Self {
        Cell::Bool(Some(value))
    }
}

impl From<DateTime<Utc>> for Cell<'_> {
    fn from(at: DateTime<Utc>) -> Self {
        Cell::Time(Some(at))
    }
}

impl From<Option<DateTime<Utc>>> for Cell<'_> {
    fn from(at: Option<DateTime<Utc>>) -> Self {
        Cell::Time(at)
    }
}

/// A row some path writes: its columns, and its values in their order.
pub(crate) trait WrittenRow {
    const COLUMNS: &'static [Column];

    /// The values of `COLUMNS`, in order; `now` is the time of the write.
    fn cells(&self, now: DateTime<Utc>) -> Vec<Cell<'_>>;
}

/// `a, b, c`: the names of `columns`, for an INSERT's column list or a SELECT.
pub(crate) fn column_names(columns: &[Column]) -> String {
    columns.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
}

/// The sqlx arguments of a statement that writes these rows (either database).
pub(crate) fn arguments<'a, DB>(rows: impl IntoIterator<Item = Vec<Cell<'a>>>) -> Result<DB::Arguments, sqlx::Error>
where
    DB: sqlx::Database,
    Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<bool>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<DateTime<Utc>>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Json<JsonCell<'a>>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a [u8]: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut args = DB::Arguments::default();
    for cell in rows.into_iter().flatten() {
        let added = match cell {
            Cell::Int(value) => args.add(value),
            Cell::Bool(value) => args.add(value),
            Cell::Text(None) => args.add(None::<&str>),
            Cell::Text(Some(Cow::Borrowed(text))) => args.add(Some(text)),
            Cell::Text(Some(Cow::Owned(text))) => args.add(Some(text)),
            Cell::Time(at) => args.add(at),
            Cell::Json(value) => args.add(Json(value)),
            Cell::Bytes(bytes) => args.add(bytes),
        };
        added.map_err(sqlx::Error::Encode)?;
    }
    Ok(args)
}

/// A timestamp as sqlx writes it on SQLite, so that comparisons with stored values hold.
pub(crate) fn sqlite_time(at: DateTime<Utc>) -> ToSqlOutput<'static> {
    ToSqlOutput::Owned(SqlValue::Text(crate::store::sqlite::sqlite_reads::timestamp(&at)))
}

/// A cell as SQLite's writer thread binds it.
pub(crate) fn sqlite_value(cell: Cell<'_>) -> rusqlite::Result<ToSqlOutput<'_>> {
    const NULL: ToSqlOutput<'static> = ToSqlOutput::Owned(SqlValue::Null);
    Ok(match cell {
        Cell::Int(value) => value.map_or(NULL, ToSqlOutput::from),
        Cell::Bool(value) => value.map_or(NULL, ToSqlOutput::from),
        Cell::Text(None) | Cell::Time(None) => NULL,
        Cell::Text(Some(Cow::Borrowed(text))) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
        Cell::Text(Some(Cow::Owned(text))) => ToSqlOutput::Owned(SqlValue::Text(text)),
        Cell::Time(Some(at)) => sqlite_time(at),
        Cell::Json(JsonCell::Value(value)) => ToSqlOutput::Owned(SqlValue::Text(
            serde_json::to_string(value).map_err(|err| rusqlite::Error::ToSqlConversionFailure(err.into()))?,
        )),
        Cell::Json(JsonCell::Raw(Cow::Borrowed(raw))) => ToSqlOutput::Borrowed(ValueRef::Text(raw.get().as_bytes())),
        Cell::Json(JsonCell::Raw(Cow::Owned(raw))) => {
            ToSqlOutput::Owned(SqlValue::Text(String::from(Box::<str>::from(raw))))
        }
        Cell::Bytes(bytes) => ToSqlOutput::Borrowed(ValueRef::Blob(bytes)),
    })
}

/// The values SQLite's writer thread binds for these rows, row after row.
pub(crate) fn sqlite_values<'a>(
    rows: impl IntoIterator<Item = Vec<Cell<'a>>>,
) -> rusqlite::Result<Vec<ToSqlOutput<'a>>> {
    rows.into_iter().flatten().map(sqlite_value).collect()
}

/// A batch's rows, column by column, as PostgreSQL's `unnest` takes them.
pub(crate) struct PgArrays<'a> {
    columns: Vec<PgArray<'a>>,
}

enum PgArray<'a> {
    Int(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
    Text(Vec<Option<Cow<'a, str>>>),
    Time(Vec<Option<DateTime<Utc>>>),
    Json(Vec<Json<JsonCell<'a>>>),
    Bytes(Vec<&'a [u8]>),
}

impl<'a> PgArrays<'a> {
    pub(crate) fn new(columns: &[Column]) -> Self {
        let columns = columns
            .iter()
            .map(|c| match c.ty {
                SqlType::Int => PgArray::Int(Vec::new()),
                SqlType::Bool => PgArray::Bool(Vec::new()),
                SqlType::Text => PgArray::Text(Vec::new()),
                SqlType::Time => PgArray::Time(Vec::new()),
                SqlType::Json => PgArray::Json(Vec::new()),
                SqlType::Bytes => PgArray::Bytes(Vec::new()),
            })
            .collect();
        Self { columns }
    }

    /// Appends one row. Its cells match the columns (`WrittenRow`'s tests hold every row type to
    /// that); a mismatch is a bug, reported rather than bound to the wrong column.
    pub(crate) fn push(&mut self, cells: impl IntoIterator<Item = Cell<'a>>) -> Result<(), BoxDynError> {
        let mut count = 0;
        for (array, cell) in self.columns.iter_mut().zip(cells) {
            count += 1;
            match (array, cell) {
                (PgArray::Int(values), Cell::Int(value)) => values.push(value),
                (PgArray::Bool(values), Cell::Bool(value)) => values.push(value),
                (PgArray::Text(values), Cell::Text(text)) => values.push(text),
                (PgArray::Time(values), Cell::Time(at)) => values.push(at),
                (PgArray::Json(values), Cell::Json(value)) => values.push(Json(value)),
                (PgArray::Bytes(values), Cell::Bytes(bytes)) => values.push(bytes),
                (_, cell) => return Err(format!("column {count} cannot hold a {:?} value", cell.ty()).into()),
            }
        }
        if count != self.columns.len() {
            return Err(format!("a row of {count} values for {} columns", self.columns.len()).into());
        }
        Ok(())
    }

    /// Adds the arrays to a statement's arguments, one parameter per column.
    pub(crate) fn add_to(self, args: &mut sqlx::postgres::PgArguments) -> Result<(), BoxDynError> {
        for array in self.columns {
            match array {
                PgArray::Int(values) => args.add(values)?,
                PgArray::Bool(values) => args.add(values)?,
                PgArray::Text(values) => args.add(values)?,
                PgArray::Time(values) => args.add(values)?,
                PgArray::Json(values) => args.add(values)?,
                PgArray::Bytes(values) => args.add(values)?,
            }
        }
        Ok(())
    }
}

/// `unnest($first::int8[], ...) AS alias(a, b, ...)`: the rows of `PgArrays` of `columns`, bound
/// from parameter `first` on.
pub(crate) fn pg_unnest(columns: &[Column], first: usize, alias: &str) -> String {
    let arrays: Vec<String> =
        columns.iter().enumerate().map(|(i, c)| format!("${}::{}", first + i, c.ty.pg_array())).collect();
    format!("unnest({}) AS {alias}({})", arrays.join(", "), column_names(columns))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Holds a row's cells to its columns: as many, each of its column's type.
    pub(crate) fn assert_cells_match<R: WrittenRow>(row: &R) {
        let cells = row.cells(Utc::now());
        let types: Vec<SqlType> = cells.iter().map(Cell::ty).collect();
        let expected: Vec<SqlType> = R::COLUMNS.iter().map(|c| c.ty).collect();
        assert_eq!(types, expected, "cells of {}", column_names(R::COLUMNS));
        let mut arrays = PgArrays::new(R::COLUMNS);
        arrays.push(cells).unwrap();
    }

    #[test]
    fn unnest_numbers_parameters_from_the_first() {
        let columns = [column("guid", SqlType::Text), column("ord", SqlType::Int), column("at", SqlType::Time)];
        assert_eq!(
            pg_unnest(&columns, 16, "r"),
            "unnest($16::text[], $17::int8[], $18::timestamptz[]) AS r(guid, ord, at)"
        );
    }

    #[test]
    fn a_row_that_does_not_match_its_columns_is_refused() {
        let columns = [column("a", SqlType::Int), column("b", SqlType::Text)];
        let mut arrays = PgArrays::new(&columns);
        assert!(arrays.push([Cell::Int(Some(1)), Cell::from("x")]).is_ok());
        assert!(arrays.push([Cell::from("x"), Cell::Int(Some(1))]).is_err(), "types swapped");
        assert!(arrays.push([Cell::Int(Some(1))]).is_err(), "a value short");
    }

    #[test]
    fn sqlite_values_keep_nulls_and_borrow_text() {
        assert_eq!(sqlite_value(Cell::Int(None)).unwrap(), ToSqlOutput::Owned(SqlValue::Null));
        assert_eq!(sqlite_value(Cell::from("a")).unwrap(), ToSqlOutput::Borrowed(ValueRef::Text(b"a")));
        assert_eq!(
            sqlite_value(Cell::from(&serde_json::json!({"k": 1}))).unwrap(),
            ToSqlOutput::Owned(SqlValue::Text("{\"k\":1}".into()))
        );
        let kept = RawValue::from_string("{\"k\": 1}".into()).unwrap();
        assert_eq!(sqlite_value(Cell::from(&*kept)).unwrap(), ToSqlOutput::Borrowed(ValueRef::Text(b"{\"k\": 1}")));
    }
}
