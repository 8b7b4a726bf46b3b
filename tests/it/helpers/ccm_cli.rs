//! The real `ccm` binary's client commands, run against a test server.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::wait::wait_for;

use chrono::Utc;
use serde_json::{Value, json};

/// Settings of the server commands and of logging, never inherited from the test's environment.
const CLEARED: [&str; 9] = [
    "CCM_URL",
    "CCM_API_TOKEN",
    "CCM_DATA_DIR",
    "DATABASE_URL",
    "CCM_BIND",
    "GITHUB_WEBHOOK_SECRET",
    "RUST_LOG",
    "CCM_LOG_FORMAT",
    "NO_COLOR",
];

/// What a finished command printed, and its exit code.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Standard output as JSON (for `--json`).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit code: {self:#?}");
        self
    }
}

/// A `ccm` command line: CCM_URL, the token (if any), a private HOME without a data folder.
pub struct Ccm {
    envs: Vec<(String, String)>,
    home: tempfile::TempDir,
}

impl Ccm {
    pub fn new(url: &str, token: Option<&str>) -> Self {
        let home = tempfile::tempdir().expect("temp home");
        let mut envs = vec![("CCM_URL".to_string(), url.to_string())];
        if let Some(token) = token {
            envs.push(("CCM_API_TOKEN".into(), token.into()));
        }
        Ccm { envs, home }
    }

    /// The HOME the command runs with (empty at first).
    pub fn home(&self) -> &std::path::Path {
        self.home.path()
    }

    pub fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.envs.push((name.into(), value.into()));
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("ccm"));
        for name in CLEARED {
            cmd.env_remove(name);
        }
        cmd.env("HOME", self.home.path()).args(args);
        for (name, value) in &self.envs {
            cmd.env(name, value);
        }
        cmd
    }

    /// Runs to the end (at most 60 s), off the test's runtime, whose tasks serve the app.
    pub async fn run(&self, args: &[&str]) -> Run {
        let mut cmd = self.command(args);
        let shown = format!("ccm {}", args.join(" "));
        tokio::task::spawn_blocking(move || {
            cmd.stdin(Stdio::null());
            let out = assert_cmd::Command::from_std(cmd)
                .timeout(Duration::from_secs(60))
                .output()
                .unwrap_or_else(|e| panic!("{shown}: {e}"));
            Run {
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .await
        .expect("the command's thread")
    }

    /// Runs a command on a terminal (a pseudo-terminal python3 opens for it), typing `answer` and
    /// Enter once it asks `[y/N]`. Its stdout and stderr are the terminal's output, together.
    pub async fn run_on_terminal(&self, args: &[&str], answer: &str) -> Run {
        const DRIVER: &str = r#"
import os, pty, sys
answer, argv = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out, sent = b"", False
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    if not sent and b"[y/N]:" in out:
        os.write(fd, (answer + "\n").encode())
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
        let mut cmd = Command::new("python3");
        for name in CLEARED {
            cmd.env_remove(name);
        }
        let ccm = assert_cmd::cargo::cargo_bin("ccm").display().to_string();
        cmd.env("HOME", self.home.path()).args(["-c", DRIVER, answer, &ccm]).args(args);
        for (name, value) in &self.envs {
            cmd.env(name, value);
        }
        let shown = format!("ccm {} (on a terminal)", args.join(" "));
        tokio::task::spawn_blocking(move || {
            let out = assert_cmd::Command::from_std(cmd)
                .timeout(Duration::from_secs(60))
                .output()
                .unwrap_or_else(|e| panic!("{shown}: python3 is needed to give it a terminal: {e}"));
            Run {
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .await
        .expect("the command's thread")
    }

    /// Starts a command that keeps running (`pipelines watch`); its output is collected as it comes.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let mut child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ccm");
        let (stdout, out_reader) = collect(child.stdout.take().expect("piped stdout"));
        let (stderr, err_reader) = collect(child.stderr.take().expect("piped stderr"));
        Running { child, stdout, stderr, readers: vec![out_reader, err_reader] }
    }
}

fn collect(mut pipe: impl Read + Send + 'static) -> (Arc<Mutex<Vec<u8>>>, std::thread::JoinHandle<()>) {
    let text = Arc::new(Mutex::new(Vec::new()));
    let sink = text.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    (text, reader)
}

/// A running `ccm`, killed when dropped.
pub struct Running {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits until the output so far satisfies `check` (at most `limit`); fails if `ccm` exits
    /// without having printed it.
    pub async fn wait_for(&mut self, what: &str, limit: Duration, check: impl Fn(&str) -> bool) {
        let exited = wait_for(what, limit, async || {
            if check(&self.stdout()) {
                return Ok(None);
            }
            match self.child.try_wait() {
                Ok(Some(status)) => Ok(Some(status)),
                _ => Err(format!("{}\nstderr:\n{}", self.stdout(), self.stderr())),
            }
        })
        .await;
        if let Some(status) = exited {
            // It exited: once the readers reach the pipes' end, one last look at what it printed.
            self.join_readers();
            assert!(
                check(&self.stdout()),
                "ccm exited ({status}) before {what}:\n{}\n{}",
                self.stdout(),
                self.stderr()
            );
        }
    }

    /// Waits for the exit (at most `limit`) and returns the exit code and the whole output.
    pub async fn wait_exit(&mut self, limit: Duration) -> Run {
        let status = wait_for("ccm to exit", limit, async || match self.child.try_wait().expect("wait for ccm") {
            Some(status) => Ok(status),
            None => Err(format!("still running:\n{}\n{}", self.stdout(), self.stderr())),
        })
        .await;
        self.join_readers();
        Run { code: status.code(), stdout: self.stdout(), stderr: self.stderr() }
    }

    /// Once the process is gone, its output readers reach the pipes' end: all it printed is in.
    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            reader.join().expect("output reader");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// Fixtures of the client tests: a pipeline, its runs, and reading tables back.

pub const WAIT: Duration = Duration::from_secs(30);

/// A completed run of myorg/webshop's deploy.yml on main, started 3 minutes ago, 2 minutes long.
pub fn finished_run(run_id: i64, conclusion: &str) -> Vec<u8> {
    let now = Utc::now();
    super::workflow_run(
        run_id,
        1,
        "myorg/webshop",
        "main",
        "completed",
        Some(conclusion),
        now - chrono::Duration::minutes(3),
        now - chrono::Duration::minutes(1),
    )
}

/// The cells of the table row that starts with `first` (cells are two or more spaces apart).
pub fn row(table: &str, first: &str) -> Vec<String> {
    let line = table.lines().find(|l| l.starts_with(first)).unwrap_or_else(|| panic!("no row {first}:\n{table}"));
    line.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(str::to_string).collect()
}

pub async fn provision_webshop(app: &super::TestApp) -> String {
    let reply = app
        .post(
            "/api/pipelines/provision",
            json!({"repo": "myorg/webshop", "workflow_file": super::WORKFLOW, "config": {"trigger_branches": ["main"]},
                   "linked_domain": "shop.example.com", "linked_app": "webshop"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["pipeline_id"].as_str().unwrap().to_string()
}
