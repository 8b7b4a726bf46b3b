//! Plain-text tables and the small formats the client commands print values in.

use serde_json::Value;

/// Cells longer than this are cut with an ellipsis.
const MAX_CELL: usize = 48;

pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Table { headers: headers.to_vec(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.into_iter().map(|c| cut(&c, MAX_CELL)).collect());
    }

    /// Columns padded to their widest cell, two spaces apart, no trailing spaces.
    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate() {
                out.push_str(cell);
                if i + 1 < cells.len() {
                    out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
                }
            }
            out.trim_end().to_string() + "\n"
        };
        let mut out = line(self.headers.clone());
        for row in &self.rows {
            out.push_str(&line(row.iter().map(String::as_str).collect()));
        }
        out
    }
}

fn cut(text: &str, max: usize) -> String {
    let text = text.replace(['\n', '\r', '\t'], " ");
    if text.chars().count() <= max {
        return text;
    }
    text.chars().take(max - 1).collect::<String>() + "…"
}

/// `name: value` lines with the values aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    pairs.iter().map(|(k, v)| format!("{k}:{}{v}\n", " ".repeat(width - k.chars().count() + 1))).collect()
}

/// A JSON value as text: strings without quotes, `-` for null or absent.
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `45s`, `3m 12s`, `2h 05m`.
pub fn duration(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A duration in seconds as text, `-` when unknown.
pub fn duration_of(value: &Value) -> String {
    value.as_i64().map(duration).unwrap_or_else(|| "-".into())
}

/// The workflow's file name without `.github/workflows/`.
pub fn workflow_name(path: &Value) -> String {
    let path = text(path);
    path.strip_prefix(".github/workflows/").map(str::to_string).unwrap_or(path)
}

/// A run's outcome: its conclusion once completed, else its state.
pub fn run_state(run: &Value) -> String {
    match (run.get("status").and_then(Value::as_str), run.get("conclusion").and_then(Value::as_str)) {
        (Some("completed"), Some(conclusion)) => conclusion.to_string(),
        (Some(status), _) => status.to_string(),
        _ => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aligns_columns_and_cuts_long_cells() {
        let mut table = Table::new(&["ID", "NAME"]);
        table.row(vec!["1".into(), "short".into()]);
        table.row(vec!["1234".into(), "x".repeat(60)]);
        let out = table.render();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "ID    NAME");
        assert_eq!(lines[1], "1     short");
        assert!(lines[2].starts_with("1234  xxx") && lines[2].ends_with('…'));
        assert_eq!(lines[2].chars().count(), 6 + MAX_CELL);
    }

    #[test]
    fn formats_values() {
        assert_eq!(fields(&[("id", "1".into()), ("status", "x".into())]), "id:     1\nstatus: x\n");
        assert_eq!((duration(45), duration(192), duration(7500)), ("45s".into(), "3m 12s".into(), "2h 05m".into()));
        assert_eq!((text(&json!(null)), text(&json!("a")), text(&json!(3))), ("-".into(), "a".into(), "3".into()));
        assert_eq!(workflow_name(&json!(".github/workflows/deploy.yml")), "deploy.yml");
        assert_eq!(run_state(&json!({"status": "completed", "conclusion": "failure"})), "failure");
        assert_eq!(run_state(&json!({"status": "in_progress", "conclusion": null})), "in_progress");
    }
}
