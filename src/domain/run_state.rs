//! The order of a workflow run's states. A stored run only moves to a higher rank (or, at the
//! same rank, to a newer `updated_at`), so late or repeated events never move it backwards.

/// requested / queued / waiting / pending < in_progress < completed.
pub fn rank(status: &str) -> i64 {
    match status {
        "completed" => 3,
        "in_progress" => 2,
        "requested" | "queued" | "waiting" | "pending" => 1,
        _ => 0,
    }
}

/// Runs that are executing now.
pub fn is_active(status: &str) -> bool {
    status == "in_progress"
}

/// Runs that wait for a runner or an approval.
pub fn is_queued(status: &str) -> bool {
    rank(status) == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_ordered() {
        assert!(rank("requested") < rank("in_progress"));
        assert!(rank("queued") < rank("in_progress"));
        assert!(rank("waiting") < rank("in_progress"));
        assert!(rank("in_progress") < rank("completed"));
        assert_eq!(rank("queued"), rank("requested"));
        assert!(rank("something_new") < rank("queued"));
        assert!(is_queued("waiting") && !is_queued("in_progress"));
        assert!(is_active("in_progress") && !is_active("completed"));
    }
}
