//! A real SMTP server for one test: Debian's python3-aiosmtpd behind STARTTLS (the test CA's
//! certificate) and AUTH PLAIN/LOGIN, handing each accepted message to Dovecot over LMTP (or
//! only counting it). It answers `550` for recipients whose local part starts with `reject`,
//! `421` while the temp-fail flag is set, and can be stopped and started on the same port.
//! Every accepted message is logged (recipient and Message-ID) so tests can count deliveries.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

pub const SMTP_USER: &str = "peyk-smtp";
pub const SMTP_PASSWORD: &str = "smtp secret";

const SERVER: &str = r#"
import asyncio, email, os, smtplib, ssl, sys, threading, warnings
warnings.filterwarnings("ignore")
import logging
logging.disable(logging.WARNING)
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, cert, key, lmtp, state, user, password = sys.argv[1:8]
port, lmtp = int(port), int(lmtp)
FLAG = os.path.join(state, "tempfail")
LOG = os.path.join(state, "deliveries.log")
lock = threading.Lock()
counter = [0]


def deliver(sender, rcpts, data):
    with smtplib.LMTP("127.0.0.1", lmtp) as client:
        client.sendmail(sender, rcpts, data)


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if os.path.exists(FLAG):
            return "421 4.3.0 Service temporarily unavailable, try again later"
        if address.split("@")[0].startswith("reject"):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        data = getattr(envelope, "original_content", None) or envelope.content
        if lmtp:
            try:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, deliver, envelope.mail_from, list(envelope.rcpt_tos), data)
            except Exception as e:
                return "451 4.3.0 LMTP delivery failed: %s" % str(e).replace("\r", " ").replace("\n", " ")
        mid = email.message_from_bytes(data).get("Message-ID", "")
        with lock:
            counter[0] += 1
            n = counter[0]
            with open(LOG, "a") as log:
                for rcpt in envelope.rcpt_tos:
                    log.write("%s\t%s\n" % (rcpt, mid))
        return "250 2.0.0 Ok: queued as Q%d" % n


def authenticate(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password:
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
controller = Controller(
    Handler(), hostname="127.0.0.1", port=port, ready_timeout=10,
    tls_context=context, require_starttls=True,
    authenticator=authenticate, auth_require_tls=True,
)
controller.start()
threading.Event().wait()
"#;

pub struct SmtpServer {
    dir: tempfile::TempDir,
    pub port: u16,
    cert: PathBuf,
    key: PathBuf,
    lmtp_port: u16,
    child: Option<Child>,
}

/// One accepted message, as the server logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub recipient: String,
    pub message_id: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl SmtpServer {
    /// Starts a server with `cert`/`key` (valid for 127.0.0.1); with `lmtp_port`, accepted
    /// mail is delivered there, otherwise only logged.
    pub async fn start(cert: &Path, key: &Path, lmtp_port: Option<u16>) -> SmtpServer {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("server.py"), SERVER).expect("write server");
        let mut server = SmtpServer {
            dir,
            port: free_port(),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            lmtp_port: lmtp_port.unwrap_or(0),
            child: None,
        };
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        let child = Command::new("/usr/bin/python3")
            .arg(self.dir.path().join("server.py"))
            .arg(self.port.to_string())
            .arg(&self.cert)
            .arg(&self.key)
            .arg(self.lmtp_port.to_string())
            .arg(self.dir.path())
            .arg(SMTP_USER)
            .arg(SMTP_PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP server (is python3-aiosmtpd installed?)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(Instant::now() < deadline, "the SMTP server did not start");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// Stops the server; connections are refused until [`SmtpServer::restart`].
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
            assert!(Instant::now() < deadline, "the SMTP server did not stop");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    /// While set, every recipient is answered `421`.
    pub fn set_tempfail(&self, on: bool) {
        let flag = self.dir.path().join("tempfail");
        if on {
            std::fs::write(flag, b"1").expect("flag");
        } else {
            let _ = std::fs::remove_file(flag);
        }
    }

    /// lettre's URL: STARTTLS required, AUTH with the test credentials.
    pub fn url(&self) -> String {
        format!(
            "smtp://{}:{}@127.0.0.1:{}?tls=required",
            SMTP_USER,
            SMTP_PASSWORD.replace(' ', "%20"),
            self.port
        )
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        std::fs::read_to_string(self.dir.path().join("deliveries.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .map(|(recipient, message_id)| Delivery {
                recipient: recipient.to_string(),
                message_id: message_id.to_string(),
            })
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
