//! A report as a printable page: self-contained (inline CSS, no script, no external asset), every
//! value escaped.

use std::fmt::Write;

use crate::domain::clock;
use crate::domain::insights::PipelineReport;

/// `text` safe inside HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What the page may use: its own inline styles, nothing else (no script, no request).
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2328;margin:2rem auto;\
max-width:60rem;padding:0 1rem}h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;\
border-bottom:1px solid #d0d7de;padding-bottom:.3rem}.meta{color:#59636e}table{border-collapse:collapse;width:100%;\
margin:.5rem 0;font-size:.9rem}th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #eaeef2}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.empty{color:#59636e;font-style:italic}\
.bar{display:inline-block;height:.6rem;background:#2da44e;vertical-align:middle}\
@media print{body{margin:0;max-width:none}h2{break-after:avoid}table{break-inside:auto}tr{break-inside:avoid}}";

/// An optional figure, or a dash.
fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "–".to_string(), |v| escape(&v.to_string()))
}

/// A table with these headers (`#` first marks a number column) and rows of cells already
/// escaped; `empty` when there is no row.
fn table(out: &mut String, headers: &[&str], rows: &[Vec<String>], empty: &str) {
    if rows.is_empty() {
        let _ = write!(out, "<p class=\"empty\">{}</p>", escape(empty));
        return;
    }
    let numeric: Vec<bool> = headers.iter().map(|h| h.starts_with('#')).collect();
    out.push_str("<table><thead><tr>");
    for (h, n) in headers.iter().zip(&numeric) {
        let _ = write!(out, "<th{}>{}</th>", if *n { " class=\"n\"" } else { "" }, escape(h.trim_start_matches('#')));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for (cell, n) in row.iter().zip(&numeric) {
            let _ = write!(out, "<td{}>{cell}</td>", if *n { " class=\"n\"" } else { "" });
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

/// The whole page.
pub fn render(r: &PipelineReport) -> String {
    let mut out = String::new();
    let title = format!("{} · {} · report", r.repository, r.workflow_file);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style>\
         </head><body><h1>{}</h1><p class=\"meta\">{} · {} · {} to {} (UTC, {} days) · generated {}</p>",
        escape(&title),
        escape(&r.repository),
        escape(&r.workflow_file),
        escape(&r.pipeline_id),
        r.from,
        r.to,
        r.days,
        escape(&clock::format(&r.generated_at)),
    );
    let p = &r.performance;
    out.push_str("<h2>Performance</h2>");
    let _ = write!(
        out,
        "<p>{} runs · success rate {} % · duration p50 {} s, p95 {} s · queue p95 {} s</p>",
        p.runs,
        opt(p.success_rate),
        opt(p.p50_duration_seconds),
        opt(p.p95_duration_seconds),
        opt(p.p95_queue_seconds)
    );
    let t = &p.trend;
    let _ = write!(
        out,
        "<p>Last 7 days against the 7 before: runs {} → {} ({:?}), success rate {} → {} % ({:?}), p50 duration {} → {} s ({:?})</p>",
        t.previous_7_days.runs,
        t.last_7_days.runs,
        t.runs,
        opt(t.previous_7_days.success_rate),
        opt(t.last_7_days.success_rate),
        t.success_rate,
        opt(t.previous_7_days.p50_duration_seconds),
        opt(t.last_7_days.p50_duration_seconds),
        t.p50_duration,
    );
    let most = p.daily.iter().map(|d| d.runs).max().unwrap_or(0).max(1);
    let rows: Vec<Vec<String>> = p
        .daily
        .iter()
        .map(|d| {
            vec![
                d.date.to_string(),
                format!("{} <span class=\"bar\" style=\"width:{}px\"></span>", d.runs, d.runs * 80 / most),
                d.successes.to_string(),
                opt(d.success_rate),
                opt(d.p50_duration_seconds),
                opt(d.p95_duration_seconds),
                opt(d.p95_queue_seconds),
            ]
        })
        .collect();
    table(
        &mut out,
        &["Day", "#Runs", "#Successes", "#Success %", "#p50 s", "#p95 s", "#Queue p95 s"],
        &rows,
        "No days.",
    );
    out.push_str("<h2>Slowest jobs</h2>");
    let rows: Vec<Vec<String>> = p
        .slowest_jobs
        .iter()
        .map(|j| {
            vec![
                escape(&j.name),
                j.runs.to_string(),
                j.p50_seconds.to_string(),
                j.p95_seconds.to_string(),
                opt(j.share_of_run_percent),
            ]
        })
        .collect();
    table(&mut out, &["Job", "#Runs", "#p50 s", "#p95 s", "#Share of run %"], &rows, "No jobs recorded.");

    let q = &r.quality;
    out.push_str("<h2>Quality</h2><h3>Flaky jobs</h3>");
    let rows: Vec<Vec<String>> = q
        .flaky_jobs
        .iter()
        .map(|f| {
            vec![
                escape(&f.name),
                f.flaky_commits.to_string(),
                f.failed_attempts.to_string(),
                f.passed_attempts.to_string(),
                f.minutes_lost.to_string(),
            ]
        })
        .collect();
    table(&mut out, &["Job", "#Flaky commits", "#Failed", "#Passed", "#Minutes lost"], &rows, "No flaky job.");
    out.push_str("<h3>Failure rate per job</h3>");
    let rows: Vec<Vec<String>> = q
        .job_failure_rates
        .iter()
        .map(|j| vec![escape(&j.name), j.runs.to_string(), j.failures.to_string(), j.failure_rate.to_string()])
        .collect();
    table(&mut out, &["Job", "#Runs", "#Failures", "#Failure %"], &rows, "No jobs recorded.");
    out.push_str("<h3>Failing steps</h3>");
    let rows: Vec<Vec<String>> = q
        .failing_steps
        .iter()
        .map(|s| {
            vec![escape(&s.job), opt(s.step.as_deref()), s.failures.to_string(), opt(s.last_error_message.as_deref())]
        })
        .collect();
    table(&mut out, &["Job", "Step", "#Failures", "Last message"], &rows, "No failure.");

    out.push_str("<h2>Deployments</h2>");
    let rows: Vec<Vec<String>> = r
        .deployment
        .environments
        .iter()
        .map(|e| {
            vec![
                escape(&e.environment),
                e.deployments.to_string(),
                format!("{} / {}", e.deployment_frequency.per_day, e.deployment_frequency.per_week),
                opt(e.lead_time.p50_seconds),
                opt(e.deploy_duration.p50_seconds),
                opt(e.change_failure_rate),
                opt(e.time_to_restore.p50_seconds),
                e.rolled_back.to_string(),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            "Environment",
            "#Deployments",
            "#Per day / week",
            "#Lead time p50 s",
            "#Deploy p50 s",
            "#Change failure %",
            "#Restore p50 s",
            "#Rolled back",
        ],
        &rows,
        "No deployment in these days.",
    );

    out.push_str("<h2>Recommendations</h2>");
    if r.recommendations.is_empty() {
        out.push_str("<p class=\"empty\">Nothing stands out.</p>");
    } else {
        out.push_str("<ol>");
        for rec in &r.recommendations {
            let _ = write!(
                out,
                "<li>{} <span class=\"meta\">(about {} min/week)</span></li>",
                escape(&rec.message),
                rec.estimated_gain_minutes_per_week
            );
        }
        out.push_str("</ol>");
    }
    out.push_str("</body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("<b a=\"1\">&'"), "&lt;b a=&quot;1&quot;&gt;&amp;&#39;");
    }
}
