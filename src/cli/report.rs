//! `ccm pipelines report ID [--days N]`: a pipeline's report (`GET /api/pipelines/{id}/report`)
//! as a readable summary; `--json` prints the server's JSON.

use serde_json::Value;

use super::table::{Table, duration_of, fields, text};

/// The summary: the figures of the period and its trend, then one table per part.
pub fn summary(r: &Value) -> String {
    let p = &r["performance"];
    let t = &p["trend"];
    let mut out = fields(&[
        ("pipeline", text(&r["pipeline_id"])),
        ("repository", text(&r["repository"])),
        ("workflow", text(&r["workflow_file"])),
        ("period", format!("{} to {} (UTC, {} days)", text(&r["from"]), text(&r["to"]), text(&r["days"]))),
        ("runs", text(&p["runs"])),
        ("success rate", percent(&p["success_rate"])),
        ("duration p50", duration_of(&p["p50_duration_seconds"])),
        ("duration p95", duration_of(&p["p95_duration_seconds"])),
        ("queue p95", duration_of(&p["p95_queue_seconds"])),
        (
            "trend (7 days)",
            format!(
                "runs {} -> {} ({}), success {} -> {} ({}), p50 {} -> {} ({})",
                text(&t["previous_7_days"]["runs"]),
                text(&t["last_7_days"]["runs"]),
                text(&t["runs"]),
                percent(&t["previous_7_days"]["success_rate"]),
                percent(&t["last_7_days"]["success_rate"]),
                text(&t["success_rate"]),
                duration_of(&t["previous_7_days"]["p50_duration_seconds"]),
                duration_of(&t["last_7_days"]["p50_duration_seconds"]),
                text(&t["p50_duration"]),
            ),
        ),
    ]);

    let mut days = Table::new(&["DAY", "RUNS", "SUCCESS", "P50", "P95", "QUEUE P95"]);
    for d in items(&p["daily"]) {
        days.row(vec![
            text(&d["date"]),
            text(&d["runs"]),
            percent(&d["success_rate"]),
            duration_of(&d["p50_duration_seconds"]),
            duration_of(&d["p95_duration_seconds"]),
            duration_of(&d["p95_queue_seconds"]),
        ]);
    }
    section(&mut out, "Days", days, p["daily"].as_array().map_or(0, Vec::len));

    let mut slow = Table::new(&["JOB", "RUNS", "P50", "P95", "SHARE OF RUN"]);
    for j in items(&p["slowest_jobs"]) {
        slow.row(vec![
            text(&j["name"]),
            text(&j["runs"]),
            duration_of(&j["p50_seconds"]),
            duration_of(&j["p95_seconds"]),
            percent(&j["share_of_run_percent"]),
        ]);
    }
    section(&mut out, "Slowest jobs", slow, items(&p["slowest_jobs"]).len());

    let q = &r["quality"];
    let mut flaky = Table::new(&["JOB", "FLAKY COMMITS", "FAILED", "PASSED", "MINUTES LOST"]);
    for f in items(&q["flaky_jobs"]) {
        flaky.row(vec![
            text(&f["name"]),
            text(&f["flaky_commits"]),
            text(&f["failed_attempts"]),
            text(&f["passed_attempts"]),
            text(&f["minutes_lost"]),
        ]);
    }
    section(&mut out, "Flaky jobs", flaky, items(&q["flaky_jobs"]).len());

    let mut steps = Table::new(&["JOB", "STEP", "FAILURES", "LAST MESSAGE"]);
    for s in items(&q["failing_steps"]) {
        steps.row(vec![text(&s["job"]), text(&s["step"]), text(&s["failures"]), text(&s["last_error_message"])]);
    }
    section(&mut out, "Failing steps", steps, items(&q["failing_steps"]).len());

    let environments = items(&r["deployment"]["environments"]);
    let mut deploys = Table::new(&[
        "ENVIRONMENT",
        "DEPLOYS",
        "PER WEEK",
        "LEAD TIME P50",
        "DEPLOY P50",
        "CHANGE FAILURE",
        "RESTORE P50",
    ]);
    for e in &environments {
        deploys.row(vec![
            text(&e["environment"]),
            text(&e["deployments"]),
            text(&e["deployment_frequency"]["per_week"]),
            duration_of(&e["lead_time"]["p50_seconds"]),
            duration_of(&e["deploy_duration"]["p50_seconds"]),
            percent(&e["change_failure_rate"]),
            duration_of(&e["time_to_restore"]["p50_seconds"]),
        ]);
    }
    section(&mut out, "Deployments", deploys, environments.len());

    out.push_str("\nRecommendations\n");
    let recommendations = items(&r["recommendations"]);
    if recommendations.is_empty() {
        out.push_str("  nothing stands out\n");
    }
    for rec in recommendations {
        out.push_str(&format!(
            "  - {} [{}; about {} min/week]\n",
            text(&rec["message"]),
            text(&rec["kind"]),
            text(&rec["estimated_gain_minutes_per_week"])
        ));
    }
    out
}

fn items(value: &Value) -> Vec<Value> {
    value.as_array().cloned().unwrap_or_default()
}

/// `66.7%`, `-` when unknown.
fn percent(value: &Value) -> String {
    value.as_f64().map_or_else(|| "-".to_string(), |p| format!("{p:.1}%"))
}

fn section(out: &mut String, title: &str, table: Table, rows: usize) {
    out.push('\n');
    out.push_str(title);
    out.push('\n');
    if rows == 0 {
        out.push_str("  none\n");
    } else {
        out.push_str(&table.render());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summarises_the_figures() {
        let report = json!({
            "pipeline_id": "pipe_0123456789ab", "repository": "octo/app", "workflow_file": "ci.yml",
            "days": 14, "from": "2026-03-01", "to": "2026-03-14",
            "performance": {"runs": 3, "success_rate": 66.7, "p50_duration_seconds": 192, "daily": [],
                "slowest_jobs": [{"name": "build", "runs": 3, "p50_seconds": 100, "p95_seconds": 120, "share_of_run_percent": 52.1}],
                "trend": {"last_7_days": {"runs": 3}, "previous_7_days": {"runs": 0}, "runs": "up"}},
            "quality": {"flaky_jobs": [], "failing_steps": []},
            "deployment": {"environments": []},
            "recommendations": [{"kind": "dominant_job", "message": "job `build` is 52.1 % of the run", "estimated_gain_minutes_per_week": 2.5}]
        });
        let out = summary(&report);
        assert!(out.contains("success rate:   66.7%"), "{out}");
        assert!(out.contains("duration p50:   3m 12s"), "{out}");
        assert!(out.contains("build  3     1m 40s  2m 00s  52.1%"), "{out}");
        assert!(out.contains("Flaky jobs\n  none"), "{out}");
        assert!(out.contains("- job `build` is 52.1 % of the run [dominant_job; about 2.5 min/week]"), "{out}");
    }
}
