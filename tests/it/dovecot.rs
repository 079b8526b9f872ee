//! A private Dovecot for one test: its own config file, passwd-file users, maildir storage
//! owned by the unprivileged `mail` user, on a free loopback port. Needs Debian's
//! `dovecot-imapd` (scripts/test installs it).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_imap::Client;
use futures::TryStreamExt;
use peyk::config::{MailSecurity, MailboxSettings};
use tokio::net::TcpStream;

pub const USER: &str = "support@peyk.example";
pub const PASSWORD: &str = "a secret for tests";

pub struct Dovecot {
    dir: tempfile::TempDir,
    /// Plain IMAP, with STARTTLS offered.
    pub port: u16,
    /// Implicit TLS (imaps).
    pub tls_port: u16,
    /// LMTP, for mail delivered into the mailboxes (the test SMTP server hands mail over here).
    pub lmtp_port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn chown_mail(path: &Path) {
    let status = Command::new("chown")
        .args(["-R", "mail:mail"])
        .arg(path)
        .status()
        .expect("chown");
    assert!(status.success());
}

impl Dovecot {
    pub async fn start() -> Dovecot {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let mail = dir.path().join("mail");
        std::fs::create_dir_all(&mail).expect("mkdir");
        chown_mail(&mail);
        std::fs::write(
            dir.path().join("passwd"),
            format!("{USER}:{{PLAIN}}{PASSWORD}::::::\n"),
        )
        .expect("passwd");
        let port = free_port();
        let tls_port = free_port();
        let lmtp_port = free_port();
        make_certificates(dir.path());
        let d = dir.path().display();
        let config = format!(
            r#"base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = yes
ssl_cert = <{d}/server.pem
ssl_key = <{d}/server.key
ssl_dh = </usr/share/dovecot/dh.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_fsync = never
shutdown_clients = yes
mail_location = maildir:{d}/mail/%u/Maildir
mail_uid = mail
mail_gid = mail
first_valid_uid = 1
first_valid_gid = 1
mail_max_userip_connections = 500
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={d}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
protocol imap {{
  mail_max_userip_connections = 500
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
"#
        );
        std::fs::write(dir.path().join("dovecot.conf"), config).expect("config");
        let mut dovecot = Dovecot {
            dir,
            port,
            tls_port,
            lmtp_port,
            child: None,
        };
        dovecot.spawn().await;
        dovecot
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("dovecot.conf")
    }

    async fn spawn(&mut self) {
        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(self.config_path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dovecot (is dovecot-imapd installed?)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        for port in [self.port, self.lmtp_port] {
            while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
                assert!(
                    Instant::now() < deadline,
                    "dovecot did not start: {}",
                    self.log()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Adds a mail user (a customer's mailbox), reachable over IMAP and LMTP.
    pub fn add_user(&self, user: &str, password: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("passwd"))
            .expect("open passwd");
        writeln!(file, "{user}:{{PLAIN}}{password}::::::").expect("write passwd");
    }

    /// The server's certificate and key (signed by [`Dovecot::ca_file`]), for other test
    /// servers on 127.0.0.1.
    pub fn server_cert_files(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.path().join("server.pem"),
            self.dir.path().join("server.key"),
        )
    }

    /// A mail client of another user's mailbox.
    pub async fn client_as(&self, user: &str, password: &str) -> ImapClient {
        let tcp = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        let mut client = Client::new(tcp);
        client
            .read_response()
            .await
            .expect("greeting")
            .expect("greeting");
        let session = client
            .login(user, password)
            .await
            .map_err(|(e, _)| e)
            .expect("login");
        ImapClient { session }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Stops the server and waits until the port is closed. Its IMAP processes are ended too:
    /// Dovecot's master leaves running sessions alive on SIGTERM, and a stopped server must
    /// drop every client.
    pub async fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
            assert!(Instant::now() < deadline, "dovecot did not stop");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    /// Settings for a Peyk mailbox on this server.
    pub fn mailbox(&self, key: &str, folder: &str) -> MailboxSettings {
        MailboxSettings {
            key: key.to_string(),
            host: "127.0.0.1".into(),
            port: self.port,
            security: MailSecurity::None,
            username: USER.into(),
            password: PASSWORD.into(),
            folder: folder.into(),
            department: Some("support".into()),
            ca_file: None,
            idle: true,
            poll_interval_secs: 120,
            processed_folder: None,
        }
    }

    /// The private CA that signed the server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Settings for a mailbox reached over implicit TLS (imaps) or STARTTLS, trusting the CA.
    pub fn tls_mailbox(&self, key: &str, security: MailSecurity) -> MailboxSettings {
        let mut mailbox = self.mailbox(key, "INBOX");
        mailbox.security = security;
        mailbox.port = if security == MailSecurity::Tls {
            self.tls_port
        } else {
            self.port
        };
        mailbox.ca_file = Some(self.ca_file());
        mailbox
    }

    /// Another mail client of the same mailbox.
    pub async fn client(&self) -> ImapClient {
        let tcp = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        let mut client = Client::new(tcp);
        client
            .read_response()
            .await
            .expect("greeting")
            .expect("greeting");
        let session = client
            .login(USER, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("login");
        ImapClient { session }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child);
        }
    }
}

/// SIGTERM to the master, then SIGKILL to the processes it had started.
fn terminate(mut master: Child) {
    let children = child_pids(master.id());
    let _ = Command::new("kill")
        .args(["-TERM", &master.id().to_string()])
        .status();
    let _ = master.wait();
    for pid in children {
        // Some have already exited with their master.
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}

/// A small CA and a server certificate for 127.0.0.1 and localhost signed by it (rustls
/// refuses a self-signed certificate used directly by the server).
pub fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write ext");
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "ca.key",
    ]);
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-days",
        "2",
        "-subj",
        "/CN=Peyk Test CA",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "server.key",
    ]);
    run(&[
        "req",
        "-new",
        "-key",
        "server.key",
        "-subj",
        "/CN=localhost",
        "-out",
        "server.csr",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
}

/// The processes whose parent is `pid`.
fn child_pids(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|candidate| {
            let stat =
                std::fs::read_to_string(format!("/proc/{candidate}/stat")).unwrap_or_default();
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_string));
            parent.and_then(|p| p.parse::<u32>().ok()) == Some(pid)
        })
        .collect()
}

pub struct ImapClient {
    pub session: async_imap::Session<TcpStream>,
}

impl ImapClient {
    pub async fn append(&mut self, folder: &str, raw: &[u8], seen: bool) {
        let flags = if seen { Some("(\\Seen)") } else { None };
        self.session
            .append(folder, flags, None, raw)
            .await
            .expect("append");
    }

    pub async fn create(&mut self, folder: &str) {
        self.session.create(folder).await.expect("create folder");
    }

    pub async fn delete(&mut self, folder: &str) {
        self.session.delete(folder).await.expect("delete folder");
    }

    /// UIDs in the folder and whether each is \Seen.
    pub async fn flags(&mut self, folder: &str) -> Vec<(u32, bool)> {
        self.session.select(folder).await.expect("select");
        let fetched: Vec<(u32, bool)> = self
            .session
            .uid_fetch("1:*", "(UID FLAGS)")
            .await
            .expect("fetch")
            .try_filter_map(|f| async move {
                let seen = f
                    .flags()
                    .any(|flag| matches!(flag, async_imap::types::Flag::Seen));
                Ok(f.uid.map(|uid| (uid, seen)))
            })
            .try_collect()
            .await
            .expect("collect");
        fetched
    }

    /// The raw messages of a folder, oldest first.
    pub async fn messages(&mut self, folder: &str) -> Vec<Vec<u8>> {
        self.session.select(folder).await.expect("select");
        let fetched: Vec<Vec<u8>> = self
            .session
            .uid_fetch("1:*", "(UID BODY.PEEK[])")
            .await
            .expect("fetch")
            .try_filter_map(|f| async move { Ok(f.body().map(<[u8]>::to_vec)) })
            .try_collect()
            .await
            .expect("collect");
        fetched
    }

    pub async fn uid_validity(&mut self, folder: &str) -> u32 {
        self.session
            .select(folder)
            .await
            .expect("select")
            .uid_validity
            .expect("uidvalidity")
    }
}

/// A realistic customer message with a unique Message-ID.
pub fn customer_message(n: usize, sender: &str) -> Vec<u8> {
    format!(
        "Return-Path: <{sender}>\r\nFrom: Customer {n} <{sender}>\r\nTo: Support <support@peyk.example>\r\nSubject: Connection problem number {n}\r\nDate: Mon, 30 Nov 2026 10:00:00 +0330\r\nMessage-ID: <msg-{n}-{}@customer.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nHello, this is message {n}. My connection drops every evening.\r\nسلام، اینترنت من هر شب قطع می‌شود.\r\n",
        std::process::id()
    )
    .into_bytes()
}
