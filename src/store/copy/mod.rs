//! `ccm copy`: every table of one ccm database into another, empty one, SQLite or PostgreSQL at
//! either end. The target is migrated first (the same migrations `ccm serve` applies) and must
//! hold no rows; the source must be at this ccm's migration version. The source is read in one
//! snapshot (a read transaction), the target written in one transaction that commits only when
//! every table's count matches the source's: a copy that fails leaves nothing behind.
//!
//! Rows go in batches read by primary key (keyset: 1,000 rows, 100 of a table with blobs), column
//! by column as the catalogs name them, each value converted between the two schemas' types
//! (`values`).
//!
//! Triggers: SQLite's cannot be turned off, and PostgreSQL's only by the table owner or a superuser
//! (`session_replication_role`), so the copy lets them run and then replaces what they computed:
//! the roll-up tables they keep (`Handling::Rollup`: `pipeline_counts`, `execution_hours`) are
//! copied last, over the target's rows, because the source's roll-ups also count runs that
//! retention pruned. The retention marker, which the roll-up trigger reads, is never copied.
//! Id counters are set past the copied ids (`counters`).

mod counters;
mod endpoint;
mod tables;
mod tx;
mod values;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub use tables::{Handling, TABLES, Table, table};
pub use values::ColType;

use endpoint::{Url, check_versions, column_type, open_source, open_target};
use tx::{Tx, quoted};
use values::{Val, placeholder, select_expr};

/// Rows read from the source at a time.
pub const BATCH: usize = 1000;

/// Rows read at a time from a table with a blob column (delivery bodies, job logs of up to
/// CCM_JOB_LOG_MAX_MB): a batch stays within memory however large they are.
pub const BLOB_BATCH: usize = 100;

/// Most values one INSERT binds (SQLite allows 32,766, PostgreSQL 65,535).
const MAX_BOUND: usize = 30_000;

/// What the copy reports as it goes (a progress bar in `ccm copy`).
pub trait CopyProgress {
    /// The copy begins: `rows` to copy in all.
    fn start(&mut self, rows: u64);
    /// Copying `table` now.
    fn table(&mut self, table: &str);
    /// `rows` more copied.
    fn copied(&mut self, rows: u64);
    fn finish(&mut self);
}

/// No report.
pub struct Quiet;

impl CopyProgress for Quiet {
    fn start(&mut self, _: u64) {}
    fn table(&mut self, _: &str) {}
    fn copied(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

/// One table's rows at both ends once copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    pub table: &'static str,
    pub handling: Handling,
    pub source: i64,
    pub target: i64,
}

impl TableCount {
    /// Whether the target holds what it should: as many rows as the source (a skipped table
    /// keeps the target's own).
    pub fn matches(&self) -> bool {
        matches!(self.handling, Handling::Skip(_)) || self.source == self.target
    }
}

#[derive(Debug, Clone)]
pub struct CopyReport {
    /// The two databases as shown (no password).
    pub from: String,
    pub to: String,
    pub tables: Vec<TableCount>,
    /// False when a count differed: the target's transaction was rolled back.
    pub committed: bool,
    pub took: Duration,
}

impl CopyReport {
    pub fn counts_match(&self) -> bool {
        self.tables.iter().all(TableCount::matches)
    }
}

/// A column of a copied table: its name, and its type at each end.
struct Column {
    name: String,
    from: ColType,
    to: ColType,
}

/// Copies the database at `from` into the one at `to` (URLs as `DATABASE_URL` takes them).
pub async fn copy(from: &str, to: &str, progress: &mut dyn CopyProgress) -> anyhow::Result<CopyReport> {
    let started = Instant::now();
    let (from_url, to_url) = (Url::parse(from).context("--from")?, Url::parse(to).context("--to")?);
    let (from_shown, to_shown) = (from_url.shown(), to_url.shown());
    if same_database(&from_url, &to_url) {
        bail!("the source and the target are the same database ({from_shown})");
    }
    let mut source = open_source(&from_url).await?;
    let mut src = source.snapshot().await?;
    if !src.has_migrations_table().await? {
        bail!("the source ({from_shown}) is not a ccm database: it has no _sqlx_migrations table");
    }
    check_versions(from_url.backend(), &src.applied_migrations().await?, &from_shown)?;
    check_catalog(&mut src, "source", &from_shown).await?;

    let (mut target, _lock) = open_target(&to_url).await?;
    // Looked at before the migrations, which would otherwise add ccm's tables to a database of
    // something else; again in the copy's transaction.
    refuse_filled(&mut target.write().await?, &to_shown).await?;
    target.migrate().await?;
    let mut dst = target.write().await?;
    check_catalog(&mut dst, "target", &to_shown).await?;
    refuse_filled(&mut dst, &to_shown).await?;

    let mut plan = Vec::new();
    let mut total = 0u64;
    for table in TABLES {
        let columns = columns(&mut src, &mut dst, table.name).await?;
        let rows = src.count(table.name).await?;
        if !matches!(table.handling, Handling::Skip(_)) {
            total += rows as u64;
        }
        plan.push((table, columns, rows));
    }
    progress.start(total);
    for (table, columns, _) in &plan {
        match table.handling {
            Handling::Copy => copy_table(&mut src, &mut dst, table, columns, progress).await?,
            Handling::Rollup => {
                dst.execute(format!("DELETE FROM {}", quoted(table.name)), vec![]).await?;
                copy_table(&mut src, &mut dst, table, columns, progress).await?;
            }
            Handling::Skip(_) => {}
        }
    }
    for (table, columns, _) in &plan {
        if let ([key], Handling::Copy) = (table.key, table.handling)
            && columns.iter().any(|c| c.name == *key && c.to == ColType::Int)
        {
            let last = counters::source_counter(&mut src, table.name, key).await?;
            counters::set_target_counter(&mut dst, table.name, key, last).await?;
        }
    }
    let mut counts = Vec::new();
    for (table, _, source_rows) in &plan {
        let target_rows = dst.count(table.name).await?;
        counts.push(TableCount {
            table: table.name,
            handling: table.handling,
            source: *source_rows,
            target: target_rows,
        });
    }
    progress.finish();
    let committed = counts.iter().all(TableCount::matches);
    if committed {
        dst.commit().await.context("committing the copy")?;
    } else {
        drop(dst);
    }
    drop(src);
    if let (true, endpoint::Conn::Postgres(conn)) = (committed, &mut target) {
        // Fresh planner statistics for the tables just filled.
        sqlx::query("ANALYZE").execute(conn).await.context("ANALYZE on the target")?;
    }
    Ok(CopyReport { from: from_shown, to: to_shown, tables: counts, committed, took: started.elapsed() })
}

fn same_database(a: &Url, b: &Url) -> bool {
    match (a, b) {
        (Url::Sqlite { path: a, .. }, Url::Sqlite { path: b, .. }) => {
            a == b || (a.canonicalize().ok().is_some() && a.canonicalize().ok() == b.canonicalize().ok())
        }
        (Url::Postgres(a), Url::Postgres(b)) => a == b,
        _ => false,
    }
}

/// Refuses a target with a table ccm does not know, or any copied table that holds rows.
async fn refuse_filled(tx: &mut Tx<'_>, shown: &str) -> anyhow::Result<()> {
    let names = tx.tables().await?;
    if let Some(unknown) = names.iter().find(|n| table(n).is_none()) {
        bail!(
            "the target ({shown}) has a table {unknown}, not one of ccm's: copy into an empty database; nothing was written"
        );
    }
    for table in TABLES.iter().filter(|t| t.handling == Handling::Copy && names.iter().any(|n| n == t.name)) {
        if tx.holds_rows(table.name).await? {
            bail!(
                "the target ({shown}) is not empty: table {} holds rows. Copy into an empty database \
                 (a new SQLite file, or a PostgreSQL database just created); nothing was written",
                table.name
            );
        }
    }
    Ok(())
}

/// Refuses a database with a table the copy does not know, or without one it copies.
async fn check_catalog(tx: &mut Tx<'_>, end: &str, shown: &str) -> anyhow::Result<()> {
    let names = tx.tables().await?;
    if let Some(unknown) = names.iter().find(|n| table(n).is_none()) {
        bail!("the {end} ({shown}) has a table {unknown} that this ccm's copy does not know");
    }
    if let Some(missing) = TABLES.iter().find(|t| !names.iter().any(|n| n == t.name)) {
        bail!("the {end} ({shown}) has no table {}: is it a ccm database?", missing.name);
    }
    Ok(())
}

/// The columns of `table` at both ends (the same names, each end's type).
async fn columns(src: &mut Tx<'_>, dst: &mut Tx<'_>, table: &str) -> anyhow::Result<Vec<Column>> {
    let (from, to) = (src.columns(table).await?, dst.columns(table).await?);
    let mut names: Vec<&str> = from.iter().map(|(n, _)| n.as_str()).collect();
    let mut other: Vec<&str> = to.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    other.sort_unstable();
    if names != other {
        bail!("table {table} has the columns {names:?} at the source but {other:?} at the target");
    }
    let ty = |backend, declared: &str, column: &str| {
        column_type(backend, declared).with_context(|| format!("{table}.{column}: a column of type {declared}"))
    };
    let (source_backend, target_backend) = (src.backend(), dst.backend());
    let mut columns = Vec::with_capacity(from.len());
    for (name, declared) in &from {
        let target = &to.iter().find(|(n, _)| n == name).expect("the same names").1;
        columns.push(Column {
            name: name.clone(),
            from: ty(source_backend, declared, name)?,
            to: ty(target_backend, target, name)?,
        });
    }
    Ok(columns)
}

/// Copies every row of `table`, a batch at a time in key order.
async fn copy_table(
    src: &mut Tx<'_>,
    dst: &mut Tx<'_>,
    table: &Table,
    columns: &[Column],
    progress: &mut dyn CopyProgress,
) -> anyhow::Result<()> {
    progress.table(table.name);
    let key: Vec<usize> = table
        .key
        .iter()
        .map(|k| {
            columns.iter().position(|c| c.name == *k).with_context(|| format!("{}: no key column {k}", table.name))
        })
        .collect::<anyhow::Result<_>>()?;
    let exprs: Vec<String> = columns.iter().map(|c| select_expr(src.backend(), &quoted(&c.name), c.from)).collect();
    let key_list = table.key.iter().map(|k| quoted(k)).collect::<Vec<_>>().join(", ");
    let from_types: Vec<ColType> = columns.iter().map(|c| c.from).collect();
    let batch = if from_types.contains(&ColType::Bytes) { BLOB_BATCH } else { BATCH };
    let mut after: Option<Vec<Val>> = None;
    loop {
        let mut sql = format!("SELECT {} FROM {}", exprs.join(", "), quoted(table.name));
        let mut binds = Vec::new();
        if let Some(last) = after.take() {
            let marks: Vec<String> = (1..=last.len()).map(|n| format!("${n}")).collect();
            sql.push_str(&format!(" WHERE ({key_list}) > ({})", marks.join(", ")));
            binds = last;
        }
        if !key.is_empty() {
            sql.push_str(&format!(" ORDER BY {key_list} LIMIT {batch}"));
        }
        let rows = src.rows(sql, binds, &from_types).await.with_context(|| format!("reading {}", table.name))?;
        let read = rows.len();
        if let Some(last) = rows.last() {
            after = Some(key.iter().map(|&i| last[i].clone()).collect());
        }
        insert(dst, table.name, columns, rows).await.with_context(|| format!("writing {}", table.name))?;
        progress.copied(read as u64);
        if key.is_empty() || read < batch {
            return Ok(());
        }
    }
}

/// Inserts `rows` (read at the source) into the target's `table`, converted to its types.
async fn insert(dst: &mut Tx<'_>, table: &str, columns: &[Column], rows: Vec<Vec<Val>>) -> anyhow::Result<()> {
    let backend = dst.backend();
    let names = columns.iter().map(|c| quoted(&c.name)).collect::<Vec<_>>().join(", ");
    let per_statement = (MAX_BOUND / columns.len().max(1)).clamp(1, BATCH);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Val>> = rows.by_ref().take(per_statement).collect();
        let mut tuples = Vec::with_capacity(chunk.len());
        let mut binds = Vec::with_capacity(chunk.len() * columns.len());
        for row in chunk {
            let first = binds.len();
            let marks: Vec<String> =
                columns.iter().enumerate().map(|(i, c)| placeholder(backend, first + i + 1, c.to)).collect();
            tuples.push(format!("({})", marks.join(", ")));
            for (value, column) in row.into_iter().zip(columns) {
                let converted = value.convert(column.to).with_context(|| format!("{table}.{}", column.name))?;
                binds.push(converted);
            }
        }
        dst.execute(format!("INSERT INTO {} ({names}) VALUES {}", quoted(table), tuples.join(", ")), binds).await?;
    }
    Ok(())
}
