//! `ccm webhook send`: signs a JSON file the way GitHub does and posts it.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::webhook::signature;

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The event name (X-GitHub-Event), e.g. workflow_run.
    #[arg(long)]
    pub event: String,

    /// The JSON payload to send.
    #[arg(long)]
    pub file: PathBuf,

    /// Where to post it.
    #[arg(long, env = "CCM_WEBHOOK_URL", default_value = "http://127.0.0.1:5000/webhooks/github")]
    pub url: String,

    /// The delivery GUID (X-GitHub-Delivery) [default: a new UUID].
    #[arg(long)]
    pub delivery: Option<String>,

    /// The secret to sign with (the first one when several are separated by commas).
    #[arg(long = "secret", env = "GITHUB_WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: String,
}

/// Posts the file; prints the receiver's answer. Fails when the answer is not 2xx.
pub async fn run(args: SendArgs) -> anyhow::Result<()> {
    let body = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    serde_json::from_slice::<serde_json::Value>(&body)
        .with_context(|| format!("{} is not JSON", args.file.display()))?;
    let secret =
        args.secret.split(',').map(str::trim).find(|s| !s.is_empty()).context("GITHUB_WEBHOOK_SECRET is empty")?;
    let delivery = args.delivery.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let response = reqwest::Client::new()
        .post(&args.url)
        .header("X-GitHub-Event", &args.event)
        .header("X-GitHub-Delivery", &delivery)
        .header("X-Hub-Signature-256", signature::sign(secret.as_bytes(), &body))
        .header("User-Agent", concat!("ccm-webhook-send/", env!("CARGO_PKG_VERSION")))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .with_context(|| format!("posting to {}", args.url))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!("{text}");
    anyhow::ensure!(status.is_success(), "{} answered {status}", args.url);
    eprintln!("delivered {} ({}) to {}: {status}", delivery, args.event, args.url);
    Ok(())
}
