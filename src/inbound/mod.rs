//! Channels in: raw mail (and, later, provider requests) become [`InboundMessage`]s.
//!
//! [`InboundMessage`]: crate::domain::message::InboundMessage

pub mod email;
pub mod sms;
