//! What the browser tests stand on: Debian's chromedriver and headless Chromium (one of each
//! per test), a `peyk serve` child on a port of its own with a temp SQLite database, agents
//! made with `peyk agent add`, mail fed with `peyk import`, and the JSON API.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::Value;
use thirtyfour::prelude::*;

use crate::harness::{Backend, ImportRow, TestDb, parse_import_output, peyk_binary, run_peyk};

pub const CHROMIUM: &str = "/usr/bin/chromium";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Where screenshots go: `<target>/screenshots/`, `<target>` from CARGO_TARGET_DIR (relative
/// to the crate when relative) or the crate's own `target/`.
pub fn screenshot_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => manifest.join(dir),
        _ => manifest.join("target"),
    };
    target.join("screenshots")
}

/// `chromedriver` on PATH, or a failure that says how to get it.
fn chromedriver_path() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromedriver"))
            .find(|candidate| candidate.is_file())
    });
    match found {
        Some(path) => path,
        None => panic!(
            "chromedriver is not on PATH: the browser tests need Debian's `chromium` and \
             `chromium-driver` packages (./scripts/test installs them: \
             apt-get install chromium chromium-driver)"
        ),
    }
}

/// Every process below `pid`, deepest first.
fn descendants(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(u32, u32)> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter_map(|candidate| {
            let stat = std::fs::read_to_string(format!("/proc/{candidate}/stat")).ok()?;
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok())?;
            Some((candidate, parent))
        })
        .collect();
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(child, p) in &parents {
            if p == parent && !out.contains(&child) {
                out.push(child);
                frontier.push(child);
            }
        }
    }
    out.reverse();
    out
}

/// One chromedriver and the headless Chromium it drives, with a fresh profile. The driver is
/// killed on drop (with whatever browser processes it left); a test that panics leaves
/// `failure-<name>.png` and `.html` beside the screenshots.
pub struct Browser {
    driver: Option<WebDriver>,
    chromedriver: Option<Child>,
    port: u16,
    profile: tempfile::TempDir,
    name: String,
}

impl std::ops::Deref for Browser {
    type Target = WebDriver;

    fn deref(&self) -> &WebDriver {
        self.driver.as_ref().expect("browser already quit")
    }
}

impl Browser {
    pub async fn start(name: &str) -> Browser {
        let chromedriver = chromedriver_path();
        assert!(
            Path::new(CHROMIUM).is_file(),
            "{CHROMIUM} is missing: install Debian's `chromium` package (./scripts/test does)"
        );
        let profile = tempfile::tempdir().expect("profile dir");
        let port = free_port();
        let log = profile.path().join("chromedriver.log");
        let mut child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display()));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "chromedriver exited ({status}) before listening: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromedriver did not listen on port {port} within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let mut browser = Browser {
            driver: None,
            chromedriver: Some(child),
            port,
            profile,
            name: name.to_string(),
        };

        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM).expect("binary");
        let user_data = browser.profile.path().join("chromium");
        for arg in [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--window-size=1280,900",
            &format!("--user-data-dir={}", user_data.display()),
        ] {
            caps.add_arg(arg).expect("arg");
        }
        let driver = WebDriver::new(format!("http://127.0.0.1:{port}"), caps)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "open a Chromium session through chromedriver: {e}\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        browser.driver = Some(driver);
        browser
    }

    /// Ends the session and the driver.
    pub async fn quit(mut self) {
        if let Some(driver) = self.driver.take() {
            let _ = driver.quit().await;
        }
        self.kill_driver();
    }

    fn kill_driver(&mut self) {
        if let Some(mut child) = self.chromedriver.take() {
            let below = descendants(child.id());
            let _ = child.kill();
            let _ = child.wait();
            for pid in below {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }

    /// Saves a PNG of the viewport as `target/screenshots/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        let png = self.screenshot_as_png().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "screenshot is no PNG");
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Runs a script and converts what it returns.
    pub async fn js<T: DeserializeOwned>(&self, script: &str) -> T {
        self.js_with(script, Vec::new()).await
    }

    pub async fn js_with<T: DeserializeOwned>(&self, script: &str, args: Vec<Value>) -> T {
        let ret = self
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"));
        ret.convert()
            .unwrap_or_else(|e| panic!("script result {:?}: {e}\n{script}", ret.json()))
    }

    pub async fn goto_url(&self, url: &str) {
        self.goto(url)
            .await
            .unwrap_or_else(|e| panic!("navigate to {url}: {e}"));
    }

    /// The HTTP status of the page now shown (Navigation Timing's `responseStatus`).
    pub async fn status(&self) -> u16 {
        self.js(
            "const n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus : 0;",
        )
        .await
    }

    pub async fn path(&self) -> String {
        self.current_url()
            .await
            .expect("current url")
            .path()
            .to_string()
    }

    /// The one element matching `css`, waiting up to 30 s for it.
    pub async fn el(&self, css: &str) -> WebElement {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut found) = self.find_all(By::Css(css)).await
                && !found.is_empty()
            {
                return found.swap_remove(0);
            }
            if Instant::now() > deadline {
                let url = self.current_url().await.map(|u| u.to_string());
                let text: String = self
                    .js("return document.body ? document.body.innerText.slice(0, 2000) : ''")
                    .await;
                panic!("no element {css:?} on {url:?}; page text:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How many elements match `css` now (no waiting).
    pub async fn count(&self, css: &str) -> usize {
        self.find_all(By::Css(css)).await.expect("find").len()
    }

    /// Waits until the document at a path starting with `prefix` has loaded.
    pub async fn wait_for_path(&self, prefix: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let path = self.path().await;
            let ready: bool = self.js("return document.readyState === 'complete'").await;
            if path.starts_with(prefix) && ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "still on {path} (ready: {ready}), waited for {prefix}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Fills a field (clearing it first).
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.el(css).await;
        field.clear().await.expect("clear");
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Clicks `css` and waits until a new document has replaced the current one.
    pub async fn click_and_wait(&self, css: &str) {
        let _: Value = self.js("window.__peykOldPage = true; return null").await;
        self.el(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
        self.wait_new_page(css).await;
    }

    async fn wait_new_page(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let fresh: Result<ScriptRet, _> = self
                .execute(
                    "return window.__peykOldPage !== true && document.readyState === 'complete'",
                    Vec::new(),
                )
                .await;
            if let Ok(ret) = fresh
                && ret.json() == &Value::Bool(true)
            {
                return;
            }
            assert!(Instant::now() < deadline, "no new page loaded after {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Logs in through `#login-form` and waits to land on another page.
    pub async fn login(&self, base: &str, email: &str, password: &str) {
        self.goto_url(&format!("{base}/login")).await;
        self.fill("#login-email", email).await;
        self.fill("#login-password", password).await;
        self.click_and_wait("#login-submit").await;
        let path = self.path().await;
        assert!(
            !path.starts_with("/login"),
            "still on {path} after logging in as {email}; status {}; page: {}",
            self.status().await,
            self.body_text().await
        );
    }

    pub async fn body_text(&self) -> String {
        self.js("return document.body ? document.body.innerText : ''")
            .await
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.take() {
            // The test's runtime is blocked here (it is unwinding, or the test forgot
            // `quit`): plain blocking requests to chromedriver, not thirtyfour's client.
            let session = format!("/session/{}", driver.session_id());
            if std::thread::panicking() {
                let dir = screenshot_dir();
                let _ = std::fs::create_dir_all(&dir);
                if let Some(png) =
                    webdriver_call(self.port, "GET", &format!("{session}/screenshot"))
                        .and_then(|v| v.as_str().map(str::to_string))
                        .and_then(|b64| {
                            use base64::Engine;
                            base64::engine::general_purpose::STANDARD.decode(b64).ok()
                        })
                {
                    let _ = std::fs::write(dir.join(format!("failure-{}.png", self.name)), png);
                }
                if let Some(html) = webdriver_call(self.port, "GET", &format!("{session}/source"))
                    .and_then(|v| v.as_str().map(str::to_string))
                {
                    let _ = std::fs::write(dir.join(format!("failure-{}.html", self.name)), html);
                }
            }
            let _ = webdriver_call(self.port, "DELETE", &session);
            let _ = driver.leak();
        }
        self.kill_driver();
    }
}

/// One blocking WebDriver request (no body); the answer's `value`.
fn webdriver_call(port: u16, method: &str, path: &str) -> Option<Value> {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    // Read the head, then exactly Content-Length bytes: chromedriver may keep the line open.
    let mut response = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let (head_len, length) = loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        response.extend_from_slice(&chunk[..n]);
        if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())?;
            break (end + 4, length);
        }
    };
    while response.len() < head_len + length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..n]);
    }
    let body = response.get(head_len..head_len + length)?;
    let mut json: Value = serde_json::from_slice(body).ok()?;
    Some(json["value"].take())
}

/// An agent's login.
#[derive(Debug, Clone)]
pub struct Agent {
    pub email: String,
    pub password: String,
}

/// `peyk serve` on a free port with a temp SQLite database and `app.default_language = "en"`.
pub struct Peyk {
    pub db: TestDb,
    pub config: PathBuf,
    pub base: String,
    child: Option<Child>,
    output: Arc<Mutex<String>>,
}

impl Peyk {
    /// Writes the config (`extra` is appended: e.g. an `[smtp]` section) and applies the
    /// migrations; `serve` is started by [`Peyk::start`], so agents and mail can be added first.
    pub async fn new(extra: &str) -> Peyk {
        // Only browser tests use this: without chromedriver, fail before starting anything.
        chromedriver_path();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let db = TestDb::create(Backend::Sqlite).await;
        let port = free_port();
        let config = db.dir.path().join("peyk.toml");
        let text = format!(
            "[app]\ndata_dir = \"{data}\"\ndefault_language = \"en\"\n\n[database]\nurl = \"{url}\"\n\n\
             [http]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\n\
             [notify]\nfrom = \"Support <no-reply@peyk.example>\"\nreply_to = \"support@peyk.example\"\n\
             own_addresses = [\"support@peyk.example\", \"no-reply@peyk.example\"]\n\n{extra}",
            data = db.dir.path().join("data").display(),
            url = db.url,
        );
        std::fs::write(&config, text).expect("write config");
        let out = run_peyk(
            &["migrate", "--config", &config.display().to_string()],
            db.dir.path(),
        );
        assert!(
            out.status.success(),
            "peyk migrate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Peyk {
            db,
            config,
            base: format!("http://127.0.0.1:{port}"),
            child: None,
            output: Arc::default(),
        }
    }

    fn config_arg(&self) -> String {
        self.config.display().to_string()
    }

    /// `peyk agent add --email E --name N [--admin]`, the password on standard input.
    pub fn add_agent(&self, email: &str, name: &str, admin: bool) -> Agent {
        let password = format!("pw-{:016x}", rand::random::<u64>());
        let config = self.config_arg();
        let mut args = vec![
            "agent", "add", "--email", email, "--name", name, "--config", &config,
        ];
        if admin {
            args.push("--admin");
        }
        let mut child = Command::new(peyk_binary())
            .args(&args)
            .current_dir(self.db.dir.path())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn peyk agent add");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{password}\n").as_bytes())
            .expect("write password");
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "peyk agent add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Agent {
            email: email.to_string(),
            password,
        }
    }

    /// Writes each message to a file and runs `peyk import` on them.
    pub fn import(&self, messages: &[&[u8]]) -> Vec<ImportRow> {
        let mut files = Vec::new();
        for (n, raw) in messages.iter().enumerate() {
            let path = self
                .db
                .dir
                .path()
                .join(format!("in-{n}-{:08x}.eml", rand::random::<u32>()));
            std::fs::write(&path, raw).expect("write eml");
            files.push(path.display().to_string());
        }
        let config = self.config_arg();
        let mut args = vec!["import", "--config", config.as_str()];
        args.extend(files.iter().map(String::as_str));
        let out = run_peyk(&args, self.db.dir.path());
        assert!(
            out.status.success(),
            "peyk import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse_import_output(&out.stdout)
    }

    /// Imports one message that must open a new ticket; returns its number.
    pub fn import_new_ticket(&self, raw: &[u8]) -> String {
        let rows = self.import(&[raw]);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].outcome, "new_ticket", "{rows:?}");
        rows[0].ticket.clone()
    }

    /// Starts `peyk serve` and waits for its "listening" line.
    pub fn start(&mut self) {
        let mut child = Command::new(peyk_binary())
            .args(["serve", "--config", &self.config_arg()])
            .current_dir(self.db.dir.path())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn peyk serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let output = self.output.clone();
        // Reads everything serve prints, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("peyk listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(());
                }
                let mut out = output.lock().expect("lock");
                out.push_str(&line);
                out.push('\n');
            }
        });
        self.child = Some(child);
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            let printed = self.output.lock().expect("lock").clone();
            self.stop();
            panic!("peyk serve did not start listening: {printed}");
        }
    }

    /// Stops serve with SIGTERM (SIGKILL after 20 s).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /api/...` as `agent` (HTTP Basic); the JSON answer, which must be 200.
    pub async fn api(&self, agent: &Agent, path: &str) -> Value {
        let response = reqwest::Client::new()
            .get(self.url(path))
            .basic_auth(&agent.email, Some(&agent.password))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_eq!(status.as_u16(), 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// `/api/outbox` items of one ticket, newest first.
    pub async fn outbox_of(&self, agent: &Agent, number: &str) -> Vec<Value> {
        let all = self.api(agent, "/api/outbox?per_page=200").await;
        all["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|item| item["ticket_number"].as_str() == Some(number))
            .cloned()
            .collect()
    }

    /// The messages of a ticket from `/api/tickets/{number}`, oldest first.
    pub async fn messages_of(&self, agent: &Agent, number: &str) -> Vec<Value> {
        let ticket = self.api(agent, &format!("/api/tickets/{number}")).await;
        ticket["messages"].as_array().expect("messages").clone()
    }
}

impl Drop for Peyk {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `check` every 200 ms until it yields a value, or fails after `secs` seconds.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
