//! The real `ccm serve` as a child process on a free loopback port, its output collected as it
//! comes; killed when dropped. Used by the tests of the binary itself (settings, logs, stopping).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::wait::{PATIENCE, wait_for};

/// Settings the server reads from the environment, never inherited from the tests' environment:
/// a test passes the ones it means.
pub const SERVER_SETTINGS: [&str; 36] = [
    "CCM_BIND",
    "DATABASE_URL",
    "CCM_DATA_DIR",
    "CCM_API_TOKEN",
    "GITHUB_WEBHOOK_SECRET",
    "CCM_DB_MAX_CONNECTIONS",
    "CCM_MAX_EVENT_STREAMS",
    "CCM_PIPELINES_PATH",
    "CCM_PG_STATEMENT_TIMEOUT",
    "CCM_PG_IDLE_IN_TRANSACTION_TIMEOUT",
    "CCM_BACKUP_INTERVAL",
    "CCM_BACKUP_KEEP",
    "GHT",
    "GITHUB_APP_ID",
    "RUST_LOG",
    "CCM_LOG_FORMAT",
    "NO_COLOR",
    "CCM_RATE_LIMIT",
    "CCM_AUTH_FAILURE_LIMIT",
    "CCM_TOKEN_CACHE_SECONDS",
    "CCM_METRICS_TOKEN",
    "CCM_METRICS_AUTH",
    "CCM_METRICS_PIPELINES",
    "CCM_WEBHOOK_BIND",
    "CCM_BODY_TIMEOUT",
    "CCM_BODY_MIN_RATE",
    "CCM_UNVERIFIED_BYTES",
    "CCM_UNVERIFIED_READS",
    "CCM_API_ALLOW",
    "CCM_WEBHOOK_ALLOW",
    "CCM_TRUSTED_PROXIES",
    "CCM_ALERT_SWEEP",
    "CCM_ALERT_COOLDOWN",
    "CCM_ALERT_RETRY_FOR",
    "CCM_SMTP_URL",
    "CCM_SMTP_FROM",
];

/// How long `ccm serve` may take to start (open its database, run the migrations, bind).
const STARTUP: Duration = Duration::from_secs(60);

/// A `ccm serve` child process.
pub struct Serve {
    child: Child,
    pub base: String,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Serve {
    /// Starts `ccm serve` with `envs` (only those, and CCM_BIND on a free port) and waits until
    /// it logs that it is ready (it has bound its port).
    pub async fn start(envs: &[(&str, String)]) -> Serve {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ccm"));
        for name in SERVER_SETTINGS {
            cmd.env_remove(name);
        }
        cmd.arg("serve").env("CCM_BIND", format!("127.0.0.1:{port}"));
        for (name, value) in envs {
            cmd.env(name, value);
        }
        let mut child =
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn ccm serve");
        let output = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), output.clone()),
            collect(child.stderr.take().unwrap(), output.clone()),
        ];
        let mut server = Serve { child, base: format!("http://127.0.0.1:{port}"), output, readers };
        // A debug build starting on a machine busy with the other tests: more than PATIENCE.
        server.output_within("ccm serve to be ready", STARTUP, |out| out.contains("ccm is ready")).await;
        server
    }

    /// Everything printed so far, stdout and stderr line by line.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until the output satisfies `check` (lines arrive through a pipe) and returns it;
    /// fails if the server exits first.
    pub async fn wait_for_output(&mut self, what: &str, check: impl Fn(&str) -> bool) -> String {
        self.output_within(what, PATIENCE, check).await
    }

    async fn output_within(&mut self, what: &str, limit: Duration, check: impl Fn(&str) -> bool) -> String {
        wait_for(what, limit, async || {
            let output = self.output();
            if check(&output) {
                return Ok(output);
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("ccm serve exited ({status}) before {what}:\n{output}");
            }
            Err(output)
        })
        .await
    }

    /// The process id (to send it signals).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the process exits (at most `limit`); returns its status.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let status = wait_for("ccm serve to exit", limit, async || match self.child.try_wait().unwrap() {
            Some(status) => Ok(status),
            None => Err(self.output()),
        })
        .await;
        self.join_readers();
        status
    }

    /// Kills the process and returns everything it printed.
    pub fn stop(mut self) -> String {
        self.kill();
        self.join_readers();
        self.output()
    }

    fn kill(&mut self) {
        if self.child.try_wait().unwrap().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// Once the process is gone its readers reach the pipes' end: all it printed is collected.
    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            reader.join().expect("output reader");
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut out = into.lock().unwrap();
            out.push_str(&line);
            out.push('\n');
        }
    })
}
