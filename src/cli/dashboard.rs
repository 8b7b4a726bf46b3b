//! What `ccm pipelines watch` shows: the state built from the API and its live events, and the
//! frame drawn from it (a pure function, so it is tested without a terminal).

use crate::domain::status::PipelineStatus;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::table::{Table, duration, text};

#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    Connecting,
    Live,
    Reconnecting { reason: String, retry_in_secs: u64 },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub repository: String,
    pub workflow_file: String,
    pub status: String,
    pub linked_domain: Option<String>,
    pub stats: Option<RowStats>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowStats {
    pub run_count: i64,
    pub success_rate: f64,
    pub avg_duration_seconds: i64,
    pub health_score: i64,
    pub active_runs: i64,
    pub queue_length: i64,
    /// The latest run's result, with the stage running now and its progress.
    pub last_run: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub server: String,
    pub rows: BTreeMap<String, Row>,
    pub connection: Connection,
    /// Live events received so far.
    pub events: u64,
    pub last_event: Option<String>,
}

impl Dashboard {
    pub fn new(server: &str) -> Self {
        Dashboard {
            server: server.to_string(),
            rows: BTreeMap::new(),
            connection: Connection::Connecting,
            events: 0,
            last_event: None,
        }
    }

    /// A pipeline as `GET /api/pipelines` shows it.
    pub fn set_pipeline(&mut self, p: &Value) {
        let Some(id) = p["pipeline_id"].as_str() else { return };
        let row = self.rows.entry(id.to_string()).or_default();
        row.repository = text(&p["repository"]);
        row.workflow_file = text(&p["workflow_file"]);
        row.status = text(&p["status"]);
        row.linked_domain = p["vps_integration"]["linked_domain"].as_str().map(str::to_string);
    }

    /// A pipeline's stats (the `stats` of `GET .../stats`, or the data of a live `stats` event).
    pub fn set_stats(&mut self, s: &Value) {
        let Some(id) = s["pipeline_id"].as_str() else { return };
        let row = self.rows.entry(id.to_string()).or_default();
        if let Some(status) = s["status"].as_str() {
            row.status = status.to_string();
        }
        if row.repository.is_empty() {
            row.repository = text(&s["repository"]);
            row.workflow_file = text(&s["workflow_file"]);
        }
        let m = &s["metrics_24h"];
        let last = &s["last_run"];
        // The stage is only set while a job of the latest run is running.
        let last_run = last["status"].as_str().map(|status| match s["current_stage"].as_str() {
            Some(stage) => format!("{status}: {stage} ({}%)", text(&s["progress_percentage"])),
            None => status.to_string(),
        });
        row.stats = Some(RowStats {
            run_count: m["run_count"].as_i64().unwrap_or(0),
            success_rate: m["success_rate"].as_f64().unwrap_or(0.0),
            avg_duration_seconds: m["avg_duration_seconds"].as_i64().unwrap_or(0),
            health_score: s["health_score"].as_i64().unwrap_or(0),
            active_runs: s["active_runs"].as_i64().unwrap_or(0),
            queue_length: s["queue_length"].as_i64().unwrap_or(0),
            last_run,
        });
    }

    /// Applies a live event. Returns whether the pipeline list should be read again (an event
    /// about a pipeline not shown yet, or the server saying events were missed).
    pub fn apply(&mut self, kind: &str, data: &Value) -> bool {
        self.events += 1;
        let pipeline = data["pipeline_id"].as_str().unwrap_or("-");
        let (summary, reload) = match kind {
            "stats" => {
                let known = self.rows.contains_key(pipeline);
                self.set_stats(data);
                (format!("stats of {pipeline}"), !known)
            }
            "execution" => {
                let run = &data["execution"];
                (format!("run {} {} ({pipeline})", text(&run["run_id"]), super::table::run_state(run)), false)
            }
            "job" => {
                let job = &data["job"];
                (format!("job {} {} ({pipeline})", text(&job["name"]), super::table::run_state(job)), false)
            }
            "delivery" => (format!("delivery {} {}", text(&data["guid"]), text(&data["status"])), false),
            "resync" => ("missed events: reloading".to_string(), true),
            other => (other.to_string(), false),
        };
        self.last_event = Some(summary);
        reload
    }
}

/// The whole frame: a title line, one row per pipeline (active ones first), a status line.
pub fn render(d: &Dashboard, now: DateTime<Utc>) -> String {
    let connection = match &d.connection {
        Connection::Connecting => "connecting".to_string(),
        Connection::Live => "live".to_string(),
        Connection::Reconnecting { reason, retry_in_secs } => {
            format!("disconnected ({reason}); reconnecting in {retry_in_secs}s")
        }
    };
    let mut out =
        format!("ccm pipelines watch  {}  {connection}  {}\n\n", d.server, now.format("%Y-%m-%d %H:%M:%S UTC"));
    let mut rows: Vec<(&String, &Row)> = d.rows.iter().collect();
    rows.sort_by(|(a_id, a), (b_id, b)| {
        (a.status != PipelineStatus::Active.as_str(), &a.repository, &a.workflow_file, a_id).cmp(&(
            b.status != PipelineStatus::Active.as_str(),
            &b.repository,
            &b.workflow_file,
            b_id,
        ))
    });
    let mut table = Table::new(&[
        "PIPELINE",
        "REPOSITORY",
        "WORKFLOW",
        "STATUS",
        "SUCCESS 24H",
        "AVG TIME",
        "HEALTH",
        "ACTIVE",
        "QUEUED",
        "LAST RUN",
        "DOMAIN",
    ]);
    for (id, row) in &rows {
        let workflow = row.workflow_file.strip_prefix(".github/workflows/").unwrap_or(&row.workflow_file);
        let mut cells = vec![id.to_string(), row.repository.clone(), workflow.to_string(), row.status.clone()];
        match &row.stats {
            Some(s) => cells.extend([
                if s.run_count == 0 {
                    "- (0 runs)".to_string()
                } else {
                    format!("{:.1}% of {}", s.success_rate, s.run_count)
                },
                if s.run_count == 0 { "-".to_string() } else { duration(s.avg_duration_seconds) },
                s.health_score.to_string(),
                s.active_runs.to_string(),
                s.queue_length.to_string(),
                s.last_run.clone().unwrap_or_else(|| "-".into()),
            ]),
            None => cells.extend(std::iter::repeat_n("…".to_string(), 6)),
        }
        cells.push(row.linked_domain.clone().unwrap_or_else(|| "-".into()));
        table.row(cells);
    }
    if rows.is_empty() {
        out.push_str("No pipelines yet.\n");
    } else {
        out.push_str(&table.render());
    }
    let active = rows.iter().filter(|(_, r)| r.status == "active").count();
    out.push_str(&format!("\n{} pipelines ({active} active), {} live events", rows.len(), d.events));
    if let Some(last) = &d.last_event {
        out.push_str(&format!(", last: {last}"));
    }
    out.push_str("\nCtrl-C to quit\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at() -> DateTime<Utc> {
        "2026-01-05T10:30:00Z".parse().unwrap()
    }

    fn pipeline(id: &str, repo: &str, status: &str, domain: Option<&str>) -> Value {
        json!({"pipeline_id": id, "repository": repo, "workflow_file": ".github/workflows/deploy.yml",
               "status": status, "vps_integration": {"linked_domain": domain, "linked_app": null}})
    }

    fn stats(id: &str) -> Value {
        json!({"pipeline_id": id, "status": "active", "repository": "o/web", "workflow_file": ".github/workflows/deploy.yml",
               "last_run": {"status": "in_progress"}, "current_stage": "build", "progress_percentage": 50,
               "metrics_24h": {"run_count": 21, "success_count": 20, "success_rate": 95.2, "avg_duration_seconds": 192},
               "health_score": 95, "active_runs": 1, "queue_length": 2})
    }

    #[test]
    fn draws_every_pipeline_with_its_figures() {
        let mut d = Dashboard::new("http://127.0.0.1:5000");
        d.set_pipeline(&pipeline("pipe_000000000002", "o/old", "inactive", None));
        d.set_pipeline(&pipeline("pipe_000000000001", "o/web", "active", Some("example.com")));
        d.connection = Connection::Live;
        let frame = render(&d, at());
        let lines: Vec<&str> = frame.lines().collect();
        assert_eq!(lines[0], "ccm pipelines watch  http://127.0.0.1:5000  live  2026-01-05 10:30:00 UTC");
        assert!(lines[2].starts_with("PIPELINE           REPOSITORY  WORKFLOW    STATUS    SUCCESS 24H"), "{frame}");
        // Active first; figures not loaded yet show as an ellipsis.
        assert!(lines[3].starts_with("pipe_000000000001  o/web") && lines[3].ends_with("…         example.com"));
        assert!(lines[4].starts_with("pipe_000000000002  o/old") && lines[4].contains("inactive"), "{frame}");
        assert!(frame.ends_with("2 pipelines (1 active), 0 live events\nCtrl-C to quit\n"), "{frame}");

        assert!(!d.apply("stats", &stats("pipe_000000000001")));
        let frame = render(&d, at());
        let row = frame.lines().find(|l| l.starts_with("pipe_000000000001")).unwrap();
        let cells: Vec<&str> = row.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
        assert_eq!(
            cells,
            [
                "pipe_000000000001",
                "o/web",
                "deploy.yml",
                "active",
                "95.2% of 21",
                "3m 12s",
                "95",
                "1",
                "2",
                "in_progress: build (50%)",
                "example.com"
            ]
        );
        assert!(frame.contains("1 live events, last: stats of pipe_000000000001"), "{frame}");
    }

    #[test]
    fn a_pipeline_first_seen_in_an_event_asks_for_a_reload() {
        let mut d = Dashboard::new("http://x");
        assert!(d.apply("stats", &stats("pipe_000000000009")));
        assert_eq!(d.rows["pipe_000000000009"].repository, "o/web");
        assert!(!d.apply("delivery", &json!({"guid": "g-1", "status": "processed"})));
        assert_eq!(d.last_event.as_deref(), Some("delivery g-1 processed"));
        assert!(d.apply("resync", &json!({"missed": 3})));
        assert_eq!(d.events, 3);
    }

    #[test]
    fn says_when_disconnected_or_empty() {
        let mut d = Dashboard::new("http://x");
        d.connection = Connection::Reconnecting { reason: "connection refused".into(), retry_in_secs: 3 };
        let frame = render(&d, at());
        assert!(
            frame.starts_with("ccm pipelines watch  http://x  disconnected (connection refused); reconnecting in 3s")
        );
        assert!(frame.contains("No pipelines yet."));
        let mut quiet = stats("pipe_000000000001");
        quiet["metrics_24h"]["run_count"] = json!(0);
        quiet["last_run"] = Value::Null;
        d.set_stats(&quiet);
        let frame = render(&d, at());
        assert!(frame.contains("- (0 runs)"), "{frame}");
    }
}
