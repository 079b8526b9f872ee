//! Channels out: notifications are rendered when they are enqueued (so a retry sends the same
//! bytes), and the outbox worker delivers them by email (SMTP, or .eml files) or SMS.

pub mod email;
pub mod render;
pub mod segments;
pub mod sms;
pub mod worker;

/// Why one delivery attempt failed, and whether trying again later may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub transient: bool,
    pub message: String,
}

impl SendError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            transient: true,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            transient: false,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
