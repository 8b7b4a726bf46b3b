//! Listing filters written with only the conditions that are set.
//!
//! `($1 IS NULL OR status = $1)` is one plan for every combination of filters, and no index can
//! serve it: both databases scan the table. Writing only the conditions that are set, numbered
//! from `$1`, gives each combination a plan of its own, which uses the table's indexes.

use sqlx::AssertSqlSafe;

use super::db::{Db, query};
use crate::store::rows::{ReadRow, column_names};
use crate::store::{Page, StoreResult};

pub(crate) struct Filters<'a> {
    clause: String,
    values: Vec<&'a str>,
}

impl<'a> Filters<'a> {
    /// `(column, value)` pairs, columns named by ccm's code; the unset ones are left out.
    pub fn new(filters: &[(&str, Option<&'a str>)]) -> Self {
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        for (column, value) in filters {
            if let Some(value) = value {
                values.push(*value);
                conditions.push(format!("{column} = ${}", values.len()));
            }
        }
        let clause = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
        Filters { clause, values }
    }

    /// `WHERE ...`, or nothing without filters.
    pub fn clause(&self) -> &str {
        &self.clause
    }

    /// The values to bind from `$1`, in order.
    pub fn values(&self) -> &[&'a str] {
        &self.values
    }

    /// The number of the first parameter after the filters' own.
    pub fn next_param(&self) -> usize {
        self.values.len() + 1
    }
}

impl Filters<'_> {
    /// One `Page` of `table`'s rows matching the filters, in `order`, with the total that matches;
    /// the limit and the offset are bound after the filters' values.
    pub async fn page<R>(&self, db: &Db, table: &str, order: &str, limit: i64, offset: i64) -> StoreResult<Page<R>>
    where
        R: ReadRow + Send + Unpin,
    {
        let count_sql = format!("SELECT COUNT(*) FROM {table} {}", self.clause());
        let n = self.next_param();
        let page_sql = format!(
            "SELECT {} FROM {table} {} ORDER BY {order} LIMIT ${n} OFFSET ${}",
            column_names(R::COLUMNS),
            self.clause(),
            n + 1
        );
        let (total,): (i64,) =
            query(AssertSqlSafe(count_sql)).bind_all(self.values().iter().copied()).fetch_one(db).await?;
        let items = query(AssertSqlSafe(page_sql))
            .bind_all(self.values().iter().copied())
            .bind(limit)
            .bind(offset)
            .fetch_all(db)
            .await?;
        Ok(Page { items, total })
    }
}

#[cfg(test)]
mod tests {
    use super::Filters;

    #[test]
    fn only_the_filters_that_are_set_are_written_and_numbered() {
        let none = Filters::new(&[("status", None), ("event", None)]);
        assert_eq!((none.clause(), none.values(), none.next_param()), ("", &[][..], 1));
        let some = Filters::new(&[("status", None), ("event", Some("push")), ("repo_key", Some("o/r"))]);
        assert_eq!(some.clause(), "WHERE event = $1 AND repo_key = $2");
        assert_eq!((some.values(), some.next_param()), (&["push", "o/r"][..], 3));
    }
}
