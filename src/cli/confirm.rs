//! Asking before a command that changes something on the server, as the old CCM's interactive
//! CLI did before a teardown ("Deactivate pipeline pipe_...? (Repository will be preserved)").
//! On a terminal the question is asked; without one (a script, a pipe) nobody can answer it, so
//! the command refuses unless `--yes` says the answer ahead: the old CLI never tore anything down
//! without an explicit yes either.

use std::io::{BufRead, IsTerminal, Write};

use super::error::CliError;

/// `Ok(())` when a question can be answered: standard input is a terminal. Else the usage error
/// that says to pass `--yes`.
pub fn can_ask(what: &str) -> Result<(), CliError> {
    if std::io::stdin().is_terminal() {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "{what} needs a confirmation and standard input is not a terminal: pass --yes to confirm it"
    )))
}

/// Asks `question` on the terminal; `Ok(())` once `y` or `yes` is typed, else the command is
/// cancelled (exit code 1, nothing changed).
pub async fn ask(question: String, what: &str) -> Result<(), CliError> {
    let answer = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut stderr = std::io::stderr();
        write!(stderr, "{question} [y/N]: ")?;
        stderr.flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line)
    })
    .await
    .map_err(|e| CliError::Other(anyhow::anyhow!("reading the answer: {e}")))?
    .map_err(|e| CliError::Other(anyhow::anyhow!("reading the answer: {e}")))?;
    if is_yes(&answer) { Ok(()) } else { Err(CliError::Incomplete(format!("{what} cancelled: nothing was changed"))) }
}

fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_yes_confirms() {
        for yes in ["y", "Y\n", " yes ", "YES\r\n"] {
            assert!(super::is_yes(yes), "{yes:?}");
        }
        for no in ["", "\n", "n", "no", "yep", "sure"] {
            assert!(!super::is_yes(no), "{no:?}");
        }
    }
}
