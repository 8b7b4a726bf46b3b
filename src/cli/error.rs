//! What can go wrong in a client command, and the exit code each gets.

use serde_json::Value;

/// Exit codes of the client commands (clap's usage errors are 2 as well).
pub const EXIT_SERVER_ERROR: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_UNREACHABLE: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line, a setting or an input file is wrong; nothing was sent.
    #[error("{0}")]
    Usage(String),
    /// The server answered with an error: its `error` message, and its whole JSON answer.
    #[error("{message} (HTTP {status})")]
    Server { status: u16, message: String, body: Value },
    /// Nothing answered at the server's address.
    #[error("cannot reach ccm at {url}: {detail} (is `ccm serve` running there? CCM_URL names the server)")]
    Unreachable { url: String, detail: String },
    /// The server answered, but the work was not all done (an import with invalid entries).
    #[error("{0}")]
    Incomplete(String),
    /// Anything else: an answer that is not the API's, a file that cannot be written.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Unreachable { .. } => EXIT_UNREACHABLE,
            CliError::Server { .. } | CliError::Incomplete(_) | CliError::Other(_) => EXIT_SERVER_ERROR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_exit_code() {
        let server = CliError::Server { status: 404, message: "Pipeline not found: x".into(), body: Value::Null };
        assert_eq!((server.exit_code(), server.to_string().as_str()), (1, "Pipeline not found: x (HTTP 404)"));
        assert_eq!(CliError::Usage("bad".into()).exit_code(), 2);
        let unreachable = CliError::Unreachable { url: "http://127.0.0.1:1".into(), detail: "refused".into() };
        assert_eq!(unreachable.exit_code(), 3);
        assert!(unreachable.to_string().starts_with("cannot reach ccm at http://127.0.0.1:1: refused"));
    }
}
