//! `ccm import` and `ccm export`: the old CCM's pipeline registry in and out of a running ccm.

use std::path::PathBuf;

use clap::Args;
use serde_json::{Map, Value, json};

use super::client::{Client, ClientArgs};
use super::error::CliError;
use super::table::text;
use crate::domain::registry::{self, Entry, Shape};

/// A request holds at most this many entries, and about this many bytes (the API takes 1 MiB).
const PART_ENTRIES: usize = 500;
const PART_BYTES: usize = 512 * 1024;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The registry file, e.g. ~/.ccm/pipelines.json.
    pub path: PathBuf,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write here (mode 0600, replaced atomically) instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn import(args: ImportArgs) -> Result<(), CliError> {
    let shown = args.path.display().to_string();
    let raw = std::fs::read(&args.path).map_err(|e| CliError::Usage(format!("cannot read {shown}: {e}")))?;
    let doc: Value =
        serde_json::from_slice(&raw).map_err(|e| CliError::Usage(format!("{shown} is not valid JSON: {e}")))?;
    let doc = registry::read(&doc).map_err(|e| CliError::Usage(format!("{shown}: {e}")))?;
    let client = Client::new(&args.client)?;

    let mut results = Vec::with_capacity(doc.entries.len());
    for part in parts(&doc.entries) {
        let body = match doc.shape {
            Shape::List => Value::Array(part.iter().map(|e| e.value.clone()).collect()),
            Shape::Map => Value::Object(
                part.iter().map(|e| (e.key.clone().unwrap_or_default(), e.value.clone())).collect::<Map<_, _>>(),
            ),
        };
        let answer = client.post("/api/pipelines/import", &body).await?;
        let part_results = answer["results"].as_array().cloned().unwrap_or_default();
        if part_results.len() != part.len() {
            return Err(CliError::Other(anyhow::anyhow!(
                "the server answered {} results for {} entries",
                part_results.len(),
                part.len()
            )));
        }
        // The server numbers the entries of each part from 1; report their place in the file.
        for (mut result, entry) in part_results.into_iter().zip(part) {
            result["entry"] = json!(entry.position);
            results.push(result);
        }
    }
    let count = |kind: &str| results.iter().filter(|r| r["result"] == kind).count();
    let (created, present, invalid) = (count("created"), count("already_present"), count("invalid"));
    if args.client.json {
        let summary = json!({
            "success": invalid == 0,
            "created": created,
            "already_present": present,
            "invalid": invalid,
            "results": results,
        });
        println!("{}", serde_json::to_string_pretty(&summary).expect("JSON prints"));
    } else {
        print!("{}", report(&results));
        println!("{shown}: {created} created, {present} already present, {invalid} invalid");
    }
    if invalid > 0 {
        return Err(CliError::Incomplete(format!(
            "{invalid} of {} entries of {shown} were not imported (see above)",
            results.len()
        )));
    }
    Ok(())
}

/// Consecutive runs of entries, each small enough for one request.
fn parts(entries: &[Entry]) -> Vec<&[Entry]> {
    let mut parts = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, entry) in entries.iter().enumerate() {
        let size = entry.value.to_string().len() + entry.key.as_ref().map_or(0, String::len) + 8;
        if i > start && (i - start == PART_ENTRIES || bytes + size > PART_BYTES) {
            parts.push(&entries[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < entries.len() {
        parts.push(&entries[start..]);
    }
    parts
}

fn report(results: &[Value]) -> String {
    results
        .iter()
        .map(|r| {
            let who = match r["pipeline_id"].as_str() {
                Some(id) => id.to_string(),
                None => format!("entry {}", text(&r["entry"])),
            };
            match r["result"].as_str() {
                Some("created") => match r["backfill"]["status"].as_str() {
                    Some("running") => format!("created          {who} (its recent runs are being backfilled)\n"),
                    Some(_) => format!("created          {who} (the backfill of its runs could not be queued)\n"),
                    None => format!("created          {who}\n"),
                },
                Some("already_present") => format!("already present  {who} (skipped)\n"),
                _ => format!("invalid          {who}: {}\n", text(&r["reason"])),
            }
        })
        .collect()
}

pub async fn export(args: ExportArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let pipelines = super::pipelines::all(&client, false).await?;
    let doc = registry::export_document(&pipelines, &crate::domain::clock::format(&crate::domain::clock::now()));
    let exported = doc["pipelines"].as_object().map_or(0, Map::len);
    let text = serde_json::to_string_pretty(&doc).expect("JSON prints") + "\n";
    match &args.output {
        Some(path) => {
            crate::data_dir::write_private(path, text.as_bytes()).map_err(CliError::Other)?;
            eprintln!("Exported {exported} pipelines to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize, size: usize) -> Vec<Entry> {
        (0..n).map(|i| Entry { position: i + 1, key: None, value: json!("x".repeat(size)) }).collect()
    }

    #[test]
    fn splits_by_count_and_by_size() {
        assert!(parts(&[]).is_empty());
        let many = entries(1001, 10);
        let sizes: Vec<usize> = parts(&many).iter().map(|p| p.len()).collect();
        assert_eq!(sizes, vec![500, 500, 1]);
        let big = entries(5, 200 * 1024);
        let sizes: Vec<usize> = parts(&big).iter().map(|p| p.len()).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
        // One entry larger than a part still goes (the server says if it is too large).
        assert_eq!(parts(&entries(1, 600 * 1024)).len(), 1);
    }

    #[test]
    fn reports_each_entry() {
        let out = report(&[
            json!({"entry": 1, "pipeline_id": "pipe_a", "result": "created"}),
            json!({"entry": 2, "pipeline_id": "pipe_b", "result": "already_present"}),
            json!({"entry": 3, "pipeline_id": null, "result": "invalid", "reason": "Missing required fields: status"}),
            json!({"entry": 4, "pipeline_id": "pipe_d", "result": "created", "backfill": {"status": "running", "job_id": 7}}),
            json!({"entry": 5, "pipeline_id": "pipe_e", "result": "created", "backfill": {"status": "failed"}}),
        ]);
        assert_eq!(
            out,
            "created          pipe_a\nalready present  pipe_b (skipped)\ninvalid          entry 3: Missing required fields: status\n\
             created          pipe_d (its recent runs are being backfilled)\n\
             created          pipe_e (the backfill of its runs could not be queued)\n"
        );
    }
}
