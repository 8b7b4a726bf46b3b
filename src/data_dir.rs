//! The data folder (mode 0700) and the files ccm keeps in it (mode 0600).

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::RngCore;

pub const API_TOKEN_FILE: &str = "api-token";

/// `~/.ccm`, where the data lives when CCM_DATA_DIR is unset; `None` when the home folder is unknown.
pub fn default_dir() -> Option<PathBuf> {
    std::env::home_dir().filter(|home| !home.as_os_str().is_empty()).map(|home| home.join(".ccm"))
}

/// Creates the folder (and its parents) with mode 0700 if it does not exist.
pub fn ensure(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

/// Creates an empty file with mode 0600 if it does not exist (so SQLite, and the WAL files it
/// derives from it, never exist with wider permissions).
pub fn ensure_private_file(path: &Path) -> anyhow::Result<()> {
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err).with_context(|| format!("creating {}", path.display())),
    }
}

/// Writes `contents` to a new file with mode 0600, replacing any old one atomically.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The API token kept in `dir/api-token`, generated on first use: `ccm_` and 64 hex characters.
/// Returns the token and the file's path.
pub fn load_or_create_api_token(dir: &Path) -> anyhow::Result<(String, PathBuf)> {
    let path = dir.join(API_TOKEN_FILE);
    if path.exists() {
        let token = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let token = token.trim().to_string();
        anyhow::ensure!(!token.is_empty(), "{} is empty: delete it to generate a new token", path.display());
        return Ok((token, path));
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("ccm_{}", hex::encode(bytes));
    write_private(&path, format!("{token}\n").as_bytes())?;
    Ok((token, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn token_file_is_private_and_stable() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested/.ccm");
        ensure(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        let (token, path) = load_or_create_api_token(&dir).unwrap();
        assert!(token.starts_with("ccm_") && token.len() == 68);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let (again, _) = load_or_create_api_token(&dir).unwrap();
        assert_eq!(token, again);
    }
}
