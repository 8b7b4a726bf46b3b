//! A copied value: read from one end in its column's type there, converted to the type of the
//! same column at the other end, bound there. The two schemas differ in types: PostgreSQL has
//! `timestamptz`, `jsonb` and `boolean` where SQLite has text and 0/1 integers.

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, Row};

/// What a column holds at one end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Int,
    Bool,
    Text,
    Time,
    /// JSON, carried as its text.
    Json,
    Bytes,
}

/// One value, of its column's type at the end it was read from (or is written to).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Val {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<String>),
    Time(Option<DateTime<Utc>>),
    Json(Option<String>),
    Bytes(Option<Vec<u8>>),
}

/// A timestamp as ccm stores it on SQLite (sqlx's text form): `2026-11-23T14:00:00.123456+00:00`.
pub(super) fn sqlite_text(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// A timestamp read from SQLite's text: RFC 3339, or the zone-less forms (read as UTC).
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|naive| naive.and_utc())
}

impl Val {
    fn is_null(&self) -> bool {
        matches!(
            self,
            Val::Int(None) | Val::Bool(None) | Val::Text(None) | Val::Time(None) | Val::Json(None) | Val::Bytes(None)
        )
    }

    /// This value as a column of type `to` holds it.
    pub(super) fn convert(self, to: ColType) -> anyhow::Result<Val> {
        if self.is_null() {
            return Ok(match to {
                ColType::Int => Val::Int(None),
                ColType::Bool => Val::Bool(None),
                ColType::Text => Val::Text(None),
                ColType::Time => Val::Time(None),
                ColType::Json => Val::Json(None),
                ColType::Bytes => Val::Bytes(None),
            });
        }
        Ok(match (self, to) {
            (v @ Val::Int(_), ColType::Int)
            | (v @ Val::Bool(_), ColType::Bool)
            | (v @ Val::Text(_), ColType::Text)
            | (v @ Val::Time(_), ColType::Time)
            | (v @ Val::Json(_), ColType::Json)
            | (v @ Val::Bytes(_), ColType::Bytes) => v,
            (Val::Text(Some(text)), ColType::Time) => {
                Val::Time(Some(parse_time(&text).with_context(|| format!("{text:?} is not a timestamp"))?))
            }
            (Val::Text(text), ColType::Json) => {
                let text = text.unwrap_or_default();
                serde_json::from_str::<&serde_json::value::RawValue>(&text)
                    .with_context(|| format!("{text:?} is not JSON"))?;
                Val::Json(Some(text))
            }
            (Val::Time(Some(at)), ColType::Text) => Val::Text(Some(sqlite_text(&at))),
            // Compact, as ccm writes JSON on SQLite (PostgreSQL's jsonb text has spaces).
            (Val::Json(Some(text)), ColType::Text) => {
                let value: serde_json::Value =
                    serde_json::from_str(&text).with_context(|| format!("{text:?} is not JSON"))?;
                Val::Text(Some(value.to_string()))
            }
            (Val::Int(Some(n)), ColType::Bool) => Val::Bool(Some(n != 0)),
            (Val::Bool(Some(b)), ColType::Int) => Val::Int(Some(i64::from(b))),
            (v, to) => bail!("a {v:?} cannot be stored in a {to:?} column"),
        })
    }
}

/// The expression a SELECT reads a column of this type with: PostgreSQL's narrower integers
/// are widened, its JSON read as text.
pub(super) fn select_expr(backend: crate::store::Backend, quoted: &str, ty: ColType) -> String {
    match (backend, ty) {
        (crate::store::Backend::Postgres, ColType::Int) => format!("CAST({quoted} AS BIGINT)"),
        (crate::store::Backend::Postgres, ColType::Json) => format!("CAST({quoted} AS TEXT)"),
        _ => quoted.to_string(),
    }
}

/// The placeholder a value of this type is bound to: PostgreSQL casts JSON's text to `jsonb`.
pub(super) fn placeholder(backend: crate::store::Backend, n: usize, ty: ColType) -> String {
    match (backend, ty) {
        (crate::store::Backend::Postgres, ColType::Json) => format!("CAST(${n} AS JSONB)"),
        _ => format!("${n}"),
    }
}

pub(super) fn read_sqlite(row: &SqliteRow, i: usize, ty: ColType) -> sqlx::Result<Val> {
    Ok(match ty {
        ColType::Int => Val::Int(row.try_get(i)?),
        ColType::Bool => Val::Bool(row.try_get(i)?),
        ColType::Text => Val::Text(row.try_get(i)?),
        ColType::Time => Val::Time(row.try_get(i)?),
        ColType::Json => Val::Json(row.try_get(i)?),
        ColType::Bytes => Val::Bytes(row.try_get(i)?),
    })
}

pub(super) fn read_postgres(row: &PgRow, i: usize, ty: ColType) -> sqlx::Result<Val> {
    Ok(match ty {
        ColType::Int => Val::Int(row.try_get(i)?),
        ColType::Bool => Val::Bool(row.try_get(i)?),
        ColType::Text => Val::Text(row.try_get(i)?),
        ColType::Time => Val::Time(row.try_get(i)?),
        ColType::Json => Val::Json(row.try_get(i)?),
        ColType::Bytes => Val::Bytes(row.try_get(i)?),
    })
}

pub(super) fn bind_sqlite(args: &mut SqliteArguments, value: Val) -> sqlx::Result<()> {
    match value {
        Val::Int(v) => args.add(v),
        Val::Bool(v) => args.add(v),
        Val::Text(v) | Val::Json(v) => args.add(v),
        Val::Time(v) => args.add(v),
        Val::Bytes(v) => args.add(v),
    }
    .map_err(sqlx::Error::Encode)
}

pub(super) fn bind_postgres(args: &mut PgArguments, value: Val) -> sqlx::Result<()> {
    match value {
        Val::Int(v) => args.add(v),
        Val::Bool(v) => args.add(v),
        Val::Text(v) | Val::Json(v) => args.add(v),
        Val::Time(v) => args.add(v),
        Val::Bytes(v) => args.add(v),
    }
    .map_err(sqlx::Error::Encode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_text_and_postgres_types_convert_both_ways() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T14:05:06.123456Z").unwrap().with_timezone(&Utc);
        let text = Val::Text(Some("2026-11-23T14:05:06.123456+00:00".into()));
        assert_eq!(text.clone().convert(ColType::Time).unwrap(), Val::Time(Some(at)));
        assert_eq!(Val::Time(Some(at)).convert(ColType::Text).unwrap(), text, "as sqlx writes it on SQLite");
        let hour = Val::Text(Some("2026-11-23T14:00:00+00:00".into()));
        let back = hour.clone().convert(ColType::Time).unwrap().convert(ColType::Text).unwrap();
        assert_eq!(back, hour, "a roll-up's hour keeps its text");
        assert_eq!(
            Val::Text(Some(r#"{"a":[1,2]}"#.into())).convert(ColType::Json).unwrap(),
            Val::Json(Some(r#"{"a":[1,2]}"#.into()))
        );
        assert!(Val::Text(Some("{not json".into())).convert(ColType::Json).is_err());
        assert!(Val::Text(Some("yesterday".into())).convert(ColType::Time).is_err());
        assert_eq!(
            Val::Json(Some(r#"{"a": [1, 2]}"#.into())).convert(ColType::Text).unwrap(),
            Val::Text(Some(r#"{"a":[1,2]}"#.into()))
        );
        assert_eq!(Val::Bool(Some(true)).convert(ColType::Bool).unwrap(), Val::Bool(Some(true)));
        assert_eq!(Val::Int(Some(1)).convert(ColType::Bool).unwrap(), Val::Bool(Some(true)));
    }

    #[test]
    fn nulls_stay_null_in_every_type() {
        for to in [ColType::Int, ColType::Bool, ColType::Text, ColType::Time, ColType::Json, ColType::Bytes] {
            assert!(Val::Text(None).convert(to).unwrap().is_null(), "{to:?}");
            assert!(Val::Json(None).convert(to).unwrap().is_null(), "{to:?}");
        }
        assert_eq!(
            Val::Bytes(Some(vec![0, 159, 255])).convert(ColType::Bytes).unwrap(),
            Val::Bytes(Some(vec![0, 159, 255]))
        );
    }
}
