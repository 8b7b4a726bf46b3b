//! Headless Chromium driven over WebDriver (chromedriver), for the dashboard's browser test.
//! The protocol is plain JSON over loopback HTTP, spoken here with reqwest.
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/test installs them); without them the
//! test fails saying so. `CHROMIUM` and `CHROMEDRIVER` name other binaries.

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::wait::{Deadline, PATIENCE, POLL, wait_for};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_binary(variable: &str, names: &[&str]) -> PathBuf {
    if let Some(path) = std::env::var_os(variable).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            missing(&format!("{} ({variable})", path.display()));
        }
        return path;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
        .unwrap_or_else(|| missing(names[0]))
}

fn missing(what: &str) -> ! {
    panic!(
        "{what} is not installed: the dashboard's browser test needs headless Chromium and chromedriver. \
         Install them with `apt-get install chromium chromium-driver` (scripts/test does it when run as root), \
         or set CHROMIUM / CHROMEDRIVER to their paths."
    )
}

/// A chromedriver process with one Chromium session; both end when this is dropped.
pub struct Browser {
    driver: Child,
    port: u16,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Browser {
        let chromium = find_binary("CHROMIUM", &["chromium", "chromium-browser"]);
        let chromedriver = find_binary("CHROMEDRIVER", &["chromedriver"]);
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().no_proxy().build().expect("HTTP client");
        let profile = tempfile::tempdir().expect("browser profile folder");
        let mut browser = Browser { driver, port, base, session: String::new(), http, _profile: profile };
        browser.wait_ready().await;
        browser.session = browser.new_session(&chromium).await;
        browser
    }

    async fn wait_ready(&mut self) {
        let what = format!("chromedriver to become ready on port {}", self.port);
        wait_for(&what, PATIENCE, async || {
            if let Ok(res) = self.http.get(format!("{}/status", self.base)).send().await
                && let Ok(body) = res.json::<Value>().await
                && body["value"]["ready"] == true
            {
                return Ok(());
            }
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!("chromedriver exited at start ({status})");
            }
            Err(String::new())
        })
        .await
    }

    async fn new_session(&self, chromium: &std::path::Path) -> String {
        let mut args = vec![
            "--headless=new".to_string(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,900".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            "--disable-extensions".into(),
            "--disable-sync".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            format!("--user-data-dir={}", self._profile.path().display()),
        ];
        // Chromium refuses to run its sandbox as root.
        if std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false) {
            args.push("--no-sandbox".into());
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let value = self.call(reqwest::Method::POST, "/session", Some(capabilities)).await;
        value["sessionId"].as_str().unwrap_or_else(|| panic!("no session id in {value}")).to_string()
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let answer = self.try_call(method.clone(), path, body).await;
        answer.unwrap_or_else(|(status, value)| panic!("WebDriver {method} {path} answered {status}: {value}"))
    }

    /// A WebDriver call; its error status and value when it fails.
    async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, (reqwest::StatusCode, Value)> {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let status = res.status();
        let body: Value = res.json().await.unwrap_or_else(|e| panic!("WebDriver {method} {path}: not JSON: {e}"));
        if status.is_success() { Ok(body["value"].clone()) } else { Err((status, body["value"].clone())) }
    }

    /// Finds `css` and sends `action` to it; when a live update replaced the element between the
    /// two calls (a stale reference), finds it again (a person's click lands on what is shown).
    async fn on_element(&self, css: &str, action: &str, body: Value) {
        for _ in 0..5 {
            let id = self.element(css).await;
            let path = format!("/session/{}/element/{id}/{action}", self.session);
            match self.try_call(reqwest::Method::POST, &path, Some(body.clone())).await {
                Ok(_) => return,
                Err((_, value)) if value["error"] == "stale element reference" => continue,
                Err((status, value)) => panic!("WebDriver {action} on {css} answered {status}: {value}"),
            }
        }
        panic!("{css} was replaced five times in a row while being used");
    }

    async fn session_call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body).await
    }

    pub async fn goto(&self, url: &str) {
        self.session_call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns its value.
    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.session_call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": args}))).await
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .session_call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})))
            .await;
        found[ELEMENT_KEY].as_str().unwrap_or_else(|| panic!("no element {css}: {found}")).to_string()
    }

    /// Types `text` into the element, as the keyboard would.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, "clear", json!({})).await;
        self.on_element(css, "value", json!({"text": text})).await;
    }

    /// Clicks the element, as the mouse would (it must be visible and not covered).
    pub async fn click(&self, css: &str) {
        self.on_element(css, "click", json!({})).await;
    }

    /// The text of the first element matching `css`, or None.
    pub async fn text(&self, css: &str) -> Option<String> {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null;";
        self.script(script, json!([css])).await.as_str().map(str::to_string)
    }

    /// Waits until the text of `css` satisfies `check`, and returns it. Fails after PATIENCE,
    /// showing the last text seen and the browser's log.
    pub async fn wait_text(&self, css: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Deadline::new(&format!("{what} ({css})"), PATIENCE);
        let mut last = None;
        loop {
            last = self.text(css).await.or(last);
            if let Some(text) = &last
                && check(text)
            {
                return text.clone();
            }
            if deadline.expired() {
                let log = Value::Array(self.log().await);
                deadline.check(|| format!("text {last:?}\nbrowser log: {log:#}"));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The browser's console and network messages since the last call.
    pub async fn log(&self) -> Vec<Value> {
        let value = self.session_call(reqwest::Method::POST, "/se/log", Some(json!({"type": "browser"}))).await;
        value.as_array().cloned().unwrap_or_default()
    }

    /// Asks chromedriver to close the browser and exit (a plain blocking request: this runs in Drop).
    fn shutdown(&self) {
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else { return };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let request =
            format!("DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", self.session);
        if stream.write_all(request.as_bytes()).is_ok() {
            let _ = stream.read_to_end(&mut Vec::new());
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            self.shutdown();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port").local_addr().unwrap().port()
}
