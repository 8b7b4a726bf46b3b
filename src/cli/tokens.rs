//! `ccm tokens ...`: named API tokens and their scopes (an admin token is needed).

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Client, ClientArgs, segment};
use super::emit;
use super::error::CliError;
use super::table::{Table, text};
use crate::domain::clock;
use crate::domain::tokens::{Scope, parse_lifetime};

#[derive(Debug, Args)]
pub struct TokensArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: TokensCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token; it is printed this once (only its SHA-256 is stored).
    Create {
        /// 1 to 64 letters, digits, '.', '_' or '-' (unique among the tokens not revoked).
        name: String,
        /// read: GET only; write: also pipelines, tasks, trigger, rollback; admin: everything.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Scope::texts()))]
        scope: String,
        /// Lifetime: a number and m, h, d or w (e.g. 90d). Default: no expiry.
        #[arg(long, value_parser = parse_lifetime)]
        expires: Option<chrono::Duration>,
    },
    /// List the named tokens (never the tokens themselves).
    List,
    /// Revoke a token, by name or id.
    Revoke {
        /// The token's name (a token not revoked) or its id.
        token: String,
    },
}

pub async fn run(args: TokensArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let json_mode = args.client.json;
    match args.command {
        TokensCommand::Create { name, scope, expires } => {
            let mut body = json!({"name": name, "scope": scope});
            if let Some(lifetime) = expires {
                body["expires_at"] = json!(clock::format(&(clock::now() + lifetime)));
            }
            let answer = client.post("/api/tokens", &body).await?;
            emit(json_mode, &answer, |a| {
                let t = &a["api_token"];
                let expires = if t["expires_at"].is_null() { "never".to_string() } else { text(&t["expires_at"]) };
                format!(
                    "{}\nToken '{}' (id {}, scope {}, expires {expires}). It is shown this once: keep it now.\n",
                    text(&a["token"]),
                    text(&t["name"]),
                    text(&t["id"]),
                    text(&t["scope"]),
                )
            });
        }
        TokensCommand::List => emit(json_mode, &client.get("/api/tokens").await?, list_table),
        TokensCommand::Revoke { token } => {
            let id = match token.parse::<i64>() {
                Ok(id) => id,
                Err(_) => id_of(&client, &token).await?,
            };
            let answer =
                client.send(Method::DELETE, &format!("/api/tokens/{}", segment(&id.to_string())), None).await?;
            emit(json_mode, &answer, |a| {
                let t = &a["api_token"];
                format!("Token '{}' (id {}) revoked at {}\n", text(&t["name"]), text(&t["id"]), text(&t["revoked_at"]))
            });
        }
    }
    Ok(())
}

/// The id of the token not revoked named `name`.
async fn id_of(client: &Client, name: &str) -> Result<i64, CliError> {
    let list = client.get("/api/tokens").await?;
    list["tokens"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == name && t["revoked_at"].is_null())
        .and_then(|t| t["id"].as_i64())
        .ok_or_else(|| CliError::Server {
            status: 404,
            message: format!("No token named '{name}' that is not revoked"),
            body: Value::Null,
        })
}

fn list_table(answer: &Value) -> String {
    let mut table = Table::new(&["ID", "NAME", "SCOPE", "CREATED", "EXPIRES", "LAST USED", "STATE"]);
    let tokens = answer["tokens"].as_array().cloned().unwrap_or_default();
    for t in &tokens {
        let state = if !t["revoked_at"].is_null() {
            "revoked"
        } else if t["active"] == true {
            "active"
        } else {
            "expired"
        };
        table.row(vec![
            text(&t["id"]),
            text(&t["name"]),
            text(&t["scope"]),
            text(&t["created_at"]),
            text(&t["expires_at"]),
            text(&t["last_used_at"]),
            state.to_string(),
        ]);
    }
    format!("{}{} tokens\n", table.render(), tokens.len())
}
