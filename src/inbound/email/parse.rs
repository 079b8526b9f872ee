//! mail-parser → [`InboundMessage`]. Pure: bytes in, a message or a reason out.
//!
//! Text: every text body part in order (text/plain preferred; HTML converted to text when it
//! is the only body). HTML: kept sanitized by ammonia. Charsets are decoded by mail-parser
//! (with `full_encoding`); a body part without a charset is read as UTF-8 when it is valid
//! UTF-8. Attachments over the limit are refused with a reason; the rest of the message stays.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use mail_parser::{HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

use crate::domain::contact::EmailAddress;
use crate::domain::message::{
    AutomationSignals, DeliveryStatus, InboundAttachment, InboundMessage, Sender,
};
use crate::domain::threading::normalize_message_id;
use crate::domain::ticket::Channel;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailParseError {
    #[error("empty file")]
    Empty,
    #[error("not an email message: no header could be read")]
    NoHeaders,
}

/// Messages saved with CR-only line endings (old Mac tools) get CRLF, which the parser needs.
/// The raw source is kept as it came.
fn normalize_line_endings(raw: &[u8]) -> Cow<'_, [u8]> {
    let head = &raw[..raw.len().min(8192)];
    if raw.contains(&b'\n') || !head.contains(&b'\r') {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    for &b in raw {
        out.push(b);
        if b == b'\r' {
            out.push(b'\n');
        }
    }
    Cow::Owned(out)
}

/// A parse result that keeps what an error receipt needs even when parsing fails.
pub struct ParsedEmail {
    pub external_id: String,
    pub content_hash: String,
    pub result: Result<InboundMessage, EmailParseError>,
}

/// Text as a database text column takes it: NUL (which PostgreSQL refuses in text) becomes
/// U+FFFD. Everything else stays as sent.
pub fn storable(text: &str) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text.to_string()
    }
}

/// `sha256:<hex>` of the raw bytes.
pub fn content_hash(raw: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(raw)))
}

pub fn parse_email(
    raw: &[u8],
    source: &str,
    department: Option<&str>,
    attachment_max_bytes: u64,
    received_at: DateTime<Utc>,
) -> ParsedEmail {
    let content_hash = content_hash(raw);
    let fail = |error| ParsedEmail {
        external_id: content_hash.clone(),
        content_hash: content_hash.clone(),
        result: Err(error),
    };
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return fail(EmailParseError::Empty);
    }
    let normalized = normalize_line_endings(raw);
    let Some(message) = MessageParser::default().parse(normalized.as_ref()) else {
        return fail(EmailParseError::NoHeaders);
    };
    if message.headers().is_empty() {
        return fail(EmailParseError::NoHeaders);
    }
    let bare_message_id = message
        .message_id()
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 900);
    let external_id = bare_message_id
        .map(storable)
        .unwrap_or_else(|| content_hash.clone());

    // A message without a usable sender still parses: intake decides (a bounce from
    // `MAILER-DAEMON <>` is a bounce; a person's message without a sender is an error receipt).
    let result = Ok(InboundMessage {
        channel: Channel::Email,
        source: source.to_string(),
        external_id: external_id.clone(),
        sender: sender_of(&message).unwrap_or_default(),
        subject: message.subject().map(|s| storable(s.trim())),
        text: storable(&body_text(&message)),
        html: body_html(&message).map(|h| storable(&h)),
        attachments: attachments(&message, attachment_max_bytes),
        message_id: bare_message_id.map(|id| storable(&normalize_message_id(id))),
        in_reply_to: message_ids(message.in_reply_to()),
        references: message_ids(message.references()),
        provider_message_id: None,
        signals: signals(&message),
        raw: Some(raw.to_vec()),
        content_hash: content_hash.clone(),
        received_at,
        department: department.map(str::to_string),
    });
    ParsedEmail {
        external_id,
        content_hash,
        result,
    }
}

fn sender_of(message: &Message<'_>) -> Option<Sender> {
    let candidates = [message.from(), message.sender(), message.reply_to()];
    for address in candidates.into_iter().flatten() {
        for addr in address.iter() {
            if let Some(email) = addr.address().and_then(|a| EmailAddress::parse(a).ok()) {
                let name = addr
                    .name()
                    .map(|n| storable(n.trim().trim_matches('"').trim()))
                    .filter(|n| !n.is_empty());
                return Some(Sender {
                    name,
                    email: Some(email),
                    phone: None,
                });
            }
        }
    }
    None
}

fn message_ids(value: &HeaderValue<'_>) -> Vec<String> {
    let ids: Vec<&str> = match value {
        HeaderValue::Text(id) => vec![id.as_ref()],
        HeaderValue::TextList(ids) => ids.iter().map(|id| id.as_ref()).collect(),
        _ => Vec::new(),
    };
    ids.into_iter()
        .map(|id| storable(&normalize_message_id(id)))
        .filter(|id| !id.is_empty())
        .collect()
}

/// The text of a part, reading an undeclared charset as UTF-8 when the bytes are UTF-8.
fn part_text<'a>(part: &'a MessagePart<'_>) -> Option<Cow<'a, str>> {
    match &part.body {
        PartType::Text(text) => Some(Cow::Borrowed(text.as_ref())),
        PartType::Html(html) => Some(Cow::Owned(mail_parser::decoders::html::html_to_text(html))),
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
            Some(String::from_utf8_lossy(bytes))
        }
        _ => None,
    }
}

/// Every text body part, in order, separated by a blank line.
pub fn body_text(message: &Message<'_>) -> String {
    let mut out = String::new();
    for &part_id in &message.text_body {
        let Some(part) = message.parts.get(part_id as usize) else {
            continue;
        };
        if let Some(text) = part_text(part) {
            let text = text.trim_end();
            if text.trim().is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(text);
        }
    }
    out.replace("\r\n", "\n")
}

/// The HTML body parts, sanitized, when the message has any.
fn body_html(message: &Message<'_>) -> Option<String> {
    let mut html = String::new();
    for &part_id in &message.html_body {
        if let Some(PartType::Html(part)) = message.parts.get(part_id as usize).map(|p| &p.body) {
            html.push_str(part);
        }
    }
    (!html.trim().is_empty()).then(|| ammonia::clean(&html))
}

fn attachments(message: &Message<'_>, max_bytes: u64) -> Vec<InboundAttachment> {
    message
        .attachments()
        .enumerate()
        .map(|(index, part)| {
            let content_type = part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".into())
                .to_ascii_lowercase();
            let filename = part
                .attachment_name()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .or_else(|| {
                    part.message()
                        .and_then(|m| m.subject())
                        .map(|s| format!("{s}.eml"))
                })
                .unwrap_or_else(|| {
                    format!("attachment-{}{}", index + 1, extension_for(&content_type))
                });
            InboundAttachment::new(
                storable(&filename),
                storable(&content_type),
                part.contents(),
                max_bytes,
            )
        })
        .collect()
}

fn extension_for(content_type: &str) -> &'static str {
    match content_type {
        "message/rfc822" | "message/global" => ".eml",
        "text/plain" => ".txt",
        "text/html" => ".html",
        "application/pdf" => ".pdf",
        "image/png" => ".png",
        "image/jpeg" => ".jpg",
        "message/delivery-status" => ".txt",
        _ => ".bin",
    }
}

fn header_text(message: &Message<'_>, name: &str) -> Option<String> {
    message.header_raw(name).map(|v| v.trim().to_string())
}

fn signals(message: &Message<'_>) -> AutomationSignals {
    let report_type = message
        .content_type()
        .filter(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        })
        .and_then(|ct| ct.attribute("report-type"))
        .map(|t| t.trim().to_ascii_lowercase());
    AutomationSignals {
        auto_submitted: header_text(message, "Auto-Submitted"),
        from_mailer_daemon: from_mailer_daemon(message),
        x_autoreply: message.header_raw("X-Autoreply").is_some(),
        x_autorespond: message.header_raw("X-Autorespond").is_some(),
        precedence: header_text(message, "Precedence"),
        x_auto_response_suppress: message.header_raw("X-Auto-Response-Suppress").is_some(),
        list_id: header_text(message, "List-Id"),
        report_type,
        delivery_status: delivery_status(message),
        returned_message_id: returned_message_id(message),
    }
}

/// From (or Sender) names MAILER-DAEMON or postmaster, or the envelope sender is empty (`<>`),
/// as delivery reports have it, even when the address itself is unusable.
fn from_mailer_daemon(message: &Message<'_>) -> bool {
    let names_mailer = |value: &str| {
        let lower = value.to_ascii_lowercase();
        lower.contains("mailer-daemon")
            || lower.contains("postmaster")
            || lower.contains("mail delivery")
    };
    let from = ["From", "Sender"]
        .iter()
        .filter_map(|h| message.header_raw(*h))
        .any(names_mailer);
    let empty_return_path = message
        .header_raw("Return-Path")
        .is_some_and(|rp| rp.trim() == "<>");
    from || (empty_return_path && message.header_raw("From").is_none_or(names_mailer))
}

/// The first recipient block of a `message/delivery-status` part.
fn delivery_status(message: &Message<'_>) -> Option<DeliveryStatus> {
    let part = message.parts.iter().find(|p| {
        p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct.subtype().is_some_and(|s| {
                    s.eq_ignore_ascii_case("delivery-status")
                        || s.eq_ignore_ascii_case("global-delivery-status")
                })
        })
    })?;
    let text = match &part.body {
        PartType::Message(nested) => String::from_utf8_lossy(nested.raw_message()).into_owned(),
        _ => String::from_utf8_lossy(part.contents()).into_owned(),
    };
    Some(parse_delivery_status(&text))
}

/// The Message-ID of a message returned inside this one, as bounces carry the message that
/// failed (whole, as message/rfc822, or its headers, as text/rfc822-headers).
fn returned_message_id(message: &Message<'_>) -> Option<String> {
    message.parts.iter().skip(1).find_map(|part| {
        let id = match &part.body {
            PartType::Message(nested) => nested.message_id().map(str::to_string),
            _ if part.content_type().is_some_and(|ct| {
                ct.subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("rfc822-headers"))
            }) =>
            {
                MessageParser::default()
                    .parse_headers(part.contents())
                    .and_then(|headers| headers.message_id().map(str::to_string))
            }
            _ => None,
        };
        id.map(|id| storable(&normalize_message_id(&id)))
            .filter(|id| !id.is_empty())
    })
}

/// Reads Final-Recipient (or Original-Recipient), Status and Action from DSN fields,
/// preferring the first recipient whose action is `failed`.
pub fn parse_delivery_status(text: &str) -> DeliveryStatus {
    let mut blocks: Vec<DeliveryStatus> = Vec::new();
    let mut current = DeliveryStatus::default();
    let flush = |current: &mut DeliveryStatus, blocks: &mut Vec<DeliveryStatus>| {
        if current.recipient.is_some() || current.status.is_some() {
            blocks.push(std::mem::take(current));
        }
    };
    for line in text.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            flush(&mut current, &mut blocks);
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "final-recipient" | "original-recipient" => {
                if current.recipient.is_some()
                    && name.trim().eq_ignore_ascii_case("final-recipient")
                {
                    flush(&mut current, &mut blocks);
                }
                if current.recipient.is_none() {
                    let address = value
                        .split_once(';')
                        .map(|(_, a)| a)
                        .unwrap_or(value)
                        .trim();
                    let address = address.trim_start_matches('<').trim_end_matches('>');
                    current.recipient = Some(address.to_string()).filter(|a| !a.is_empty());
                }
            }
            "status" => {
                current.status = value.split_whitespace().next().map(str::to_string);
            }
            "action" => current.action = Some(value.to_ascii_lowercase()),
            _ => {}
        }
    }
    flush(&mut current, &mut blocks);
    let failed = blocks
        .iter()
        .position(|b| b.action.as_deref() == Some("failed"));
    match failed {
        Some(i) => blocks.swap_remove(i),
        None => blocks.into_iter().next().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn parse(raw: &str) -> Result<InboundMessage, EmailParseError> {
        parse_email(raw.as_bytes(), "import", None, 1024, now()).result
    }

    #[test]
    fn a_plain_message_is_read() {
        let m = parse("From: Ali <ali@example.ir>\r\nSubject: Hi\r\nMessage-ID: <a@b>\r\nIn-Reply-To: <x@y>\r\nReferences: <p@q> <x@y>\r\n\r\nHello there\r\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            m.sender.email.as_ref().map(|e| e.as_str()),
            Some("ali@example.ir")
        );
        assert_eq!(m.sender.name.as_deref(), Some("Ali"));
        assert_eq!(m.subject.as_deref(), Some("Hi"));
        assert_eq!(m.text, "Hello there");
        assert_eq!(m.external_id, "a@b");
        assert_eq!(m.message_id.as_deref(), Some("<a@b>"));
        assert_eq!(m.in_reply_to, vec!["<x@y>"]);
        assert_eq!(m.references, vec!["<p@q>", "<x@y>"]);
    }

    #[test]
    fn empty_input_is_an_error_and_a_missing_sender_is_left_to_intake() {
        assert_eq!(parse("").err(), Some(EmailParseError::Empty));
        assert_eq!(parse("  \r\n ").err(), Some(EmailParseError::Empty));
        let no_sender = parse("Subject: no sender\r\n\r\nbody").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(no_sender.sender.email, None);
        let bounce = parse("From: MAILER-DAEMON <>\r\nSubject: failure\r\n\r\nbody")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(bounce.signals.from_mailer_daemon);
    }

    #[test]
    fn cr_only_line_endings_are_read() {
        let m = parse("From: a@b.c\rSubject: Old Mac\r\rLine one\rLine two\r")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.subject.as_deref(), Some("Old Mac"));
        assert!(
            m.text.contains("Line one") && m.text.contains("Line two"),
            "{:?}",
            m.text
        );
        assert_eq!(
            m.raw.as_deref(),
            Some(&b"From: a@b.c\rSubject: Old Mac\r\rLine one\rLine two\r"[..])
        );
    }

    #[test]
    fn a_message_without_message_id_is_known_by_its_hash() {
        let parsed = parse_email(b"From: a@b.c\r\n\r\nx", "import", None, 10, now());
        assert!(parsed.external_id.starts_with("sha256:"));
        assert_eq!(parsed.external_id, parsed.content_hash);
    }

    #[test]
    fn html_only_mail_is_converted_to_text_and_sanitized() {
        let m = parse("From: a@b.c\r\nContent-Type: text/html\r\n\r\n<p>Site down</p><script>alert(1)</script><img src=x onerror=\"alert(2)\">")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(m.text.contains("Site down"), "{}", m.text);
        let html = m.html.unwrap_or_default();
        assert!(html.contains("Site down"));
        assert!(
            !html.contains("script") && !html.contains("onerror"),
            "{html}"
        );
    }

    #[test]
    fn an_attachment_over_the_limit_is_refused_and_the_text_kept() {
        let big = "A".repeat(3000);
        let raw = format!(
            "From: a@b.c\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=big.bin\r\n\r\n{big}\r\n--XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=small.bin\r\n\r\nsmall\r\n--XX--\r\n"
        );
        let m = parse(&raw).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.text, "see attached");
        assert_eq!(m.attachments.len(), 2);
        assert_eq!(m.attachments[0].filename, "big.bin");
        assert!(m.attachments[0].is_refused());
        assert!(m.attachments[0].content.is_none());
        assert!(
            m.attachments[0]
                .refused_reason
                .as_deref()
                .unwrap_or("")
                .contains("over the limit")
        );
        assert!(!m.attachments[1].is_refused());
    }

    #[test]
    fn delivery_status_fields_are_read() {
        let dsn = "Reporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; ok@example.com\nAction: delivered\nStatus: 2.0.0\n\nFinal-Recipient: rfc822; <gone@example.com>\nAction: failed\nStatus: 5.1.1 (user unknown)\n";
        let status = parse_delivery_status(dsn);
        assert_eq!(status.recipient.as_deref(), Some("gone@example.com"));
        assert_eq!(status.status.as_deref(), Some("5.1.1"));
    }
}
