//! Online backups of the SQLite database and their restore.
//!
//! A backup is `VACUUM INTO` a new file: one read transaction, so the copy is consistent while
//! ccm keeps writing (WAL mode lets the writer go on), and compact. It is checked with
//! `PRAGMA integrity_check` before it is called done. A restore replaces a stopped ccm's database
//! with a checked backup; `ccm serve` holds a shared lock on `<database>.lock` while it runs, so
//! a restore (which takes it exclusively) never swaps the file under a running server.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};

/// A backup written and checked.
#[derive(Debug, Clone)]
pub struct Backup {
    pub path: PathBuf,
    pub bytes: u64,
    pub took: Duration,
}

/// Writes a consistent copy of the database at `database` into `output`, a file that must not
/// exist yet (created with mode 0600), and checks it. A copy that fails its check is removed.
pub fn backup(database: &Path, output: &Path) -> anyhow::Result<Backup> {
    let started = Instant::now();
    if !database.exists() {
        bail!("no database at {}", database.display());
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(output)
        .with_context(|| format!("creating {} (it must not exist yet)", output.display()))?;
    let written = (|| {
        let source = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        source.busy_timeout(Duration::from_secs(30))?;
        let target = output.to_str().context("the backup's path is not UTF-8")?;
        source.execute("VACUUM INTO ?1", [target])?;
        check(output)?;
        anyhow::Ok(())
    })();
    if let Err(err) = written {
        let _ = std::fs::remove_file(output);
        return Err(err.context(format!("backing {} up into {}", database.display(), output.display())));
    }
    let bytes = std::fs::metadata(output)?.len();
    Ok(Backup { path: output.to_path_buf(), bytes, took: started.elapsed() })
}

/// `PRAGMA integrity_check` on a database file: Ok when SQLite finds nothing wrong.
pub fn check(path: &Path) -> anyhow::Result<()> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", path.display()))?;
    let findings: Vec<String> = conn
        .prepare("PRAGMA integrity_check")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a readable SQLite database", path.display()))?;
    if findings != ["ok"] {
        bail!("{} failed its integrity check: {}", path.display(), findings.join("; "));
    }
    Ok(())
}

/// The lock a running `ccm serve` holds on its SQLite database (shared, so it never stops a
/// second reader), and that a restore takes exclusively.
pub struct DatabaseLock {
    _file: File,
}

fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    database.with_file_name(name)
}

fn open_lock(database: &Path) -> anyhow::Result<File> {
    let path = lock_path(database);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))
}

impl DatabaseLock {
    /// Taken by `ccm serve` for as long as it runs.
    pub fn shared(database: &Path) -> anyhow::Result<Self> {
        let file = open_lock(database)?;
        file.try_lock_shared()
            .map_err(|_| anyhow::anyhow!("{} is being restored: start ccm again afterwards", database.display()))?;
        Ok(DatabaseLock { _file: file })
    }

    /// Taken by a restore: fails while a ccm serves this database.
    pub fn exclusive(database: &Path) -> anyhow::Result<Self> {
        let file = open_lock(database)?;
        file.try_lock().map_err(|_| {
            anyhow::anyhow!(
                "ccm is running on {} ({} is held): stop it before restoring",
                database.display(),
                lock_path(database).display()
            )
        })?;
        Ok(DatabaseLock { _file: file })
    }
}

/// Whether the database at `path` holds anything: any row in any of ccm's tables.
pub fn holds_data(path: &Path) -> anyhow::Result<bool> {
    if std::fs::metadata(path).map(|m| m.len() == 0).unwrap_or(true) {
        return Ok(false);
    }
    // Read-write (it creates nothing): a stopped server may have left its WAL, which a read-only
    // connection could not replay.
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name NOT LIKE '_sqlx_%'",
        )?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for table in tables {
        let quoted = table.replace('"', "\"\"");
        let any: bool = conn.query_row(&format!("SELECT EXISTS (SELECT 1 FROM \"{quoted}\")"), [], |row| row.get(0))?;
        if any {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Replaces the database at `database` with the backup at `from` (checked first). Refuses while
/// a ccm serves it, and when it holds data unless `force`. Migrations are not applied here: the
/// caller opens the store afterwards, which applies them.
pub fn restore(from: &Path, database: &Path, force: bool) -> anyhow::Result<()> {
    check(from).context("the backup cannot be restored")?;
    let _lock = DatabaseLock::exclusive(database)?;
    if !force && holds_data(database).context("reading the database to be replaced")? {
        bail!("{} already holds data: pass --force to replace it with the backup", database.display());
    }
    let staged = database.with_extension("restoring");
    let _ = std::fs::remove_file(&staged);
    // Copied through SQLite (a backup of the backup) rather than as a file, so a backup with a WAL
    // of its own (a file copied by hand) comes whole, private and checked.
    backup(from, &staged)?;
    for stale in ["-wal", "-shm"] {
        let mut name = database.as_os_str().to_os_string();
        name.push(stale);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
    std::fs::rename(&staged, database)
        .with_context(|| format!("moving {} into place as {}", staged.display(), database.display()))?;
    Ok(())
}

/// The name of a backup in the backups folder, taken at `at`: `ccm-<UTC time>.db`, so that the
/// names sort by age.
pub fn backup_name(at: DateTime<Utc>) -> String {
    format!("ccm-{}.db", at.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// A backup in the backups folder: its file name, when it was taken (its name says) and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFile {
    pub name: String,
    pub taken_at: DateTime<Utc>,
    pub bytes: u64,
}

/// When the backup named `name` (`ccm-<UTC time>.db`) was taken; None for any other file (a
/// `.partial` one, still being written, included).
fn taken_at(name: &str) -> Option<DateTime<Utc>> {
    let stamp = name.strip_prefix("ccm-")?.strip_suffix(".db")?;
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.3fZ").ok().map(|at| at.and_utc())
}

/// The newest backup in `dir` (scheduled, or `ccm backup` without `--output`); None when there is
/// none (or no folder yet). Read from the folder, so it survives restarts, unlike `/metrics`.
pub fn latest(dir: &Path) -> Option<BackupFile> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name().into_string().ok()?;
            let taken_at = taken_at(&name)?;
            let bytes = entry.metadata().ok()?.len();
            Some(BackupFile { name, taken_at, bytes })
        })
        .max_by_key(|b| b.taken_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_backup_is_the_newest_name_and_partial_ones_are_not_backups() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(latest(&dir.path().join("none")), None);
        let older: DateTime<Utc> = "2026-12-03T10:15:00.250Z".parse().unwrap();
        let newer: DateTime<Utc> = "2026-12-04T10:15:00Z".parse().unwrap();
        std::fs::write(dir.path().join(backup_name(older)), b"12345").unwrap();
        std::fs::write(dir.path().join(backup_name(newer)), b"123").unwrap();
        std::fs::write(dir.path().join(format!("{}.partial", backup_name(newer + chrono::Duration::hours(1)))), b"1")
            .unwrap();
        let found = latest(dir.path()).unwrap();
        assert_eq!((found.name, found.taken_at, found.bytes), (backup_name(newer), newer, 3));
        assert_eq!(taken_at(&backup_name(older)), Some(older));
    }

    fn database(dir: &Path, rows: usize) -> PathBuf {
        let path = dir.join("ccm.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "wal").unwrap();
        conn.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT)", []).unwrap();
        for i in 0..rows {
            conn.execute("INSERT INTO things (name) VALUES (?1)", [format!("thing {i}")]).unwrap();
        }
        path
    }

    #[test]
    fn a_backup_is_private_checked_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path(), 3);
        let out = dir.path().join("copy.db");
        let done = backup(&db, &out).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(done.bytes, std::fs::metadata(&out).unwrap().len());
        let count: i64 =
            Connection::open(&out).unwrap().query_row("SELECT count(*) FROM things", [], |r| r.get(0)).unwrap();
        assert_eq!(count, 3);
        let again = backup(&db, &out).unwrap_err().to_string();
        assert!(again.contains("must not exist"), "{again}");
    }

    #[test]
    fn restore_refuses_data_and_a_held_lock_then_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path(), 2);
        let saved = dir.path().join("saved.db");
        backup(&db, &saved).unwrap();
        Connection::open(&db).unwrap().execute("INSERT INTO things (name) VALUES ('later')", []).unwrap();

        let refused = restore(&saved, &db, false).unwrap_err().to_string();
        assert!(refused.contains("--force"), "{refused}");
        let serving = DatabaseLock::shared(&db).unwrap();
        let running = restore(&saved, &db, true).unwrap_err().to_string();
        assert!(running.contains("stop it"), "{running}");
        drop(serving);

        restore(&saved, &db, true).unwrap();
        let count: i64 =
            Connection::open(&db).unwrap().query_row("SELECT count(*) FROM things", [], |r| r.get(0)).unwrap();
        assert_eq!(count, 2, "the row written after the backup is gone");
    }

    #[test]
    fn a_damaged_backup_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path(), 1);
        let bad = dir.path().join("bad.db");
        std::fs::write(&bad, b"not a database at all, just some bytes").unwrap();
        let err = format!("{:#}", restore(&bad, &db, true).unwrap_err());
        assert!(err.contains("cannot be restored"), "{err}");
        assert!(holds_data(&db).unwrap(), "the database is untouched");
    }
}
