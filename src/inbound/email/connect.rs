//! IMAP connections: plain TCP, implicit TLS or STARTTLS (rustls with ring), with an optional
//! private CA, behind one stream type that async-imap drives.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::{Client, Session};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, RootCertStore, pki_types::ServerName};

use crate::config::{MailSecurity, MailboxSettings};

/// How long a connect or login may take before the attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to {host}:{port}: {source}")]
    Tcp {
        host: String,
        port: u16,
        source: io::Error,
    },
    #[error("connecting to {0} timed out")]
    Timeout(String),
    #[error("TLS with {host}: {source}")]
    Tls { host: String, source: io::Error },
    #[error("bad TLS setup: {0}")]
    TlsSetup(String),
    #[error("IMAP greeting or STARTTLS failed: {0}")]
    Protocol(String),
    #[error("login as {user} refused: {message}")]
    Login { user: String, message: String },
}

/// A plain or TLS TCP stream.
#[derive(Debug)]
pub enum ImapStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for ImapStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ImapStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub type ImapSession = Session<ImapStream>;

/// The rustls connector: the public roots, plus the mailbox's own CA when `ca_file` is set.
fn tls_connector(settings: &MailboxSettings) -> Result<TlsConnector, ConnectError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca_file) = &settings.ca_file {
        let pem = std::fs::read(ca_file).map_err(|e| {
            ConnectError::TlsSetup(format!("cannot read ca_file {}: {e}", ca_file.display()))
        })?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| {
                ConnectError::TlsSetup(format!("bad certificate in {}: {e}", ca_file.display()))
            })?;
            roots.add(cert).map_err(|e| {
                ConnectError::TlsSetup(format!(
                    "unusable certificate in {}: {e}",
                    ca_file.display()
                ))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError::TlsSetup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn tls_wrap(settings: &MailboxSettings, tcp: TcpStream) -> Result<ImapStream, ConnectError> {
    let connector = tls_connector(settings)?;
    let name = ServerName::try_from(settings.host.clone())
        .map_err(|e| ConnectError::TlsSetup(format!("bad host name {}: {e}", settings.host)))?;
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|source| ConnectError::Tls {
            host: settings.host.clone(),
            source,
        })?;
    Ok(ImapStream::Tls(Box::new(tls)))
}

/// Connects, secures the connection as configured, and logs in.
pub async fn connect(settings: &MailboxSettings) -> Result<ImapSession, ConnectError> {
    let target = format!("{}:{}", settings.host, settings.port);
    tokio::time::timeout(CONNECT_TIMEOUT, connect_inner(settings))
        .await
        .map_err(|_| ConnectError::Timeout(target))?
}

async fn connect_inner(settings: &MailboxSettings) -> Result<ImapSession, ConnectError> {
    let tcp = TcpStream::connect((settings.host.as_str(), settings.port))
        .await
        .map_err(|source| ConnectError::Tcp {
            host: settings.host.clone(),
            port: settings.port,
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    let protocol = |e: &dyn std::fmt::Display| ConnectError::Protocol(e.to_string());
    let client = match settings.security {
        MailSecurity::None => {
            let mut client = Client::new(ImapStream::Plain(tcp));
            client
                .read_response()
                .await
                .map_err(|e| protocol(&e))?
                .ok_or_else(|| protocol(&"no greeting"))?;
            client
        }
        MailSecurity::Tls => {
            let mut client = Client::new(tls_wrap(settings, tcp).await?);
            client
                .read_response()
                .await
                .map_err(|e| protocol(&e))?
                .ok_or_else(|| protocol(&"no greeting"))?;
            client
        }
        MailSecurity::Starttls => {
            let mut plain = Client::new(ImapStream::Plain(tcp));
            plain
                .read_response()
                .await
                .map_err(|e| protocol(&e))?
                .ok_or_else(|| protocol(&"no greeting"))?;
            plain
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| protocol(&e))?;
            let ImapStream::Plain(tcp) = plain.into_inner() else {
                return Err(protocol(&"STARTTLS on a stream that is already TLS"));
            };
            Client::new(tls_wrap(settings, tcp).await?)
        }
    };
    client
        .login(&settings.username, &settings.password)
        .await
        .map_err(|(e, _)| ConnectError::Login {
            user: settings.username.clone(),
            message: e.to_string(),
        })
}
