//! A page of pipelines: its filters, its count and the statements that find the page from
//! whichever end of the index is nearer.

use crate::store::rows::{ReadRow, column_names, qualified_names};
use crate::store::{Pipeline, PipelineFilter};

/// `WHERE` clause of a pipeline listing with only the filters that are set (`$1` the status,
/// then the repo key; see `Filters`).
pub(crate) fn pipeline_filter_clause(filter: &PipelineFilter) -> String {
    crate::store::sql::filters::Filters::new(&[
        ("status", filter.status.as_ref().map(|s| s.as_str())),
        ("repo_key", filter.repository.as_deref()),
    ])
    .clause()
    .to_string()
}

/// The number of pipelines a listing matches, with the filters' parameters of
/// `pipeline_filter_clause`. Without a repository filter it comes from `pipeline_counts`, kept by
/// triggers (migration 0005): one row read, however many pipelines.
pub(crate) fn pipeline_count_sql(filter: &PipelineFilter) -> String {
    match filter.repository {
        None => format!(
            "SELECT CAST(COALESCE(SUM(pipelines), 0) AS BIGINT) FROM pipeline_counts {}",
            pipeline_filter_clause(filter)
        ),
        Some(_) => format!("SELECT COUNT(*) FROM pipelines {}", pipeline_filter_clause(filter)),
    }
}

/// The number of the first parameter after those of `pipeline_filter_clause`.
fn first_param_after_filters(filter: &PipelineFilter) -> usize {
    1 + usize::from(filter.status.is_some()) + usize::from(filter.repository.is_some())
}

/// One page of pipelines, newest first, after the filters' parameters: `$n` the offset, or with
/// keyset paging `$n`, `$n+1` the creation time and id of the last pipeline already listed.
/// With an offset the inner query walks past `OFFSET` entries of an index holding all it reads
/// (status, created_at, id) and only the page's rows are fetched; with a key the walk starts at
/// the key. The limit is written into the text (it is a number) so that PostgreSQL's generic plan
/// knows the page is small and fetches its rows by id.
pub(crate) fn pipeline_page_sql(filter: &PipelineFilter) -> String {
    let n = first_param_after_filters(filter);
    let filters = pipeline_filter_clause(filter);
    let (condition, offset) = match (&filter.after, filters.is_empty()) {
        (None, _) => (filters, format!("OFFSET ${n}")),
        (Some(_), true) => (format!("WHERE (created_at, id) < (${n}, ${})", n + 1), String::new()),
        (Some(_), false) => (format!("{filters} AND (created_at, id) < (${n}, ${})", n + 1), String::new()),
    };
    format!(
        "SELECT {} FROM pipelines WHERE id IN \
           (SELECT id FROM pipelines {condition} ORDER BY created_at DESC, id DESC LIMIT {} {offset}) \
         ORDER BY created_at DESC, id DESC",
        column_names(Pipeline::COLUMNS),
        filter.limit
    )
}

/// A page of pipelines and the number the filters match, in one statement (one round trip): the
/// count on every row, and one row of NULLs beside it when the page is empty. Binds as
/// `pipeline_page_sql`, whose filter parameters the count shares.
///
/// With an offset, the page is found from whichever end of the index is nearer: past the middle
/// the walk goes oldest first, `total - offset - limit` entries instead of `offset` (see
/// `from_oldest`), so no page costs more than half the index. Only one branch runs: the others'
/// conditions hold no column, and both databases test them once, before any scan. The outer
/// `LIMIT` tells the planner the page is small, so its rows are fetched by id.
pub(crate) fn pipeline_listing_sql(filter: &PipelineFilter) -> String {
    if filter.after.is_some() {
        return format!(
            "SELECT ({}) AS total, p.* FROM (SELECT 1 AS one) o LEFT JOIN ({}) p ON 1 = 1 \
             ORDER BY p.created_at DESC, p.id DESC",
            pipeline_count_sql(filter),
            pipeline_page_sql(filter)
        );
    }
    let n = first_param_after_filters(filter);
    let limit = filter.limit;
    let filters = pipeline_filter_clause(filter);
    let and = |condition: String| match filters.is_empty() {
        true => format!("WHERE {condition}"),
        false => format!("{filters} AND {condition}"),
    };
    let offset = format!("CAST(${n} AS BIGINT)");
    let total = "(SELECT total FROM c)";
    let newest_first = and(format!("{offset} * 2 + {limit} <= {total}"));
    // Oldest first, the page is the newest `limit` of the `total - offset` oldest entries: skip
    // the others. When fewer than `limit` remain, it is all of them, numbered to stop in time.
    let oldest_first = and(format!("{offset} * 2 + {limit} > {total} AND {total} - {offset} >= {limit}"));
    let last = and(format!("{offset} * 2 + {limit} > {total} AND {total} - {offset} < {limit}"));
    // Evaluated whichever branch runs, so never negative.
    let skip = format!("CASE WHEN {total} - {offset} > {limit} THEN {total} - {offset} - {limit} ELSE 0 END");
    format!(
        "WITH c AS (SELECT ({count}) AS total) \
         SELECT c.total, p.* FROM c LEFT JOIN (\
           SELECT {page} FROM (SELECT id FROM (\
             SELECT id FROM (SELECT id FROM pipelines {newest_first} \
               ORDER BY created_at DESC, id DESC LIMIT {limit} OFFSET {offset}) f \
             UNION ALL \
             SELECT id FROM (SELECT id FROM pipelines {oldest_first} \
               ORDER BY created_at, id LIMIT {limit} OFFSET {skip}) b \
             UNION ALL \
             SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) AS position \
               FROM pipelines {last} ORDER BY created_at, id LIMIT {limit}) l \
             WHERE position <= {total} - {offset}\
           ) u LIMIT {limit}) k JOIN pipelines r ON r.id = k.id\
         ) p ON 1 = 1 ORDER BY p.created_at DESC, p.id DESC",
        count = pipeline_count_sql(filter),
        page = qualified_names("r", Pipeline::COLUMNS),
    )
}

/// Whether the page at `offset` is nearer the oldest end of a listing of `total` pipelines (see
/// `pipeline_listing_sql`, whose choice this is).
pub(crate) fn from_oldest(offset: i64, limit: i64, total: i64) -> bool {
    offset * 2 + limit > total
}

/// `pipeline_page_sql` walked oldest first: binds the filters' parameters, then how many of the
/// oldest entries to take and how many to skip before them; the page comes back newest first.
pub(crate) fn pipeline_page_from_oldest_sql(filter: &PipelineFilter) -> String {
    let n = first_param_after_filters(filter);
    format!(
        "SELECT {} FROM pipelines WHERE id IN \
           (SELECT id FROM pipelines {} ORDER BY created_at, id LIMIT ${n} OFFSET ${}) \
         ORDER BY created_at DESC, id DESC",
        column_names(Pipeline::COLUMNS),
        pipeline_filter_clause(filter),
        n + 1
    )
}
