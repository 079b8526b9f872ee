//! Email in: parsing raw RFC 5322 messages, and the IMAP pollers that fetch them.

pub mod connect;
pub mod monitor;
pub mod parse;
pub mod poller;

pub use monitor::{MailboxMonitor, MailboxStatus};
pub use parse::{EmailParseError, ParsedEmail, parse_email};
pub use poller::MailboxPoller;
