//! Email in: parsing raw RFC 5322 messages.

pub mod parse;

pub use parse::{EmailParseError, ParsedEmail, parse_email};
