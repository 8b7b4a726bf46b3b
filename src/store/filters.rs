//! Listing filters written with only the conditions that are set.
//!
//! `($1 IS NULL OR status = $1)` is one plan for every combination of filters, and no index can
//! serve it: both databases scan the table. Writing only the conditions that are set, numbered
//! from `$1`, gives each combination a plan of its own, which uses the table's indexes.

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

/// One `Page` of `$table`'s `$columns` matching `$filters` (a `Filters`), in `$order`, with the
/// total that matches; `$limit` and `$offset` are bound after the filters' values. A macro
/// because each store's SQL is generated per database driver.
macro_rules! filtered_page {
    ($pool:expr, $table:expr, $columns:expr, $order:expr, $filters:expr, $limit:expr, $offset:expr $(,)?) => {{
        let filters = &$filters;
        let count_sql = format!("SELECT COUNT(*) FROM {} {}", $table, filters.clause());
        let mut count = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql));
        let n = filters.next_param();
        let page_sql = format!(
            "SELECT {} FROM {} {} ORDER BY {} LIMIT ${n} OFFSET ${}",
            $columns,
            $table,
            filters.clause(),
            $order,
            n + 1
        );
        let mut page = sqlx::query_as(sqlx::AssertSqlSafe(page_sql));
        for value in filters.values() {
            count = count.bind(*value);
            page = page.bind(*value);
        }
        let total: i64 = count.fetch_one($pool).await?;
        let items = page.bind($limit).bind($offset).fetch_all($pool).await?;
        $crate::store::Page { items, total }
    }};
}

pub(crate) use filtered_page;

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
