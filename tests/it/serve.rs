//! `peyk serve`: migrations, the first admin's one-time password, /healthz, /readyz, and a
//! clean stop on SIGTERM. `peyk migrate` and `peyk agent add` too.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use peyk::service::agents::verify_password;
use peyk::store;

use crate::harness::{TestDb, backends, peyk_binary, run_peyk};

fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

// The caller owns the returned child and waits for it in `stop_with_sigterm`.
#[allow(clippy::zombie_processes)]
/// Starts `peyk serve`, returns the child, its address and the lines printed before "listening".
fn start_serve(
    config: &std::path::Path,
    cwd: &std::path::Path,
) -> (std::process::Child, String, Vec<String>) {
    let mut child = Command::new(peyk_binary())
        .args(["serve", "--config", &config.display().to_string()])
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).unwrap_or(0);
        if n == 0 || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve ended before listening: {printed:?}");
        }
        if let Some(url) = line.trim().strip_prefix("peyk listening on http://") {
            return (child, url.to_string(), printed);
        }
        printed.push(line.trim().to_string());
    }
}

fn stop_with_sigterm(mut child: std::process::Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn serve_migrates_creates_the_first_admin_once_answers_health_and_stops_on_sigterm() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let config = db.write_config("");
        let (child, addr, printed) = start_serve(&config, db.dir.path());
        let password_line = printed
            .iter()
            .find(|l| l.starts_with("One-time password"))
            .expect("one-time password printed");
        let password = password_line
            .rsplit(' ')
            .next()
            .expect("password")
            .to_string();
        assert_eq!(http_get(&addr, "/healthz").0, 200);
        let (status, body) = http_get(&addr, "/readyz");
        assert_eq!(status, 200, "{body}");
        let status = stop_with_sigterm(child);
        assert!(status.success(), "clean exit on SIGTERM: {status:?}");

        let store = db.store().await;
        let admin = store::agents::find_by_email(store.db(), "admin@peyk.example")
            .await
            .expect("db")
            .expect("admin");
        assert_eq!(admin.role, "admin");
        assert!(admin.password_hash.starts_with("$argon2id$"));
        assert!(verify_password(&password, &admin.password_hash));

        // A second start prints no password.
        let (child, _, printed) = start_serve(&config, db.dir.path());
        assert!(
            !printed.iter().any(|l| l.contains("password")),
            "{printed:?}"
        );
        assert!(stop_with_sigterm(child).success());
        db.cleanup().await;
    }
}

#[tokio::test]
async fn migrate_and_agent_add_work_and_bad_config_names_the_key() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let config = db.write_config("");
        let config_arg = config.display().to_string();
        let migrate = run_peyk(&["migrate", "--config", &config_arg], db.dir.path());
        assert!(
            migrate.status.success(),
            "{}",
            String::from_utf8_lossy(&migrate.stderr)
        );

        let mut child = Command::new(peyk_binary())
            .args([
                "agent",
                "add",
                "--email",
                "Sara@Desk.example",
                "--name",
                "Sara",
                "--config",
                &config_arg,
            ])
            .current_dir(db.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"a long enough password\n")
            .expect("write");
        let output = child.wait_with_output().expect("wait");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let store = db.store().await;
        let agent = store::agents::find_by_email(store.db(), "sara@desk.example")
            .await
            .expect("db")
            .expect("agent");
        assert_eq!(agent.role, "agent");
        assert!(verify_password(
            "a long enough password",
            &agent.password_hash
        ));

        let bad = db.dir.path().join("bad.toml");
        std::fs::write(&bad, "[database]\nurl = \"sqlite://x.db\"\npool = 3\n").expect("write");
        let output = run_peyk(
            &["migrate", "--config", &bad.display().to_string()],
            db.dir.path(),
        );
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("pool") && stderr.lines().count() == 1,
            "{stderr}"
        );
        db.cleanup().await;
    }
}
