//! What every channel hands to intake: one inbound message, already parsed at the edge.

use chrono::{DateTime, Utc};

use super::contact::{EmailAddress, PhoneNumber};
use super::ticket::Channel;

/// The sender as the channel saw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sender {
    pub name: Option<String>,
    pub email: Option<EmailAddress>,
    pub phone: Option<PhoneNumber>,
}

/// One attachment as received. `content` is `None` when it was refused (over the size limit).
#[derive(Debug, Clone, PartialEq)]
pub struct InboundAttachment {
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub content: Option<Vec<u8>>,
    pub refused_reason: Option<String>,
}

impl InboundAttachment {
    /// Keeps the bytes when they fit under `max_bytes`; otherwise records size, hash and why.
    pub fn new(filename: String, content_type: String, bytes: &[u8], max_bytes: u64) -> Self {
        use sha2::Digest;
        let size = bytes.len() as u64;
        let sha256 = hex::encode(sha2::Sha256::digest(bytes));
        if size > max_bytes {
            Self {
                filename,
                content_type,
                size,
                sha256,
                content: None,
                refused_reason: Some(format!(
                    "attachment is {size} bytes, over the limit of {max_bytes} bytes"
                )),
            }
        } else {
            Self {
                filename,
                content_type,
                size,
                sha256,
                content: Some(bytes.to_vec()),
                refused_reason: None,
            }
        }
    }

    pub fn is_refused(&self) -> bool {
        self.refused_reason.is_some()
    }
}

/// Header facts that tell a person's mail from a machine's. Filled by the channel, read by
/// [`crate::domain::classify`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AutomationSignals {
    pub auto_submitted: Option<String>,
    /// From or Sender names MAILER-DAEMON/postmaster, or the envelope sender is empty.
    pub from_mailer_daemon: bool,
    pub x_autoreply: bool,
    pub x_autorespond: bool,
    pub precedence: Option<String>,
    pub x_auto_response_suppress: bool,
    pub list_id: Option<String>,
    /// `report-type` of a multipart/report root, lower-cased ("delivery-status", "disposition-notification", ...).
    pub report_type: Option<String>,
    /// The parsed delivery-status part of a bounce, if there is one.
    pub delivery_status: Option<DeliveryStatus>,
    /// The Message-ID (with angle brackets) of a message returned inside this one
    /// (message/rfc822 or text/rfc822-headers): for a bounce, the message that bounced.
    pub returned_message_id: Option<String>,
}

/// The first failed recipient of a delivery status notification.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryStatus {
    pub recipient: Option<String>,
    pub status: Option<String>,
    pub action: Option<String>,
}

/// One message from any channel, parsed and ready for intake.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    pub channel: Channel,
    /// Mailbox key, "import", or "sms:<provider>".
    pub source: String,
    /// Message-ID without brackets, `sha256:<hex>` without one, or the SMS provider's id.
    pub external_id: String,
    pub sender: Sender,
    pub subject: Option<String>,
    pub text: String,
    /// Sanitized HTML body, when the message had one.
    pub html: Option<String>,
    pub attachments: Vec<InboundAttachment>,
    /// Message-ID with angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub provider_message_id: Option<String>,
    pub signals: AutomationSignals,
    /// The raw source (email), kept whole.
    pub raw: Option<Vec<u8>>,
    /// sha256 of the raw source or of the SMS text.
    pub content_hash: String,
    pub received_at: DateTime<Utc>,
    /// Department key for a new ticket (the mailbox's).
    pub department: Option<String>,
}

impl InboundMessage {
    /// A hash of what a person wrote: subject, text (whitespace collapsed) and attachment
    /// hashes. The same message saved with other line endings or other transport headers has
    /// the same fingerprint; a different message under a reused Message-ID does not.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        hasher.update(
            self.subject
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        );
        hasher.update([0u8]);
        hasher.update(self.text.split_whitespace().collect::<Vec<_>>().join(" "));
        for attachment in &self.attachments {
            hasher.update([0u8]);
            hasher.update(&attachment.sha256);
        }
        hex::encode(hasher.finalize())
    }

    /// True when the sender can be answered: an email address or a phone number.
    pub fn has_sender(&self) -> bool {
        self.sender.email.is_some() || self.sender.phone.is_some()
    }

    /// True when there is nothing a person wrote: no text, no subject, no attachment.
    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
            && self
                .subject
                .as_deref()
                .map(str::trim)
                .unwrap_or("")
                .is_empty()
            && self.attachments.is_empty()
    }
}
