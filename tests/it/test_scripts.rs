//! scripts/with-postgres on a fresh machine: without PostgreSQL's server binaries it installs them
//! (the package postgresql, with apt-get, as root) and goes on; otherwise it stops naming the
//! package. A stand-in `apt-get` (first on PATH) records what it is asked and "installs" stand-in
//! binaries, so nothing is installed for real.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::helpers::text;

fn write_script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs scripts/with-postgres on a machine without PostgreSQL (no `initdb` on PATH, none under
/// the package folders): (exit code, stdout, stderr, what apt-get was asked).
fn with_postgres_on_a_fresh_machine(apt_succeeds: bool) -> (Option<i32>, String, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    // The stand-ins run as `nobody` when the tests run as root, as the real binaries would.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (bin, lib, log) = (tmp.path().join("bin"), tmp.path().join("lib"), tmp.path().join("apt.log"));
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&lib).unwrap();
    let install = format!(
        r#"echo "$*" >> {log}
case "$*" in
  *install*) {install} ;;
esac"#,
        log = log.display(),
        install = if apt_succeeds {
            format!(
                "mkdir -p {dir} && for b in initdb pg_ctl; do printf '#!/bin/sh\\nexit 0\\n' > {dir}/$b; done && \
                 printf '#!/bin/sh\\necho \"postgres (PostgreSQL) 15.99\"\\n' > {dir}/postgres && chmod 755 {dir}/*",
                dir = lib.join("15/bin").display()
            )
        } else {
            "exit 100".to_string()
        }
    );
    write_script(&bin.join("apt-get"), &install);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/with-postgres");
    let out = Command::new("bash")
        .arg(script)
        .args(["sh", "-c", "echo url=$CCM_TEST_DATABASE_URL"])
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", bin.display()))
        .env("PG_LIB_DIRS", &lib)
        .env("HOME", tmp.path())
        .output()
        .unwrap();
    let asked = std::fs::read_to_string(&log).unwrap_or_default();
    (out.status.code(), text(&out.stdout), text(&out.stderr), asked)
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    text(&out.stdout).trim() == "0"
}

#[test]
fn with_postgres_installs_the_server_when_it_can_and_names_the_package_when_not() {
    let (code, stdout, stderr, asked) = with_postgres_on_a_fresh_machine(true);
    if is_root() {
        assert_eq!(code, Some(0), "{stderr}");
        assert!(stderr.contains("installing postgresql with apt-get"), "{stderr}");
        assert!(asked.contains("install -y -qq --no-install-recommends postgresql"), "{asked}");
        assert!(stdout.starts_with("url=postgres://postgres@127.0.0.1:"), "{stdout}");
        assert!(stderr.contains("PostgreSQL 15.99"), "{stderr}");
    } else {
        // Not root: nothing is installed, and the message says what to install.
        assert_eq!(code, Some(1), "{stderr}");
        assert!(asked.is_empty(), "{asked}");
        assert!(stderr.contains("install the package postgresql"), "{stderr}");
    }
    // The installation fails (no network, no such package): it stops, naming the package.
    let (code, stdout, stderr, _) = with_postgres_on_a_fresh_machine(false);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("install the package postgresql (Debian: apt-get install postgresql"), "{stderr}");
    assert!(!stdout.contains("url="), "the command ran without a server: {stdout}");
}
