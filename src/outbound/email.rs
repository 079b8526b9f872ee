//! Email out: a pooled lettre SMTP transport from `[smtp] url`, or .eml files under
//! `<data_dir>/outbox-mail/` when there is no `[smtp]` section.
//!
//! URL forms are lettre's (`AsyncSmtpTransport::from_url`): `smtp://user:pass@host:port` is
//! plain SMTP, `smtp://...?tls=required` upgrades with STARTTLS (`tls=opportunistic` when
//! offered), `smtps://...` is implicit TLS. `ca_file` adds a private CA to the trusted roots.

use std::path::{Path, PathBuf};

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::SendError;
use crate::config::{NotifySettings, Settings, SmtpSettings};
use crate::store::outbox::OutboxItem;

#[derive(Debug, thiserror::Error)]
pub enum EmailSetupError {
    #[error("config key `smtp.url`: {0}")]
    Url(String),
    #[error("config key `smtp.ca_file`: cannot read {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("config key `smtp.ca_file`: {0}")]
    Tls(String),
    #[error("config key `notify.{key}`: {message}")]
    Address { key: &'static str, message: String },
    #[error("cannot create {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// Sends stored email notifications.
pub struct EmailSender {
    transport: Transport,
    from: Mailbox,
    reply_to: Option<Mailbox>,
}

impl EmailSender {
    pub fn from_settings(settings: &Settings) -> Result<Self, EmailSetupError> {
        let transport = match &settings.smtp {
            Some(smtp) => Transport::Smtp(smtp_transport(smtp)?),
            None => {
                let dir = settings.app.data_dir.join("outbox-mail");
                std::fs::create_dir_all(&dir).map_err(|source| EmailSetupError::Dir {
                    path: dir.display().to_string(),
                    source,
                })?;
                Transport::File(AsyncFileTransport::new(&dir), dir)
            }
        };
        Self::with_transport(transport, &settings.notify)
    }

    fn with_transport(
        transport: Transport,
        notify: &NotifySettings,
    ) -> Result<Self, EmailSetupError> {
        let from = notify
            .from
            .parse::<Mailbox>()
            .map_err(|e| EmailSetupError::Address {
                key: "from",
                message: format!("{:?}: {e}", notify.from),
            })?;
        let reply_to = notify
            .reply_to
            .as_deref()
            .map(|r| {
                r.parse::<Mailbox>().map_err(|e| EmailSetupError::Address {
                    key: "reply_to",
                    message: format!("{r:?}: {e}"),
                })
            })
            .transpose()?;
        Ok(Self {
            transport,
            from,
            reply_to,
        })
    }

    /// Where .eml files go, when mail is written to files.
    pub fn file_dir(&self) -> Option<&Path> {
        match &self.transport {
            Transport::File(_, dir) => Some(dir),
            Transport::Smtp(_) => None,
        }
    }

    /// Builds the message of one outbox row exactly as stored.
    pub fn build(&self, item: &OutboxItem) -> Result<Message, SendError> {
        let to = item.recipient.parse::<Mailbox>().map_err(|e| {
            SendError::permanent(format!("bad recipient {:?}: {e}", item.recipient))
        })?;
        let auto_submitted = if item.kind == "ticket_received" {
            "auto-replied"
        } else {
            "auto-generated"
        };
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(item.subject.clone().unwrap_or_default())
            .message_id(item.message_id.clone())
            .raw_header(header("Auto-Submitted", auto_submitted))
            .raw_header(header("X-Auto-Response-Suppress", "All"));
        if item.message_id.is_none() {
            return Err(SendError::permanent(
                "email notification without a Message-ID",
            ));
        }
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        if let Some(in_reply_to) = item.in_reply_to.as_deref().filter(|s| !s.trim().is_empty()) {
            builder = builder.in_reply_to(in_reply_to.to_string());
        }
        if let Some(references) = item
            .references_header
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        {
            builder = builder.references(references.to_string());
        }
        let html = item.body_html.clone().unwrap_or_else(|| {
            format!(
                "<!DOCTYPE html><html><body><pre>{}</pre></body></html>",
                html_escape::encode_text(&item.body_text)
            )
        });
        builder
            .multipart(MultiPart::alternative_plain_html(
                item.body_text.clone(),
                html,
            ))
            .map_err(|e| SendError::permanent(format!("cannot build the message: {e}")))
    }

    /// Sends one stored notification; answers the server's reply (or the file's id).
    pub async fn send(&self, item: &OutboxItem) -> Result<Option<String>, SendError> {
        let message = self.build(item)?;
        match &self.transport {
            Transport::Smtp(smtp) => match smtp.send(message).await {
                Ok(response) => {
                    let text = response.message().collect::<Vec<_>>().join(" ");
                    Ok((!text.is_empty()).then_some(text))
                }
                Err(e) => Err(classify_smtp(&e)),
            },
            Transport::File(file, _) => file
                .send(message)
                .await
                .map(Some)
                .map_err(|e| SendError::transient(format!("cannot write the .eml file: {e}"))),
        }
    }
}

/// SMTP 5xx is permanent; 4xx, connection, TLS and timeout errors are worth another try.
fn classify_smtp(e: &lettre::transport::smtp::Error) -> SendError {
    let message = format!("smtp: {e}");
    if e.is_permanent() {
        SendError::permanent(message)
    } else if e.is_transient() {
        SendError::transient(message)
    } else {
        // Not an SMTP reply at all: the server could not be reached or the connection broke.
        SendError::transient(message)
    }
}

fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
}

fn smtp_transport(
    smtp: &SmtpSettings,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, EmailSetupError> {
    let url_error = |e: lettre::transport::smtp::Error| EmailSetupError::Url(e.to_string());
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::from_url(&smtp.url).map_err(url_error)?;
    if let Some(ca_file) = &smtp.ca_file {
        let pem = std::fs::read(ca_file).map_err(|source| EmailSetupError::CaFile {
            path: ca_file.display().to_string(),
            source,
        })?;
        let certificate =
            Certificate::from_pem(&pem).map_err(|e| EmailSetupError::Tls(e.to_string()))?;
        let url = UrlParts::parse(&smtp.url).ok_or_else(|| {
            EmailSetupError::Url(format!("cannot read the host of {:?}", redact(&smtp.url)))
        })?;
        let parameters = TlsParameters::builder(url.host.clone())
            .add_root_certificate(certificate)
            .build_rustls()
            .map_err(|e| EmailSetupError::Tls(e.to_string()))?;
        let tls = match (url.scheme.as_str(), url.tls.as_deref()) {
            ("smtps", _) => Tls::Wrapper(parameters),
            (_, Some("required")) => Tls::Required(parameters),
            (_, Some("opportunistic")) => Tls::Opportunistic(parameters),
            _ => Tls::None,
        };
        builder = builder.tls(tls);
    }
    Ok(builder.build())
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            format!("{}://***@{}", &url[..start], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// What lettre's URL parsing decides that the CA option needs again.
struct UrlParts {
    scheme: String,
    host: String,
    tls: Option<String>,
}

impl UrlParts {
    fn parse(url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let (authority_path, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let authority = authority_path.split('/').next()?;
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = if let Some(bracketed) = host_port.strip_prefix('[') {
            bracketed.split(']').next()?.to_string()
        } else {
            host_port.split(':').next()?.to_string()
        };
        if host.is_empty() {
            return None;
        }
        let tls = query.and_then(|q| {
            q.split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| *k == "tls")
                .map(|(_, v)| v.to_string())
        });
        Some(Self {
            scheme: scheme.to_ascii_lowercase(),
            host,
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts_find_host_and_tls_mode() {
        let u = UrlParts::parse("smtp://user:p%40ss@mail.example.com:587?tls=required").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.tls.as_deref()),
            ("smtp", "mail.example.com", Some("required"))
        );
        let u = UrlParts::parse("smtps://127.0.0.1:465").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.tls),
            ("smtps", "127.0.0.1", None)
        );
        assert_eq!(
            redact("smtp://user:secret@host:25"),
            "smtp://***@host:25".to_string()
        );
    }

    #[test]
    fn messages_carry_the_stored_headers() {
        let sender = EmailSender::with_transport(
            Transport::File(
                AsyncFileTransport::new(std::env::temp_dir()),
                std::env::temp_dir(),
            ),
            &NotifySettings {
                reply_to: Some("support@peyk.example".into()),
                ..NotifySettings::default()
            },
        )
        .unwrap();
        let now = chrono::DateTime::<chrono::Utc>::default();
        let item = OutboxItem {
            id: 1,
            ticket_id: 1,
            ticket_message_id: None,
            channel: "email".into(),
            kind: "ticket_received".into(),
            recipient: "customer@example.com".into(),
            language: "en".into(),
            subject: Some("[#5193078] Internet down".into()),
            body_text: "Hello".into(),
            body_html: Some("<p>Hello</p>".into()),
            message_id: Some("<peyk.1@peyk.example>".into()),
            in_reply_to: Some("<c1@customer.example>".into()),
            references_header: Some("<c0@customer.example> <c1@customer.example>".into()),
            status: "pending".into(),
            attempts: 1,
            next_attempt_at: now,
            lease_until: None,
            leased_by: None,
            last_error: None,
            provider_message_id: None,
            sent_at: None,
            created_at: now,
        };
        let raw = String::from_utf8(sender.build(&item).unwrap().formatted()).unwrap();
        for expected in [
            "Message-ID: <peyk.1@peyk.example>",
            "In-Reply-To: <c1@customer.example>",
            "References: <c0@customer.example> <c1@customer.example>",
            "Auto-Submitted: auto-replied",
            "X-Auto-Response-Suppress: All",
            "Reply-To: support@peyk.example",
            "multipart/alternative",
            "Subject: [#5193078] Internet down",
        ] {
            assert!(raw.contains(expected), "{expected} missing in\n{raw}");
        }
        let closed = OutboxItem {
            kind: "ticket_closed".into(),
            ..item
        };
        let raw = String::from_utf8(sender.build(&closed).unwrap().formatted()).unwrap();
        assert!(raw.contains("Auto-Submitted: auto-generated"));
    }
}
