//! `ccm copy --from URL --to URL`: a whole ccm database into an empty one, SQLite or PostgreSQL
//! at either end (the copying itself is `store::copy`). It opens both databases directly, like
//! `ccm backup` and `ccm prune`, not through a server.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::table::Table;
use crate::store::copy::{self, CopyProgress, CopyReport, Handling};

#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// The database to copy, as DATABASE_URL takes it: sqlite:PATH, sqlite://PATH or postgres://...
    /// It is only read, and must be at this ccm's migration version.
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The database to fill: migrated first, and it must hold no rows (a new SQLite file, or an
    /// empty PostgreSQL database).
    #[arg(long, value_name = "URL")]
    pub to: String,
}

/// A progress bar on stderr, when it is a terminal; nothing otherwise (a script, a log).
struct Bar(ProgressBar);

impl CopyProgress for Bar {
    fn start(&mut self, rows: u64) {
        self.0.set_length(rows);
        self.0.enable_steady_tick(Duration::from_millis(200));
    }

    fn table(&mut self, table: &str) {
        self.0.set_message(table.to_string());
    }

    fn copied(&mut self, rows: u64) {
        self.0.inc(rows);
    }

    fn finish(&mut self) {
        self.0.finish_and_clear();
    }
}

impl Drop for Bar {
    /// A copy that fails clears its bar too, before its error is printed.
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

fn bar() -> Bar {
    if !std::io::stderr().is_terminal() {
        return Bar(ProgressBar::hidden());
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("{msg:26} [{wide_bar}] {pos}/{len} rows ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    Bar(bar)
}

/// Runs the copy and prints each table's rows at both ends. An error when a count differs (the
/// target's transaction is then rolled back).
pub async fn run(args: CopyArgs) -> anyhow::Result<()> {
    let report = copy::copy(&args.from, &args.to, &mut bar()).await?;
    print!("{}", render(&report));
    if !report.committed {
        anyhow::bail!("the counts differ (marked !=): the copy was rolled back, the target holds nothing of it");
    }
    println!("copied {} into {} in {:.1} s", report.from, report.to, report.took.as_secs_f64());
    Ok(())
}

/// The per-table count, both sides.
pub fn render(report: &CopyReport) -> String {
    let mut table = Table::new(&["table", "source rows", "target rows", ""]);
    for count in &report.tables {
        let note = match count.handling {
            Handling::Skip(why) => format!("not copied: {why}"),
            _ if !count.matches() => "!=".to_string(),
            Handling::Rollup => "roll-up: the source's".to_string(),
            Handling::Copy => String::new(),
        };
        table.row(vec![count.table.to_string(), count.source.to_string(), count.target.to_string(), note]);
    }
    table.render()
}
