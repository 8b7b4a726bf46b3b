//! Every table of ccm's schema, in the order `ccm copy` fills them: a table referenced by a
//! foreign key before the table referencing it, and the roll-ups kept by triggers after the rows
//! whose triggers touch them. A table the migrations add must be added here: the copy refuses a
//! database with a table it does not know, and a test compares this list with both catalogs.

/// What the copy does with a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    /// Its rows are copied as they are.
    Copy,
    /// A roll-up kept by triggers on another table: the target's triggers fill it while that
    /// table is copied, so the copy then replaces the target's rows with the source's. The
    /// source's are the truth: they keep what retention pruned from the table they sum.
    Rollup,
    /// Not copied, for the reason given; the target keeps what its migrations put there.
    Skip(&'static str),
}

/// One table: its name, the columns of its primary key (the copy reads it in this order, a
/// batch at a time), and what the copy does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub key: &'static [&'static str],
    pub handling: Handling,
}

const fn copy(name: &'static str, key: &'static [&'static str]) -> Table {
    Table { name, key, handling: Handling::Copy }
}

const fn rollup(name: &'static str, key: &'static [&'static str]) -> Table {
    Table { name, key, handling: Handling::Rollup }
}

const fn skip(name: &'static str, key: &'static [&'static str], why: &'static str) -> Table {
    Table { name, key, handling: Handling::Skip(why) }
}

/// The tables, in copy order (see the module's comment).
pub const TABLES: &[Table] = &[
    copy("pipelines", &["id"]),
    copy("backfills", &["pipeline_id"]),
    copy("executions", &["id"]),
    copy("jobs", &["job_id"]),
    copy("job_logs", &["job_id"]),
    copy("job_listings", &["run_id", "run_attempt"]),
    copy("run_checks", &["run_id", "run_attempt"]),
    copy("deployments", &["id"]),
    copy("deployment_statuses", &["id"]),
    copy("deliveries", &["id"]),
    copy("redeliveries", &["guid"]),
    copy("installations", &["id"]),
    copy("installation_repositories", &["installation_id", "repo_key"]),
    copy("outbox_jobs", &["id"]),
    copy("github_state", &["key"]),
    copy("audit_log", &["id"]),
    copy("tasks", &["id"]),
    copy("pull_requests", &["repo_key", "number"]),
    // References tasks (ON DELETE CASCADE).
    copy("task_pull_requests", &["task_id", "repo_key", "number"]),
    copy("sync_settings", &["repo_key"]),
    copy("repository_visibility", &["repo_key"]),
    copy("pushes", &["id"]),
    copy("idempotency_keys", &["key"]),
    copy("api_tokens", &["id"]),
    copy("notification_channels", &["id"]),
    copy("alert_rules", &["id"]),
    copy("alerts", &["id"]),
    copy("alert_notifications", &["id"]),
    // After pipelines and executions, whose triggers count them.
    rollup("pipeline_counts", &["status"]),
    rollup("execution_hours", &["repo_key", "workflow_path", "hour", "branch"]),
    // A row exists only inside a pruning transaction, never in a snapshot.
    skip("retention_marker", &[], "only inside a pruning transaction"),
    // Which replica prunes, until when: the target keeps its own, free, lease.
    skip("retention_lease", &["id"], "the target keeps its own lease"),
    // What each replica's GitHub breaker said lately: the target's replicas report their own.
    skip("github_breakers", &["replica"], "each replica reports its own breaker again"),
];

/// The table named `name`, if the copy knows it.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_table_is_listed_once_and_skips_say_why() {
        let mut names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a table listed twice");
        for t in TABLES {
            if let Handling::Skip(why) = t.handling {
                assert!(!why.is_empty(), "{}", t.name);
            } else {
                assert!(!t.key.is_empty(), "{} is read by its key", t.name);
            }
        }
    }

    #[test]
    fn rollups_come_after_every_copied_table() {
        let first_rollup = TABLES.iter().position(|t| t.handling == Handling::Rollup).unwrap();
        assert!(TABLES[first_rollup..].iter().all(|t| t.handling != Handling::Copy));
    }
}
